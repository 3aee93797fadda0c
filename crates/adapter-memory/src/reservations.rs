//! Holds and their lifecycle, and the reservation port.

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use domain::ports::{ReservationRepository, StoreResult};
use domain::{Booking, NewHold, Receipt, Reservation, ReservationId, ReservationStatus, SeatHold, UserId};
use time::OffsetDateTime;

use crate::{MemoryStore, State, next_id, slot};

/// The reservations table, with an index of the stored-`Held` ones by expiry so the sweeper
/// reaches the lapsed holds without scanning.
#[derive(Debug, Default)]
pub(crate) struct Reservations {
    rows: Vec<Reservation>,
    /// `(expires_at, id)` of every reservation whose stored status is `Held`.
    held: BTreeSet<(OffsetDateTime, ReservationId)>,
    /// The same reservations by holder, to count a user's live holds without a scan; a user
    /// with none has no entry.
    held_by_user: HashMap<UserId, BTreeSet<ReservationId>>,
    /// Every reservation by holder, oldest first: a fan's bookings. Every user who ever held a
    /// seat has an entry: their reservations are kept, and so are they.
    by_user: HashMap<UserId, Vec<ReservationId>>,
}

impl Reservations {
    /// One reservation.
    pub(crate) fn get(&self, id: ReservationId) -> Option<&Reservation> {
        self.rows.get(slot(id.get())?)
    }

    /// A new `Held` reservation of `hold`, at the seat's `price` now (the one the decision read
    /// may have been changed since).
    fn insert_held(&mut self, hold: &NewHold, price: domain::Won) -> StoreResult<Reservation> {
        let reservation = Reservation {
            id: next_id(self.rows.len(), ReservationId::new)?,
            user_id: hold.user_id,
            seat_id: hold.seat_id,
            concert_id: hold.concert_id,
            seat_name: hold.seat_name.clone(),
            price,
            status: ReservationStatus::Held,
            reserved_at: hold.held_at,
            expires_at: hold.until,
        };
        self.held.insert((reservation.expires_at, reservation.id));
        self.held_by_user.entry(reservation.user_id).or_default().insert(reservation.id);
        self.by_user.entry(reservation.user_id).or_default().push(reservation.id);
        self.rows.push(reservation.clone());
        Ok(reservation)
    }

    /// Rewrites a stored-`Held` reservation as `status` (`Paid`, `Expired` or `Released`); says whether it
    /// was `Held`. Anything else is left alone.
    pub(crate) fn close(&mut self, id: ReservationId, status: ReservationStatus) -> bool {
        let Some(reservation) = slot(id.get()).and_then(|i| self.rows.get_mut(i)) else { return false };
        if reservation.status != ReservationStatus::Held {
            return false;
        }
        self.held.remove(&(reservation.expires_at, id));
        if let Some(mine) = self.held_by_user.get_mut(&reservation.user_id) {
            mine.remove(&id);
            if mine.is_empty() {
                self.held_by_user.remove(&reservation.user_id);
            }
        }
        reservation.status = status;
        true
    }

    /// Rewrites a `Paid` reservation as `Refunded`; says whether it was `Paid`.
    pub(crate) fn refund(&mut self, id: ReservationId) -> bool {
        let Some(paid) = slot(id.get()).and_then(|i| self.rows.get_mut(i)) else { return false };
        if paid.status != ReservationStatus::Paid {
            return false;
        }
        paid.status = ReservationStatus::Refunded;
        true
    }

    /// Whether `user` ever held a seat.
    pub(crate) fn any_of(&self, user: UserId) -> bool {
        self.by_user.contains_key(&user)
    }

    /// `user`'s reservations stored as `Held` or `Paid`, newest first, at most `limit`.
    fn booked_by(&self, user: UserId, limit: u32) -> impl Iterator<Item = &Reservation> {
        let mine = self.by_user.get(&user).map(Vec::as_slice).unwrap_or_default();
        mine.iter()
            .rev()
            .filter_map(|&id| self.get(id))
            .filter(|reservation| {
                matches!(reservation.status, ReservationStatus::Held | ReservationStatus::Paid)
            })
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
    }

    /// How many of `user`'s holds are live at `at`.
    fn live_holds(&self, user: UserId, at: OffsetDateTime) -> u64 {
        let Some(mine) = self.held_by_user.get(&user) else { return 0 };
        let live = mine.iter().filter_map(|&id| self.get(id)).filter(|held| held.expires_at > at).count();
        u64::try_from(live).unwrap_or(u64::MAX)
    }

    /// Takes the stored-`Held` reservation that lapsed first, if it lapsed at or before `now`.
    fn next_lapsed(&self, now: OffsetDateTime) -> Option<ReservationId> {
        self.held.first().filter(|(expires_at, _)| *expires_at <= now).map(|&(_, id)| id)
    }
}

impl State {
    fn try_hold(&mut self, hold: &NewHold) -> StoreResult<Option<Reservation>> {
        let Some(seat) = self.catalogue.listed_seat(hold.seat_id) else { return Ok(None) };
        if seat.concert_id != hold.concert_id
            || !seat.is_on_sale_at(hold.held_at)
            || !seat.is_free_at(hold.held_at)
        {
            return Ok(None);
        }
        if !hold.within_limit(self.reservations.live_holds(hold.user_id, hold.held_at)) {
            return Ok(None);
        }
        let (lapsed, price) = (seat.hold, seat.price);
        let reservation = self.reservations.insert_held(hold, price)?;
        if let Some(lapsed) = lapsed {
            self.reservations.close(lapsed.reservation_id, ReservationStatus::Expired);
        }
        if let Some(seat) = self.catalogue.seat_mut(hold.seat_id) {
            seat.hold = Some(SeatHold { reservation_id: reservation.id, until: reservation.expires_at });
        }
        Ok(Some(reservation))
    }

    /// The compare-and-set of an early release: only `user`'s hold, stored `Held` and unexpired
    /// at `at`, ends; the seat it holds goes back on sale.
    fn release(&mut self, id: ReservationId, user: UserId, at: OffsetDateTime) -> Option<Reservation> {
        let live = self.reservations.get(id).filter(|held| {
            held.user_id == user && held.status == ReservationStatus::Held && held.expires_at > at
        })?;
        let seat_id = live.seat_id;
        self.reservations.close(id, ReservationStatus::Released);
        if let Some(seat) = self.catalogue.seat_mut(seat_id)
            && seat.hold.is_some_and(|hold| hold.reservation_id == id)
        {
            seat.hold = None;
        }
        self.reservations.get(id).cloned()
    }

    fn bookings(&self, user: UserId, limit: u32) -> Vec<Booking> {
        self.reservations
            .booked_by(user, limit)
            .map(|reservation| Booking {
                reservation: reservation.clone(),
                payment: self.payments.of(reservation.id).cloned(),
            })
            .collect()
    }

    fn release_expired(&mut self, now: OffsetDateTime) -> u64 {
        let mut released = 0;
        while let Some(id) = self.reservations.next_lapsed(now) {
            let seat_id = self.reservations.get(id).map(|reservation| reservation.seat_id);
            self.reservations.close(id, ReservationStatus::Expired);
            released += 1;
            let Some(seat) = seat_id.and_then(|seat_id| self.catalogue.seat_mut(seat_id)) else { continue };
            if seat.hold.is_some_and(|hold| hold.reservation_id == id) {
                seat.hold = None;
            }
        }
        released
    }
}

#[async_trait]
impl ReservationRepository for MemoryStore {
    async fn try_hold(
        &self,
        hold: &NewHold,
        receipt: Option<Receipt<Option<Reservation>>>,
    ) -> StoreResult<Option<Reservation>> {
        self.with_state(|state| state.keyed(receipt.as_ref(), |state| state.try_hold(hold)))
    }

    async fn reservation(&self, id: ReservationId) -> StoreResult<Option<Reservation>> {
        self.with_state(|state| Ok(state.reservations.get(id).cloned()))
    }

    async fn live_holds(&self, user: UserId, at: OffsetDateTime) -> StoreResult<u64> {
        self.with_state(|state| Ok(state.reservations.live_holds(user, at)))
    }

    async fn release(
        &self,
        id: ReservationId,
        user: UserId,
        at: OffsetDateTime,
    ) -> StoreResult<Option<Reservation>> {
        self.with_state(|state| Ok(state.release(id, user, at)))
    }

    async fn bookings(&self, user: UserId, limit: u32) -> StoreResult<Vec<Booking>> {
        self.with_state(|state| Ok(state.bookings(user, limit)))
    }

    async fn release_expired(&self, now: OffsetDateTime) -> StoreResult<u64> {
        self.with_state(|state| Ok(state.release_expired(now)))
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::testkit::{
        NOW, PRICE, SHOW, approved_hold, concert_id, reservation_id, seat_id, seconds, seeded, user,
    };
    use domain::ports::CatalogueRepository;
    use domain::{HoldPolicy, Seat};

    async fn seat(store: &MemoryStore, n: i64) -> Seat {
        store.seat(seat_id(n)).await.expect("read seat").expect("seat exists")
    }

    #[tokio::test]
    async fn try_hold_records_a_held_reservation_and_marks_the_seat() {
        let store = seeded().await;
        let hold = approved_hold(&store, 20, 1, NOW).await;
        let reservation = store.try_hold(&hold, None).await.expect("hold").expect("seat was free");
        let expected = Reservation {
            id: reservation_id(1),
            user_id: user(1),
            seat_id: seat_id(20),
            concert_id: concert_id(1),
            seat_name: "B10".into(),
            price: crate::testkit::won(PRICE),
            status: ReservationStatus::Held,
            reserved_at: NOW,
            expires_at: NOW + seconds(300),
        };
        assert_eq!(reservation, expected);
        assert_eq!(store.reservation(reservation_id(1)).await, Ok(Some(expected)));
        let seat = seat(&store, 20).await;
        assert_eq!(
            seat.hold,
            Some(SeatHold { reservation_id: reservation_id(1), until: NOW + seconds(300) })
        );
        assert!(!seat.sold);
    }

    #[tokio::test]
    async fn try_hold_fails_when_a_live_hold_exists_even_for_the_same_user() {
        let store = seeded().await;
        let hold = approved_hold(&store, 20, 1, NOW).await;
        assert!(store.try_hold(&hold, None).await.expect("hold").is_some());
        let mine_again = NewHold { held_at: NOW + seconds(299), until: NOW + seconds(599), ..hold.clone() };
        let someone_else = NewHold { user_id: user(2), ..mine_again.clone() };
        assert_eq!(store.try_hold(&mine_again, None).await, Ok(None));
        assert_eq!(store.try_hold(&someone_else, None).await, Ok(None));
        assert_eq!(store.reservation(reservation_id(2)).await, Ok(None));
        assert_eq!(seat(&store, 20).await.hold.map(|h| h.reservation_id), Some(reservation_id(1)));
    }

    #[tokio::test]
    async fn try_hold_succeeds_once_the_previous_hold_lapsed_and_expires_that_reservation() {
        let store = seeded().await;
        let first = approved_hold(&store, 20, 1, NOW).await;
        store.try_hold(&first, None).await.expect("hold").expect("seat was free");
        let later = approved_hold(&store, 20, 2, first.until).await;
        let second = store.try_hold(&later, None).await.expect("hold").expect("the first hold lapsed");
        assert_eq!(second.id, reservation_id(2));
        assert_eq!(seat(&store, 20).await.hold.map(|h| h.reservation_id), Some(second.id));
        let old = store.reservation(reservation_id(1)).await.expect("read").expect("exists");
        assert_eq!(old.status, ReservationStatus::Expired);
        assert_eq!(store.release_expired(later.until - seconds(1)).await, Ok(0));
    }

    #[tokio::test]
    async fn try_hold_fails_for_a_sold_seat() {
        let store = seeded().await;
        let hold = approved_hold(&store, 20, 1, NOW).await;
        mark_sold(&store, 20);
        assert_eq!(store.try_hold(&hold, None).await, Ok(None));
        assert_eq!(seat(&store, 20).await.hold, None);
    }

    #[tokio::test]
    async fn try_hold_fails_for_an_unknown_seat_or_a_concert_mismatch() {
        let store = seeded().await;
        let hold = approved_hold(&store, 20, 1, NOW).await;
        let unknown = NewHold { seat_id: seat_id(999), ..hold.clone() };
        let mismatch = NewHold { concert_id: concert_id(2), ..hold };
        assert_eq!(store.try_hold(&unknown, None).await, Ok(None));
        assert_eq!(store.try_hold(&mismatch, None).await, Ok(None));
        assert_eq!(store.reservation(reservation_id(1)).await, Ok(None));
    }

    #[tokio::test]
    async fn try_hold_fails_once_the_performance_has_started() {
        let store = seeded().await;
        let seat = seat(&store, 1).await;
        let hold = HoldPolicy::default().hold(&seat, concert_id(1), user(1), NOW).expect("free now");
        let too_late = NewHold { held_at: SHOW, until: SHOW + seconds(300), ..hold };
        assert_eq!(store.try_hold(&too_late, None).await, Ok(None));
    }

    #[tokio::test]
    async fn reservation_is_none_for_an_unknown_id() {
        let store = seeded().await;
        assert_eq!(store.reservation(reservation_id(1)).await, Ok(None));
    }

    #[tokio::test]
    async fn release_expired_expires_lapsed_holds_and_frees_their_seats() {
        let store = seeded().await;
        for (n, seat) in [(0, 20), (10, 21), (20, 22)] {
            let hold = approved_hold(&store, seat, 1, NOW + seconds(n)).await;
            store.try_hold(&hold, None).await.expect("hold").expect("seat was free");
        }
        assert_eq!(store.release_expired(NOW + seconds(310)).await, Ok(2));
        let expected = [ReservationStatus::Expired, ReservationStatus::Expired, ReservationStatus::Held];
        assert_eq!(statuses(&store, 3).await, expected);
        assert_eq!(seat(&store, 20).await.hold, None);
        assert_eq!(seat(&store, 21).await.hold, None);
        assert!(seat(&store, 22).await.hold.is_some());
        assert_eq!(store.release_expired(NOW + seconds(310)).await, Ok(0));
        assert_eq!(store.release_expired(NOW + seconds(320)).await, Ok(1));
    }

    #[tokio::test]
    async fn release_expired_leaves_paid_reservations_and_sold_seats_alone() {
        let store = seeded().await;
        let hold = approved_hold(&store, 20, 1, NOW).await;
        store.try_hold(&hold, None).await.expect("hold").expect("seat was free");
        mark_sold(&store, 20);
        let closed = store
            .with_state(|state| Ok(state.reservations.close(reservation_id(1), ReservationStatus::Paid)));
        assert_eq!(closed, Ok(true));
        assert_eq!(store.release_expired(NOW + seconds(3_600)).await, Ok(0));
        let paid = store.reservation(reservation_id(1)).await.expect("read").expect("exists");
        assert_eq!(paid.status, ReservationStatus::Paid);
        assert!(seat(&store, 20).await.sold);
    }

    fn mark_sold(store: &MemoryStore, n: i64) {
        let sold = store.with_state(|state| {
            let seat = state.catalogue.seat_mut(seat_id(n)).expect("seat exists");
            seat.sold = true;
            Ok(())
        });
        assert_eq!(sold, Ok(()));
    }

    async fn statuses(store: &MemoryStore, count: i64) -> Vec<ReservationStatus> {
        let mut statuses = Vec::new();
        for id in 1..=count {
            let reservation = store.reservation(reservation_id(id)).await.expect("read").expect("exists");
            statuses.push(reservation.status);
        }
        statuses
    }
}

//! Hold checks: `try_hold` as a compare-and-set on the seat, `reservation`, and the sweeper
//! `release_expired`.

use domain::{NewHold, ReservationId, ReservationStatus, SeatHold, SeatId};

use crate::Repositories;
use crate::fixture::{
    R_PRICE, admit_everyone, approved, funded, hold, plan, reservation, seat, seat_of, secs, seeded, uid,
    unknown_id, user,
};

/// `try_hold` of a free seat returns a `Held` reservation for the user, seat, price and times
/// of the hold, and the seat then shows that hold.
pub async fn try_hold_of_a_free_seat_records_a_held_reservation_and_marks_the_seat(stores: Repositories) {
    let world = seeded(&stores).await;
    user(&stores, 1, world.now).await;
    let free = seat_of(&stores, &world.early, 20).await;
    let new_hold = approved(&free, 1, world.now);
    let held = stores.reservations.try_hold(&new_hold, None).await.expect("try_hold works");
    let held = held.expect("try_hold of a free seat must succeed");
    assert_eq!(held.user_id, uid(1), "holder");
    assert_eq!((held.seat_id, held.concert_id), (free.id, world.first), "seat and concert");
    assert_eq!(held.seat_name, "B10", "seat 20 is printed B10");
    assert_eq!(held.price.get(), R_PRICE, "the seat's price is fixed into the reservation");
    assert_eq!(held.status, ReservationStatus::Held, "a new hold is Held");
    assert_eq!((held.reserved_at, held.expires_at), (world.now, world.now + secs(300)), "hold times");

    let after = seat(&stores, free.id).await;
    assert_eq!(after.hold, Some(SeatHold { reservation_id: held.id, until: held.expires_at }), "seat's hold");
    assert!(!after.sold, "a hold does not sell the seat");
    assert!(!after.is_free_at(world.now + secs(299)) && after.is_free_at(world.now + secs(300)));
    let neighbour = seat_of(&stores, &world.early, 21).await;
    assert!(neighbour.hold.is_none(), "holding one seat must not touch another: {neighbour:?}");
}

/// While a hold is live, nobody can hold the seat: not another user at the same instant, not
/// the holder again, not anyone a second before it lapses. The first hold stays as it was.
pub async fn a_second_hold_while_the_first_is_live_is_refused(stores: Repositories) {
    let world = seeded(&stores).await;
    user(&stores, 1, world.now).await;
    user(&stores, 2, world.now).await;
    let free = seat_of(&stores, &world.early, 20).await;
    let first = hold(&stores, &free, 1, world.now).await;
    let same_instant = approved(&free, 2, world.now);
    let attempts = [
        ("another user at the same instant", same_instant.clone()),
        ("the holder again", NewHold { user_id: uid(1), ..same_instant.clone() }),
        (
            "another user a second before the lapse",
            NewHold {
                held_at: first.expires_at - secs(1),
                until: first.expires_at + secs(299),
                ..same_instant
            },
        ),
    ];
    for (who, attempt) in attempts {
        let result = stores.reservations.try_hold(&attempt, None).await.expect("try_hold works");
        assert_eq!(result, None, "try_hold by {who} must be refused while the first hold is live");
    }
    assert_eq!(reservation(&stores, first.id).await, first, "the first hold is unchanged");
    let after = seat(&stores, free.id).await;
    assert_eq!(after.hold.map(|h| h.reservation_id), Some(first.id), "the seat is still held by the first");
}

/// Once the previous hold has lapsed (new `held_at` at or after its `until`), a new hold wins
/// the seat, even before any sweep.
pub async fn a_hold_succeeds_once_the_previous_hold_has_lapsed(stores: Repositories) {
    let world = seeded(&stores).await;
    user(&stores, 1, world.now).await;
    user(&stores, 2, world.now).await;
    let free = seat_of(&stores, &world.early, 20).await;
    let first = hold(&stores, &free, 1, world.now).await;
    let lapsed = seat(&stores, free.id).await;
    let second = hold(&stores, &lapsed, 2, first.expires_at).await;
    assert_ne!(second.id, first.id, "the new hold is a new reservation");
    assert_eq!((second.user_id, second.reserved_at), (uid(2), first.expires_at));
    let after = seat(&stores, free.id).await;
    assert_eq!(after.hold, Some(SeatHold { reservation_id: second.id, until: second.expires_at }));
    let old = reservation(&stores, first.id).await;
    assert_ne!(old.status, ReservationStatus::Paid, "the lapsed hold was never paid: {old:?}");
    assert_eq!(old.status_at(second.reserved_at), ReservationStatus::Expired, "{old:?}");
    let at = first.expires_at + secs(1);
    let third = NewHold { held_at: at, until: at + secs(300), ..approved(&free, 1, world.now) };
    assert_eq!(stores.reservations.try_hold(&third, None).await, Ok(None), "the new hold is live in turn");
}

/// A sold seat cannot be held by anyone, however much later.
pub async fn try_hold_of_a_sold_seat_is_refused(stores: Repositories) {
    let world = seeded(&stores).await;
    let payer = funded(&stores, 1, 100_000, world.now).await;
    user(&stores, 2, world.now).await;
    admit_everyone(&stores, world.now).await;
    let free = seat_of(&stores, &world.early, 20).await;
    let held = hold(&stores, &free, 1, world.now).await;
    let paid =
        stores.payments.settle(&plan(&held, &payer, world.now + secs(10)), None).await.expect("settle works");
    assert!(paid.is_some(), "the setup payment must succeed");
    let sold = seat(&stores, free.id).await;
    assert!(sold.sold, "a paid seat is sold: {sold:?}");
    let template = approved(&free, 2, world.now);
    for at in [held.expires_at + secs(1), held.expires_at + secs(3_600)] {
        let attempt = NewHold { held_at: at, until: at + secs(300), ..template.clone() };
        assert_eq!(
            stores.reservations.try_hold(&attempt, None).await,
            Ok(None),
            "hold of a sold seat at {at}"
        );
    }
    assert_eq!(seat(&stores, free.id).await, sold, "refused holds leave the sold seat alone");
    assert_eq!(reservation(&stores, held.id).await.status, ReservationStatus::Paid);
}

/// A seat whose performance has started cannot be held; one second earlier it can.
pub async fn try_hold_of_a_seat_whose_performance_started_is_refused(stores: Repositories) {
    let world = seeded(&stores).await;
    user(&stores, 1, world.now).await;
    let free = seat_of(&stores, &world.early, 30).await;
    let template = approved(&free, 1, world.now);
    for at in [free.starts_at, free.starts_at + secs(3_600)] {
        let attempt = NewHold { held_at: at, until: at + secs(300), ..template.clone() };
        assert_eq!(
            stores.reservations.try_hold(&attempt, None).await,
            Ok(None),
            "hold at {at}, show at {}",
            free.starts_at
        );
    }
    assert_eq!(seat(&stores, free.id).await, free, "refused holds leave the seat alone");
    let just_before = free.starts_at - secs(1);
    let attempt = NewHold { held_at: just_before, until: just_before + secs(300), ..template };
    let held = stores.reservations.try_hold(&attempt, None).await.expect("try_hold works");
    assert!(held.is_some(), "a hold a second before the show starts must succeed");
}

/// `try_hold` of a seat that does not exist is refused, not an error.
pub async fn try_hold_of_an_unknown_seat_is_refused(stores: Repositories) {
    let world = seeded(&stores).await;
    user(&stores, 1, world.now).await;
    let seats = stores.catalogue.seats_of_concert(world.second).await.expect("seats_of_concert works");
    let mut first_seats = stores.catalogue.seats_of_concert(world.first).await.expect("seats works");
    first_seats.extend(seats);
    let unknown = SeatId::new(unknown_id(first_seats.iter().map(|s| s.id.get()))).expect("positive");
    let attempt = NewHold { seat_id: unknown, ..approved(&first_seats[0], 1, world.now) };
    assert_eq!(stores.reservations.try_hold(&attempt, None).await, Ok(None), "hold of an unknown seat");
    assert!(seat(&stores, first_seats[0].id).await.hold.is_none(), "no other seat is held instead");
}

/// `reservation(id)` reads back exactly what `try_hold` returned; an unknown id reads `None`.
pub async fn reservation_reads_back_what_try_hold_returned(stores: Repositories) {
    let world = seeded(&stores).await;
    user(&stores, 1, world.now).await;
    user(&stores, 2, world.now).await;
    let vip = hold(&stores, &seat_of(&stores, &world.late, 1).await, 1, world.now).await;
    let other = hold(&stores, &seat_of(&stores, &world.other, 50).await, 2, world.now + secs(7)).await;
    assert_ne!(vip.id, other.id, "each hold is its own reservation");
    assert_eq!(reservation(&stores, vip.id).await, vip, "round trip of the first reservation");
    assert_eq!(reservation(&stores, other.id).await, other, "round trip of the second reservation");
    assert_eq!((other.concert_id, other.seat_name.as_str()), (world.second, "E10"));
    let unknown = ReservationId::new(unknown_id([vip.id.get(), other.id.get()])).expect("positive");
    assert_eq!(stores.reservations.reservation(unknown).await, Ok(None), "unknown reservation");
}

/// `release_expired` marks lapsed holds `Expired`, clears them from their seats, leaves live
/// holds alone and returns how many it released.
pub async fn release_expired_expires_lapsed_holds_frees_their_seats_and_counts_them(stores: Repositories) {
    let world = seeded(&stores).await;
    user(&stores, 1, world.now).await;
    let mut holds = Vec::new();
    for (offset, number) in [(0, 20), (10, 21), (20, 22)] {
        let free = seat_of(&stores, &world.early, number).await;
        holds.push(hold(&stores, &free, 1, world.now + secs(offset)).await);
    }
    assert_eq!(stores.reservations.release_expired(world.now + secs(100)).await, Ok(0), "nothing lapsed yet");
    assert_eq!(stores.reservations.release_expired(world.now + secs(315)).await, Ok(2), "two lapsed");
    let statuses = [
        reservation(&stores, holds[0].id).await.status,
        reservation(&stores, holds[1].id).await.status,
        reservation(&stores, holds[2].id).await.status,
    ];
    use ReservationStatus::{Expired, Held};
    assert_eq!(statuses, [Expired, Expired, Held], "only the lapsed holds are expired");
    for lapsed in &holds[..2] {
        let cleared = seat(&stores, lapsed.seat_id).await;
        assert!(cleared.hold.is_none() && !cleared.sold, "a released seat is clear: {cleared:?}");
    }
    let live = seat(&stores, holds[2].seat_id).await;
    assert_eq!(live.hold.map(|h| h.reservation_id), Some(holds[2].id), "a live hold stays on its seat");
    assert_eq!(stores.reservations.release_expired(world.now + secs(315)).await, Ok(0), "nothing twice");
    assert_eq!(stores.reservations.release_expired(world.now + secs(330)).await, Ok(1), "the third lapsed");
    assert_eq!(reservation(&stores, holds[2].id).await.status, Expired);
    assert!(seat(&stores, holds[2].seat_id).await.hold.is_none(), "the third seat is clear");
}

/// `release_expired` never touches a paid reservation or its sold seat.
pub async fn release_expired_leaves_paid_reservations_and_sold_seats_alone(stores: Repositories) {
    let world = seeded(&stores).await;
    let payer = funded(&stores, 1, 100_000, world.now).await;
    admit_everyone(&stores, world.now).await;
    let paid = hold(&stores, &seat_of(&stores, &world.early, 20).await, 1, world.now).await;
    let unpaid = hold(&stores, &seat_of(&stores, &world.early, 21).await, 1, world.now).await;
    let payment =
        stores.payments.settle(&plan(&paid, &payer, world.now + secs(60)), None).await.expect("settle works");
    assert!(payment.is_some(), "the setup payment must succeed");
    let sold = seat(&stores, paid.seat_id).await;
    assert_eq!(stores.reservations.release_expired(world.now + secs(3_600)).await, Ok(1), "only the unpaid");
    assert_eq!(reservation(&stores, paid.id).await.status, ReservationStatus::Paid, "paid stays paid");
    assert_eq!(reservation(&stores, unpaid.id).await.status, ReservationStatus::Expired);
    assert_eq!(seat(&stores, paid.seat_id).await, sold, "the sold seat is untouched by the sweep");
}

/// A seat re-held after its old hold lapsed keeps the new hold through a sweep; the old
/// reservation ends up `Expired` (by `try_hold` or by the sweep, as the store prefers).
pub async fn release_expired_keeps_the_newer_hold_on_a_seat_taken_over_after_a_lapse(stores: Repositories) {
    let world = seeded(&stores).await;
    user(&stores, 1, world.now).await;
    user(&stores, 2, world.now).await;
    let free = seat_of(&stores, &world.early, 20).await;
    let old = hold(&stores, &free, 1, world.now).await;
    let new = hold(&stores, &seat(&stores, free.id).await, 2, old.expires_at + secs(1)).await;
    let released = stores.reservations.release_expired(old.expires_at + secs(100)).await;
    assert!(matches!(released, Ok(0 | 1)), "at most the old hold is released: {released:?}");
    assert_eq!(
        reservation(&stores, old.id).await.status,
        ReservationStatus::Expired,
        "old hold after a sweep"
    );
    assert_eq!(reservation(&stores, new.id).await, new, "the new hold is untouched");
    let after = seat(&stores, free.id).await;
    assert_eq!(after.hold, Some(SeatHold { reservation_id: new.id, until: new.expires_at }), "new hold kept");
}

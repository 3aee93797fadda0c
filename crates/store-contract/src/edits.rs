//! The box office's edits: `edit_seat` (a new price, a seat off the map) as a compare-and-set
//! against holds, and `cancel_performance` (withdraw, end holds, refund every sale).

use domain::{ReservationStatus, SeatEdit};

use crate::Repositories;
use crate::fixture::{
    admit_everyone, approved, balance, balance_of, funded, hold, plan, reservation, seat, seat_of, secs,
    seeded, token, uid, user, won,
};
use crate::races::all_at_once;

/// A free seat takes a new price, and a hold decided on the seat as read before the change is
/// charged the new one: the price fixed into a reservation is the seat's at the hold instant.
pub async fn a_repriced_seat_is_held_at_its_new_price(stores: Repositories) {
    let world = seeded(&stores).await;
    user(&stores, 1, world.now).await;
    let before = seat_of(&stores, &world.early, 12).await;
    let decided = approved(&before, 1, world.now + secs(1));
    let edited = stores.catalogue.edit_seat(before.id, SeatEdit::Reprice(won(45_000)), world.now).await;
    let edited = edited.expect("edit_seat works").expect("a free seat is edited");
    assert_eq!(edited.price, won(45_000), "the edit answers the seat as it now stands");
    assert_eq!(seat(&stores, before.id).await.price, won(45_000), "and it reads back repriced");
    let held = stores.reservations.try_hold(&decided, None).await.expect("try_hold works");
    assert_eq!(held.map(|held| held.price), Some(won(45_000)), "the hold is charged the new price");
}

/// A seat under a live hold, or sold, is edited neither way; it reads back unchanged.
pub async fn a_held_or_sold_seat_is_not_edited(stores: Repositories) {
    let world = seeded(&stores).await;
    let payer = funded(&stores, 1, 1_000_000, world.now).await;
    admit_everyone(&stores, world.now).await;
    let held = hold(&stores, &seat_of(&stores, &world.early, 13).await, 1, world.now).await;
    let sold = hold(&stores, &seat_of(&stores, &world.early, 14).await, 1, world.now).await;
    let payer = token(&stores, payer.value).await;
    let paid = stores.payments.settle(&plan(&sold, &payer, world.now + secs(1)), None).await;
    assert!(matches!(paid, Ok(Some(_))), "the suite pays one hold: {paid:?}");
    for taken in [held.seat_id, sold.seat_id] {
        let before = seat(&stores, taken).await;
        for edit in [SeatEdit::Reprice(won(1)), SeatEdit::Withdraw] {
            let refused = stores.catalogue.edit_seat(taken, edit, world.now + secs(2)).await;
            assert_eq!(refused, Ok(None), "seat {taken}: {edit:?} under a fan");
        }
        assert_eq!(seat(&stores, taken).await, before, "seat {taken}: unchanged");
    }
    let lapsed = stores.catalogue.edit_seat(held.seat_id, SeatEdit::Reprice(won(7)), held.expires_at).await;
    assert!(matches!(lapsed, Ok(Some(_))), "once the hold lapsed the seat is edited: {lapsed:?}");
}

/// A withdrawn seat is gone from every read, cannot be held (even on a decision taken before),
/// and cannot be edited again; the rest of the map is untouched.
pub async fn a_withdrawn_seat_is_gone_from_every_read_and_never_held(stores: Repositories) {
    let world = seeded(&stores).await;
    user(&stores, 1, world.now).await;
    let gone = seat_of(&stores, &world.early, 15).await;
    let decided = approved(&gone, 1, world.now + secs(1));
    let withdrawn = stores.catalogue.edit_seat(gone.id, SeatEdit::Withdraw, world.now).await;
    assert_eq!(withdrawn, Ok(Some(gone.clone())), "the withdrawal answers the seat as it was");
    assert_eq!(stores.catalogue.seat(gone.id).await, Ok(None), "seat() no longer finds it");
    let map = stores.catalogue.seats_of_schedule(world.early.id).await.expect("seats_of_schedule works");
    assert_eq!(map.len(), 49, "the performance lists one seat fewer");
    assert!(map.iter().all(|seat| seat.id != gone.id), "and not that one");
    let concert = stores.catalogue.seats_of_concert(world.first).await.expect("seats_of_concert works");
    assert!(concert.iter().all(|seat| seat.id != gone.id), "nor does the concert's list");
    assert_eq!(stores.reservations.try_hold(&decided, None).await, Ok(None), "it is never held");
    let again = stores.catalogue.edit_seat(gone.id, SeatEdit::Reprice(won(5)), world.now).await;
    assert_eq!(again, Ok(None), "nor edited again");
    let sales = stores.catalogue.sales(world.now).await.expect("sales works");
    let early = sales.iter().find(|one| one.schedule_id == Some(world.early.id)).expect("listed");
    assert_eq!(early.seats, 49, "the sales view counts the seats on the map");
}

/// A seat withdrawn once its hold lapsed refuses a payment still in flight for that hold (one
/// decided just before the lapse): a withdrawn seat is never sold.
pub async fn a_seat_withdrawn_after_its_hold_lapsed_is_never_paid_for(stores: Repositories) {
    let world = seeded(&stores).await;
    let payer = funded(&stores, 1, 1_000_000, world.now).await;
    admit_everyone(&stores, world.now).await;
    let payer = token(&stores, payer.value).await;
    let held = hold(&stores, &seat_of(&stores, &world.early, 16).await, 1, world.now).await;
    let withdrawn = stores.catalogue.edit_seat(held.seat_id, SeatEdit::Withdraw, held.expires_at).await;
    assert!(matches!(withdrawn, Ok(Some(_))), "a lapsed hold does not keep the seat: {withdrawn:?}");
    let in_flight = plan(&held, &payer, held.expires_at - secs(1));
    assert_eq!(stores.payments.settle(&in_flight, None).await, Ok(None), "the payment is refused");
    assert_eq!(balance_of(&stores, uid(1)).await, balance(1_000_000), "and takes no money");
}

/// Ten holds and a withdrawal of one seat at once, ten times over: either the withdrawal
/// lands and no hold does, or one hold does and the seat stays on the map.
pub async fn a_withdrawal_racing_holds_never_lands_under_a_hold(stores: Repositories) {
    let world = seeded(&stores).await;
    for fan in 1..=10 {
        user(&stores, fan, world.now).await;
    }
    for number in 31..=40_u8 {
        let contested = seat_of(&stores, &world.early, number).await;
        let at = world.now + secs(i64::from(number));
        let outcomes = all_at_once(11, |n| {
            let (stores, contested) = (stores.clone(), contested.clone());
            async move {
                if n == 11 {
                    let edited = stores.catalogue.edit_seat(contested.id, SeatEdit::Withdraw, at).await;
                    (false, edited.expect("edit_seat works").is_some())
                } else {
                    let held = stores.reservations.try_hold(&approved(&contested, n, at), None).await;
                    (held.expect("try_hold works").is_some(), false)
                }
            }
        })
        .await;
        let holds = outcomes.iter().filter(|outcome| outcome.0).count();
        let withdrawn = outcomes.iter().any(|outcome| outcome.1);
        assert!(
            (holds, withdrawn) == (0, true) || (holds, withdrawn) == (1, false),
            "seat {number}: {holds} holds and withdrawn {withdrawn}"
        );
        assert_eq!(stores.catalogue.seat(contested.id).await.expect("seat works").is_none(), withdrawn);
    }
}

/// Cancelling a performance refunds every sale (money back, ledger entry, reservation
/// refunded), ends its live holds, and takes it and its seats off every list; a hold taken
/// before can no longer be paid. Asking again keeps the first instant and refunds nothing twice.
pub async fn cancelling_a_performance_refunds_its_sales_ends_its_holds_and_hides_it(stores: Repositories) {
    let world = seeded(&stores).await;
    let buyer = funded(&stores, 1, 1_000_000, world.now).await;
    let holder = funded(&stores, 2, 1_000_000, world.now).await;
    admit_everyone(&stores, world.now).await;
    let bought = hold(&stores, &seat_of(&stores, &world.early, 1).await, 1, world.now).await;
    let buyer = token(&stores, buyer.value).await;
    let paid = stores.payments.settle(&plan(&bought, &buyer, world.now + secs(1)), None).await;
    let paid = paid.expect("settle works").expect("the suite's payment lands");
    let held = hold(&stores, &seat_of(&stores, &world.early, 2).await, 2, world.now + secs(2)).await;
    let at = world.now + secs(3);

    let cancelled = stores.payments.cancel_performance(world.early.id, at).await.expect("cancel works");
    let cancelled = cancelled.expect("a known performance is cancelled");
    assert_eq!((cancelled.cancelled_at, cancelled.refunds, cancelled.unrefunded), (at, 1, 0));
    assert_eq!(cancelled.refunded, paid.amount.get());
    assert_eq!(balance_of(&stores, uid(1)).await, balance(1_000_000), "the buyer has their money back");
    assert_eq!(reservation(&stores, bought.id).await.status, ReservationStatus::Refunded);
    assert_eq!(reservation(&stores, held.id).await.status, ReservationStatus::Released);
    let holder = token(&stores, holder.value).await;
    let late = stores.payments.settle(&plan(&held, &holder, at + secs(1)), None).await;
    assert_eq!(late, Ok(None), "a hold of a cancelled performance is never paid");
    assert_eq!(balance_of(&stores, uid(2)).await, balance(1_000_000));

    let performances = stores.catalogue.schedules(world.first).await.expect("schedules works");
    assert_eq!(performances, vec![world.late.clone()], "the cancelled performance is gone");
    let map = stores.catalogue.seats_of_schedule(world.early.id).await.expect("seats_of_schedule works");
    assert!(map.is_empty(), "and so is its seat map: {map:?}");
    assert_eq!(stores.catalogue.seat(bought.seat_id).await, Ok(None));
    let sales = stores.catalogue.sales(at).await.expect("sales works");
    let early =
        sales.iter().find(|one| one.schedule_id == Some(world.early.id)).expect("still in the sales view");
    assert_eq!((early.seats, early.sold, early.payments, early.refunds, early.revenue), (0, 0, 1, 1, 0));
    assert_eq!(early.cancelled_at, Some(at), "the sales view says when it was cancelled");
    assert_eq!(
        (early.starts_at, early.on_sale_at),
        (Some(world.early.starts_at), Some(world.early.on_sale_at))
    );
    let late = sales.iter().find(|one| one.schedule_id == Some(world.late.id)).expect("listed");
    assert_eq!(late.cancelled_at, None, "the other night goes on");

    let again = stores.payments.cancel_performance(world.early.id, at + secs(9)).await.expect("cancel works");
    let again = again.expect("still known");
    assert_eq!((again.cancelled_at, again.refunds, again.refunded), (at, 0, 0), "nothing twice");
    assert_eq!(balance_of(&stores, uid(1)).await, balance(1_000_000));
    let unknown = domain::ScheduleId::new(world.other.id.get() + 1_000).expect("valid id");
    assert_eq!(stores.payments.cancel_performance(unknown, at).await, Ok(None), "an unknown performance");
}

/// A payment and a cancellation at once, ten times over: the fan ends with their money either
/// way (never charged, or charged and refunded) and the seat is never left sold.
pub async fn a_payment_racing_a_cancellation_leaves_the_fan_whole(stores: Repositories) {
    let world = seeded(&stores).await;
    let concerts = [world.early.clone(), world.late.clone(), world.other.clone()];
    for (round, performance) in concerts.iter().enumerate() {
        let fan = i64::try_from(round).expect("small") + 1;
        let at = world.now + secs(fan);
        let payer = funded(&stores, fan, 1_000_000, at).await;
        admit_everyone(&stores, at).await;
        let payer = token(&stores, payer.value).await;
        let held = hold(&stores, &seat_of(&stores, performance, 3).await, fan, at).await;
        let paying = plan(&held, &payer, at);
        let schedule = performance.id;
        all_at_once(2, |n| {
            let (stores, paying) = (stores.clone(), paying.clone());
            async move {
                if n == 1 {
                    stores.payments.settle(&paying, None).await.expect("settle works");
                } else {
                    stores.payments.cancel_performance(schedule, at).await.expect("cancel works");
                }
            }
        })
        .await;
        let status = reservation(&stores, held.id).await.status;
        assert!(
            matches!(status, ReservationStatus::Refunded | ReservationStatus::Released),
            "round {round}: {status:?}"
        );
        assert_eq!(balance_of(&stores, uid(fan)).await, balance(1_000_000), "round {round}: whole");
        let sales = stores.catalogue.sales(at).await.expect("sales works");
        let one = sales.iter().find(|one| one.schedule_id == Some(schedule)).expect("listed");
        assert_eq!((one.sold, one.revenue), (0, 0), "round {round}: nothing left sold");
    }
}

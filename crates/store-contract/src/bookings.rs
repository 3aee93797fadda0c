//! A fan's bookings: `release` (giving a live hold back) as a compare-and-set, and `bookings`.

use domain::{Booking, ReservationStatus, TokenStatus};

use crate::Repositories;
use crate::fixture::{
    R_PRICE, admit_everyone, balance, balance_of, funded, hold, plan, reservation, seat, seat_of, secs,
    seeded, token, uid, user,
};
use crate::races::all_at_once;

/// Giving a live hold back rewrites it as `Released` and puts the seat back on sale at that
/// very instant: another fan holds it at once, and the holder's live holds count one fewer.
pub async fn release_ends_a_live_hold_and_puts_its_seat_back_on_sale_at_once(stores: Repositories) {
    let world = seeded(&stores).await;
    user(&stores, 1, world.now).await;
    user(&stores, 2, world.now).await;
    let free = seat_of(&stores, &world.early, 20).await;
    let held = hold(&stores, &free, 1, world.now).await;
    let at = world.now + secs(10);
    let released = stores.reservations.release(held.id, uid(1), at).await.expect("release works");
    let expected = domain::Reservation { status: ReservationStatus::Released, ..held.clone() };
    assert_eq!(released, Some(expected.clone()), "release returns the released reservation");
    assert_eq!(reservation(&stores, held.id).await, expected, "and it reads back released");
    assert!(seat(&stores, free.id).await.is_free_at(at), "the seat is free at the release instant");
    assert_eq!(stores.reservations.live_holds(uid(1), at).await, Ok(0), "no live hold left");
    let again = hold(&stores, &seat(&stores, free.id).await, 2, at).await;
    assert_eq!(again.user_id, uid(2), "another fan holds the seat at once");
}

/// A release is refused, changing nothing, for someone else's hold, a lapsed one, a paid one,
/// one released already, and an unknown reservation.
pub async fn release_is_refused_unless_the_hold_is_the_callers_live_one(stores: Repositories) {
    let world = seeded(&stores).await;
    let payer = funded(&stores, 1, 1_000_000, world.now).await;
    user(&stores, 2, world.now).await;
    admit_everyone(&stores, world.now).await;
    let mine = hold(&stores, &seat_of(&stores, &world.early, 1).await, 1, world.now).await;
    let paid = hold(&stores, &seat_of(&stores, &world.early, 2).await, 1, world.now).await;
    let payer = token(&stores, payer.value).await;
    let settled = stores.payments.settle(&plan(&paid, &payer, world.now + secs(1)), None).await;
    assert!(matches!(settled, Ok(Some(_))), "the suite pays one hold: {settled:?}");
    let releases = stores.reservations.as_ref();
    let at = world.now + secs(2);
    assert_eq!(releases.release(mine.id, uid(2), at).await, Ok(None), "someone else's hold");
    assert_eq!(releases.release(paid.id, uid(1), at).await, Ok(None), "a paid reservation");
    assert_eq!(releases.release(mine.id, uid(1), mine.expires_at).await, Ok(None), "a lapsed hold");
    assert_eq!(reservation(&stores, mine.id).await, mine, "the refused releases changed nothing");
    assert!(!seat(&stores, mine.seat_id).await.is_free_at(at), "the seat is still held");
    assert!(seat(&stores, paid.seat_id).await.sold, "the paid seat is still sold");
    assert!(matches!(releases.release(mine.id, uid(1), at).await, Ok(Some(_))), "the holder's release");
    assert_eq!(releases.release(mine.id, uid(1), at).await, Ok(None), "a second release");
    let unknown = domain::ReservationId::new(mine.id.get() + 1_000).expect("valid id");
    assert_eq!(releases.release(unknown, uid(1), at).await, Ok(None), "an unknown reservation");
}

/// A payment and a release of one hold, at once, twenty times over: exactly one lands each
/// time, and what it leaves is whole (sold and debited, or free with the money and the token
/// untouched).
pub async fn release_racing_payment_of_one_hold_lets_exactly_one_win(stores: Repositories) {
    let world = seeded(&stores).await;
    for number in 1..=20_u8 {
        let fan = i64::from(number);
        let at = world.now + secs(fan);
        let payer = funded(&stores, fan, 1_000_000, at).await;
        admit_everyone(&stores, at).await;
        let payer = token(&stores, payer.value).await;
        let held = hold(&stores, &seat_of(&stores, &world.early, number).await, fan, at).await;
        let paying = plan(&held, &payer, at);
        let outcomes = all_at_once(2, |n| {
            let stores = stores.clone();
            let paying = paying.clone();
            async move {
                if n == 1 {
                    (stores.payments.settle(&paying, None).await.expect("settle works").is_some(), false)
                } else {
                    let released = stores.reservations.release(held.id, uid(fan), at).await;
                    (false, released.expect("release works").is_some())
                }
            }
        })
        .await;
        let (paid, released) = (outcomes.iter().any(|o| o.0), outcomes.iter().any(|o| o.1));
        assert!(paid != released, "seat {number}: exactly one of pay ({paid}) and release ({released})");
        let after = seat(&stores, held.seat_id).await;
        let balance_after = balance_of(&stores, uid(fan)).await;
        let token_after = token(&stores, payer.value).await.status;
        if paid {
            assert_eq!(reservation(&stores, held.id).await.status, ReservationStatus::Paid);
            assert!(after.sold, "seat {number}: sold");
            assert_eq!(balance_after, balance(1_000_000 - held.price.get()), "seat {number}: debited once");
        } else {
            assert_eq!(reservation(&stores, held.id).await.status, ReservationStatus::Released);
            assert!(after.is_free_at(at) && !after.sold, "seat {number}: back on sale");
            assert_eq!(balance_after, balance(1_000_000), "seat {number}: no money moved");
            assert_eq!(token_after, TokenStatus::Active, "seat {number}: the token is not spent");
        }
    }
}

/// `bookings` lists a user's held and paid reservations, newest first, each paid one with its
/// payment, and leaves out released ones, other users' and anything past the limit.
pub async fn bookings_list_held_and_paid_reservations_newest_first_with_their_payments(stores: Repositories) {
    let world = seeded(&stores).await;
    let payer = funded(&stores, 1, 1_000_000, world.now).await;
    user(&stores, 2, world.now).await;
    admit_everyone(&stores, world.now).await;
    let bought = hold(&stores, &seat_of(&stores, &world.early, 21).await, 1, world.now).await;
    let given_back = hold(&stores, &seat_of(&stores, &world.early, 22).await, 1, world.now).await;
    let theirs = hold(&stores, &seat_of(&stores, &world.early, 23).await, 2, world.now).await;
    let still_held = hold(&stores, &seat_of(&stores, &world.early, 24).await, 1, world.now).await;
    let payer = token(&stores, payer.value).await;
    let payment = stores.payments.settle(&plan(&bought, &payer, world.now + secs(1)), None).await;
    let payment = payment.expect("settle works").expect("the suite pays one hold");
    assert_eq!(payment.amount.get(), R_PRICE);
    let released = stores.reservations.release(given_back.id, uid(1), world.now + secs(2)).await;
    assert!(matches!(released, Ok(Some(_))), "{released:?}");

    let listed = stores.reservations.bookings(uid(1), 100).await.expect("bookings works");
    let paid = domain::Reservation { status: ReservationStatus::Paid, ..bought };
    let expected = vec![
        Booking { reservation: still_held.clone(), payment: None },
        Booking { reservation: paid, payment: Some(payment) },
    ];
    assert_eq!(listed, expected, "held and paid, newest first, without the released one");
    let first = stores.reservations.bookings(uid(1), 1).await.expect("bookings works");
    assert_eq!(first, expected[..1], "the limit keeps the newest");
    let other = stores.reservations.bookings(uid(2), 100).await.expect("bookings works");
    assert_eq!(other, vec![Booking { reservation: theirs, payment: None }], "each user sees their own");
    assert_eq!(stores.reservations.bookings(uid(3), 100).await, Ok(vec![]), "a stranger has none");
}

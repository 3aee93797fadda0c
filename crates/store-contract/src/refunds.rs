//! Refunds: `refund` as the box office's unit of work, exactly once, and a refunded seat sold
//! again.

use domain::{LedgerReason, Payment, RefundPlan, Reservation, ReservationStatus};

use crate::Repositories;
use crate::fixture::{
    admit_everyone, balance, balance_of, funded, hold, plan, reservation, seat, seat_of, secs, seeded, token,
    uid,
};
use crate::races::all_at_once;

/// Fan `n` (funded with 1,000,000) buys seat `number` of the early performance at `at`.
async fn bought(
    stores: &Repositories,
    n: i64,
    number: u8,
    at: time::OffsetDateTime,
) -> (Reservation, Payment) {
    let world = seeded_once(stores).await;
    let payer = funded(stores, n, 1_000_000, at).await;
    admit_everyone(stores, at).await;
    let payer = token(stores, payer.value).await;
    let held = hold(stores, &seat_of(stores, &world, number).await, n, at).await;
    let paid = stores.payments.settle(&plan(&held, &payer, at + secs(1)), None).await;
    (held, paid.expect("settle works").expect("the suite's payment lands"))
}

/// The early performance, seeding the store on first use.
async fn seeded_once(stores: &Repositories) -> domain::Schedule {
    let concerts = stores.catalogue.concerts().await.expect("concerts works");
    if concerts.is_empty() {
        return seeded(stores).await.early;
    }
    let first = concerts.iter().map(|concert| concert.id).min().expect("a concert");
    let schedules = stores.catalogue.schedules(first).await.expect("schedules works");
    schedules.into_iter().next().expect("a performance")
}

fn refund_of(held: &Reservation, payment: &Payment, at: time::OffsetDateTime) -> RefundPlan {
    RefundPlan {
        payment_id: payment.id,
        reservation_id: held.id,
        user_id: held.user_id,
        seat_id: held.seat_id,
        amount: payment.amount,
        refunded_at: at,
    }
}

/// A refund gives the money back with a ledger entry, puts the seat on sale unheld, and marks the
/// reservation refunded; the ledger still sums to the balance.
pub async fn refund_gives_the_money_back_and_puts_the_seat_on_sale(stores: Repositories) {
    let at = crate::fixture::now();
    let (held, payment) = bought(&stores, 1, 5, at).await;
    let refunded =
        stores.payments.refund(&refund_of(&held, &payment, at + secs(2))).await.expect("refund works");
    let refunded = refunded.expect("a paid reservation is refunded");
    assert_eq!(refunded.balance_after, balance(1_000_000), "all the money is back");
    assert_eq!(balance_of(&stores, uid(1)).await, balance(1_000_000));
    let ledger = stores.wallet.ledger(uid(1)).await.expect("ledger works");
    assert_eq!(
        ledger.last().map(|entry| (entry.reason, entry.delta)),
        Some((LedgerReason::Refund(held.id), payment.amount.get()))
    );
    assert_eq!(
        ledger.iter().map(|entry| entry.delta).sum::<i64>(),
        1_000_000,
        "the ledger sums to the balance"
    );
    assert_eq!(reservation(&stores, held.id).await.status, ReservationStatus::Refunded);
    let after = seat(&stores, held.seat_id).await;
    assert!(
        !after.sold && after.hold.is_none() && after.is_free_at(at + secs(2)),
        "on sale again: {after:?}"
    );
}

/// Of twenty refunds of one payment at once, exactly one lands; a refund is never paid twice.
pub async fn twenty_concurrent_refunds_of_one_payment_refund_once(stores: Repositories) {
    let at = crate::fixture::now();
    let (held, payment) = bought(&stores, 1, 6, at).await;
    let refund = refund_of(&held, &payment, at + secs(2));
    let results = all_at_once(20, |_| {
        let (stores, refund) = (stores.clone(), refund.clone());
        async move { stores.payments.refund(&refund).await.expect("refund works under contention") }
    })
    .await;
    assert_eq!(results.iter().filter(|result| result.is_some()).count(), 1, "exactly one refund");
    assert_eq!(balance_of(&stores, uid(1)).await, balance(1_000_000), "the money came back once");
}

/// A refunded seat can be held and bought again by another fan.
pub async fn a_refunded_seat_is_sold_again(stores: Repositories) {
    let at = crate::fixture::now();
    let (held, payment) = bought(&stores, 1, 7, at).await;
    let refunded = stores.payments.refund(&refund_of(&held, &payment, at + secs(2))).await;
    assert!(matches!(refunded, Ok(Some(_))), "{refunded:?}");
    let (again, resold) = bought(&stores, 2, 7, at + secs(3)).await;
    assert_eq!((again.seat_id, resold.user_id), (held.seat_id, uid(2)), "the seat is someone else's now");
    assert!(seat(&stores, held.seat_id).await.sold);
}

/// The sales view adds up: seats free, held and sold per performance, payments, refunds and
/// the money, after a hold, two payments and a refund.
pub async fn sales_add_up_after_holds_payments_and_a_refund(stores: Repositories) {
    let at = crate::fixture::now();
    let (held, payment) = bought(&stores, 1, 8, at).await;
    let (_, kept) = bought(&stores, 2, 9, at + secs(2)).await;
    let refunded = stores.payments.refund(&refund_of(&held, &payment, at + secs(3))).await;
    assert!(matches!(refunded, Ok(Some(_))), "{refunded:?}");
    let schedule = seeded_once(&stores).await;
    let holding = crate::fixture::user(&stores, 3, at + secs(4)).await;
    assert_eq!(holding.user_id, uid(3));
    hold(&stores, &seat_of(&stores, &schedule, 10).await, 3, at + secs(4)).await;

    let sales = stores.catalogue.sales(at + secs(5)).await.expect("sales works");
    let one = sales.iter().find(|one| one.schedule_id == Some(schedule.id)).expect("the performance");
    assert_eq!((one.seats, one.held, one.sold, one.free()), (50, 1, 1, 48), "{one:?}");
    assert_eq!((one.payments, one.refunds), (2, 1), "{one:?}");
    assert_eq!((one.revenue, one.refunded), (kept.amount.get(), payment.amount.get()), "{one:?}");
    let others = sales.iter().filter(|other| other.schedule_id != Some(schedule.id));
    assert!(others.clone().all(|other| other.sold == 0 && other.payments == 0 && other.free() == 50));
    assert_eq!(sales.len(), 3, "every performance is listed");
}

/// A refund and twenty payments of the refunded reservation, all at once: the refund lands and
/// no payment does, so a refunded ticket is never paid for again and the money comes back once.
pub async fn a_refund_racing_payments_of_the_same_reservation_lands_alone(stores: Repositories) {
    let at = crate::fixture::now();
    let (held, payment) = bought(&stores, 1, 11, at).await;
    // A fresh active token, so the payments could only be refused for what they pay for.
    let again = crate::fixture::user(&stores, 1, at + secs(1)).await;
    admit_everyone(&stores, at + secs(1)).await;
    let again = token(&stores, again.value).await;
    assert_eq!(again.status, domain::TokenStatus::Active, "the suite's second token is active");
    let paying = plan(&held, &again, at + secs(2));
    let refund = refund_of(&held, &payment, at + secs(2));
    let outcomes = all_at_once(21, |n| {
        let (stores, paying, refund) = (stores.clone(), paying.clone(), refund.clone());
        async move {
            if n == 21 {
                (stores.payments.refund(&refund).await.expect("refund works").is_some(), false)
            } else {
                (false, stores.payments.settle(&paying, None).await.expect("settle works").is_some())
            }
        }
    })
    .await;
    assert!(outcomes.iter().any(|outcome| outcome.0), "the refund lands");
    assert!(!outcomes.iter().any(|outcome| outcome.1), "no payment of a paid reservation lands");
    assert_eq!(reservation(&stores, held.id).await.status, ReservationStatus::Refunded);
    assert_eq!(balance_of(&stores, uid(1)).await, balance(1_000_000), "the money came back once");
}

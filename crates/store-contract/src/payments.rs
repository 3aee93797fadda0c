//! Payment checks: `settle` as one unit of work. It either does everything (money, seat,
//! reservation, ledger, token) or, when any guard fails, nothing at all.

use std::sync::atomic::{AtomicU64, Ordering};

use domain::{
    IdempotencyPolicy, LedgerEntry, LedgerReason, Payment, QueuePolicy, QueueToken, Receipt, Reservation,
    ReservationId, ReservationStatus, SettlementPlan, StoredResponse, TokenStatus, UserId,
};

use crate::Repositories;
use crate::fixture::{
    R_PRICE, World, admit_everyone, balance, balance_of, funded, hold, plan, reservation, seat, seat_of,
    secs, seeded, snapshot, token, uid, uncapped, unknown_id, user,
};
use crate::idempotency::{claimed, key};

/// User 1 with `funds` and an active token, holding seat 20 (R zone) of the early show since
/// `world.now`.
pub(crate) struct Scene {
    pub(crate) world: World,
    pub(crate) token: QueueToken,
    pub(crate) held: Reservation,
}

pub(crate) async fn scene(stores: &Repositories, funds: i64) -> Scene {
    let world = seeded(stores).await;
    let issued =
        if funds > 0 { funded(stores, 1, funds, world.now).await } else { user(stores, 1, world.now).await };
    let report = stores.queue.admit(world.now, &uncapped()).await.expect("admit works");
    assert_eq!(report.admitted, 1, "the payer's token is admitted");
    let token = token(stores, issued.value).await;
    assert_eq!(token.status, TokenStatus::Active, "the payer's token is active");
    let held = hold(stores, &seat_of(stores, &world.early, 20).await, 1, world.now).await;
    Scene { world, token, held }
}

/// Settles `plan`, which must be refused, once without and once with an `Idempotency-Key`
/// receipt (the first user's key, claimed for it and answered as the payment use case answers:
/// a refusal is answered later, by the caller), and checks that nothing named changed: the key
/// stays claimed and unanswered.
async fn assert_refused_without_change(
    stores: &Repositories,
    plan: &SettlementPlan,
    why: &str,
    users: &[UserId],
    reservations: &[ReservationId],
    tokens: &[&QueueToken],
) {
    /// Every refusal claims a key of its own.
    static KEYS: AtomicU64 = AtomicU64::new(0);
    let mut seats = vec![plan.seat_id];
    for &id in reservations {
        if let Some(held) = stores.reservations.reservation(id).await.expect("reservation works") {
            seats.push(held.seat_id);
        }
    }
    let values: Vec<_> = tokens.iter().map(|token| token.value).collect();
    let keyholder = users[0];
    let key = key(&format!("refused-{}", KEYS.fetch_add(1, Ordering::Relaxed)));
    let policy = IdempotencyPolicy::default();
    let claim = stores.idempotency.claim(keyholder, &key, "settle", plan.paid_at, &policy).await;
    let claim = claimed(claim.expect("claim works"));
    let receipt = Receipt::new(keyholder, key.clone(), claim, |paid: &Option<Payment>| {
        paid.as_ref().map(|payment| StoredResponse { status: 200, body: format!("{payment:?}") })
    });
    let keys = [(keyholder, key)];

    let before = snapshot(stores, users, &keys, &seats, reservations, &values).await;
    for receipt in [None, Some(receipt)] {
        let keyed = receipt.is_some();
        let result = stores.payments.settle(plan, receipt).await;
        assert_eq!(result, Ok(None), "settle must be refused: {why} (keyed: {keyed})");
        let after = snapshot(stores, users, &keys, &seats, reservations, &values).await;
        assert_eq!(after, before, "a refused settle must change nothing: {why} (keyed: {keyed})");
    }
}

/// A valid plan settles: the payment is returned, the balance is debited, the ledger gains the
/// `Payment` entry, the seat is sold, the reservation is `Paid`, the payer's token is expired
/// (and only theirs), and the payer's next token is a new one at the back.
pub async fn settle_takes_the_money_sells_the_seat_confirms_the_reservation_and_expires_the_token(
    stores: Repositories,
) {
    let Scene { world, token: payer_token, held } = scene(&stores, 100_000).await;
    let bystander = user(&stores, 2, world.now).await;
    let plan = plan(&held, &payer_token, world.now + secs(60));
    let payment = stores.payments.settle(&plan, None).await.expect("settle works");
    let payment = payment.expect("settle of a valid plan must succeed");
    assert_eq!((payment.reservation_id, payment.user_id), (held.id, uid(1)), "what was paid, by whom");
    assert_eq!((payment.amount.get(), payment.paid_at), (R_PRICE, plan.paid_at), "amount and time");
    assert_eq!(
        stores.payments.payment_for(held.id).await,
        Ok(Some(payment.clone())),
        "the payment reads back"
    );

    let left = 100_000 - R_PRICE;
    assert_eq!(balance_of(&stores, uid(1)).await, balance(left), "the price is debited");
    let ledger = stores.wallet.ledger(uid(1)).await.expect("ledger works");
    let expected_entry = LedgerEntry {
        user_id: uid(1),
        delta: -R_PRICE,
        reason: LedgerReason::Payment(held.id),
        balance_after: balance(left),
        at: plan.paid_at,
    };
    assert_eq!(ledger.len(), 2, "a charge and a payment: {ledger:?}");
    assert_eq!(ledger[1], expected_entry, "the payment's ledger entry");
    assert_eq!(ledger.iter().map(|entry| entry.delta).sum::<i64>(), left, "the ledger sums to the balance");

    assert!(seat(&stores, held.seat_id).await.sold, "the seat is sold");
    let paid = reservation(&stores, held.id).await;
    assert_eq!(
        paid,
        Reservation { status: ReservationStatus::Paid, ..held.clone() },
        "only the status moves"
    );
    assert_eq!(token(&stores, payer_token.value).await.status, TokenStatus::Expired, "the payer's token");
    assert_eq!(token(&stores, bystander.value).await, bystander, "another user's token is untouched");

    let again = plan.clone();
    assert_eq!(stores.payments.settle(&again, None).await, Ok(None), "the same plan cannot pay twice");
    let renewed = user(&stores, 1, world.now + secs(61)).await;
    assert_ne!(renewed.value, payer_token.value, "after paying, the user is issued a new token");
    assert_eq!(renewed.status, TokenStatus::Waiting, "the new token waits");
    assert!(renewed.ticket > bystander.ticket, "the new token is behind everyone already waiting");
}

/// Settling a reservation that is already paid is refused and changes nothing.
pub async fn settle_of_a_paid_reservation_is_refused_and_changes_nothing(stores: Repositories) {
    let Scene { world, token, held } = scene(&stores, 100_000).await;
    let first = plan(&held, &token, world.now + secs(60));
    let paid = stores.payments.settle(&first, None).await.expect("settle works");
    assert!(paid.is_some(), "the first payment must succeed");
    let fresh = user(&stores, 1, world.now + secs(61)).await;
    admit_everyone(&stores, world.now + secs(61)).await;
    for (why, retry) in [
        ("the same plan again", first.clone()),
        (
            "a later plan for the paid reservation, with a new active token",
            plan(&held, &fresh, world.now + secs(62)),
        ),
    ] {
        assert_refused_without_change(&stores, &retry, why, &[uid(1)], &[held.id], &[&token]).await;
    }
}

/// Settling at or after the hold's expiry is refused and changes nothing; a second earlier it
/// succeeds.
pub async fn settle_after_the_hold_lapsed_is_refused_and_changes_nothing(stores: Repositories) {
    let Scene { token, held, .. } = scene(&stores, 100_000).await;
    for (why, at) in [
        ("paid_at equal to the hold's expiry", held.expires_at),
        ("paid_at an hour after the hold's expiry", held.expires_at + secs(3_600)),
    ] {
        let late = plan(&held, &token, at);
        assert_refused_without_change(&stores, &late, why, &[uid(1)], &[held.id], &[&token]).await;
    }
    let in_time = stores.payments.settle(&plan(&held, &token, held.expires_at - secs(1)), None).await;
    assert!(matches!(in_time, Ok(Some(_))), "a second before expiry the plan must settle: {in_time:?}");
}

/// After the hold lapsed and another user took the seat, a stale plan of the first holder
/// (decided while the hold was live) is refused and changes nothing, for either user.
pub async fn settle_when_another_hold_took_the_seat_is_refused_and_changes_nothing(stores: Repositories) {
    let Scene { world, token, held } = scene(&stores, 100_000).await;
    let rival_token = funded(&stores, 2, 100_000, world.now).await;
    let lapsed = seat(&stores, held.seat_id).await;
    let rival = hold(&stores, &lapsed, 2, held.expires_at + secs(1)).await;
    let users = [uid(1), uid(2)];
    let reservations = [held.id, rival.id];
    let tokens = [&token, &rival_token];
    let stale = plan(&held, &token, world.now + secs(60));
    let why = "a stale plan once the seat is held by another reservation";
    assert_refused_without_change(&stores, &stale, why, &users, &reservations, &tokens).await;
    let late = plan(&held, &token, held.expires_at + secs(2));
    let why = "a late plan once the seat is held by another reservation";
    assert_refused_without_change(&stores, &late, why, &users, &reservations, &tokens).await;
    let after = seat(&stores, held.seat_id).await;
    assert_eq!(after.hold.map(|h| h.reservation_id), Some(rival.id), "the rival keeps the seat");
}

/// A plan the balance cannot cover (never had it, or spent it on another seat since the
/// decision) is refused and changes nothing.
pub async fn settle_without_enough_balance_is_refused_and_changes_nothing(stores: Repositories) {
    let Scene { world, token, held } = scene(&stores, 40_000).await;
    let second = hold(&stores, &seat_of(&stores, &world.early, 21).await, 1, world.now).await;
    let first =
        stores.payments.settle(&plan(&held, &token, world.now + secs(60)), None).await.expect("settle works");
    assert!(first.is_some(), "the first seat is paid from the 40,000");
    let fresh = user(&stores, 1, world.now + secs(61)).await;
    let broke_token = user(&stores, 2, world.now + secs(61)).await;
    admit_everyone(&stores, world.now + secs(61)).await;
    let why = "10,000 left cannot pay a 30,000 seat";
    let spent = plan(&second, &fresh, world.now + secs(62));
    assert_refused_without_change(&stores, &spent, why, &[uid(1)], &[second.id], &[&fresh]).await;
    assert_eq!(reservation(&stores, second.id).await.status, ReservationStatus::Held, "still payable later");

    let broke = hold(&stores, &seat_of(&stores, &world.early, 22).await, 2, world.now).await;
    let why = "a user with a zero balance";
    let plan = plan(&broke, &broke_token, world.now + secs(62));
    assert_refused_without_change(&stores, &plan, why, &[uid(2)], &[broke.id], &[&broke_token]).await;
}

/// A plan naming someone other than the holder as payer is refused and changes nothing, for
/// the holder or the would-be payer.
pub async fn settle_by_someone_other_than_the_holder_is_refused_and_changes_nothing(stores: Repositories) {
    let Scene { world, token, held } = scene(&stores, 100_000).await;
    let other_token = funded(&stores, 2, 100_000, world.now).await;
    admit_everyone(&stores, world.now + secs(1)).await;
    let wrong = SettlementPlan {
        user_id: uid(2),
        token: other_token.value,
        ..plan(&held, &token, world.now + secs(60))
    };
    let why = "user 2 paying user 1's reservation";
    let users = [uid(1), uid(2)];
    assert_refused_without_change(&stores, &wrong, why, &users, &[held.id], &[&token, &other_token]).await;
    let unknown = SettlementPlan { user_id: uid(99), ..wrong };
    let why = "a payer who is not a user";
    assert_refused_without_change(&stores, &unknown, why, &users, &[held.id], &[&token, &other_token]).await;
}

/// A plan naming a seat its reservation does not hold, or a reservation that does not exist, is
/// refused and changes nothing.
pub async fn settle_naming_another_seat_or_an_unknown_reservation_is_refused_and_changes_nothing(
    stores: Repositories,
) {
    let Scene { world, token, held } = scene(&stores, 100_000).await;
    let neighbour = hold(&stores, &seat_of(&stores, &world.early, 21).await, 1, world.now).await;
    let crossed = SettlementPlan { seat_id: neighbour.seat_id, ..plan(&held, &token, world.now + secs(60)) };
    let why = "a plan naming a seat held by another reservation";
    let reservations = [held.id, neighbour.id];
    assert_refused_without_change(&stores, &crossed, why, &[uid(1)], &reservations, &[&token]).await;
    let free = seat_of(&stores, &world.early, 22).await;
    let unheld = SettlementPlan { seat_id: free.id, ..plan(&held, &token, world.now + secs(60)) };
    let why = "a plan naming a seat nobody holds";
    assert_refused_without_change(&stores, &unheld, why, &[uid(1)], &reservations, &[&token]).await;
    let missing = ReservationId::new(unknown_id([held.id.get(), neighbour.id.get()])).expect("positive");
    let ghost = SettlementPlan { reservation_id: missing, ..plan(&held, &token, world.now + secs(60)) };
    let why = "a plan for a reservation that does not exist";
    assert_refused_without_change(&stores, &ghost, why, &[uid(1)], &reservations, &[&token]).await;
}

/// A token that can no longer pay (spent by another payment, run out, or still waiting) makes
/// the settlement refused, and nothing changes: the contract expires the token on payment, and a later
/// payment with it is `TOKEN_EXPIRED`, so it must not pay again in the store either.
pub async fn settle_refuses_when_the_presented_token_is_no_longer_active(stores: Repositories) {
    let Scene { world, token: payer, held } = scene(&stores, 200_000).await;
    let second = hold(&stores, &seat_of(&stores, &world.early, 21).await, 1, world.now).await;
    let paid =
        stores.payments.settle(&plan(&held, &payer, world.now + secs(60)), None).await.expect("settle works");
    assert!(paid.is_some(), "the first payment with the token must succeed");
    let why = "a token already spent by another payment";
    let spent = plan(&second, &payer, world.now + secs(61));
    assert_refused_without_change(&stores, &spent, why, &[uid(1)], &[second.id], &[&payer]).await;

    let waiting = funded(&stores, 2, 100_000, world.now).await;
    let queued = hold(&stores, &seat_of(&stores, &world.early, 22).await, 2, world.now).await;
    let why = "a token still waiting in the queue";
    let early = plan(&queued, &waiting, world.now + secs(60));
    assert_refused_without_change(&stores, &early, why, &[uid(2)], &[queued.id], &[&waiting]).await;

    let brief = funded(&stores, 3, 100_000, world.now).await;
    let short = QueuePolicy { active_ttl: secs(30), ..uncapped() };
    stores.queue.admit(world.now + secs(1), &short).await.expect("admit works");
    let brief = token(&stores, brief.value).await;
    assert_eq!(brief.expires_at, Some(world.now + secs(31)), "admitted for 30 seconds");
    let lapsed = hold(&stores, &seat_of(&stores, &world.early, 23).await, 3, world.now).await;
    let why = "a token whose active time ran out, for a hold still live";
    let late = plan(&lapsed, &brief, world.now + secs(31));
    assert_refused_without_change(&stores, &late, why, &[uid(3)], &[lapsed.id], &[&brief]).await;
    let in_time = stores.payments.settle(&plan(&lapsed, &brief, world.now + secs(30)), None).await;
    assert!(matches!(in_time, Ok(Some(_))), "a second before the token runs out it pays: {in_time:?}");
}

/// Another user's active token does not pay for the holder, and is not spent by trying.
pub async fn settle_refuses_a_token_that_is_not_the_payers(stores: Repositories) {
    let Scene { world, token: payer, held } = scene(&stores, 100_000).await;
    let other = funded(&stores, 2, 100_000, world.now).await;
    admit_everyone(&stores, world.now + secs(1)).await;
    let other = token(&stores, other.value).await;
    assert_eq!(other.status, TokenStatus::Active, "the borrowed token is active");
    let borrowed = plan(&held, &other, world.now + secs(60));
    let why = "user 1 paying with user 2's active token";
    let users = [uid(1), uid(2)];
    assert_refused_without_change(&stores, &borrowed, why, &users, &[held.id], &[&payer, &other]).await;
}

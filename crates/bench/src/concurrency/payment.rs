//! Figure 3: payments. Many fans paying their own holds at once (no contention on rows, only
//! on the server), and many payments of ONE reservation at once (exactly one may succeed):
//! the product's settlement beside a naive read-modify-write transaction.

use std::sync::Arc;
use std::time::Duration;

use super::driver::{Driven, drive};
use super::sessions::Session;
use super::setup::Study;
use super::{Attempt, Role, StudyResult};

/// Each payer's balance before paying (more than any seat costs).
const BALANCE: i64 = 1_000_000;
/// Seats per performance.
const SEATS_PER_SCHEDULE: usize = 50;

/// A settlement strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentStrategy {
    /// The product's settlement: the `settle_payment` function (row locks in a fixed order,
    /// every guard re-checked under them, one round trip).
    Settlement,
    /// Read the reservation and the balance without locks, then write everything.
    Naive,
}

/// The product's settlement, as `crates/adapter-postgres/src/payments.rs` sends it (`SETTLE`),
/// the instant from the server clock. Binds: $1 reservation, $2 user, $3 seat, $4 amount, $5 token.
const SETTLE: &str = "SELECT payment_id FROM settle_payment($1, $2, $3, $4, $5::text::uuid, now())";
/// Naive: is the reservation payable? Bind: $1 reservation.
const READ_RESERVATION: &str =
    "SELECT status = 'HELD' AND expires_at > now() FROM reservations WHERE id = $1";
/// Naive: the balance. Bind: $1 user.
const READ_BALANCE: &str = "SELECT balance FROM users WHERE id = $1";
/// Naive writes. Binds as in [`NaiveBinds`].
const MARK_PAID: &str = "UPDATE reservations SET status = 'PAID' WHERE id = $1";
/// See [`MARK_PAID`]. Bind: $1 seat.
const MARK_SOLD: &str = "UPDATE seats SET sold = TRUE WHERE id = $1";
/// See [`MARK_PAID`]. Binds: $1 user, $2 balance.
const SET_BALANCE: &str = "UPDATE users SET balance = $2 WHERE id = $1";
/// See [`MARK_PAID`]. Binds: $1 user, $2 delta, $3 reservation, $4 balance after.
const LEDGER: &str = "\
INSERT INTO ledger_entries (user_id, delta, reason, reservation_id, balance_after, at)
VALUES ($1, $2, 'PAYMENT', $3, $4, now())";
/// See [`MARK_PAID`]. Binds: $1 reservation, $2 user, $3 amount.
const PAYMENT: &str =
    "INSERT INTO payments (reservation_id, user_id, amount, paid_at) VALUES ($1, $2, $3, now())";
/// See [`MARK_PAID`]. Bind: $1 token.
const SPEND_TOKEN: &str = "UPDATE queue_tokens SET status = 'EXPIRED' WHERE token = $1::text::uuid";

/// Every naive statement, in the order they run.
const NAIVE: [&str; 8] =
    [READ_RESERVATION, READ_BALANCE, MARK_PAID, MARK_SOLD, SET_BALANCE, LEDGER, PAYMENT, SPEND_TOKEN];

/// A hold to pay.
#[derive(Debug, Clone)]
struct Hold {
    reservation: i64,
    user: i64,
    seat: i64,
    price: i64,
    token: String,
}

impl PaymentStrategy {
    /// In the report's order.
    pub const ALL: [PaymentStrategy; 2] = [PaymentStrategy::Settlement, PaymentStrategy::Naive];

    /// The report's name.
    pub fn name(self) -> &'static str {
        match self {
            PaymentStrategy::Settlement => {
                "settle_payment: locks in a fixed order, guards re-checked (frontrow)"
            }
            PaymentStrategy::Naive => "naive read-modify-write transaction",
        }
    }

    /// Whether it must be correct.
    pub fn role(self) -> Role {
        match self {
            PaymentStrategy::Settlement => Role::Qualifying,
            PaymentStrategy::Naive => Role::Comparison,
        }
    }

    fn statements(self) -> &'static [&'static str] {
        match self {
            PaymentStrategy::Settlement => &[SETTLE],
            PaymentStrategy::Naive => &NAIVE,
        }
    }

    /// One payment of `hold`.
    async fn attempt(self, session: &mut Session, hold: &Hold) -> StudyResult<Attempt> {
        if self == PaymentStrategy::Settlement {
            let settle = session.statement(SETTLE)?;
            let row = session
                .client
                .query_one(&settle, &[&hold.reservation, &hold.user, &hold.seat, &hold.price, &hold.token])
                .await?;
            return Ok(Attempt::outcome(row.try_get::<_, Option<i64>>(0)?.is_some()));
        }
        let s = NAIVE.map(|sql| session.statement(sql));
        let [read, balance, paid, sold, set, ledger, payment, spend] = s;
        let tx = session.client.transaction().await?;
        let payable: bool = tx.query_one(&read?, &[&hold.reservation]).await?.try_get(0)?;
        let funds: i64 = tx.query_one(&balance?, &[&hold.user]).await?.try_get(0)?;
        if !payable || funds < hold.price {
            return Ok(Attempt::outcome(false));
        }
        let after = funds - hold.price;
        tx.execute(&paid?, &[&hold.reservation]).await?;
        tx.execute(&sold?, &[&hold.seat]).await?;
        tx.execute(&set?, &[&hold.user, &after]).await?;
        tx.execute(&ledger?, &[&hold.user, &-hold.price, &hold.reservation, &after]).await?;
        tx.execute(&payment?, &[&hold.reservation, &hold.user, &hold.price]).await?;
        tx.execute(&spend?, &[&hold.token]).await?;
        tx.commit().await?;
        Ok(Attempt::outcome(true))
    }
}

/// One run's outcome.
#[derive(Debug, Clone)]
pub struct PaymentRun {
    /// The clients' totals.
    pub driven: Driven,
    /// Payment rows written.
    pub payments: i64,
    /// Reservations debited more than once (must be 0).
    pub double_payments: i64,
    /// Payers whose balance is not their starting balance less their payments, or whose ledger
    /// does not sum to their balance (must be 0).
    pub money_mismatches: i64,
    /// Payments that should have succeeded: every fan's, or exactly one.
    pub expected: i64,
}

impl PaymentRun {
    /// As many payments as expected, each debited once, every balance and ledger agreeing,
    /// no error.
    pub fn correct(&self) -> bool {
        let expected = u64::try_from(self.expected).unwrap_or(0);
        self.driven.won == expected
            && self.payments == self.expected
            && self.double_payments == 0
            && self.money_mismatches == 0
            && self.driven.errors == 0
    }
}

/// `fans` fresh fans each pay their own hold, over `clients` clients.
pub async fn fans(
    study: &mut Study,
    strategy: PaymentStrategy,
    fans: usize,
    clients: usize,
    cap: Duration,
) -> StudyResult<PaymentRun> {
    let (first, holds) = holds(study, fans).await?;
    let holds = Arc::new(holds);
    let plan = Plan { first, payers: fans, attempts: fans, clients, expected: i64::try_from(fans)? };
    pay(study, strategy, plan, cap, move |i| holds.get(i).cloned()).await
}

/// `attempts` concurrent payments of ONE fresh hold, over `clients` clients.
pub async fn contested(
    study: &mut Study,
    strategy: PaymentStrategy,
    attempts: usize,
    clients: usize,
    cap: Duration,
) -> StudyResult<PaymentRun> {
    let (first, holds) = holds(study, 1).await?;
    let hold = holds.into_iter().next().ok_or("the contested hold was not taken")?;
    let plan = Plan { first, payers: 1, attempts, clients, expected: 1 };
    pay(study, strategy, plan, cap, move |_| Some(hold.clone())).await
}

/// What a payment run does and expects.
struct Plan {
    /// The first payer's id.
    first: i64,
    /// Payers, from `first` on (audited after the run).
    payers: usize,
    /// Payment attempts.
    attempts: usize,
    /// Clients making them.
    clients: usize,
    /// Payments that should succeed.
    expected: i64,
}

/// Drives the plan's attempts, attempt `i` paying `hold_of(i)`, then audits its payers.
async fn pay(
    study: &mut Study,
    strategy: PaymentStrategy,
    plan: Plan,
    cap: Duration,
    hold_of: impl Fn(usize) -> Option<Hold> + Send + Sync + 'static,
) -> StudyResult<PaymentRun> {
    study.sessions.prepare(strategy.statements()).await?;
    let clients = plan.clients.min(plan.attempts);
    let driven = drive(&study.sessions, clients, plan.attempts, cap, move |i, mut session| {
        let hold = hold_of(i);
        async move {
            let outcome = match hold {
                Some(hold) => strategy.attempt(&mut session, &hold).await,
                None => Err("no hold for this attempt".into()),
            };
            (session, outcome)
        }
    })
    .await?;
    let (first, expected) = (plan.first, plan.expected);
    let last = first + i64::try_from(plan.payers)? - 1;
    let row = study
        .admin
        .query_one(
            "SELECT
               (SELECT count(*) FROM payments WHERE user_id BETWEEN $1 AND $2),
               (SELECT count(*) FROM (SELECT reservation_id FROM ledger_entries
                                       WHERE reason = 'PAYMENT' AND user_id BETWEEN $1 AND $2
                                       GROUP BY reservation_id HAVING count(*) > 1) twice),
               (SELECT count(*) FROM users u
                 WHERE u.id BETWEEN $1 AND $2
                   AND (u.balance <> $3::bigint - (SELECT COALESCE(sum(amount), 0)::bigint FROM payments p WHERE p.user_id = u.id)
                        OR u.balance <> (SELECT COALESCE(sum(delta), 0)::bigint FROM ledger_entries l WHERE l.user_id = u.id)))",
            &[&first, &last, &BALANCE],
        )
        .await?;
    Ok(PaymentRun {
        driven,
        payments: row.try_get(0)?,
        double_payments: row.try_get(1)?,
        money_mismatches: row.try_get(2)?,
        expected,
    })
}

/// `count` fresh fans, each with [`BALANCE`], an ACTIVE token and a hold (taken with the
/// product's `hold_seat`) on a seat of fresh performances; returns the first fan's id and the
/// holds.
async fn holds(study: &mut Study, count: usize) -> StudyResult<(i64, Vec<Hold>)> {
    let first = study.fresh_users(count, BALANCE).await?;
    let last = first + i64::try_from(count)? - 1;
    let schedules = i64::try_from(count.div_ceil(SEATS_PER_SCHEDULE))?;
    let from = study.fresh_schedules(schedules)?;
    let to = from + schedules - 1;
    study
        .admin
        .execute(
            "INSERT INTO queue_tokens (token, user_id, status, issued_at, last_seen_at, expires_at)
             SELECT gen_random_uuid(), g, 'ACTIVE', now(), now(), now() + interval '1 hour'
               FROM generate_series($1::bigint, $2::bigint) g",
            &[&first, &last],
        )
        .await?;
    let rows = study
        .admin
        .query(
            "SELECT h.id, h.user_id, h.seat_id, h.price, t.token::text
               FROM (SELECT row_number() OVER (ORDER BY id) AS k, id, concert_id,
                            chr(65 + (number - 1) / 10) || ((number - 1) % 10 + 1) AS name
                       FROM seats WHERE schedule_id BETWEEN $1 AND $2 ORDER BY id LIMIT $4) s
              CROSS JOIN LATERAL hold_seat(s.id, s.concert_id, now(), now() + interval '1 hour',
                                           $3 + s.k - 1, s.name, 4) h
               JOIN queue_tokens t ON t.user_id = h.user_id AND t.status = 'ACTIVE'",
            &[&from, &to, &first, &i64::try_from(count)?],
        )
        .await?;
    let holds = rows
        .iter()
        .map(|row| {
            Ok(Hold {
                reservation: row.try_get(0)?,
                user: row.try_get(1)?,
                seat: row.try_get(2)?,
                price: row.try_get(3)?,
                token: row.try_get(4)?,
            })
        })
        .collect::<StudyResult<Vec<_>>>()?;
    if holds.len() != count {
        return Err(format!("{} of {count} holds were taken for the payment run", holds.len()).into());
    }
    Ok((first, holds))
}

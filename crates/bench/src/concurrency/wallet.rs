//! Figure 2: one hot wallet. `charges` concurrent charges of the same user; each strategy must
//! leave the balance equal to the sum of what it told the clients it charged (no lost update)
//! and to the sum of the user's ledger.

use std::time::{Duration, SystemTime};

use adapter_postgres::testing::WALLET_CREDIT;
use domain::money::MAX_BALANCE;
use tokio_postgres::types::ToSql;

use super::driver::{Driven, drive, sqlstate};
use super::sessions::Session;
use super::setup::Study;
use super::{Attempt, Role, StudyResult};

/// Won per charge.
pub const AMOUNT: i64 = 1_000;
/// Optimistic retries (version mismatches and deadlocks together) before a charge gives up.
pub const MAX_RETRIES: u32 = 30;

/// A charge strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalletStrategy {
    /// `SELECT … FOR UPDATE`, then UPDATE and the ledger insert, in one transaction.
    Pessimistic,
    /// Read balance and version, write if the version is unchanged, else roll back and retry.
    Optimistic,
    /// The product's credit: `UPDATE … SET balance = balance + $2 … RETURNING` feeding the
    /// ledger insert, one statement.
    Atomic,
    /// Control: read, then write the computed balance, no lock, no version.
    ReadModifyWrite,
}

/// Pessimistic read. Bind: $1 user.
const LOCK_BALANCE: &str = "SELECT balance FROM users WHERE id = $1 FOR UPDATE";
/// Unlocked read. Bind: $1 user.
const READ_BALANCE: &str = "SELECT balance FROM users WHERE id = $1";
/// Optimistic read. Bind: $1 user.
const READ_VERSIONED: &str = "SELECT balance, version FROM users WHERE id = $1";
/// Write a computed balance. Binds: $1 user, $2 balance.
const SET_BALANCE: &str = "UPDATE users SET balance = $2 WHERE id = $1";
/// Write a computed balance while the version read is current. Binds: $1 user, $2 balance,
/// $3 version read.
const SET_VERSIONED: &str =
    "UPDATE users SET balance = $2, version = version + 1 WHERE id = $1 AND version = $3";
/// The ledger entry of a charge. Binds: $1 user, $2 amount, $3 balance after.
const LEDGER: &str = "\
INSERT INTO ledger_entries (user_id, delta, reason, balance_after, at) VALUES ($1, $2, 'CHARGE', $3, now())";

impl WalletStrategy {
    /// In the report's order.
    pub const ALL: [WalletStrategy; 4] = [
        WalletStrategy::Pessimistic,
        WalletStrategy::Optimistic,
        WalletStrategy::Atomic,
        WalletStrategy::ReadModifyWrite,
    ];

    /// The report's name.
    pub fn name(self) -> &'static str {
        match self {
            WalletStrategy::Pessimistic => "pessimistic: SELECT … FOR UPDATE",
            WalletStrategy::Optimistic => "optimistic: version column, retry",
            WalletStrategy::Atomic => "atomic UPDATE … RETURNING + ledger, one statement (frontrow)",
            WalletStrategy::ReadModifyWrite => "read-modify-write, no lock",
        }
    }

    /// Whether it must be correct.
    pub fn role(self) -> Role {
        match self {
            WalletStrategy::ReadModifyWrite => Role::Control,
            _ => Role::Qualifying,
        }
    }

    fn statements(self) -> &'static [&'static str] {
        match self {
            WalletStrategy::Pessimistic => &[LOCK_BALANCE, SET_BALANCE, LEDGER],
            WalletStrategy::Optimistic => &[READ_VERSIONED, SET_VERSIONED, LEDGER],
            WalletStrategy::Atomic => &[WALLET_CREDIT],
            WalletStrategy::ReadModifyWrite => &[READ_BALANCE, SET_BALANCE, LEDGER],
        }
    }

    /// One charge of [`AMOUNT`] to `user`; `i` is the attempt's number (the retry jitter).
    async fn attempt(self, session: &mut Session, user: i64, i: usize) -> StudyResult<Attempt> {
        match self {
            WalletStrategy::Atomic => {
                let credit = session.statement(WALLET_CREDIT)?;
                let binds: [&(dyn ToSql + Sync); 4] = [&user, &AMOUNT, &SystemTime::now(), &MAX_BALANCE];
                let rows = session.client.execute(&credit, &binds).await?;
                Ok(Attempt::outcome(rows == 1))
            }
            WalletStrategy::Pessimistic => {
                let statements = [
                    session.statement(LOCK_BALANCE)?,
                    session.statement(SET_BALANCE)?,
                    session.statement(LEDGER)?,
                ];
                let tx = session.client.transaction().await?;
                let balance: i64 = tx.query_one(&statements[0], &[&user]).await?.try_get(0)?;
                let after = balance + AMOUNT;
                tx.execute(&statements[1], &[&user, &after]).await?;
                tx.execute(&statements[2], &[&user, &AMOUNT, &after]).await?;
                tx.commit().await?;
                Ok(Attempt::outcome(true))
            }
            WalletStrategy::ReadModifyWrite => {
                let statements = [
                    session.statement(READ_BALANCE)?,
                    session.statement(SET_BALANCE)?,
                    session.statement(LEDGER)?,
                ];
                let client = &session.client;
                let balance: i64 = client.query_one(&statements[0], &[&user]).await?.try_get(0)?;
                let after = balance + AMOUNT;
                client.execute(&statements[1], &[&user, &after]).await?;
                client.execute(&statements[2], &[&user, &AMOUNT, &after]).await?;
                Ok(Attempt::outcome(true))
            }
            WalletStrategy::Optimistic => optimistic(session, user, i).await,
        }
    }
}

/// The optimistic charge with its retries: a version mismatch or a deadlock rolls back, waits
/// a jittered, growing pause, and tries again, at most [`MAX_RETRIES`] times.
async fn optimistic(session: &mut Session, user: i64, i: usize) -> StudyResult<Attempt> {
    let statements =
        [session.statement(READ_VERSIONED)?, session.statement(SET_VERSIONED)?, session.statement(LEDGER)?];
    let mut seen = Attempt::default();
    loop {
        let tx = session.client.transaction().await?;
        let once = async {
            let row = tx.query_one(&statements[0], &[&user]).await?;
            let (balance, version): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
            let after = balance + AMOUNT;
            if tx.execute(&statements[1], &[&user, &after, &version]).await? == 0 {
                return Ok(false);
            }
            tx.execute(&statements[2], &[&user, &AMOUNT, &after]).await?;
            Ok::<_, tokio_postgres::Error>(true)
        };
        match once.await {
            Ok(true) => {
                tx.commit().await?;
                seen.won = true;
                return Ok(seen);
            }
            Ok(false) => seen.retries += 1,
            // Deadlock detected, or a serialization failure: the classic retryable pair.
            Err(error) if matches!(sqlstate(&error), Some("40P01" | "40001")) => seen.deadlocks += 1,
            Err(error) => return Err(error.into()),
        }
        tx.rollback().await?;
        let tries = seen.retries + seen.deadlocks;
        if tries >= MAX_RETRIES {
            seen.gave_up = true;
            return Ok(seen);
        }
        tokio::time::sleep(backoff(tries, i)).await;
    }
}

/// 1, 2, 4, 8 then 16 ms, each scaled by a jitter in [0.5, 1.5) that differs per attempt and
/// try, so that the losers of one round do not all come back together.
fn backoff(tries: u32, i: usize) -> Duration {
    let base = 1_000u64 << tries.min(4);
    let mixed = (i as u64).wrapping_mul(2_654_435_761).wrapping_add(u64::from(tries) * 40_503) % 1_000;
    Duration::from_micros(base * (500 + mixed) / 1_000)
}

/// One run's outcome.
#[derive(Debug, Clone)]
pub struct WalletRun {
    /// The clients' totals.
    pub driven: Driven,
    /// Charges the clients were told succeeded but the balance does not show.
    pub lost_updates: i64,
    /// The user's ledger sum less their balance (must be 0).
    pub ledger_gap: i64,
}

impl WalletRun {
    /// No lost update, no ledger gap, no error.
    pub fn correct(&self) -> bool {
        self.lost_updates == 0 && self.ledger_gap == 0 && self.driven.errors == 0
    }
}

/// `charges` charges of one fresh user over `clients` clients with `strategy`.
pub async fn charge(
    study: &mut Study,
    strategy: WalletStrategy,
    charges: usize,
    clients: usize,
    cap: Duration,
) -> StudyResult<WalletRun> {
    let user = study.fresh_users(1, 0).await?;
    study.sessions.prepare(strategy.statements()).await?;
    let driven = drive(&study.sessions, clients, charges, cap, move |i, mut session| async move {
        let outcome = strategy.attempt(&mut session, user, i).await;
        (session, outcome)
    })
    .await?;
    let row = study
        .admin
        .query_one(
            "SELECT balance, (SELECT COALESCE(sum(delta), 0)::bigint FROM ledger_entries WHERE user_id = $1)
               FROM users WHERE id = $1",
            &[&user],
        )
        .await?;
    let (balance, ledger): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
    let told = i64::try_from(driven.won)? * AMOUNT;
    Ok(WalletRun { lost_updates: (told - balance) / AMOUNT, ledger_gap: ledger - balance, driven })
}

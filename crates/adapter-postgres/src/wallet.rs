//! Balances and their ledger: the wallet port.

use async_trait::async_trait;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::money::MAX_BALANCE;
use domain::ports::{CreditOutcome, StoreResult, WalletRepository};
use domain::{Balance, ChargeAmount, LedgerEntry, Receipt, UserId};
use time::OffsetDateTime;

use crate::PgStore;
use crate::errors::{TxError, db_error};
use crate::idempotency::guarded;
use crate::models::{LedgerRow, balance, convert_all};
use crate::pool::checkout;
use crate::schema::{ledger_entries, users};
use crate::statement::{bind, prepared};

/// The credit in ONE statement: the guarded balance update feeds its ledger entry, so both
/// commit together and concurrent credits queue on the user's row without losing an update.
/// Binds: $1 user, $2 amount, $3 at, $4 ceiling. The concurrency study races it as it is
/// (`testing::WALLET_CREDIT`).
pub(crate) const CREDIT: &str = "\
WITH u AS (
    UPDATE users SET balance = balance + $2
     WHERE id = $1 AND balance + $2 <= $4
 RETURNING balance
)
INSERT INTO ledger_entries (user_id, delta, reason, balance_after, at)
SELECT $1, $2, 'CHARGE', balance, $3 FROM u
RETURNING balance_after";

/// What [`CREDIT`] returns.
#[derive(QueryableByName)]
struct Credited {
    #[diesel(sql_type = BigInt)]
    balance_after: i64,
}

/// The credit on `conn`: [`CREDIT`], and when it matched nothing, whether the user exists.
async fn credit_on(
    conn: &mut AsyncPgConnection,
    user: UserId,
    amount: ChargeAmount,
    at: OffsetDateTime,
) -> Result<CreditOutcome, TxError> {
    let binds = (
        bind::<BigInt, _>(user.get()),
        bind::<BigInt, _>(amount.won().get()),
        bind::<Timestamptz, _>(at),
        bind::<BigInt, _>(MAX_BALANCE),
    );
    let credited: Option<Credited> = prepared(CREDIT, binds).get_result(conn).await.optional()?;
    if let Some(credited) = credited {
        return Ok(CreditOutcome::Credited(balance(credited.balance_after)?));
    }
    let exists: bool =
        diesel::select(diesel::dsl::exists(users::table.find(user.get()))).get_result(conn).await?;
    Ok(if exists { CreditOutcome::LimitExceeded } else { CreditOutcome::UnknownUser })
}

#[async_trait]
impl WalletRepository for PgStore {
    async fn balance(&self, user: UserId) -> StoreResult<Option<Balance>> {
        let mut conn = checkout(&self.pool).await?;
        let raw: Option<i64> = users::table
            .find(user.get())
            .select(users::balance)
            .first(&mut conn)
            .await
            .optional()
            .map_err(db_error)?;
        raw.map(balance).transpose()
    }

    async fn credit(
        &self,
        user: UserId,
        amount: ChargeAmount,
        at: OffsetDateTime,
        receipt: Option<Receipt<CreditOutcome>>,
    ) -> StoreResult<CreditOutcome> {
        guarded(&self.pool, receipt.as_ref(), at, move |conn| Box::pin(credit_on(conn, user, amount, at)))
            .await
            .map_err(TxError::into_store)
    }

    async fn ledger(&self, user: UserId) -> StoreResult<Vec<LedgerEntry>> {
        let mut conn = checkout(&self.pool).await?;
        let rows = ledger_entries::table
            .filter(ledger_entries::user_id.eq(user.get()))
            .order(ledger_entries::id)
            .select(LedgerRow::as_select())
            .load(&mut conn)
            .await
            .map_err(db_error)?;
        convert_all(rows)
    }
}

//! The token signing key shared through the database (migration
//! `2026-12-02-000006_token_signing_key`), for deployments that do not set one.

use diesel::QueryableByName;
use diesel::sql_types::Bytea;
use diesel_async::RunQueryDsl;
use domain::ports::StoreResult;

use crate::PgStore;
use crate::errors::db_error;
use crate::pool::checkout;
use crate::statement::{bind, prepared};

/// Stores the candidate unless a key is stored already. Bind: $1 candidate.
const OFFER: &str = "INSERT INTO token_signing_key (secret) VALUES ($1) ON CONFLICT DO NOTHING";

/// The key stored. A statement of its own, after [`OFFER`]: its snapshot sees a key another
/// instance committed while [`OFFER`] waited for it.
const STORED: &str = "SELECT secret FROM token_signing_key";

#[derive(QueryableByName)]
struct Stored {
    #[diesel(sql_type = Bytea)]
    secret: Vec<u8>,
}

impl PgStore {
    /// The key every instance on this database seals tokens with: `candidate` if no instance
    /// stored one before, else the one stored. Instances starting together agree.
    pub async fn shared_signing_key(&self, candidate: &[u8]) -> StoreResult<Vec<u8>> {
        let mut conn = checkout(&self.pool).await?;
        prepared(OFFER, bind::<Bytea, _>(candidate.to_vec())).execute(&mut conn).await.map_err(db_error)?;
        let stored: Stored = diesel::sql_query(STORED).get_result(&mut conn).await.map_err(db_error)?;
        Ok(stored.secret)
    }
}

//! Fixtures: the small catalogue at fixed instants, id shorthands, users and holds, shared with
//! the in-memory store's tests.

use adapter_postgres::PgStore;
use domain::ports::CatalogueRepository;

pub use store_contract::testkit::{
    NOW, PRICE, SHOW, approved_hold, funded_user, issue_at, seat_id, seconds,
    small_catalogue as demo_catalogue, token_value, user,
};

/// Loads [`demo_catalogue`] into an empty store.
pub async fn seed(store: &PgStore) {
    assert_eq!(store.seed_if_empty(&demo_catalogue()).await, Ok(true));
}

//! PostgreSQL-specific tests of the store: start-up, migrations, test databases, failure
//! modes, a smoke test of each port's SQL, and the waiting room at scale. The behaviour every
//! store shares is covered by the `store-contract` suite; these need a PostgreSQL server (see
//! `testing::TestDatabase`).

mod lifecycle;
mod listener;
mod ports;
mod purge;
mod queue;
mod support;

//! The catalogue as data (`docs/catalogue.md`): the demo file `SEED_DEMO` loads, built into the
//! binary, and the `frontrow catalogue import FILE.json` command.

use std::process::ExitCode;

use adapter_postgres::{PgOptions, PgStore};
use application::import_catalogue;
use domain::NewConcert;
use domain::ports::Clock;
use time::OffsetDateTime;

use crate::system::SystemClock;

/// `catalogue/demo.json`: three concerts on dates a week or more ahead of the day the server
/// starts, so the demo never runs out of future dates, on sale at once.
const DEMO: &str = include_str!("../../../catalogue/demo.json");

/// The demo concerts, dated from `now`.
pub fn demo(now: OffsetDateTime) -> Result<Vec<NewConcert>, catalogue_file::CatalogueFileError> {
    catalogue_file::parse(DEMO, now)
}

/// `frontrow catalogue import FILE.json`: checks the file whole, then loads or updates it in
/// the database of `DATABASE_URL` in one transaction. One line on stdout for what it did, or
/// on stderr for why nothing was done (exit status 1).
pub async fn import(path: &str) -> ExitCode {
    match try_import(path).await {
        Ok(summary) => {
            println!("frontrow: {summary}");
            ExitCode::SUCCESS
        }
        Err(why) => {
            eprintln!("frontrow: {path}: {why}");
            ExitCode::FAILURE
        }
    }
}

async fn try_import(path: &str) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|error| format!("cannot read: {error}"))?;
    let concerts = catalogue_file::parse(&text, SystemClock.now()).map_err(|error| error.to_string())?;
    let url = std::env::var("DATABASE_URL")
        .ok()
        .filter(|url| !url.is_empty())
        .ok_or("set DATABASE_URL to the database to import into")?;
    let options = PgOptions { max_connections: 2, ..PgOptions::default() };
    let store = PgStore::connect(&url, options).await.map_err(|error| error.to_string())?;
    let imported = import_catalogue::execute(&store, &concerts).await.map_err(|error| error.to_string())?;
    Ok(format!(
        "imported {} concerts: {} new, {} new performances of concerts already there",
        concerts.len(),
        imported.concerts_added,
        imported.performances_added
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_demo_has_three_concerts_of_future_performances_on_sale_now() {
        let now = datetime!(2030-01-01 12:00 UTC);
        let concerts = demo(now).expect("the built-in demo file is valid");
        assert_eq!(concerts.len(), 3);
        for schedule in concerts.iter().flat_map(|concert| &concert.schedules) {
            assert!(schedule.starts_at > now && schedule.on_sale_at <= now);
            assert_eq!(schedule.seats.len(), 50);
        }
    }
}

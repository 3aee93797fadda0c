//! The small catalogue at fixed instants that each store's own tests seed (the contract checks
//! above use [`crate::fixture`]'s, relative to the real clock): one source, so the in-memory and
//! the PostgreSQL store's tests read the same concerts, seats and prices.

use domain::{NewConcert, NewSchedule, NewSeat, SeatNumber, Won};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

/// The instant the stores' own tests start from; the catalogue went on sale a day before.
pub const NOW: OffsetDateTime = datetime!(2030-01-01 12:00 UTC);
/// When the first performance starts.
pub const SHOW: OffsetDateTime = datetime!(2030-06-01 19:00 UTC);
/// What seats 11–50 cost.
pub const PRICE: i64 = 30_000;
/// What seats 1–10, the VIP zone, cost.
pub const VIP_PRICE: i64 = 50_000;

fn performance(starts_at: OffsetDateTime) -> NewSchedule {
    let seats = SeatNumber::all()
        .map(|number| {
            let vip = number.get() <= 10;
            let price = Won::new(if vip { VIP_PRICE } else { PRICE }).expect("valid price");
            NewSeat { number, zone: if vip { "VIP" } else { "R" }.into(), price }
        })
        .collect();
    NewSchedule { starts_at, on_sale_at: NOW - Duration::days(1), seats }
}

/// Concert 1 has schedule 1 at [`SHOW`] and schedule 2 a day earlier (seats 1–100); concert 2
/// has schedule 3 a week later (seats 101–150).
pub fn small_catalogue() -> Vec<NewConcert> {
    vec![
        NewConcert {
            key: "spring-nights".into(),
            title: "Spring Nights".into(),
            artist: "The Early Birds".into(),
            venue: "Arts Center".into(),
            schedules: vec![performance(SHOW), performance(SHOW - Duration::days(1))],
        },
        NewConcert {
            key: "summer-live".into(),
            title: "Summer Live".into(),
            artist: "The Late Shows".into(),
            venue: "Olympic Hall".into(),
            schedules: vec![performance(SHOW + Duration::days(7))],
        },
    ]
}

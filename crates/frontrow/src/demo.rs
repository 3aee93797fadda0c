//! The demo catalogue `SEED_DEMO` loads: three concerts on dates a week or more ahead of the
//! day the server starts, so the demo never runs out of future dates. Concert 1 plays twice on
//! its second day, which shows why `available-seats` accepts `scheduleId`.

use domain::{NewConcert, NewSchedule, NewSeat, SeatNumber, Won};
use time::{Date, Duration, OffsetDateTime, Time};

/// Price bands by row: A is VIP, B–C are R, D–E are S.
fn band(number: SeatNumber) -> (&'static str, i64) {
    match number.get() {
        1..=10 => ("VIP", 150_000),
        11..=30 => ("R", 120_000),
        _ => ("S", 90_000),
    }
}

fn seats() -> Vec<NewSeat> {
    SeatNumber::all()
        .map(|number| {
            let (zone, price) = band(number);
            NewSeat { number, zone: zone.to_owned(), price: Won::new(price).unwrap_or(Won::ZERO) }
        })
        .collect()
}

fn performance(today: Date, days_ahead: i64, hour: u8, minute: u8) -> NewSchedule {
    let time = Time::from_hms(hour, minute, 0).unwrap_or(Time::MIDNIGHT);
    NewSchedule {
        starts_at: (today + Duration::days(days_ahead)).with_time(time).assume_utc(),
        seats: seats(),
    }
}

/// The demo concerts, dated relative to `now`.
pub fn catalogue(now: OffsetDateTime) -> Vec<NewConcert> {
    let today = now.date();
    let concert = |title: &str, artist: &str, venue: &str, schedules| NewConcert {
        title: title.to_owned(),
        artist: artist.to_owned(),
        venue: venue.to_owned(),
        schedules,
    };
    vec![
        concert(
            "Aurora Nights",
            "The Lanterns",
            "Olympic Hall, Seoul",
            vec![performance(today, 7, 19, 0), performance(today, 8, 14, 0), performance(today, 8, 19, 0)],
        ),
        concert(
            "Jazz by the Han",
            "River Quartet",
            "Sejong Center, Seoul",
            vec![performance(today, 10, 19, 30), performance(today, 11, 19, 30)],
        ),
        concert(
            "Midnight Symphony",
            "Seoul Strings",
            "Lotte Concert Hall",
            vec![performance(today, 20, 20, 0)],
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn demo_has_three_concerts_of_future_performances_with_fifty_seats() {
        let now = datetime!(2030-01-01 12:00 UTC);
        let concerts = catalogue(now);
        assert_eq!(concerts.len(), 3);
        for schedule in concerts.iter().flat_map(|concert| &concert.schedules) {
            assert!(schedule.starts_at > now);
            assert_eq!(schedule.seats.len(), 50);
            assert!(schedule.seats.iter().all(|seat| seat.price.get() > 0));
        }
    }

    #[test]
    fn demo_concert_one_plays_twice_on_one_date() {
        let schedules = &catalogue(datetime!(2030-01-01 12:00 UTC))[0].schedules;
        assert_eq!(schedules[1].starts_at.date(), schedules[2].starts_at.date());
    }
}

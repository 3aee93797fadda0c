//! The catalogue as data: the JSON file `frontrow catalogue import` loads, and the demo
//! catalogue `SEED_DEMO` loads (`catalogue/demo.json`). Its schema is documented in
//! `docs/catalogue.md`. A file is checked whole before anything is loaded: the first fault is
//! reported with where it is (the line for a file that is not valid JSON or has a field of the
//! wrong type, the field's path for a value out of range), and nothing is loaded.

use std::collections::{BTreeMap, HashSet};

use domain::{NewConcert, NewSchedule, NewSeat, SeatNumber, ticket_price};
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime, Time};

/// Longest concert key, title, artist or venue, in characters.
const MOST_CHARS: usize = 200;

/// Why a catalogue file was refused, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{at}: {message}", line.map(|line| format!("line {line}, ")).unwrap_or_default())]
pub struct CatalogueFileError {
    /// The line of the fault, when the JSON reader knows it.
    pub line: Option<usize>,
    /// The field at fault, e.g. `concerts[0].performances[1].onSaleAt`.
    pub at: String,
    /// What is wrong with it.
    pub message: String,
}

/// Reads a catalogue file; relative instants (`daysFromToday`, `secondsFromNow`) are taken
/// from `now`.
pub fn parse(text: &str, now: OffsetDateTime) -> Result<Vec<NewConcert>, CatalogueFileError> {
    let reader = &mut serde_json::Deserializer::from_str(text);
    let file: File = serde_path_to_error::deserialize(reader).map_err(|error| {
        let at = error.path().to_string();
        let inner = error.into_inner();
        CatalogueFileError { line: Some(inner.line()), at, message: inner.to_string() }
    })?;
    file.check(now)
}

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct File {
    concerts: Vec<ConcertEntry>,
    #[serde(default)]
    seat_maps: BTreeMap<String, Vec<SeatRange>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ConcertEntry {
    key: String,
    title: String,
    artist: String,
    venue: String,
    performances: Vec<PerformanceEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PerformanceEntry {
    starts_at: When,
    #[serde(default)]
    on_sale_at: Option<When>,
    seats: Seats,
}

/// An instant: RFC 3339, or relative to the import.
#[derive(Debug, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
enum When {
    /// `"2027-01-10T19:00:00+09:00"`.
    At(String),
    /// `{"daysFromToday": 7, "at": "19:00"}`: a time of day (UTC) so many days after the day of
    /// the import.
    #[serde(rename_all = "camelCase")]
    DaysFromToday { days_from_today: u16, at: String },
    /// `{"secondsFromNow": 60}`.
    #[serde(rename_all = "camelCase")]
    SecondsFromNow { seconds_from_now: u32 },
}

/// A performance's seats: the name of a seat map of the file, or the map itself.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Seats {
    Named(String),
    Listed(Vec<SeatRange>),
}

/// Seats `from` to `to` (inclusive), all in one zone at one price.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SeatRange {
    from: i64,
    to: i64,
    zone: String,
    price: i64,
}

/// A fault found after reading: no line, the field's path.
fn fault(at: impl Into<String>, message: impl Into<String>) -> CatalogueFileError {
    CatalogueFileError { line: None, at: at.into(), message: message.into() }
}

/// A name of at most [`MOST_CHARS`] characters that is not blank.
fn text(value: &str, at: &str) -> Result<String, CatalogueFileError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(fault(at, "must not be empty"));
    }
    if trimmed.chars().count() > MOST_CHARS {
        return Err(fault(at, format!("must be at most {MOST_CHARS} characters")));
    }
    Ok(trimmed.to_owned())
}

impl File {
    fn check(self, now: OffsetDateTime) -> Result<Vec<NewConcert>, CatalogueFileError> {
        if self.concerts.is_empty() {
            return Err(fault("concerts", "must list at least one concert"));
        }
        let mut maps = BTreeMap::new();
        for (name, ranges) in &self.seat_maps {
            maps.insert(name.as_str(), seats(ranges, &format!("seatMaps.{name}"))?);
        }
        let mut keys = HashSet::new();
        let mut concerts = Vec::with_capacity(self.concerts.len());
        for (i, concert) in self.concerts.into_iter().enumerate() {
            let at = format!("concerts[{i}]");
            let key = concert_key(&concert.key, &format!("{at}.key"))?;
            if !keys.insert(key.clone()) {
                return Err(fault(format!("{at}.key"), format!("{key:?} is used by an earlier concert")));
            }
            if concert.performances.is_empty() {
                return Err(fault(format!("{at}.performances"), "must list at least one performance"));
            }
            let mut schedules = Vec::with_capacity(concert.performances.len());
            let mut starts = HashSet::new();
            for (j, performance) in concert.performances.into_iter().enumerate() {
                let at = format!("{at}.performances[{j}]");
                let schedule = performance.check(&maps, now, &at)?;
                if !starts.insert(schedule.starts_at) {
                    return Err(fault(
                        format!("{at}.startsAt"),
                        "another performance of this concert starts then",
                    ));
                }
                schedules.push(schedule);
            }
            concerts.push(NewConcert {
                key,
                title: text(&concert.title, &format!("{at}.title"))?,
                artist: text(&concert.artist, &format!("{at}.artist"))?,
                venue: text(&concert.venue, &format!("{at}.venue"))?,
                schedules,
            });
        }
        Ok(concerts)
    }
}

/// A concert's key: 1–64 of `a-z`, `0-9` and `-`, what names the concert across imports.
fn concert_key(key: &str, at: &str) -> Result<String, CatalogueFileError> {
    let valid = (1..=64).contains(&key.len())
        && key.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-');
    if valid { Ok(key.to_owned()) } else { Err(fault(at, "must be 1-64 characters of a-z, 0-9 and -")) }
}

impl PerformanceEntry {
    fn check(
        self,
        maps: &BTreeMap<&str, Vec<NewSeat>>,
        now: OffsetDateTime,
        at: &str,
    ) -> Result<NewSchedule, CatalogueFileError> {
        let starts_at = self.starts_at.resolve(now, &format!("{at}.startsAt"))?;
        let on_sale_at = match self.on_sale_at {
            Some(when) => when.resolve(now, &format!("{at}.onSaleAt"))?,
            None => now,
        };
        if on_sale_at >= starts_at {
            return Err(fault(format!("{at}.onSaleAt"), "must be before startsAt"));
        }
        let seats = match self.seats {
            Seats::Named(name) => maps.get(name.as_str()).cloned().ok_or_else(|| {
                fault(format!("{at}.seats"), format!("no seat map named {name:?} in seatMaps"))
            })?,
            Seats::Listed(ranges) => seats(&ranges, &format!("{at}.seats"))?,
        };
        Ok(NewSchedule { starts_at, on_sale_at, seats })
    }
}

impl When {
    fn resolve(&self, now: OffsetDateTime, at: &str) -> Result<OffsetDateTime, CatalogueFileError> {
        let instant = match self {
            When::At(text) => OffsetDateTime::parse(text, &Rfc3339).map_err(|_| {
                fault(at, format!("{text:?} is not an RFC 3339 instant like 2027-01-10T19:00:00Z"))
            })?,
            When::DaysFromToday { days_from_today, at: time_of_day } => {
                let format = time::macros::format_description!("[hour]:[minute]");
                let time = Time::parse(time_of_day, &format).map_err(|_| {
                    fault(format!("{at}.at"), format!("{time_of_day:?} is not a time like 19:30"))
                })?;
                let day = now.date().checked_add(Duration::days(i64::from(*days_from_today)));
                let day = day.ok_or_else(|| fault(at, "is past the end of the calendar"))?;
                day.with_time(time).assume_utc()
            }
            When::SecondsFromNow { seconds_from_now } => now
                .checked_add(Duration::seconds(i64::from(*seconds_from_now)))
                .ok_or_else(|| fault(at, "is past the end of the calendar"))?,
        };
        Ok(instant.to_offset(time::UtcOffset::UTC))
    }
}

/// A seat map's ranges as seats: numbers 1–50, none twice, at least one seat.
fn seats(ranges: &[SeatRange], at: &str) -> Result<Vec<NewSeat>, CatalogueFileError> {
    let mut seats: Vec<NewSeat> = Vec::new();
    for (i, range) in ranges.iter().enumerate() {
        let at = format!("{at}[{i}]");
        let number = |n: i64, field: &str| {
            SeatNumber::new(n).map_err(|error| fault(format!("{at}.{field}"), error.to_string()))
        };
        let (from, to) = (number(range.from, "from")?, number(range.to, "to")?);
        if from > to {
            return Err(fault(format!("{at}.to"), "must not be below from"));
        }
        let zone = text(&range.zone, &format!("{at}.zone"))?;
        let price =
            ticket_price(range.price).map_err(|error| fault(format!("{at}.price"), error.to_string()))?;
        for n in from.get()..=to.get() {
            let number = number(i64::from(n), "from")?;
            if seats.iter().any(|seat| seat.number == number) {
                return Err(fault(at.clone(), format!("seat {n} is listed twice")));
            }
            seats.push(NewSeat { number, zone: zone.clone(), price });
        }
    }
    if seats.is_empty() {
        return Err(fault(at, "must list at least one seat"));
    }
    seats.sort_by_key(|seat| seat.number);
    Ok(seats)
}

#[cfg(test)]
mod tests;

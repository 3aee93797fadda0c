//! Scenario 4, the booking flow across many seats and fans, phase by phase so that each rate
//! stands on its own: every fan charges their balance; every fan lists their performance's
//! free seats; every fan holds a seat picked from that list (the fans of a performance spread
//! over its seats; after a 409, because another fan was faster, they list again and pick
//! another); one fan in [`EVERY`] gives their hold back instead of paying; every other fan
//! pays; the box office refunds one payment in [`EVERY`]. Fan `k` books on performance
//! `4 + k % schedules`, so about `users / schedules` fans compete for each performance's 50
//! seats.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::BenchResult;
use crate::cpu::{Meter, Snapshot, Spent};
use crate::db::{CONCERT_ONE_SCHEDULES, concert_of};
use crate::http::{Answer, Api, Latencies, StatusCounts, drive, tally};
use crate::server::ADMIN_SECRET;

/// Enough for any seat's price.
const CHARGE: i64 = 200_000;
/// Holds a fan tries before giving up.
const TRIES: u64 = 8;
/// One fan in this many gives their hold back, and one payment in this many is refunded.
const EVERY: usize = 10;

/// Whether fan `k` gives their hold back instead of paying.
fn releases(k: usize) -> bool {
    k % EVERY == EVERY - 1
}

/// Whether fan `k`'s payment is refunded.
fn refunded(k: usize) -> bool {
    k % EVERY == EVERY / 2
}

/// One phase's figures.
#[derive(Debug, Clone, Default)]
pub struct Phase {
    /// Successes per second over the phase's wall time.
    pub per_second: f64,
    /// Latency of the phase's requests.
    pub latency: Latencies,
    /// Answers by class.
    pub counts: StatusCounts,
    /// Wall time, ms.
    pub wall_ms: f64,
    /// CPU spent during the phase.
    pub cpu: Spent,
}

/// The flow's figures.
pub struct Booking {
    /// Fans.
    pub users: usize,
    /// Performances they book on.
    pub schedules: i64,
    /// Charges.
    pub charge: Phase,
    /// Free-seat lists, one per fan.
    pub list: Phase,
    /// Holds (`per_second` counts fans who got a seat; latency covers every attempt).
    pub hold: Phase,
    /// Holds refused with 409 because another fan was faster (then retried).
    pub conflicts: usize,
    /// Fans who got no seat within [`TRIES`].
    pub gave_up: usize,
    /// Holds given back (`DELETE /api/reservations/{id}`), one fan in [`EVERY`].
    pub release: Phase,
    /// Payments.
    pub pay: Phase,
    /// Refunds by the box office, one payment in [`EVERY`].
    pub refund: Phase,
}

/// Where fan `k` books: (concert, performance).
fn venue(k: usize, schedules: i64) -> (i64, i64) {
    let schedule = CONCERT_ONE_SCHEDULES + 1 + i64::try_from(k).unwrap_or(0) % schedules.max(1);
    (concert_of(schedule), schedule)
}

/// The seat ids of an `available-seats` answer.
fn free_seats(answer: &Answer) -> Vec<i64> {
    answer
        .body
        .as_array()
        .map(|seats| seats.iter().filter_map(|s| s.get("seatId").and_then(Value::as_i64)).collect())
        .unwrap_or_default()
}

/// Runs the flow for fans whose user ids are `first_user..first_user + users` (`tokens[k]` is
/// fan `k`'s) on `schedules` performances after concert 1's; `meter` accounts the CPU.
pub async fn run(
    api: &Api,
    tokens: Arc<Vec<String>>,
    first_user: usize,
    schedules: i64,
    concurrency: usize,
    meter: &Meter,
) -> BenchResult<Booking> {
    let users = tokens.len();
    let (client, keys) = (api.clone(), Arc::clone(&tokens));
    let before = meter.snapshot();
    let charged = drive(users, concurrency, move |k| {
        let (api, keys) = (client.clone(), Arc::clone(&keys));
        async move {
            api.post(k, "/api/charge", Some(&keys[k]), &json!({ "userId": first_user + k, "amount": CHARGE }))
                .await
        }
    })
    .await?;
    let charge = phase(charged.outputs.iter().map(|a| (a.status, a.latency)), charged.wall, &before, meter);

    let (client, keys) = (api.clone(), Arc::clone(&tokens));
    let before = meter.snapshot();
    let listed = drive(users, concurrency, move |k| {
        let (api, keys) = (client.clone(), Arc::clone(&keys));
        let (concert, schedule) = venue(k, schedules);
        async move {
            api.get(k, &format!("/api/{concert}/available-seats?scheduleId={schedule}"), Some(&keys[k])).await
        }
    })
    .await?;
    let list = phase(listed.outputs.iter().map(|a| (a.status, a.latency)), listed.wall, &before, meter);
    let lists: Arc<Vec<Vec<i64>>> = Arc::new(listed.outputs.iter().map(free_seats).collect());

    let (client, keys) = (api.clone(), Arc::clone(&tokens));
    let before = meter.snapshot();
    let held = drive(users, concurrency, move |k| {
        let (api, keys, lists) = (client.clone(), Arc::clone(&keys), Arc::clone(&lists));
        async move { hold_one(&api, &keys[k], first_user + k, k, schedules, lists[k].clone()).await }
    })
    .await?;
    let attempts = held.outputs.iter().flat_map(|fan| fan.attempts.iter().copied());
    let mut hold = phase(attempts, held.wall, &before, meter);
    let got = held.outputs.iter().filter(|fan| fan.reservation.is_some()).count();
    hold.per_second = got as f64 / held.wall.as_secs_f64();
    let conflicts = held.outputs.iter().map(|fan| fan.conflicts).sum();
    let gave_up = users - got;

    let reservations: Arc<Vec<Option<(i64, i64)>>> =
        Arc::new(held.outputs.iter().map(|fan| fan.reservation).collect());
    let (client, keys, held_now) = (api.clone(), Arc::clone(&tokens), Arc::clone(&reservations));
    let before = meter.snapshot();
    let given_back = drive(users, concurrency, move |k| {
        let (api, keys, reservations) = (client.clone(), Arc::clone(&keys), Arc::clone(&held_now));
        async move {
            let (reservation, _) = reservations[k].filter(|_| releases(k))?;
            Some(api.delete(k, &format!("/api/reservations/{reservation}"), Some(&keys[k])).await)
        }
    })
    .await?;
    let answers = given_back.outputs.iter().flatten().map(|a| (a.status, a.latency));
    let release = phase(answers, given_back.wall, &before, meter);

    let (client, keys) = (api.clone(), Arc::clone(&tokens));
    let before = meter.snapshot();
    let paid = drive(users, concurrency, move |k| {
        let (api, keys, reservations) = (client.clone(), Arc::clone(&keys), Arc::clone(&reservations));
        async move {
            let (reservation, price) = reservations[k].filter(|_| !releases(k))?;
            let body = json!({ "reservationId": reservation, "paymentAmount": price });
            Some(api.post(k, "/api/pay", Some(&keys[k]), &body).await)
        }
    })
    .await?;
    let pay = phase(paid.outputs.iter().flatten().map(|a| (a.status, a.latency)), paid.wall, &before, meter);

    let payments: Arc<Vec<Option<i64>>> = Arc::new(
        paid.outputs
            .iter()
            .enumerate()
            .map(|(k, answer)| {
                let answer = answer.as_ref().filter(|answer| answer.ok() && refunded(k))?;
                answer.body.get("paymentId").and_then(Value::as_i64)
            })
            .collect(),
    );
    let client = api.clone();
    let before = meter.snapshot();
    let refunds = drive(users, concurrency, move |k| {
        let (api, payments) = (client.clone(), Arc::clone(&payments));
        async move {
            let payment = payments[k]?;
            let path = format!("/admin/payments/{payment}/refund");
            Some(api.post(k, &path, Some(ADMIN_SECRET), &json!({})).await)
        }
    })
    .await?;
    let refund =
        phase(refunds.outputs.iter().flatten().map(|a| (a.status, a.latency)), refunds.wall, &before, meter);
    Ok(Booking { users, schedules, charge, list, hold, conflicts, gave_up, release, pay, refund })
}

/// A phase's figures from its answers, wall time and the CPU spent since `before`.
fn phase(
    answers: impl Iterator<Item = (u16, Duration)>,
    wall: Duration,
    before: &Snapshot,
    meter: &Meter,
) -> Phase {
    let cpu = meter.snapshot().since(before);
    let (latency, counts) = tally(answers);
    Phase {
        per_second: counts.ok as f64 / wall.as_secs_f64(),
        latency,
        counts,
        wall_ms: wall.as_secs_f64() * 1e3,
        cpu,
    }
}

/// A fan's hold: every attempt (status, latency), the 409s, and the hold got (id, price).
struct Held {
    attempts: Vec<(u16, Duration)>,
    conflicts: usize,
    reservation: Option<(i64, i64)>,
}

/// splitmix64's finaliser: a well-spread hash of `x`.
pub(crate) fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Fan `k` holds a seat from `free` (their list), listing again after a 409.
async fn hold_one(api: &Api, token: &str, user: usize, k: usize, schedules: i64, mut free: Vec<i64>) -> Held {
    let (concert, schedule) = venue(k, schedules);
    let hold_path = format!("/api/{concert}/reserve-seat");
    let mut held = Held { attempts: Vec::new(), conflicts: 0, reservation: None };
    for attempt in 0..TRIES {
        if free.is_empty() {
            return held;
        }
        // First pick: the fans of a performance spread over its seats (the j-th fan takes every
        // other seat from the j-th on), as a crowd choosing different seats does; after a 409,
        // a pseudo-random seat of the fresh list.
        let j = k / usize::try_from(schedules.max(1)).unwrap_or(1);
        let pick = if attempt == 0 { 2 * j } else { mix(k as u64 ^ (attempt << 32)) as usize };
        let seat = free[pick % free.len()];
        let answer = api.post(k, &hold_path, Some(token), &json!({ "seatId": seat, "userId": user })).await;
        held.attempts.push((answer.status, answer.latency));
        if answer.ok() {
            let id = answer.body.get("reservationId").and_then(Value::as_i64);
            let price = answer.body.get("price").and_then(Value::as_i64);
            held.reservation = id.zip(price);
            return held;
        }
        if answer.status != 409 {
            return held;
        }
        held.conflicts += 1;
        free = free_seats(
            &api.get(k, &format!("/api/{concert}/available-seats?scheduleId={schedule}"), Some(token)).await,
        );
    }
    held
}

//! Admission checks: at most one admission step per tick, however many admits run in it;
//! expiry and idle drops on every admit; exact positions as the queue thins out in the middle;
//! and the room as the wait estimate reads it.

use domain::ports::StoreResult;
use domain::{QueuePolicy, RoomReading, TokenStatus};

use crate::Repositories;
use crate::fixture::{capped, eventually, now, secs};
use crate::queue::{admit, positions_become, report, statuses, users};
use crate::races::all_at_once;

use TokenStatus::{Active, Expired, Waiting};

/// An admit in the same tick as the last admission step (at the same instant, or a second
/// later with a two-second tick) admits nobody, though there is room and someone waiting; it
/// still expires active tokens whose TTL ran out and drops idle waiting tokens. A tick after the
/// last admission step, admission runs again.
pub async fn an_admit_within_the_tick_of_the_last_admission_admits_nothing_but_still_expires_and_drops(
    stores: Repositories,
) {
    let start = now();
    let policy = QueuePolicy { tick: secs(2), ..capped(0, 1) };
    let first = users(&stores, 1, 1, start).await;
    assert_eq!(admit(&stores, start, &policy).await, report(1, 0, 0), "the first admission is due");

    // Users 2, 3 and 4 are issued at start + 479, 480 and 481 s; 2 and 4 poll later, 3 does not.
    let late = users(&stores, 2, 4, start + secs(479)).await;
    for polled in [&late[0], &late[2]] {
        stores.queue.record_poll(polled.value, start + secs(590)).await.expect("record_poll works");
    }
    let tick = start + secs(599);
    assert_eq!(admit(&stores, tick, &policy).await, report(1, 0, 0), "due: admits user 2");
    // Issued "in the past" (another instance's clock may lag): idle already at `tick`.
    let stale = users(&stores, 5, 5, start + secs(470)).await;
    assert_eq!(admit(&stores, tick, &policy).await, report(0, 0, 1), "same instant: drops, admits nobody");

    // A second later the TTL of user 1 (admitted at start) ends and user 3 reaches the cutoff.
    let mid_tick = tick + secs(1);
    let expected = report(0, 1, 1);
    assert_eq!(admit(&stores, mid_tick, &policy).await, expected, "user 1 expires, user 3 idles out");
    let everyone = [first, late.clone(), stale].concat();
    let now_stored = statuses(&stores, &everyone).await;
    assert_eq!(now_stored, [Expired, Active, Expired, Waiting, Expired], "room, but no admission mid-tick");
    positions_become(&stores, &late[2..], &[1], "user 4 is next").await;

    assert_eq!(admit(&stores, tick + secs(2), &policy).await, report(1, 0, 0), "a tick later: due again");
    assert_eq!(statuses(&stores, &late[2..]).await, [Active], "user 4 is admitted");
}

/// However many admits run within one tick, one after another or all at once (as several
/// instances would), together they admit at most `admit_per_tick`.
pub async fn admit_per_tick_holds_across_many_admits_within_one_tick(stores: Repositories) {
    let start = now();
    let policy = QueuePolicy { tick: secs(10), ..capped(0, 2) };
    let tokens = users(&stores, 1, 10, start).await;
    let mut admitted = Vec::new();
    for second in 1..=10 {
        admitted.push(admit(&stores, start + secs(second), &policy).await.admitted);
    }
    assert_eq!(admitted, [2, 0, 0, 0, 0, 0, 0, 0, 0, 0], "ten admits in one 10 s tick admit 2 in all");

    let next_tick = start + secs(11);
    let reports = all_at_once(10, |_| {
        let stores = stores.clone();
        async move { stores.queue.admit(next_tick, &policy).await }
    })
    .await;
    let reports: Vec<_> =
        reports.into_iter().map(|report| report.expect("admit works under contention")).collect();
    let admitted: u64 = reports.iter().map(|report| report.admitted).sum();
    assert_eq!(admitted, 2, "ten concurrent admits in the next tick admit 2 in all: {reports:?}");
    let expected = [[Active; 4].as_slice(), [Waiting; 6].as_slice()].concat();
    assert_eq!(statuses(&stores, &tokens).await, expected, "the four oldest are in, in order");
}

/// Positions stay exactly "waiting tokens ahead + 1" when tokens in the middle of the queue
/// idle out, when the front is admitted, and when more drop out after that.
pub async fn position_stays_exact_as_tokens_in_the_middle_drop_out_and_the_front_is_admitted(
    stores: Repositories,
) {
    let start = now();
    let one_active = capped(1, 0);
    let blocker = users(&stores, 11, 11, start).await;
    assert_eq!(admit(&stores, start, &one_active).await, report(1, 0, 0), "user 11 fills the room");
    assert_eq!(statuses(&stores, &blocker).await, [Active]);

    let waiting = users(&stores, 1, 10, start).await; // user n issued at start + (n - 1) s
    let expected: Vec<u64> = (1..=10).collect();
    positions_become(&stores, &waiting, &expected, "ten waiting in issue order").await;
    for (index, token) in waiting.iter().enumerate() {
        if ![2, 4, 6].contains(&index) {
            stores.queue.record_poll(token.value, start + secs(100)).await.expect("record_poll works");
        }
    }
    // Users 3, 5 and 7 were last seen at start + 2, 4 and 6 s: at or before the cutoff, start + 6 s.
    assert_eq!(admit(&stores, start + secs(126), &one_active).await, report(0, 0, 3), "3, 5, 7 idle out");
    let dropped = [waiting[2].clone(), waiting[4].clone(), waiting[6].clone()];
    assert_eq!(statuses(&stores, &dropped).await, [Expired; 3]);
    let left = |users: &[usize]| users.iter().map(|&n| waiting[n - 1].clone()).collect::<Vec<_>>();
    let remaining = left(&[1, 2, 4, 6, 8, 9, 10]);
    positions_become(&stores, &remaining, &[1, 2, 3, 4, 5, 6, 7], "the gaps close up").await;

    let three_active = capped(3, 0);
    assert_eq!(admit(&stores, start + secs(127), &three_active).await, report(2, 0, 0), "users 1 and 2");
    positions_become(&stores, &left(&[4, 6, 8, 9, 10]), &[1, 2, 3, 4, 5], "the front went in").await;
    let newcomer = users(&stores, 12, 12, start + secs(128)).await;
    positions_become(&stores, &newcomer, &[6], "a newcomer queues behind the five").await;

    let mut polled = left(&[4, 8, 10]);
    polled.extend(newcomer);
    for token in &polled {
        stores.queue.record_poll(token.value, start + secs(200)).await.expect("record_poll works");
    }
    // Users 6 and 9 were last seen at start + 100 s: exactly the cutoff of an admit at start + 220 s.
    assert_eq!(admit(&stores, start + secs(220), &three_active).await, report(0, 0, 2), "6 and 9 idle out");
    positions_become(&stores, &polled, &[1, 2, 3, 4], "positions close up again").await;
}

/// The room is read as it is: waiting and active fans counted, the last admission step, and,
/// once admitted fans have left, a positive number of places freed per second (on a fresh
/// store none, or zero: nobody has left).
pub async fn the_room_counts_waiting_and_active_fans_and_the_places_they_free(stores: Repositories) {
    let fresh = stores.queue.room().await.expect("room works");
    assert_eq!((fresh.waiting, fresh.active), (0, 0), "nobody yet");
    assert!(fresh.freed_per_second.is_none_or(|rate| rate == 0.0), "nobody left: {fresh:?}");
    let start = now();
    let short_lived = QueuePolicy { active_ttl: secs(2), ..capped(4, 2) };
    users(&stores, 1, 8, start).await;
    for (step, admitted, expired) in [(0, 2, 0), (1, 2, 0), (2, 2, 2)] {
        let report_of_step = admit(&stores, start + secs(step), &short_lived).await;
        assert_eq!(report_of_step, report(admitted, expired, 0), "step {step}");
    }
    let moved = |room: &StoreResult<RoomReading>| {
        matches!(room, Ok(room) if room.waiting == 2 && room.active == 4
            && room.freed_per_second.is_some_and(|rate| rate.is_finite() && rate > 0.0))
    };
    let room = eventually("two waiting, four active, two freed", || stores.queue.room(), moved).await;
    let room = room.expect("room works");
    assert!(moved(&Ok(room)), "{room:?}");
    assert_eq!(room.last_admission_at, Some(start + secs(2)));
}

//! The box office's brake: run-time controls every admission attempt reads in its own atomic
//! step.

use domain::{QueueControls, TokenStatus};

use crate::Repositories;
use crate::fixture::{capped, eventually, now, secs, uncapped};
use crate::queue::{admit, positions_become, report, statuses, users};

use TokenStatus::{Active, Waiting};

/// Stored controls read back as stored; a fresh store is neither paused nor overriding.
pub async fn controls_read_back_as_stored(stores: Repositories) {
    assert_eq!(stores.queue.controls().await, Ok(QueueControls::default()));
    let set = QueueControls { paused: true, max_active: Some(0), admit_per_tick: Some(7) };
    stores.queue.set_controls(set).await.expect("set_controls works");
    assert_eq!(stores.queue.controls().await, Ok(set));
}

/// While paused nobody is admitted, waiting fans keep their places (and are told so), and
/// active ones still expire; on resume the next due attempt admits them in order.
pub async fn a_paused_room_admits_nobody_and_keeps_every_place_until_resumed(stores: Repositories) {
    let start = now();
    let fans = users(&stores, 1, 3, start).await;
    let paused = QueueControls { paused: true, ..QueueControls::default() };
    stores.queue.set_controls(paused).await.expect("set_controls works");
    let at = start + secs(3);
    assert_eq!(admit(&stores, at, &uncapped()).await, report(0, 0, 0), "paused: nobody admitted");
    assert_eq!(statuses(&stores, &fans).await, vec![Waiting; 3]);
    positions_become(&stores, &fans, &[1, 2, 3], "waiting fans keep their places while paused").await;
    // As fresh as positions: a store may answer from the snapshot positions come from.
    let told = eventually(
        "a waiting fan is told the room is paused",
        || stores.queue.room(),
        |room| room.as_ref().is_ok_and(|room| room.controls.paused),
    )
    .await;
    assert_eq!(told.map(|room| room.controls), Ok(paused));
    stores.queue.set_controls(QueueControls::default()).await.expect("set_controls works");
    assert_eq!(admit(&stores, at + secs(1), &uncapped()).await, report(3, 0, 0), "resumed: all admitted");
    assert_eq!(statuses(&stores, &fans).await, vec![Active; 3]);
}

/// Caps stored at run time replace the ones the attempt is given, from the next attempt on.
pub async fn caps_set_at_run_time_replace_the_settings_from_the_next_tick(stores: Repositories) {
    let start = now();
    let fans = users(&stores, 1, 5, start).await;
    let settings = capped(0, 1);
    let at = start + secs(5);
    assert_eq!(admit(&stores, at, &settings).await, report(1, 0, 0), "the settings: one per tick");
    let raised = QueueControls { admit_per_tick: Some(3), ..QueueControls::default() };
    stores.queue.set_controls(raised).await.expect("set_controls works");
    assert_eq!(admit(&stores, at + secs(1), &settings).await, report(3, 0, 0), "three per tick now");
    let capped_room = QueueControls { max_active: Some(4), admit_per_tick: None, paused: false };
    stores.queue.set_controls(capped_room).await.expect("set_controls works");
    assert_eq!(admit(&stores, at + secs(2), &settings).await, report(0, 0, 0), "four active: the new cap");
    assert_eq!(statuses(&stores, &fans).await.iter().filter(|s| **s == Active).count(), 4);
}

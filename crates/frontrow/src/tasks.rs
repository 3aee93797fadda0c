//! The background tasks of every instance: admission attempts, the hold sweeper, the tidying up
//! and the reading of the room for the operator's figures. Each counts what it did on
//! `/metrics`; none of them is needed for correctness within a request.

use std::time::Duration as StdDuration;

use adapter_http::Metrics;
use adapter_http::metrics::ReleaseReason;
use application::{Policies, Ports, admit_waiting, release_expired_holds, room_status, tidy_up};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

/// How often lapsed holds are tidied; correctness never waits for it.
const SWEEP_EVERY: StdDuration = StdDuration::from_secs(1);

/// How often the room is read for the operator's figures (one cheap read: the store answers
/// from the snapshot positions come from).
const ROOM_EVERY: StdDuration = StdDuration::from_secs(1);

/// Starts them all.
pub fn spawn(ports: &Ports, policies: Policies, metrics: &Metrics) -> Vec<JoinHandle<()>> {
    vec![
        admission(ports.clone(), policies, metrics.clone()),
        sweep(ports.clone(), metrics.clone()),
        tidy(ports.clone(), policies),
        room(ports.clone(), policies, metrics.clone()),
    ]
}

/// A loop that runs `step` every `every`, late steps delayed rather than bunched.
fn every<F, Fut>(every: StdDuration, mut step: F) -> JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            step().await;
        }
    })
}

/// Several attempts per tick; the store admits only when a tick is due service-wide.
fn admission(ports: Ports, policies: Policies, metrics: Metrics) -> JoinHandle<()> {
    let attempt =
        StdDuration::try_from(policies.queue.attempt_every()).unwrap_or(StdDuration::from_millis(250));
    every(attempt, move || {
        let (ports, metrics) = (ports.clone(), metrics.clone());
        async move {
            match admit_waiting::execute(ports.store.queue.as_ref(), ports.clock.as_ref(), &policies.queue)
                .await
            {
                Ok(report) if report != Default::default() => {
                    metrics.admission(report.admitted, report.expired, report.dropped);
                    tracing::debug!(
                        admitted = report.admitted,
                        expired = report.expired,
                        dropped = report.dropped,
                        "admission tick"
                    );
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(error = %error, "admission tick failed"),
            }
        }
    })
}

fn sweep(ports: Ports, metrics: Metrics) -> JoinHandle<()> {
    every(SWEEP_EVERY, move || {
        let (ports, metrics) = (ports.clone(), metrics.clone());
        async move {
            match release_expired_holds::execute(ports.store.reservations.as_ref(), ports.clock.as_ref())
                .await
            {
                Ok(0) => {}
                Ok(released) => {
                    metrics.released(ReleaseReason::Lapsed, released);
                    tracing::debug!(released, "lapsed holds released");
                }
                Err(error) => tracing::warn!(error = %error, "hold sweep failed"),
            }
        }
    })
}

fn tidy(ports: Ports, policies: Policies) -> JoinHandle<()> {
    let period = StdDuration::try_from(tidy_up::every(&policies.queue, &policies.idempotency))
        .unwrap_or(StdDuration::from_secs(60));
    every(period, move || {
        let ports = ports.clone();
        async move {
            let (queue, keys, clock) =
                (ports.store.queue.as_ref(), ports.store.idempotency.as_ref(), ports.clock.as_ref());
            match tidy_up::execute(queue, keys, clock, &policies.queue, &policies.idempotency).await {
                Ok(tidied) if tidied == Default::default() => {}
                Ok(tidied) => tracing::debug!(tokens = tidied.tokens, keys = tidied.keys, "tidied up"),
                Err(error) => tracing::warn!(error = %error, "tidying up failed"),
            }
        }
    })
}

fn room(ports: Ports, policies: Policies, metrics: Metrics) -> JoinHandle<()> {
    every(ROOM_EVERY, move || {
        let (ports, metrics) = (ports.clone(), metrics.clone());
        async move {
            match room_status::execute(ports.store.queue.as_ref(), ports.clock.as_ref(), &policies.queue)
                .await
            {
                Ok(room) => metrics.room(&room),
                Err(error) => tracing::debug!(error = %error, "cannot read the room for the metrics"),
            }
        }
    })
}

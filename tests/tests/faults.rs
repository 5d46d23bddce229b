//! The fault suite: each scenario injects one fault found by the fault-injection campaign of
//! issue 13 into the real binaries, real NATS and real PostgreSQL, then counts what JetStream
//! acknowledged against what is stored and prints the row (published / stored / lost /
//! duplicated / recovered alone). Every row must show 0 lost and 0 duplicated.
//!
//! The test command runs the short profile; `EXPORTER_FAULTS_PROFILE=long cargo test -p
//! exporter-tests --test faults -- --nocapture` runs the long one by hand.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use exporter_protocol::Envelope;
use exporter_tests::faults::{self, Counts, Profile};
use exporter_tests::{Proc, TestEnv, eventually, poll_until};
use nix::sys::signal::Signal;

/// Waits until `aggregator` logged that it ingests.
fn started(aggregator: &Proc) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !aggregator.output().contains("aggregator started") {
        assert!(Instant::now() < deadline, "{}", aggregator.output());
        std::thread::sleep(Duration::from_millis(20));
    }
}

async fn stream_messages(js: &async_nats::jetstream::Context) -> u64 {
    let mut stream = js.get_stream("EXPORTER_TELEMETRY").await.unwrap();
    stream.info().await.unwrap().state.messages
}

/// Issue 13, item 2: aggregators killed one after another while each holds a batch. Their
/// batches count against the consumer's `max_ack_pending` until `ack_wait` passes; with the
/// shipped sizes a new sample is still stored within 10 s, and the lag is reported meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_kills_of_the_aggregator_under_load_never_stall_ingest() {
    let profile = Profile::from_env();
    let env = TestEnv::new(
        "collectors:\n  heartbeat_interval_seconds: 1\n  self_metrics_interval_seconds: 1\n",
    )
    .await;
    env.migrate().await;
    let js = env.jetstream().await;
    let store = exporter_store::Store::from_pool(env.pool.clone());
    // A backlog, so every instance started takes a full batch at once and dies holding it.
    let backlog = (profile.kills as u64 + 2) * 500;
    let backlog = faults::publish_paced(js.clone(), "backlog-host", backlog, 20_000)
        .await
        .unwrap();
    // And load that lasts through every kill.
    let count = profile.rate_per_second * (profile.kills as u64 + 4);
    let load = faults::publish_paced(js.clone(), "kill-host", count, profile.rate_per_second);

    for _ in 0..profile.kills {
        let mut aggregator = env.spawn("exporter-aggregator", &[]);
        started(&aggregator);
        // Long enough to pull a batch, too short to commit many.
        tokio::time::sleep(Duration::from_millis(150)).await;
        aggregator.signal(Signal::SIGKILL);
        aggregator.wait_exit(Duration::from_secs(5)).unwrap();
    }
    let aggregator = env.spawn("exporter-aggregator", &[]);
    started(&aggregator);

    // A new sample is stored within 10 s, however many batches the dead ones held.
    let marker = Envelope::new("marker-host", "system", 1, faults::system_sample(1));
    let published = Instant::now();
    js.publish(
        "exporter.v1.sample.system.marker-host",
        serde_json::to_vec(&marker).unwrap().into(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    let lag_seen = std::sync::Mutex::new(None);
    let stored = poll_until(Duration::from_secs(10), || async {
        if let Ok(Some(lag)) = store.ingest_lag().await {
            lag_seen.lock().unwrap().get_or_insert(lag);
        }
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM ingested_message WHERE message_id = $1")
            .bind(marker.id)
            .fetch_one(&env.pool)
            .await
            .is_ok_and(|n| n == 1)
    })
    .await;
    let waited = published.elapsed();
    println!(
        "a new sample stored {waited:?} after {} kills",
        profile.kills
    );
    assert!(
        stored,
        "no new sample stored within 10 s of {} kills",
        profile.kills
    );

    let acked = load.await.unwrap();
    eventually("every sample stored", Duration::from_secs(120), || async {
        (stream_messages(&js).await == 0).then_some(())
    })
    .await;
    // The lag is read through the store, as `/health` shows it.
    let lag = eventually("the lag reported", Duration::from_secs(20), || async {
        store.ingest_lag().await.ok().flatten()
    })
    .await;
    assert!(
        lag.pending_messages.is_some() && lag.ack_pending_messages.is_some(),
        "{lag:?}"
    );
    assert!(
        lag_seen.lock().unwrap().is_some(),
        "no lag figure was stored during the recovery"
    );
    eventually("the lag back at 0", Duration::from_secs(20), || async {
        let lag = store.ingest_lag().await.ok().flatten()?;
        (lag.stream_messages == Some(0.0) && lag.oldest_age_seconds == Some(0.0)).then_some(())
    })
    .await;
    Counts::of(
        &env,
        "aggregator kill -9 in a row: backlog",
        "backlog-host",
        &backlog,
        true,
    )
    .await
    .print_and_check();
    Counts::of(
        &env,
        "aggregator kill -9 in a row: load",
        "kill-host",
        &acked,
        true,
    )
    .await
    .print_and_check();
    env.finish().await;
}

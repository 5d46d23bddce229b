//! Faults of the stream itself: full (a publish refused, never an acknowledged one evicted),
//! configured by an older version (updated in place), and leftovers after a NATS crash.

use std::time::Duration;

use exporter_tests::faults::{self, Counts, Profile};
use exporter_tests::{TestEnv, eventually};
use nix::sys::signal::Signal;

use crate::common::{
    aggregator_consumer, copy_dir, last_heartbeat, padded, publish, stream_messages,
};

/// Issue 13, item 1, the deterministic repro: a full stream with the aggregator stopped. With a
/// byte limit, nats-server 2.9.10 acknowledged a publish sized to the room left and then
/// deleted the first (acknowledged) sample. With the count limit every publish past the limit is
/// refused, whatever its size, and the first sample is stored once the aggregator runs.
pub async fn a_full_stream_refuses_publishes_and_never_evicts_an_acknowledged_one(
    _profile: Profile,
) -> Vec<Counts> {
    const LIMIT: u64 = 100;
    let env = TestEnv::new("").await;
    faults::add_settings(&env, "nats", &format!("  stream_max_messages: {LIMIT}\n"));
    let js = env.jetstream().await;
    let mut stream = js.get_stream("EXPORTER_TELEMETRY").await.unwrap();
    let config = stream.info().await.unwrap().config.clone();
    assert_eq!(
        (config.max_messages, config.max_bytes),
        (LIMIT as i64, -1),
        "count-limited, no byte limit"
    );

    let mut acked = Vec::new();
    let mut seq = 0;
    let refusal = loop {
        seq += 1;
        let envelope = padded("full-host", seq);
        match publish(&js, &envelope).await {
            Ok(()) => acked.push(envelope.id),
            Err(err) => break err,
        }
        assert!(seq <= LIMIT + 1, "the stream accepted more than its limit");
    };
    assert_eq!(acked.len() as u64, LIMIT, "refused: {refusal}");
    assert!(refusal.contains("maximum messages"), "{refusal}");
    // The repro's last step: publishes of every size once the stream is full, down to a byte.
    for size in [1, 2, 100, 1000, 500_000] {
        let mut envelope = padded("full-host", seq + 1);
        if let Some(cpu) = envelope.body.cpu.as_mut() {
            cpu.brand = Some("y".repeat(size));
        }
        assert!(
            publish(&js, &envelope).await.is_err(),
            "{size} bytes accepted"
        );
    }
    assert_eq!(stream.info().await.unwrap().state.messages, LIMIT);

    // The aggregator stores every acknowledged sample, the first one included.
    let _aggregator = env.spawn("exporter-aggregator", &[]);
    env.ingested(acked[0]).await;
    eventually("the stream drained", Duration::from_secs(60), || async {
        (stream_messages(&js).await == 0).then_some(())
    })
    .await;
    let row = Counts::of(
        &env,
        "stream full, aggregator stopped",
        "full-host",
        &acked,
        true,
    )
    .await
    .note(format!(
        "every publish past {LIMIT} refused (1 B to 500 KB); the first sample stored"
    ));
    env.finish().await;
    vec![row]
}

/// Issue 13, item 1: a collector facing a full stream keeps what it can in its bounded buffer
/// and counts every sample it had to drop, so each gap in its stored sequence is counted.
pub async fn a_collector_counts_every_sample_a_full_stream_refused(
    _profile: Profile,
) -> Vec<Counts> {
    let env = TestEnv::new(
        "collectors:\n  heartbeat_interval_seconds: 1\n  buffer_max_samples: 3\n  system:\n    interval_seconds: 1\n",
    )
    .await;
    faults::add_settings(&env, "nats", "  stream_max_messages: 100\n");
    let js = env.jetstream().await;
    for seq in 1..=100 {
        publish(&js, &padded("filler-host", seq)).await.unwrap();
    }
    let client = async_nats::connect(env.nats.url()).await.unwrap();
    let collector = env.spawn("exporter-collector", &["system"]);
    let dropped = eventually("samples dropped", Duration::from_secs(30), || async {
        let beat = last_heartbeat(&client, "collector-system", Duration::from_secs(10)).await;
        (beat.dropped_samples_total >= 3).then_some(beat.dropped_samples_total)
    })
    .await;
    assert!(collector.output().contains("buffering and retrying"));

    let _aggregator = env.spawn("exporter-aggregator", &[]);
    // Drained, and the collector's buffer sent: from here on nothing is dropped.
    let beat = eventually("the buffer sent", Duration::from_secs(60), || async {
        let beat = last_heartbeat(&client, "collector-system", Duration::from_secs(10)).await;
        (beat.buffered_samples == 0 && stream_messages(&js).await == 0).then_some(beat)
    })
    .await;
    assert!(beat.dropped_samples_total >= dropped);
    let (stored, max_seq): (i64, i64) = eventually("stored", Duration::from_secs(30), || async {
        let row: (i64, Option<i64>) = sqlx::query_as(
            "SELECT count(*), max(seq) FROM ingested_message WHERE source = 'system' AND host = 'test-host'",
        )
        .fetch_one(&env.pool)
        .await
        .ok()?;
        Some((row.0, row.1?))
    })
    .await;
    // Published: what the collector sampled and did not count as dropped (so it says it sent).
    let dropped = beat.dropped_samples_total as i64;
    let published = max_seq - dropped;
    let all: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM point JOIN series USING (series_id) WHERE series.source = 'system' AND series.host = 'test-host' AND series.name = 'memory.used_bytes'",
    )
    .fetch_one(&env.pool)
    .await
    .unwrap();
    let row = Counts {
        scenario: "collector facing a full stream".into(),
        published,
        stored,
        lost: published - stored,
        duplicated: (all - stored).max(0),
        recovered_alone: true,
        note: format!("{max_seq} sampled, {dropped} refused and counted in dropped_samples_total"),
    };
    env.finish().await;
    vec![row]
}

/// Issue 13, item 7 (the stream half): an install whose stream still has the old byte limit gets
/// the count and size limits in place, and keeps the messages it holds.
pub async fn an_old_byte_limited_stream_is_updated_in_place_and_keeps_its_messages(
    _profile: Profile,
) -> Vec<Counts> {
    let env = TestEnv::new("").await;
    let settings = env.settings();
    let subjects = exporter_protocol::Subjects::new(&settings.nats.subject_prefix);
    let client = async_nats::connect(env.nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let old = async_nats::jetstream::stream::Config {
        max_bytes: 1 << 30,
        max_messages: -1,
        max_message_size: -1,
        ..exporter_runtime::bus::stream_config(&settings.nats, &subjects)
    };
    js.create_stream(old).await.unwrap();
    let held = [padded("old-host", 1), padded("old-host", 2)];
    for envelope in &held {
        publish(&js, envelope).await.unwrap();
    }

    let mut stream = exporter_runtime::bus::ensure_stream(&js, &settings.nats, &subjects)
        .await
        .unwrap();
    let info = stream.info().await.unwrap();
    assert_eq!(info.config.max_bytes, -1);
    assert_eq!(info.config.max_messages, settings.nats.stream_max_messages);
    assert_eq!(
        info.config.max_message_size,
        settings.nats.stream_max_message_bytes
    );
    assert_eq!(info.state.messages, 2, "the messages it held are kept");

    let _aggregator = env.spawn("exporter-aggregator", &[]);
    for envelope in &held {
        env.ingested(envelope.id).await;
    }
    let ids: Vec<_> = held.iter().map(|e| e.id).collect();
    let row = Counts::of(
        &env,
        "old byte-limited stream updated in place",
        "old-host",
        &ids,
        true,
    )
    .await
    .note("max_bytes -> count and size limits, messages kept");
    env.finish().await;
    vec![row]
}

/// Issue 13, item 3: messages left in the work queue below the consumer's ack floor, as a NATS
/// crash left 1,500 of them (nothing pending, never redelivered, until `max_age`). Made here
/// exactly: the stream's message files saved (NATS killed) while it held 50 samples, and put
/// back after the aggregator stored and acknowledged them (NATS stopped with SIGTERM that time,
/// so the consumer's ack floor is on disk: killed, it may not be, and the 50 come back as
/// unacknowledged deliveries instead of leftovers). The aggregator's sweep at start removes
/// them.
pub async fn leftovers_after_a_nats_crash_are_removed(_profile: Profile) -> Vec<Counts> {
    let mut env = TestEnv::new("").await;
    let js = env.jetstream().await;
    let stored: Vec<_> = (1..=50).map(|seq| padded("left-host", seq)).collect();
    for envelope in &stored {
        publish(&js, envelope).await.unwrap();
    }
    let msgs = env
        .dir
        .path()
        .join("nats/jetstream/$G/streams/EXPORTER_TELEMETRY/msgs");
    let saved = env.dir.path().join("saved-msgs");
    env.nats.kill();
    copy_dir(&msgs, &saved);
    env.nats.restart();

    // NATS does not always keep the consumer's floor across the restore (the stream's state is
    // read back from the files put back, the consumer's from its own): then the 50 come back as
    // deliveries, not leftovers, and the injection is made again (at most three times).
    let mut attempts = 0;
    let js = loop {
        attempts += 1;
        let mut aggregator = env.spawn("exporter-aggregator", &[]);
        env.ingested(stored[49].id).await;
        eventually("the stream drained", Duration::from_secs(30), || async {
            (stream_messages(&js).await == 0).then_some(())
        })
        .await;
        aggregator.signal(Signal::SIGTERM);
        aggregator.wait_exit(Duration::from_secs(10)).unwrap();
        env.nats.stop();
        std::fs::remove_dir_all(&msgs).unwrap();
        copy_dir(&saved, &msgs);
        env.nats.restart();

        let js = env.jetstream().await;
        let consumer = aggregator_consumer(&js).await;
        let info = consumer.get_info().await.unwrap();
        let held = stream_messages(&js).await;
        if held == 50 && (info.num_pending, info.num_ack_pending) == (0, 0) {
            break js;
        }
        assert!(
            attempts < 3,
            "no leftovers made in {attempts} tries: {held} messages, {info:?}"
        );
    };

    let aggregator = env.spawn("exporter-aggregator", &[]);
    eventually("the leftovers gone", Duration::from_secs(30), || async {
        (stream_messages(&js).await == 0).then_some(())
    })
    .await;
    // Stored ones removed; anything else at or below the floor (a self-metrics sample published
    // after the restart got a sequence the consumer had already passed) is stored, then removed.
    // The stream can empty before the sweep's log line is read from the aggregator's output,
    // and a sweep may report in more than one pass: wait for the passes to add up.
    eventually(
        "the sweep to report the 50 stored leftovers removed",
        Duration::from_secs(10),
        || async { (removed_in(&aggregator.output()) >= 50).then_some(()) },
    )
    .await;
    let published: Vec<_> = stored.iter().map(|e| e.id).collect();
    let row = Counts::of(
        &env,
        "leftovers after a NATS crash",
        "left-host",
        &published,
        true,
    )
    .await
    .note(format!(
        "50 stored messages put back below the ack floor ({attempts} injection(s)), all 50 removed by the sweep"
    ));
    env.finish().await;
    vec![row]
}

/// The leftovers the aggregator's sweep says it removed, summed over its passes
/// (`removed=N` in each pass's log line).
fn removed_in(output: &str) -> u64 {
    output
        .split("removed=")
        .skip(1)
        .filter_map(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse::<u64>().ok()
        })
        .sum()
}

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
    let _api = env.spawn("exporter-api", &[]);

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
    // And `/health` shows it to a caller with the key (without one: the status only).
    let (_, public) = exporter_tests::get_json(&env.api_url("/health"), None).await;
    assert_eq!(public["ingest"]["status"], "ok", "{public}");
    let (status, health) =
        exporter_tests::get_json(&env.api_url("/health"), Some(&env.api_key)).await;
    assert_eq!(status, 200, "{health}");
    let ingest = &health["ingest"];
    assert_eq!(ingest["status"], "ok", "{health}");
    assert_eq!(ingest["stream_messages"], 0.0, "{health}");
    assert!(ingest["ack_pending_messages"].is_number(), "{health}");
    assert!(ingest["oldest_age_seconds"].is_number(), "{health}");
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

/// A ~1 KB system sample (the CPU brand pads it; it makes no series).
fn padded(host: &str, seq: u64) -> Envelope<exporter_protocol::system::SystemSample> {
    let mut sample = faults::system_sample(seq);
    if let Some(cpu) = sample.cpu.as_mut() {
        cpu.brand = Some("x".repeat(800));
    }
    Envelope::new(host, "system", seq, sample)
}

/// Publishes `envelope` with its id and waits for JetStream's answer.
async fn publish(
    js: &async_nats::jetstream::Context,
    envelope: &Envelope<exporter_protocol::system::SystemSample>,
) -> Result<(), String> {
    let publish = async_nats::jetstream::message::PublishMessage::build()
        .payload(serde_json::to_vec(envelope).unwrap().into())
        .message_id(envelope.id.to_string());
    js.send_publish(
        format!("exporter.v1.sample.system.{}", envelope.host),
        publish,
    )
    .await
    .map_err(|err| err.to_string())?
    .await
    .map(|_| ())
    .map_err(|err| err.to_string())
}

/// Issue 13, item 1, the deterministic repro: a full stream with the aggregator stopped. With a
/// byte limit, nats-server 2.9.10 acknowledged a publish sized to the room left and then
/// deleted the first (acknowledged) sample. With the count limit every publish past the limit is
/// refused, whatever its size, and the first sample is stored once the aggregator runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_stream_refuses_publishes_and_never_evicts_an_acknowledged_one() {
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
    Counts::of(
        &env,
        "stream full, aggregator stopped",
        "full-host",
        &acked,
        true,
    )
    .await
    .print_and_check();
    env.finish().await;
}

/// The last heartbeat of `process` seen within `limit`.
async fn last_heartbeat(
    client: &async_nats::Client,
    process: &str,
    limit: Duration,
) -> exporter_protocol::Heartbeat {
    let mut beats = client
        .subscribe(format!("exporter.v1.heartbeat.{process}.test-host"))
        .await
        .unwrap();
    let first = tokio::time::timeout(limit, futures::StreamExt::next(&mut beats))
        .await
        .unwrap_or_else(|_| panic!("no heartbeat from {process}"))
        .unwrap();
    serde_json::from_slice(&first.payload).unwrap()
}

/// Issue 13, item 1: a collector facing a full stream keeps what it can in its bounded buffer
/// and counts every sample it had to drop, so each gap in its stored sequence is counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_counts_every_sample_a_full_stream_refused() {
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
    println!(
        "\n| scenario | sampled | stored | dropped and counted | lost uncounted |\n|---|---|---|---|---|\n| collector, stream full | {max_seq} | {stored} | {} | {} |",
        beat.dropped_samples_total,
        max_seq - stored - beat.dropped_samples_total as i64
    );
    assert_eq!(
        max_seq - stored,
        beat.dropped_samples_total as i64,
        "every missing sample is counted in dropped_samples_total"
    );
    env.finish().await;
}

/// Issue 13, item 7 (the stream half): an install whose stream still has the old byte limit gets
/// the count and size limits in place, and keeps the messages it holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_byte_limited_stream_is_updated_in_place_and_keeps_its_messages() {
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
    env.finish().await;
}

/// Resident memory of `proc`, in bytes (`VmRSS`).
fn rss_bytes(proc: &Proc) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", proc.pid())).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

/// Issue 13, item 4: a flood of 900 KB malformed bodies is written a few at a time
/// (`aggregator.batch_max_bytes`), leaves no log line and no stored reason over 1 KB, and the
/// aggregator's memory returns under twice its working size within a minute.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_huge_malformed_messages_leaves_memory_at_its_working_size() {
    let profile = Profile::from_env();
    let count = if profile.name == "long" { 10_000 } else { 200 };
    let env = TestEnv::new("").await;
    let js = env.jetstream().await;
    let aggregator = env.spawn("exporter-aggregator", &[]);
    started(&aggregator);
    let warm_up: Vec<_> = (1..=200).map(|seq| padded("flood-host", seq)).collect();
    for envelope in &warm_up {
        publish(&js, envelope).await.unwrap();
    }
    env.ingested(warm_up[199].id).await;
    let working = rss_bytes(&aggregator);

    let body = format!("{{not json {}", "€".repeat(300_000)).into_bytes();
    let subject = "exporter.v1.sample.system.flood-host";
    let mut peak = working;
    for chunk in 0..count / 20 {
        let mut acks = Vec::new();
        for _ in 0..20 {
            acks.push(js.publish(subject, body.clone().into()).await.unwrap());
        }
        for ack in acks {
            ack.await.unwrap();
        }
        if chunk % 2 == 0 {
            peak = peak.max(rss_bytes(&aggregator));
        }
    }
    eventually("every dead letter", Duration::from_secs(120), || async {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM dead_letter")
            .fetch_one(&env.pool)
            .await
            .ok()?;
        (n == count as i64).then_some(())
    })
    .await;
    peak = peak.max(rss_bytes(&aggregator));
    let back = poll_until(Duration::from_secs(60), || async {
        rss_bytes(&aggregator) < 2 * working
    })
    .await;
    let after = rss_bytes(&aggregator);
    let longest_reason: i32 =
        sqlx::query_scalar("SELECT coalesce(max(octet_length(reason)), 0) FROM dead_letter")
            .fetch_one(&env.pool)
            .await
            .unwrap();
    let longest_line = aggregator.output().lines().map(str::len).max().unwrap_or(0);
    println!(
        "\n| scenario | messages | RSS working | RSS peak | RSS after | longest reason | longest log line |\n|---|---|---|---|---|---|---|\n| flood of 900 KB bodies | {count} | {} MB | {} MB | {} MB | {longest_reason} B | {longest_line} B |",
        working >> 20,
        peak >> 20,
        after >> 20
    );
    assert!(longest_reason < 1024);
    assert!(longest_line < 1024);
    assert!(back, "RSS {after} B, working size {working} B");
    env.finish().await;
}

/// Copies the files of `from` into `to` (created).
fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// Issue 13, item 3: messages left in the work queue below the consumer's ack floor, as a NATS
/// crash left 1,500 of them (nothing pending, never redelivered, until `max_age`). Made here
/// exactly: the stream's message files saved while it held 50 samples and put back, with NATS
/// killed, after the aggregator stored and acknowledged them. The aggregator's sweep at start
/// removes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leftovers_after_a_nats_crash_are_removed() {
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

    let mut aggregator = env.spawn("exporter-aggregator", &[]);
    env.ingested(stored[49].id).await;
    eventually("the stream drained", Duration::from_secs(30), || async {
        (stream_messages(&js).await == 0).then_some(())
    })
    .await;
    aggregator.signal(Signal::SIGTERM);
    aggregator.wait_exit(Duration::from_secs(10)).unwrap();
    env.nats.kill();
    std::fs::remove_dir_all(&msgs).unwrap();
    copy_dir(&saved, &msgs);
    env.nats.restart();

    let js = env.jetstream().await;
    let consumer: async_nats::jetstream::consumer::PullConsumer = js
        .get_stream("EXPORTER_TELEMETRY")
        .await
        .unwrap()
        .get_consumer("aggregator")
        .await
        .unwrap();
    let info = consumer.get_info().await.unwrap();
    assert_eq!(stream_messages(&js).await, 50, "the leftovers: {info:?}");
    assert_eq!(
        (info.num_pending, info.num_ack_pending),
        (0, 0),
        "never delivered again"
    );

    let aggregator = env.spawn("exporter-aggregator", &[]);
    eventually("the leftovers gone", Duration::from_secs(30), || async {
        (stream_messages(&js).await == 0).then_some(())
    })
    .await;
    // Stored ones removed; anything else at or below the floor (a self-metrics sample published
    // after the restart got a sequence the consumer had already passed) is stored, then removed.
    assert!(
        aggregator.output().contains("removed=50 "),
        "{}",
        aggregator.output()
    );
    let published: Vec<_> = stored.iter().map(|e| e.id).collect();
    Counts::of(
        &env,
        "leftovers after a NATS crash",
        "left-host",
        &published,
        true,
    )
    .await
    .print_and_check();
    env.finish().await;
}

/// Issue 13, item 6: the dead-man's switch pings a push monitor (a local stand-in) every
/// interval while ingest and alert evaluation are healthy, and stops when ingest stops
/// (PostgreSQL gone: the aggregator's writes fail), so the outside monitor pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dead_mans_switch_pings_while_healthy_and_stops_when_ingest_stops() {
    let monitor = exporter_tests::StandIn::start().await;
    let env = TestEnv::new(
        "collectors:\n  heartbeat_interval_seconds: 1\n  self_metrics_interval_seconds: 1\n  system:\n    interval_seconds: 1\n",
    )
    .await;
    faults::add_settings(
        &env,
        "aggregator",
        &format!(
            "  deadman_url: {}/ping/test-token\n  deadman_interval_seconds: 1\n  lag_warn_seconds: 3\n",
            monitor.url()
        ),
    );
    let alerts = std::fs::read_to_string(&env.settings_path).unwrap()
        + "alerts:\n  evaluation_interval_seconds: 1\n";
    std::fs::write(&env.settings_path, alerts).unwrap();
    let aggregator = env.spawn("exporter-aggregator", &[]);
    let _collector = env.spawn("exporter-collector", &["system"]);
    let pinged = poll_until(Duration::from_secs(20), || async { monitor.count() >= 3 }).await;
    assert!(pinged, "{} pings\n{}", monitor.count(), aggregator.output());
    let ping = monitor.requests().pop().unwrap();
    assert_eq!(ping.path, "/ping/test-token");
    assert!(
        !aggregator.output().contains("test-token"),
        "the token is logged"
    );

    // Ingest stops: the aggregator's database is gone, samples pile up in the stream.
    let admin = exporter_tests::connect(&exporter_tests::admin_database_url())
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "ALTER DATABASE {} WITH ALLOW_CONNECTIONS false",
        env.database
    )))
    .execute(&admin)
    .await
    .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}'",
        env.database
    )))
    .execute(&admin)
    .await
    .unwrap();
    let stopped = poll_until(Duration::from_secs(30), || async {
        aggregator.output().contains("not pinging")
    })
    .await;
    assert!(stopped, "{}", aggregator.output());
    let after_stop = monitor.count();
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        monitor.count(),
        after_stop,
        "pings went on while ingest was stopped"
    );

    // Back: the pings resume.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "ALTER DATABASE {} WITH ALLOW_CONNECTIONS true",
        env.database
    )))
    .execute(&admin)
    .await
    .unwrap();
    let resumed = poll_until(Duration::from_secs(60), || async {
        monitor.count() > after_stop
    })
    .await;
    assert!(resumed, "{}", aggregator.output());
    admin.close().await;
    env.finish().await;
}

/// Issue 13, item 2: a batch whose write takes many times `ack_wait` (PostgreSQL refusing
/// connections) is kept alive with in-progress acknowledgements, so a second aggregator never
/// gets it meanwhile: JetStream redelivers nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_write_is_kept_in_progress_and_never_redelivered() {
    let env = TestEnv::new("").await;
    let text = std::fs::read_to_string(&env.settings_path)
        .unwrap()
        .replace("ack_wait_seconds: 5", "ack_wait_seconds: 1");
    std::fs::write(&env.settings_path, text).unwrap();
    env.migrate().await;
    let js = env.jetstream().await;
    let first = env.spawn("exporter-aggregator", &[]);
    started(&first);
    let second = env.spawn("exporter-aggregator", &[]);
    started(&second);

    let admin = exporter_tests::connect(&exporter_tests::admin_database_url())
        .await
        .unwrap();
    let allow = |allowed: bool| {
        let admin = admin.clone();
        let database = env.database.clone();
        async move {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "ALTER DATABASE {database} WITH ALLOW_CONNECTIONS {allowed}"
            )))
            .execute(&admin)
            .await
            .unwrap();
            if !allowed {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'"
                )))
                .execute(&admin)
                .await
                .unwrap();
            }
        }
    };
    allow(false).await;
    let envelope = padded("slow-host", 1);
    publish(&js, &envelope).await.unwrap();
    // Six times ack_wait.
    tokio::time::sleep(Duration::from_secs(6)).await;
    allow(true).await;
    env.ingested(envelope.id).await;
    eventually("the stream drained", Duration::from_secs(30), || async {
        (stream_messages(&js).await == 0).then_some(())
    })
    .await;
    let consumer: async_nats::jetstream::consumer::PullConsumer = js
        .get_stream("EXPORTER_TELEMETRY")
        .await
        .unwrap()
        .get_consumer("aggregator")
        .await
        .unwrap();
    let info = consumer.get_info().await.unwrap();
    // Each delivery takes a consumer sequence: as many as stream messages means none twice.
    assert_eq!(
        info.delivered.consumer_sequence, info.delivered.stream_sequence,
        "a message was delivered twice: {info:?}"
    );
    assert!(
        first.output().contains("retrying (nothing acked)")
            || second.output().contains("retrying (nothing acked)"),
        "the write did fail meanwhile"
    );
    admin.close().await;
    env.finish().await;
}

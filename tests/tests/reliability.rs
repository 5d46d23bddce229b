//! Nothing lost, nothing counted twice, nothing fatal: the aggregator killed mid-stream, batches
//! redelivered on purpose, malformed messages, and a NATS outage under a running collector.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use async_nats::jetstream::message::PublishMessage;
use exporter_protocol::system::{CpuStats, MemoryStats, SystemSample};
use exporter_protocol::{Envelope, HasSeries};
use exporter_tests::{TestEnv, eventually};
use nix::sys::signal::Signal;

fn sample(seq: u64) -> SystemSample {
    SystemSample {
        cpu: Some(CpuStats {
            usage_percent: (seq % 100) as f64,
            per_core_percent: vec![1.0, 2.0],
            logical_cores: 2,
            physical_cores: None,
            brand: None,
        }),
        memory: Some(MemoryStats {
            total_bytes: 1 << 30,
            used_bytes: seq,
            available_bytes: (1 << 30) - seq,
            free_bytes: 0,
            used_percent: 0.0,
            swap_total_bytes: 0,
            swap_used_bytes: 0,
            swap_free_bytes: 0,
        }),
        ..Default::default()
    }
}

/// Points of the system samples (the processes' own self-metrics are stored beside them).
const SYSTEM_POINTS: &str =
    "SELECT count(*) FROM point JOIN series USING (series_id) WHERE series.source = 'system'";

async fn scalar(env: &TestEnv, sql: &'static str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(&env.pool)
        .await
        .unwrap_or(-1)
}

async fn stream_empty(js: &async_nats::jetstream::Context) -> bool {
    let mut stream = js.get_stream("EXPORTER_TELEMETRY").await.unwrap();
    stream.info().await.unwrap().state.messages == 0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_aggregators_one_killed_twice_lose_and_duplicate_nothing() {
    const N: u64 = 3000;
    let env = TestEnv::new("").await;
    let js = env.jetstream().await;
    let envelopes: Vec<Envelope<SystemSample>> = (1..=N)
        .map(|seq| Envelope::new("loss-host", "system", seq, sample(seq)))
        .collect();
    let points_per_sample = sample(1).series().len() as i64;
    let subject = "exporter.v1.sample.system.loss-host";

    // Two aggregators share the durable consumer; one of them is killed and restarted twice.
    let mut steady = env.spawn("exporter-aggregator", &[]);
    let mut aggregator = env.spawn("exporter-aggregator", &[]);
    let publisher = {
        let js = js.clone();
        let envelopes = envelopes.clone();
        tokio::spawn(async move {
            for chunk in envelopes.chunks(100) {
                let mut acks = Vec::new();
                for envelope in chunk {
                    let publish = PublishMessage::build()
                        .payload(serde_json::to_vec(envelope).unwrap().into())
                        .message_id(envelope.id.to_string());
                    acks.push(js.send_publish(subject, publish).await.unwrap());
                }
                for ack in acks {
                    ack.await.unwrap();
                }
                // Pacing: the publishing lasts across the kills below.
                tokio::time::sleep(Duration::from_millis(60)).await;
            }
        })
    };
    // The fault injected, on a clock: killed 700 ms into its run, down for 200 ms.
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(700)).await;
        aggregator.signal(Signal::SIGKILL);
        aggregator.wait_exit(Duration::from_secs(5)).unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        aggregator = env.spawn("exporter-aggregator", &[]);
    }
    publisher.await.unwrap();

    eventually("every sample stored", Duration::from_secs(60), || async {
        (scalar(
            &env,
            "SELECT count(*) FROM ingested_message WHERE source = 'system'",
        )
        .await
            >= N as i64)
            .then_some(())
    })
    .await;
    eventually("the stream drained", Duration::from_secs(30), || async {
        stream_empty(&js).await.then_some(())
    })
    .await;
    assert_eq!(
        scalar(
            &env,
            "SELECT count(*) FROM ingested_message WHERE source = 'system'"
        )
        .await,
        N as i64
    );
    assert_eq!(
        scalar(
            &env,
            "SELECT count(DISTINCT seq) FROM ingested_message WHERE source = 'system'"
        )
        .await,
        N as i64
    );
    assert_eq!(
        scalar(&env, SYSTEM_POINTS).await,
        N as i64 * points_per_sample
    );

    // Redeliver the first 500 on purpose, under new Nats-Msg-Ids so JetStream accepts them:
    // the aggregator must recognise them by their envelope id and store nothing.
    for envelope in &envelopes[..500] {
        let publish = PublishMessage::build()
            .payload(serde_json::to_vec(envelope).unwrap().into())
            .message_id(format!("again-{}", envelope.id));
        js.send_publish(subject, publish)
            .await
            .unwrap()
            .await
            .unwrap();
    }
    eventually(
        "the redelivered batch consumed",
        Duration::from_secs(30),
        || async { stream_empty(&js).await.then_some(()) },
    )
    .await;
    assert_eq!(
        scalar(
            &env,
            "SELECT count(*) FROM ingested_message WHERE source = 'system'"
        )
        .await,
        N as i64
    );
    assert_eq!(
        scalar(&env, SYSTEM_POINTS).await,
        N as i64 * points_per_sample
    );
    // The latest snapshot is the newest sample, not the last one to arrive.
    let latest_used: i64 = sqlx::query_scalar(
        "SELECT (body->'memory'->>'used_bytes')::bigint FROM latest_sample WHERE host = 'loss-host'",
    )
    .fetch_one(&env.pool)
    .await
    .unwrap();
    assert_eq!(latest_used, N as i64);
    assert!(aggregator.alive());
    assert!(steady.alive());
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_become_dead_letters_and_ingest_goes_on() {
    let env = TestEnv::new("").await;
    let js = env.jetstream().await;
    let mut aggregator = env.spawn("exporter-aggregator", &[]);
    let subject = "exporter.v1.sample.system.test-host";

    let garbage = b"\x00\xffnot json at all".to_vec();
    js.publish(subject, garbage.clone().into())
        .await
        .unwrap()
        .await
        .unwrap();
    let wrong_body = Envelope::new("test-host", "system", 1, serde_json::json!({"cpu": "busy"}));
    js.publish(subject, serde_json::to_vec(&wrong_body).unwrap().into())
        .await
        .unwrap()
        .await
        .unwrap();
    // A string PostgreSQL cannot store (NUL) must not wedge the aggregator.
    let poison = Envelope::new("ev\0il", "system", 1, sample(1));
    js.publish(subject, serde_json::to_vec(&poison).unwrap().into())
        .await
        .unwrap()
        .await
        .unwrap();
    let good = Envelope::new("test-host", "system", 2, sample(2));
    js.publish(subject, serde_json::to_vec(&good).unwrap().into())
        .await
        .unwrap()
        .await
        .unwrap();

    env.ingested(good.id).await;
    let dead: Vec<(String, String, Vec<u8>)> =
        sqlx::query_as("SELECT subject, reason, raw FROM dead_letter ORDER BY dead_letter_id")
            .fetch_all(&env.pool)
            .await
            .unwrap();
    assert_eq!(dead.len(), 3, "{dead:?}");
    assert_eq!(dead[0].0, subject);
    assert!(dead[0].1.contains("not a JSON envelope"), "{}", dead[0].1);
    assert_eq!(dead[0].2, garbage, "raw bytes kept as they came");
    assert!(
        dead[1].1.contains("system body does not parse"),
        "{}",
        dead[1].1
    );
    assert!(
        aggregator.alive(),
        "a bad message must not stop the aggregator"
    );
    assert!(aggregator.output().contains("dead letter"));
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collector_buffers_through_a_nats_outage_without_gaps() {
    let mut env = TestEnv::new("").await;
    let _aggregator = env.spawn("exporter-aggregator", &[]);
    let collector = env.spawn("exporter-collector", &["system"]);
    let max_seq = |env: &TestEnv| {
        let pool = env.pool.clone();
        async move {
            sqlx::query_scalar::<_, Option<i64>>(
                "SELECT max(seq) FROM ingested_message WHERE source = 'system'",
            )
            .fetch_one(&pool)
            .await
            .ok()
            .flatten()
            .unwrap_or(0)
        }
    };
    eventually("first samples stored", Duration::from_secs(30), || async {
        (max_seq(&env).await >= 2).then_some(())
    })
    .await;
    let before = max_seq(&env).await;

    // The outage itself: longer than the publisher's backoff grows past the 1 s sampling interval.
    env.nats.kill();
    tokio::time::sleep(Duration::from_secs(15)).await;
    env.nats.restart();

    eventually(
        "samples taken during the outage stored",
        Duration::from_secs(60),
        || async { (max_seq(&env).await >= before + 6).then_some(()) },
    )
    .await;
    let (count, max): (i64, i64) = sqlx::query_as(
        "SELECT count(DISTINCT seq), max(seq) FROM ingested_message WHERE source = 'system'",
    )
    .fetch_one(&env.pool)
    .await
    .unwrap();
    assert_eq!(
        count, max,
        "every sequence number 1..={max} is stored: no gap"
    );
    assert!(collector.output().contains("buffering and retrying"));
    eventually("the recovery logged", Duration::from_secs(20), || async {
        collector.output().contains("recovered").then_some(())
    })
    .await;
    env.finish().await;
}

//! Ingest benchmark: points per second from JetStream into PostgreSQL through the aggregator's
//! own ingest loop, next to a plain bulk `COPY` of the same rows into the same table measured in
//! the same run, printed as a ratio (these machines are shared and noisy: only the ratio means
//! something).
//!
//! Needs the same services as the tests (`deploy/test.sh` starts them). Run:
//! `cargo bench -p exporter-tests --bench ingest` (env `BENCH_MESSAGES`, default 2000).

#![allow(clippy::unwrap_used, clippy::print_stdout)]

#[path = "common/gh200.rs"]
mod gh200;

use std::time::{Duration, Instant};

use async_nats::jetstream::message::PublishMessage;
use exporter_aggregator::decode::Decoder;
use exporter_aggregator::ingest::{self, IngestOptions};
use exporter_protocol::{Envelope, HasSeries, Subjects};
use exporter_runtime::{Shutdown, bus};
use exporter_store::Store;
use exporter_tests::TestEnv;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let messages: u64 = exporter_tests::bench_size("BENCH_MESSAGES", 2000);
    let env = TestEnv::new("").await;
    env.migrate().await;
    let settings = env.settings();
    let js = env.jetstream().await;
    let points_per_message = gh200::sample(1).series().len() as u64;
    let total_points = messages * points_per_message;

    // Fill the stream first (not timed): the benchmark measures draining it into PostgreSQL.
    let subject = Subjects::new(&settings.nats.subject_prefix).sample("system", "bench-host");
    let mut acks = Vec::new();
    for seq in 1..=messages {
        let envelope = Envelope::new("bench-host", "system", seq, gh200::sample(seq));
        let publish = PublishMessage::build()
            .payload(serde_json::to_vec(&envelope).unwrap().into())
            .message_id(envelope.id.to_string());
        acks.push(js.send_publish(subject.clone(), publish).await.unwrap());
        if acks.len() >= 1000 {
            for ack in acks.drain(..) {
                ack.await.unwrap();
            }
        }
    }
    for ack in acks {
        ack.await.unwrap();
    }

    // The aggregator's ingest loop, in process.
    let store = Store::from_pool(env.pool.clone());
    let subjects = Subjects::new(&settings.nats.subject_prefix);
    let stream = bus::ensure_stream(&js, &settings.nats, &subjects)
        .await
        .unwrap();
    let consumer = bus::ensure_consumer(&stream, &settings.nats, Duration::from_secs(30), 4000)
        .await
        .unwrap();
    let shutdown = Shutdown::new();
    let started = Instant::now();
    let task = tokio::spawn(ingest::run(
        consumer,
        store.clone(),
        Decoder::new(
            &subjects,
            exporter_store::Tiers::from(&settings.aggregator.retention).longest_days(),
        ),
        IngestOptions::from_settings(&settings.aggregator),
        Default::default(),
        shutdown.clone(),
    ));
    loop {
        let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM ingested_message")
            .fetch_one(&env.pool)
            .await
            .unwrap();
        if stored as u64 >= messages {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ingest_seconds = started.elapsed().as_secs_f64();
    shutdown.trigger();
    task.await.unwrap();
    let stored_points: i64 = sqlx::query_scalar("SELECT count(*) FROM point")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(stored_points as u64, total_points, "every point stored");

    // Baseline: the same rows, COPYed in bulk into the same table.
    let (copied, copy_seconds) = exporter_tests::copy_points_baseline(
        &env.pool,
        "SELECT time::text, series_id, value FROM point",
        None,
        "COPY point (time, series_id, value) FROM STDIN",
    )
    .await;

    let ingest_rate = total_points as f64 / ingest_seconds;
    let copy_rate = copied as f64 / copy_seconds;
    println!(
        "ingest benchmark: {messages} messages x {points_per_message} points = {total_points} points"
    );
    println!(
        "  aggregator (JetStream -> PostgreSQL, idempotent, batched): {ingest_rate:>12.0} points/s  ({ingest_seconds:.2} s)"
    );
    println!(
        "  plain COPY of the same rows into the same table:           {copy_rate:>12.0} points/s  ({copy_seconds:.2} s)"
    );
    println!("  ratio aggregator / COPY: {:.2}", ingest_rate / copy_rate);
    env.finish().await;
}

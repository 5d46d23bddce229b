//! Aggregator CPU per message (issue #13, item 8): the CPU time this process spends to decode
//! GH200-sized system samples (72 cores, memory, filesystems) with the aggregator's own decoder
//! and to store them with the store's batch write, per message, next to a plain
//! `serde_json::from_slice` of the same JSON into the typed envelope, measured in the same run
//! and printed as ratios (these machines are shared and noisy: only the ratios mean something).
//!
//! CPU time is `getrusage(RUSAGE_SELF)` user + system of this process, on a single-threaded
//! runtime (the database's own CPU is PostgreSQL's, not counted). Each figure is the median of
//! `BENCH_ROUNDS` rounds.
//!
//! Needs the same services as the tests. Run:
//! `cargo bench -p exporter-tests --bench ingest_cpu` (env `BENCH_MESSAGES`, default 2000;
//! `BENCH_ROUNDS`, default 5).

#![allow(clippy::unwrap_used, clippy::print_stdout)]

#[path = "common/gh200.rs"]
mod gh200;

use std::time::Duration;

use exporter_aggregator::decode::{Decoded, Decoder, RawMessage};
use exporter_protocol::system::SystemSample;
use exporter_protocol::{Envelope, Subjects};
use exporter_store::{Batch, Store};
use exporter_tests::TestEnv;
use nix::sys::resource::{UsageWho, getrusage};

/// CPU seconds (user + system) used by this process so far.
fn cpu_seconds() -> f64 {
    let usage = getrusage(UsageWho::RUSAGE_SELF).unwrap();
    let seconds = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    seconds(usage.user_time()) + seconds(usage.system_time())
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

const BATCH: usize = 500;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let messages: u64 = exporter_tests::bench_size("BENCH_MESSAGES", 2000);
    let rounds: usize = exporter_tests::bench_size("BENCH_ROUNDS", 5);
    let env = TestEnv::new("").await;
    env.migrate().await;
    let settings = env.settings();
    let subjects = Subjects::new(&settings.nats.subject_prefix);
    let subject = subjects.sample("system", "bench-host");
    let decoder = Decoder::new(
        &subjects,
        exporter_store::Tiers::from(&settings.aggregator.retention).longest_days(),
    );
    let store = Store::from_pool(env.pool.clone());
    let payloads = |round: u64| -> Vec<Vec<u8>> {
        (1..=messages)
            .map(|seq| {
                let mut envelope =
                    Envelope::new("bench-host", "system", seq, gh200::sample(seq + round));
                envelope.time -= chrono::Duration::milliseconds((messages - seq) as i64 * 10);
                serde_json::to_vec(&envelope).unwrap()
            })
            .collect()
    };
    let bytes = payloads(0).iter().map(Vec::len).sum::<usize>() / messages as usize;
    // Series and partitions exist before the clock starts (as in steady state).
    let warm = payloads(1_000_000);
    let mut batch = Batch::default();
    for payload in warm.iter().take(10) {
        decode_into(&decoder, &subject, payload, &mut batch);
    }
    store.write_batch(&batch).await.unwrap();

    let (mut plain, mut decode, mut stored) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let payloads = payloads(round as u64 * messages * 10);
        let started = cpu_seconds();
        for payload in &payloads {
            let envelope: Envelope<SystemSample> = serde_json::from_slice(payload).unwrap();
            std::hint::black_box(envelope);
        }
        plain.push((cpu_seconds() - started) / messages as f64);

        let started = cpu_seconds();
        for payload in &payloads {
            let mut batch = Batch::default();
            decode_into(&decoder, &subject, payload, &mut batch);
            std::hint::black_box(batch);
        }
        decode.push((cpu_seconds() - started) / messages as f64);

        let started = cpu_seconds();
        for chunk in payloads.chunks(BATCH) {
            let mut batch = Batch::default();
            for payload in chunk {
                decode_into(&decoder, &subject, payload, &mut batch);
            }
            let outcome = store.write_batch(&batch).await.unwrap();
            assert_eq!(
                outcome.new_samples,
                chunk.len(),
                "every message stored once"
            );
        }
        stored.push((cpu_seconds() - started) / messages as f64);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (plain, decode, stored) = (median(plain), median(decode), median(stored));
    println!(
        "aggregator CPU per message: {messages} GH200-sized system samples ({bytes} bytes of JSON each), batches of {BATCH}, median of {rounds} rounds"
    );
    println!(
        "  plain serde_json::from_slice into the typed envelope: {:>8.1} µs",
        plain * 1e6
    );
    println!(
        "  the aggregator's decode:                              {:>8.1} µs  (ratio {:.1})",
        decode * 1e6,
        decode / plain
    );
    println!(
        "  decode + batch write (points, roll-ups, latest):      {:>8.1} µs  (ratio {:.1})",
        stored * 1e6,
        stored / plain
    );
    env.finish().await;
}

fn decode_into(decoder: &Decoder, subject: &str, payload: &[u8], batch: &mut Batch) {
    let decoded = decoder.decode(RawMessage {
        subject,
        payload,
        message_id: None,
        stream_position: "bench:1",
        headers: None,
    });
    match decoded {
        Decoded::Sample(sample) => batch.samples.push(sample),
        other => panic!("not a sample: {other:?}"),
    }
}

//! Logs benchmark: lines per second from a log file into the `log_line` table through the real
//! path (`exporter-collector logs` → JetStream → `exporter-aggregator` → PostgreSQL), next to a
//! baseline measured in the same run: the same rows inserted straight into a table of the same
//! shape and indexes with the aggregator's own `INSERT … SELECT FROM UNNEST`, in batches of the
//! same size, one transaction each. These machines are shared and noisy: the ratio is what
//! means something.
//!
//! Needs the services of the tests (`deploy/test.sh` starts them). Run:
//! `cargo build --release --bins && cargo bench -p exporter-tests --bench logs`
//! (env `BENCH_LINES`, default 200000).

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::io::Write;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use exporter_tests::TestEnv;

/// Batch size of the collector and of the baseline.
const BATCH_LINES: usize = 2000;

/// A realistic mix: Python's layout, JSON, logfmt and plain lines, ~120-200 bytes each.
fn line(i: usize) -> String {
    match i % 4 {
        0 => format!(
            "2026-11-25 10:00:{:02},{:03} - trading.engine - INFO - order {i} filled: AAPL 10 @ 187.{:02} (strategy momo, latency 3 ms)",
            i % 60,
            i % 1000,
            i % 100
        ),
        1 => format!(
            r#"{{"time":"2026-11-25T10:00:00.{:03}Z","level":"warning","logger":"trading.risk","msg":"exposure {i} near limit","symbol":"TSLA","used":0.93,"limit_usd":250000}}"#,
            i % 1000
        ),
        2 => format!(
            r#"time=2026-11-25T10:00:01Z level=debug component=feed msg="quote {i} received" symbol=MSFT bid=411.20 ask=411.25"#
        ),
        _ => format!("plain line {i}: websocket heartbeat ok, 42 subscriptions, queue depth 0"),
    }
}

async fn count(env: &TestEnv, table: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
        .fetch_one(&env.pool)
        .await
        .unwrap_or(-1)
}

/// Offset the collector saved for the bench file (`-1` before the first save).
fn saved_offset(env: &TestEnv) -> i64 {
    let path = env.dir.path().join("state/logs-positions.json");
    std::fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .and_then(|v| v["files"][0]["offset"].as_i64())
        .unwrap_or(-1)
}

type Row = (
    DateTime<Utc>,
    String,
    String,
    i16,
    Option<String>,
    String,
    serde_json::Value,
    Option<i64>,
    bool,
);

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let lines: usize = exporter_tests::bench_size("BENCH_LINES", 200_000);
    let logs = tempfile::tempdir().unwrap();
    let file = logs.path().join("bench.log");
    let mut writer = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
    for i in 0..lines {
        writeln!(writer, "{}", line(i)).unwrap();
    }
    writer.flush().unwrap();
    drop(writer);
    let file_bytes = std::fs::metadata(&file).unwrap().len() as i64;

    let yaml = format!(
        "collectors:\n  heartbeat_interval_seconds: 1\n  logs:\n    enabled: true\n    \
         files:\n      - path: \"{}/*.log\"\n    start_position: beginning\n    \
         batch_max_lines: {BATCH_LINES}\n    batch_max_wait_ms: 100\n    poll_interval_ms: 50\n",
        logs.path().display()
    );
    let env = TestEnv::new(&yaml).await;
    let _aggregator = env.spawn("exporter-aggregator", &[]);
    // Ready once the schema is there.
    exporter_tests::eventually(
        "the aggregator migrated",
        Duration::from_secs(30),
        || async { (count(&env, "log_line").await == 0).then_some(()) },
    )
    .await;

    let started = Instant::now();
    let _collector = env.spawn("exporter-collector", &["logs"]);
    let mut published_seconds = None;
    loop {
        if published_seconds.is_none() && saved_offset(&env) == file_bytes {
            published_seconds = Some(started.elapsed().as_secs_f64());
        }
        if count(&env, "log_line").await >= lines as i64 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(110),
            "the lines did not all arrive in time: {} of {lines}",
            count(&env, "log_line").await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pipeline_seconds = started.elapsed().as_secs_f64();
    let published_seconds = published_seconds.unwrap_or(pipeline_seconds);
    assert_eq!(
        count(&env, "log_line").await,
        lines as i64,
        "each line once"
    );

    // Baseline: the same rows, straight into a table of the same shape and indexes.
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT time, host, source, level, component, message, fields, file_offset, truncated \
         FROM log_line ORDER BY log_id",
    )
    .fetch_all(&env.pool)
    .await
    .unwrap();
    sqlx::query("CREATE TABLE log_line_baseline (LIKE log_line INCLUDING ALL)")
        .execute(&env.pool)
        .await
        .unwrap();
    let message_id = uuid::Uuid::now_v7();
    let started = Instant::now();
    for chunk in rows.chunks(BATCH_LINES) {
        let mut tx = env.pool.begin().await.unwrap();
        sqlx::query(
            "INSERT INTO log_line_baseline (message_id, line_no, time, host, source, level, component, \
                                            message, fields, file_offset, truncated) \
             SELECT $1, u.line_no, u.time, u.host, u.source, u.level, u.component, u.message, \
                    u.fields, u.file_offset, u.truncated \
             FROM UNNEST($2::int4[], $3::timestamptz[], $4::text[], $5::text[], $6::int2[], \
                         $7::text[], $8::text[], $9::jsonb[], $10::int8[], $11::bool[]) \
               AS u(line_no, time, host, source, level, component, message, fields, file_offset, truncated)",
        )
        .bind(message_id)
        .bind((0..chunk.len() as i32).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.0).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.1.clone()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.2.clone()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.3).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.4.clone()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.5.clone()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.6.clone()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.7).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.8).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    let baseline_seconds = started.elapsed().as_secs_f64();
    assert_eq!(count(&env, "log_line_baseline").await, lines as i64);

    let pipeline_rate = lines as f64 / pipeline_seconds;
    let published_rate = lines as f64 / published_seconds;
    let baseline_rate = lines as f64 / baseline_seconds;
    println!(
        "logs benchmark: {lines} lines ({:.1} MB), batches of {BATCH_LINES}",
        file_bytes as f64 / 1e6
    );
    println!(
        "  file -> collector -> JetStream (acked, positions saved):   {published_rate:>10.0} lines/s  ({published_seconds:.2} s)"
    );
    println!(
        "  file -> collector -> JetStream -> aggregator -> log_line: {pipeline_rate:>10.0} lines/s  ({pipeline_seconds:.2} s)"
    );
    println!(
        "  baseline: INSERT ... UNNEST of the same rows, same batches: {baseline_rate:>10.0} lines/s  ({baseline_seconds:.2} s)"
    );
    println!(
        "  ratio pipeline / baseline: {:.2}",
        pipeline_rate / baseline_rate
    );
    env.finish().await;
}

//! A flood of huge malformed messages stays small where it lands: each dead letter's reason is a
//! few hundred bytes, its raw bytes are capped with the original size recorded, no log line of
//! the aggregator grows with the body, and every one is still counted by category.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use exporter_protocol::Envelope;
use exporter_tests::{TestEnv, eventually};

/// About the size of the bodies of the flood that found the problem (under NATS's 1 MB limit).
const HUGE_BYTES: usize = 900_000;

/// The stored raw bytes' cap (`exporter_store::DEAD_LETTER_RAW_MAX_BYTES`).
const RAW_CAP_BYTES: usize = 64 * 1024;

/// The last value of the aggregator's `exporter.dead_letters_total{reason}` as served.
async fn dead_letters_counted(env: &TestEnv, reason: &str) -> Option<f64> {
    let (status, body) = env
        .get(&format!(
            "/metrics/history?name=exporter.dead_letters_total&labels=process=aggregator,reason={reason}&agg=last"
        ))
        .await;
    if status != 200 {
        return None;
    }
    body["series"][0]["points"]
        .as_array()?
        .iter()
        .filter_map(|p| p["value"].as_f64())
        .next_back()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_malformed_bodies_give_short_reasons_capped_raw_and_short_log_lines() {
    let env = TestEnv::new(
        "collectors:\n  heartbeat_interval_seconds: 1\n  self_metrics_interval_seconds: 1\n",
    )
    .await;
    let mut aggregator = env.spawn("exporter-aggregator", &[]);
    let _api = env.spawn("exporter-api", &[]);
    let js = env.jetstream().await;
    // Mostly 3-byte characters, so a cut in the wrong place would split one.
    let huge = "€".repeat(HUGE_BYTES / 3);
    let sample_subject = "exporter.v1.sample.system.test-host";
    let flood: Vec<(&str, Vec<u8>)> = vec![
        // Not JSON at all.
        (sample_subject, format!("{{not json {huge}").into_bytes()),
        // A source that the reason quotes.
        (
            sample_subject,
            serde_json::to_vec(&Envelope::new("test-host", huge.as_str(), 1, 0)).unwrap(),
        ),
        // A source full of line breaks, each followed by a forged log line.
        (
            sample_subject,
            serde_json::to_vec(&Envelope::new(
                "test-host",
                "\nFORGED ERROR line\n".repeat(HUGE_BYTES / 20),
                4,
                0,
            ))
            .unwrap(),
        ),
        // A body whose parse error quotes the 900 KB string.
        (
            sample_subject,
            serde_json::to_vec(&Envelope::new(
                "test-host",
                "system",
                2,
                serde_json::json!({ "cpu": huge }),
            ))
            .unwrap(),
        ),
        // A fill published by the trading system whose side is the 900 KB string.
        (
            "exporter.v1.ingest.fill",
            serde_json::to_vec(&serde_json::json!({
                "id": "f1", "symbol": "AAPL", "side": huge, "quantity": "2", "price": "1",
                "time": "2026-01-02T15:00:00Z"
            }))
            .unwrap(),
        ),
    ];
    for (subject, payload) in &flood {
        assert!(payload.len() > HUGE_BYTES - 1000);
        js.publish(*subject, payload.clone().into())
            .await
            .unwrap()
            .await
            .unwrap();
    }

    type Row = (String, String, Vec<u8>, i64, i64);
    let rows: Vec<Row> = eventually("every dead letter", Duration::from_secs(30), || async {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT subject, reason, raw, raw_size_bytes, raw_cut_bytes FROM dead_letter \
             ORDER BY dead_letter_id",
        )
        .fetch_all(&env.pool)
        .await
        .ok()?;
        (rows.len() == flood.len()).then_some(rows)
    })
    .await;
    let mut sizes: Vec<usize> = flood.iter().map(|(_, p)| p.len()).collect();
    let mut stored_sizes = Vec::new();
    for (subject, reason, raw, size, cut) in &rows {
        assert!(
            reason.len() < 1024,
            "{subject}: a {} byte reason",
            reason.len()
        );
        assert!(reason.contains("(cut, ") || reason.len() < 400, "{reason}");
        assert_eq!(raw.len(), RAW_CAP_BYTES, "{subject}: raw is capped");
        assert_eq!(*size as usize, raw.len() + *cut as usize, "{subject}");
        let original = flood
            .iter()
            .find(|(s, p)| s == subject && p.len() == *size as usize)
            .expect("the recorded size is the published one");
        assert_eq!(raw.as_slice(), &original.1[..RAW_CAP_BYTES]);
        stored_sizes.push(*size as usize);
    }
    sizes.sort_unstable();
    stored_sizes.sort_unstable();
    assert_eq!(stored_sizes, sizes);

    // Each is counted, in its category (the reason's end survives the cut).
    for (reason, count) in [
        ("envelope", 1.0),
        ("source_mismatch", 2.0),
        ("invalid_body", 2.0),
    ] {
        let counted = eventually(
            &format!("exporter.dead_letters_total{{reason={reason}}}"),
            Duration::from_secs(30),
            || async {
                dead_letters_counted(&env, reason)
                    .await
                    .filter(|c| *c >= count)
            },
        )
        .await;
        assert_eq!(counted, count, "{reason}");
    }

    // Ingest goes on after the flood.
    let good = Envelope::new(
        "test-host",
        "system",
        3,
        exporter_protocol::system::SystemSample::default(),
    );
    js.publish(sample_subject, serde_json::to_vec(&good).unwrap().into())
        .await
        .unwrap()
        .await
        .unwrap();
    env.ingested(good.id).await;

    assert!(aggregator.alive());
    let log = aggregator.output();
    let logged = log
        .lines()
        .filter(|l| l.contains("kept as a dead letter"))
        .count();
    assert_eq!(
        logged,
        flood.len(),
        "one line per dead letter:\n{log:.2000}"
    );
    let longest = log.lines().map(str::len).max().unwrap_or(0);
    assert!(longest < 1024, "a {longest} byte log line");
    assert!(
        !log.lines().any(|l| l.starts_with("FORGED")),
        "a reason can break the log's lines"
    );
    env.finish().await;
}

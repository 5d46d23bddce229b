//! Log files and the notifications file through the real binaries: `exporter-collector logs` /
//! `notifications` → NATS → `exporter-aggregator` → the `log_line` and `notification` tables.
//! Real files in a temporary directory: each format parsed, rotation by rename and by truncation
//! while lines are written, the collector stopped (SIGTERM) and killed (SIGKILL) mid-file, a
//! 1 MB line, binary garbage, a file appearing later, a partial last line, and notifications
//! valid and not. "Exactly once" is checked by comparing the stored messages with those
//! written: none missing, none twice.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Local, NaiveDate, TimeZone, Utc};
use exporter_tests::{Proc, TestEnv, eventually, poll_until};
use nix::sys::signal::Signal;
use serde_json::{Value, json};

/// A test world whose logs collector follows `<logs>/*.log` (plus `extra_files`).
struct LogsWorld {
    env: TestEnv,
    logs: tempfile::TempDir,
}

impl LogsWorld {
    async fn new(start_position: &str, extra_files: impl Fn(&Path) -> String) -> Self {
        let logs = tempfile::tempdir().unwrap();
        let extra_files = extra_files(logs.path());
        let yaml = format!(
            "collectors:\n  heartbeat_interval_seconds: 1\n  logs:\n    enabled: true\n    \
             files:\n      - path: \"{dir}/*.log\"\n{extra_files}    \
             start_position: {start_position}\n    max_line_bytes: 65536\n    \
             batch_max_lines: 200\n    batch_max_wait_ms: 50\n    poll_interval_ms: 50\n    \
             partial_line_wait_ms: 60000\n  \
             notifications:\n    file: \"{dir}/notifications.jsonl\"\n    \
             start_position: {start_position}\n    poll_interval_ms: 50\n",
            dir = logs.path().display(),
        );
        let env = TestEnv::new(&yaml).await;
        Self { env, logs }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.logs.path().join(name)
    }

    fn collector(&self) -> Proc {
        self.env.spawn("exporter-collector", &["logs"])
    }

    async fn started(&self, proc: &Proc, what: &str) {
        eventually(
            &format!("{what} started"),
            Duration::from_secs(10),
            || async {
                proc.output()
                    .contains(&format!("{what} collector started"))
                    .then_some(())
            },
        )
        .await;
    }

    /// Every stored message, in storage order.
    async fn messages(&self) -> Vec<String> {
        sqlx::query_scalar("SELECT message FROM log_line ORDER BY log_id")
            .fetch_all(&self.env.pool)
            .await
            .unwrap_or_default()
    }

    async fn count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM log_line")
            .fetch_one(&self.env.pool)
            .await
            .unwrap_or(-1)
    }

    /// Waits until `message` is stored.
    async fn wait_for(&self, message: &str) {
        eventually(
            &format!("line `{message}` stored"),
            Duration::from_secs(10),
            || async {
                let found: i64 =
                    sqlx::query_scalar("SELECT count(*) FROM log_line WHERE message = $1")
                        .bind(message)
                        .fetch_one(&self.env.pool)
                        .await
                        .unwrap_or(0);
                (found > 0).then_some(())
            },
        )
        .await;
    }

    /// Waits until at least `n` lines are stored, then checks that the stored messages are
    /// exactly `expected`, each once.
    async fn assert_exactly_once(&self, expected: &[String], limit: Duration) {
        // On a timeout the comparison below says what is missing.
        let n = expected.len() as i64;
        poll_until(limit, || async { self.count().await >= n }).await;
        // A quiet period, part of the check: anything late (a duplicate) would show up now.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let stored = self.messages().await;
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for message in &stored {
            *seen.entry(message).or_default() += 1;
        }
        let duplicates: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
        let want: BTreeSet<&str> = expected.iter().map(String::as_str).collect();
        let missing: Vec<_> = want.iter().filter(|m| !seen.contains_key(**m)).collect();
        let unexpected: Vec<_> = seen.keys().filter(|m| !want.contains(**m)).collect();
        assert!(
            duplicates.is_empty(),
            "{} duplicates, e.g. {:?}",
            duplicates.len(),
            &duplicates[..duplicates.len().min(5)]
        );
        assert!(
            missing.is_empty(),
            "{} missing, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(5)]
        );
        assert!(
            unexpected.is_empty(),
            "unexpected lines: {:?}",
            &unexpected[..unexpected.len().min(5)]
        );
        assert_eq!(stored.len(), expected.len());
    }
}

fn no_extra(_: &Path) -> String {
    String::new()
}

fn append(path: &Path, bytes: &[u8]) {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    file.write_all(bytes).unwrap();
}

fn line(name: &str, i: usize) -> String {
    format!("2026-11-25 10:00:00,000 - test.{name} - INFO - {name} line {i:05}")
}

fn message(name: &str, i: usize) -> String {
    format!("{name} line {i:05}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_format_is_parsed() {
    let world = LogsWorld::new("beginning", |dir| {
        format!(
            "      - {{path: \"{}/engine.txt\", component: trading-engine, format: plain}}\n",
            dir.display()
        )
    })
    .await;

    let app = world.path("app.log");
    append(
        &app,
        concat!(
            r#"{"time":"2026-11-25T10:00:00.250Z","level":"warn","logger":"trading.risk","msg":"limit near","symbol":"AAPL","used":0.93}"#,
            "\n",
            r#"time=2026-11-25T10:00:01Z level=error component=broker msg="order \"42\" rejected" order_id=42"#,
            "\n",
            "2026-11-25 10:00:02,500 - trading.engine - CRITICAL - strategy halted - drawdown\n",
            "Traceback (most recent call last):\r\n",
            "\n",
        )
        .as_bytes(),
    );
    append(
        &world.path("engine.txt"),
        b"2026-11-25 10:00:03,000 - x - ERROR - kept whole\n",
    );
    let _aggregator = world.env.spawn("exporter-aggregator", &[]);
    let _collector = world.collector();
    eventually("5 lines stored", Duration::from_secs(15), || async {
        (world.count().await == 5).then_some(())
    })
    .await;

    type Row = (
        DateTime<Utc>,
        i16,
        Option<String>,
        String,
        Value,
        String,
        Option<i64>,
        bool,
        String,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT time, level, component, message, fields, source, file_offset, truncated, host \
         FROM log_line ORDER BY source, file_offset",
    )
    .fetch_all(&world.env.pool)
    .await
    .unwrap();
    let app_source = app.display().to_string();
    let utc = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
    let local = Local
        .from_local_datetime(
            &NaiveDate::from_ymd_opt(2026, 11, 25)
                .unwrap()
                .and_hms_milli_opt(10, 0, 2, 500)
                .unwrap(),
        )
        .earliest()
        .unwrap()
        .with_timezone(&Utc);
    let by_message: BTreeMap<&str, &Row> = rows.iter().map(|r| (r.3.as_str(), r)).collect();

    let json_row = by_message["limit near"];
    assert_eq!(json_row.0, utc("2026-11-25T10:00:00.250Z"));
    assert_eq!(json_row.1, 4, "warning");
    assert_eq!(json_row.2.as_deref(), Some("trading.risk"));
    assert_eq!(json_row.4, json!({"symbol": "AAPL", "used": 0.93}));
    assert_eq!(json_row.5, app_source);
    assert_eq!(json_row.6, Some(0));
    assert!(!json_row.7);
    assert_eq!(json_row.8, "test-host");

    let logfmt_row = by_message[r#"order "42" rejected"#];
    assert_eq!(logfmt_row.0, utc("2026-11-25T10:00:01Z"));
    assert_eq!(logfmt_row.1, 5, "error");
    assert_eq!(logfmt_row.2.as_deref(), Some("broker"));
    assert_eq!(logfmt_row.4, json!({"order_id": "42"}));

    let python_row = by_message["strategy halted - drawdown"];
    assert_eq!(python_row.0, local, "local time of the machine");
    assert_eq!(python_row.1, 6, "critical");
    assert_eq!(python_row.2.as_deref(), Some("trading.engine"));
    assert_eq!(python_row.4, json!({}));

    let plain_row = by_message["Traceback (most recent call last):"];
    assert_eq!(plain_row.1, 0, "unknown");
    assert_eq!(
        plain_row.2.as_deref(),
        Some("app"),
        "the file's name when the line names no component"
    );
    assert_eq!(plain_row.4, json!({}));
    // Read time when the line has none.
    assert!((Utc::now() - plain_row.0).num_seconds().abs() < 60);

    // A file forced to plain with its own component: the line is kept whole.
    let forced = by_message["2026-11-25 10:00:03,000 - x - ERROR - kept whole"];
    assert_eq!(forced.1, 0);
    assert_eq!(forced.2.as_deref(), Some("trading-engine"));
    assert_eq!(forced.6, Some(0));
    world.env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_by_rename_and_by_truncation_keeps_every_line_once() {
    let world = LogsWorld::new("beginning", no_extra).await;
    let _aggregator = world.env.spawn("exporter-aggregator", &[]);
    let _collector = world.collector();
    world.started(&_collector, "logs").await;

    // Rename rotation, three times, while a writer keeps writing (as RotatingFileHandler does:
    // rename, then a new file at the path).
    let app = world.path("app.log");
    let writer = {
        let dir = world.logs.path().to_path_buf();
        let app = app.clone();
        std::thread::spawn(move || {
            for i in 0..2000 {
                if i > 0 && i % 500 == 0 {
                    std::fs::rename(&app, dir.join(format!("app.log.{}", i / 500))).unwrap();
                }
                append(&app, format!("{}\n", line("rename", i)).as_bytes());
                if i % 50 == 0 {
                    // Pacing, part of the scenario: the follower reads while the writer writes.
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        })
    };
    writer.join().unwrap();
    let mut expected: Vec<String> = (0..2000).map(|i| message("rename", i)).collect();
    world
        .assert_exactly_once(&expected, Duration::from_secs(10))
        .await;

    // Truncation (copytruncate, `> file`) while the writer goes on: each round is read before
    // the file is truncated (lines written after the last read and before a truncation are
    // gone for any follower), the next round is written at once after it.
    let copy = world.path("copy.log");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&copy)
        .unwrap();
    for round in 0..3 {
        for i in 0..300 {
            let n = round * 300 + i;
            writeln!(file, "{}", line("truncate", n)).unwrap();
            expected.push(message("truncate", n));
            if i == 150 {
                // Pacing, part of the scenario: a read may fall mid-round.
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        world
            .wait_for(&message("truncate", round * 300 + 299))
            .await;
        file.set_len(0).unwrap();
    }
    world
        .assert_exactly_once(&expected, Duration::from_secs(10))
        .await;
    world.env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collector_stopped_and_killed_mid_file_loses_and_repeats_nothing() {
    let world = LogsWorld::new("beginning", no_extra).await;
    let _aggregator = world.env.spawn("exporter-aggregator", &[]);
    let mut collector = world.collector();
    world.started(&collector, "logs").await;

    let app = world.path("app.log");
    let total = 8000;
    let writer = {
        let app = app.clone();
        std::thread::spawn(move || {
            for i in 0..total {
                append(&app, format!("{}\n", line("restart", i)).as_bytes());
                if i % 40 == 0 {
                    // Pacing, part of the scenario: the writing lasts across the restarts.
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        })
    };
    // Stopped with SIGTERM, then killed with SIGKILL twice, each time while lines are written
    // and after some were stored.
    let mut stored = 0;
    for (round, signal) in [Signal::SIGTERM, Signal::SIGKILL, Signal::SIGKILL]
        .into_iter()
        .enumerate()
    {
        let at_least = stored + 300;
        stored = eventually(
            "progress before a restart",
            Duration::from_secs(10),
            || async {
                let n = world.count().await;
                (n >= at_least).then_some(n)
            },
        )
        .await;
        if signal == Signal::SIGTERM {
            collector.signal(signal);
            let status = collector.wait_exit(Duration::from_secs(10)).unwrap();
            assert!(status.success(), "round {round}: {status:?}");
        } else {
            collector.kill();
        }
        collector = world.collector();
    }
    writer.join().unwrap();
    let expected: Vec<String> = (0..total).map(|i| message("restart", i)).collect();
    world
        .assert_exactly_once(&expected, Duration::from_secs(10))
        .await;
    assert!(collector.alive());
    world.env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unacknowledged_batch_is_published_again_after_a_kill() {
    // NATS goes away: the collector cannot get its batch acknowledged and is killed. With NATS
    // back, the restarted collector publishes that batch first; nothing lost, nothing twice.
    let mut world = LogsWorld::new("beginning", no_extra).await;
    let _aggregator = world.env.spawn("exporter-aggregator", &[]);
    let mut collector = world.collector();
    world.started(&collector, "logs").await;
    let app = world.path("app.log");
    let mut expected = Vec::new();
    for i in 0..100 {
        append(&app, format!("{}\n", line("outage", i)).as_bytes());
        expected.push(message("outage", i));
    }
    world.wait_for(&message("outage", 99)).await;
    world.env.nats.kill();
    for i in 100..200 {
        append(&app, format!("{}\n", line("outage", i)).as_bytes());
        expected.push(message("outage", i));
    }
    let inflight = world.env.dir.path().join("state/logs-inflight.bin");
    eventually(
        "a batch waiting for its ack",
        Duration::from_secs(10),
        || async { inflight.exists().then_some(()) },
    )
    .await;
    collector.kill();
    world.env.nats.restart();
    let _collector = world.collector();
    for i in 200..300 {
        append(&app, format!("{}\n", line("outage", i)).as_bytes());
        expected.push(message("outage", i));
    }
    world
        .assert_exactly_once(&expected, Duration::from_secs(15))
        .await;
    world.env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_megabyte_line_is_cut_and_binary_garbage_is_survived() {
    let world = LogsWorld::new("beginning", no_extra).await;
    let _aggregator = world.env.spawn("exporter-aggregator", &[]);
    let mut collector = world.collector();
    world.started(&collector, "logs").await;

    let big = world.path("big.log");
    let mut bytes = b"before\n".to_vec();
    bytes.extend(std::iter::repeat_n(b'x', 1_000_000));
    bytes.extend_from_slice(b"\nafter\n");
    append(&big, &bytes);
    world.wait_for("after").await;
    type Row = (String, bool, Option<i64>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT message, truncated, file_offset FROM log_line WHERE source = $1 ORDER BY file_offset",
    )
    .bind(big.display().to_string())
    .fetch_all(&world.env.pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0], ("before".to_owned(), false, Some(0)));
    assert_eq!(rows[1].0.len(), 65_536, "cut to max_line_bytes");
    assert!(rows[1].0.bytes().all(|b| b == b'x'));
    assert!(rows[1].1, "marked truncated");
    assert_eq!(rows[1].2, Some(7));
    assert_eq!(
        rows[2],
        ("after".to_owned(), false, Some(7 + 1_000_000 + 1))
    );

    // Random bytes (NUL, invalid UTF-8, control characters, stray newlines), then good lines.
    let garbage = world.path("garbage.log");
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut noise = Vec::with_capacity(200_000);
    for _ in 0..200_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        noise.push((state >> 24) as u8);
    }
    noise.extend_from_slice(
        b"\0\0\xff\xfe\xc3\x28\n{\"msg\":\"a\\u0000b\",\"k\\u0000\":\"\\u0000\"}\n",
    );
    append(&garbage, &noise);
    let good: Vec<String> = (0..50).map(|i| format!("good line {i}")).collect();
    append(&garbage, format!("{}\n", good.join("\n")).as_bytes());
    world.wait_for("good line 49").await;
    assert!(collector.alive(), "{}", collector.output());
    let stored: Vec<String> =
        sqlx::query_scalar("SELECT message FROM log_line WHERE message LIKE 'good line %'")
            .fetch_all(&world.env.pool)
            .await
            .unwrap();
    let dead_letters: Vec<String> = sqlx::query_scalar("SELECT reason FROM dead_letter")
        .fetch_all(&world.env.pool)
        .await
        .unwrap();
    assert_eq!(
        stored.len(),
        50,
        "{stored:?}; dead letters: {dead_letters:?}"
    );
    let escaped: i64 = sqlx::query_scalar("SELECT count(*) FROM log_line WHERE message = 'ab'")
        .fetch_one(&world.env.pool)
        .await
        .unwrap();
    assert_eq!(escaped, 1, "JSON \\u0000 escapes are removed too");
    assert!(
        dead_letters.is_empty(),
        "no batch refused by the aggregator: {dead_letters:?}"
    );
    world.env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_files_from_their_start_and_partial_lines_once_completed() {
    let world = LogsWorld::new("end", no_extra).await;
    let existing = world.path("existing.log");
    append(&existing, b"old 1\nold 2\n");
    let _aggregator = world.env.spawn("exporter-aggregator", &[]);
    let collector = world.collector();
    world.started(&collector, "logs").await;

    // There at the first start: from its end (start_position: end).
    append(&existing, b"new 1\n");
    world.wait_for("new 1").await;

    // Appears later with content already in it: from its start.
    let staged = world.logs.path().join("late.staging");
    append(&staged, b"late 1\nlate 2\n");
    std::fs::rename(&staged, world.path("late.log")).unwrap();
    world.wait_for("late 2").await;

    // A partial last line is handed out only once its newline is there.
    append(&existing, b"complete 1\npartial");
    world.wait_for("complete 1").await;
    // Part of the check: the partial line stays unread for this long.
    tokio::time::sleep(Duration::from_millis(500)).await;
    append(&existing, b" line\n");
    world.wait_for("partial line").await;
    // A quiet period, part of the check: a stray or repeated line would show up now.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let messages = world.messages().await;
    let mut sorted = messages.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        vec!["complete 1", "late 1", "late 2", "new 1", "partial line"],
        "stored: {messages:?}"
    );
    world.env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_file_lines_are_stored_and_invalid_ones_kept() {
    let world = LogsWorld::new("beginning", no_extra).await;
    let file = world.path("notifications.jsonl");
    let _aggregator = world.env.spawn("exporter-aggregator", &[]);
    let collector = world.env.spawn("exporter-collector", &["notifications"]);
    world.started(&collector, "notifications").await;
    let lines = [
        r#"{"time":"2026-11-25T10:00:00Z","severity":"critical","category":"risk_limit","title":"drawdown 5%","message":"momo halted","labels":{"strategy":"momo"}}"#,
        r#"{"severity":"info","category":"order_filled","title":"AAPL bought","resolved":true}"#,
        "this is not JSON",
        r#"{"severity":"loud","category":"x","title":"y"}"#,
    ];
    append(&file, format!("{}\n", lines.join("\n")).as_bytes());

    type Row = (
        DateTime<Utc>,
        String,
        String,
        String,
        String,
        Value,
        bool,
        Option<String>,
    );
    let rows: Vec<Row> = eventually("4 notifications", Duration::from_secs(15), || async {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT time, severity, category, title, message, labels, resolved, host \
             FROM notification ORDER BY notification_id",
        )
        .fetch_all(&world.env.pool)
        .await
        .unwrap_or_default();
        (rows.len() == 4).then_some(rows)
    })
    .await;
    let utc = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
    assert_eq!(rows[0].0, utc("2026-11-25T10:00:00Z"));
    assert_eq!(
        (
            &rows[0].1[..],
            &rows[0].2[..],
            &rows[0].3[..],
            &rows[0].4[..]
        ),
        ("critical", "risk_limit", "drawdown 5%", "momo halted")
    );
    assert_eq!(rows[0].5, json!({"strategy": "momo"}));
    assert_eq!(rows[0].7.as_deref(), Some("test-host"));
    assert_eq!(
        (&rows[1].1[..], &rows[1].2[..], rows[1].6),
        ("info", "order_filled", true)
    );
    for (row, raw) in rows[2..].iter().zip(&lines[2..]) {
        assert_eq!(row.1, "warning");
        assert_eq!(row.2, "invalid_notification");
        assert_eq!(row.3, "unreadable notification line");
        assert_eq!(row.4, *raw, "the raw line is kept");
        assert_eq!(row.5, json!({"file": file.display().to_string()}));
    }
    // Each invalid line is logged with the file and its offset.
    let output = collector.output();
    let offset = lines[0].len() + lines[1].len() + 2;
    assert!(
        output.contains("not a valid notification") && output.contains(&offset.to_string()),
        "{output}"
    );
    world.env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_resume_across_restarts_before_any_batch_and_corrupt_state() {
    // start_position: end, a quiet file, stopped before any batch: the positions saved after
    // the first scan make the next start resume there, so a notification written while stopped
    // (in two chunks, the second after more than the log follower's partial-line wait) comes
    // once and whole. A corrupt positions file is set aside instead of stopping the collector.
    let world = LogsWorld::new("end", no_extra).await;
    let file = world.path("notifications.jsonl");
    append(
        &file,
        b"{\"severity\":\"info\",\"category\":\"old\",\"title\":\"before the first start\"}\n",
    );
    let _aggregator = world.env.spawn("exporter-aggregator", &[]);
    let mut collector = world.env.spawn("exporter-collector", &["notifications"]);
    world.started(&collector, "notifications").await;
    let state = world.env.dir.path().join("state");
    let positions = state.join("notifications-positions.json");
    eventually(
        "positions saved after the first scan",
        Duration::from_secs(10),
        || async { positions.exists().then_some(()) },
    )
    .await;
    collector.signal(Signal::SIGTERM);
    assert!(collector.wait_exit(Duration::from_secs(10)).is_some());

    append(
        &file,
        b"{\"severity\":\"critical\",\"category\":\"reboot\",",
    );
    let mut collector = world.env.spawn("exporter-collector", &["notifications"]);
    world.started(&collector, "notifications").await;
    // Part of the check: longer than the 5 s after which a log file's partial line is handed
    // out (a notification's is not).
    tokio::time::sleep(Duration::from_millis(5_500)).await;
    append(&file, b"\"title\":\"during the reboot\"}\n");
    let stored = || async {
        sqlx::query_as::<_, (String, String)>(
            "SELECT category, title FROM notification ORDER BY notification_id",
        )
        .fetch_all(&world.env.pool)
        .await
        .unwrap_or_default()
    };
    eventually("the notification", Duration::from_secs(10), || async {
        (!stored().await.is_empty()).then_some(())
    })
    .await;
    // A quiet period, part of the check: a second (split) notification would show up now.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        stored().await,
        vec![("reboot".to_owned(), "during the reboot".to_owned())]
    );

    collector.signal(Signal::SIGTERM);
    assert!(collector.wait_exit(Duration::from_secs(10)).is_some());
    std::fs::write(&positions, b"{ not json").unwrap();
    let collector = world.env.spawn("exporter-collector", &["notifications"]);
    world.started(&collector, "notifications").await;
    append(
        &file,
        b"{\"severity\":\"info\",\"category\":\"after\",\"title\":\"corrupt state\"}\n",
    );
    eventually("the next notification", Duration::from_secs(10), || async {
        (stored().await.len() == 2).then_some(())
    })
    .await;
    let set_aside = std::fs::read_dir(&state).unwrap().flatten().any(|e| {
        e.file_name()
            .to_string_lossy()
            .starts_with("notifications-positions.json.corrupt-")
    });
    assert!(set_aside, "corrupt positions set aside");
    assert!(
        collector.output().contains("corrupt"),
        "{}",
        collector.output()
    );
    world.env.finish().await;
}

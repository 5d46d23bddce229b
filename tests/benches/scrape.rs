//! A Prometheus scrape of `/metrics` with 300 series on each of 3 hosts (env `BENCH_SERIES`,
//! `BENCH_HOSTS`) stored in PostgreSQL, through the real API process, against the baseline of
//! Debian's `prometheus-node-exporter` answering its own `/metrics` on this machine in the same
//! run: the ratio of time per scrape.
//!
//! Run: `cargo build --release -p exporter-api && cargo bench -p exporter-tests --bench scrape`.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use exporter_protocol::SourceKind;
use exporter_tests::{Proc, TestEnv, free_port, wait_for_port};

const ROUNDS: usize = 10;
const SCRAPES_PER_ROUND: usize = 20;

/// A system sample body that flattens to exactly `series` series (CPU cores fill the rest).
fn system_body(series: usize) -> serde_json::Value {
    let mut cores = 1;
    loop {
        let body = serde_json::json!({
            "cpu": {"usage_percent": 12.5,
                    "per_core_percent": (0..cores).map(|c| (c % 100) as f64).collect::<Vec<_>>(),
                    "logical_cores": cores},
            "load": {"one": 1.0, "five": 0.5, "fifteen": 0.25},
            "memory": {"total_bytes": 1u64 << 39, "used_bytes": 1u64 << 38,
                       "available_bytes": 1u64 << 38, "free_bytes": 1u64 << 37,
                       "used_percent": 50.0, "swap_total_bytes": 0, "swap_used_bytes": 0,
                       "swap_free_bytes": 0},
        });
        let flattened = SourceKind::System.series_of(&body).unwrap().len();
        if flattened >= series {
            assert_eq!(flattened, series, "cannot reach exactly {series} series");
            return body;
        }
        cores += series - flattened;
    }
}

/// Scrapes `url` `SCRAPES_PER_ROUND` times; the time of each and the last body's size.
async fn scrapes(client: &reqwest::Client, url: &str, key: Option<&str>) -> (Vec<f64>, usize) {
    let mut times = Vec::with_capacity(SCRAPES_PER_ROUND);
    let mut size = 0;
    for _ in 0..SCRAPES_PER_ROUND {
        let mut request = client.get(url).header("Accept", "text/plain;version=0.0.4");
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let started = Instant::now();
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "{url}");
        size = response.bytes().await.unwrap().len();
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    (times, size)
}

fn median(times: &mut [f64]) -> f64 {
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let series: usize = exporter_tests::bench_size("BENCH_SERIES", 300);
    let hosts: usize = exporter_tests::bench_size("BENCH_HOSTS", 3);
    let env = TestEnv::new("").await;
    let yaml = std::fs::read_to_string(&env.settings_path).unwrap();
    std::fs::write(
        &env.settings_path,
        yaml.replace("stale_after_seconds: 30", "stale_after_seconds: 86400"),
    )
    .unwrap();
    env.migrate().await;
    let body = system_body(series);
    for host in 0..hosts {
        sqlx::query(
            "INSERT INTO latest_sample (source, host, message_id, sample_time, body) \
             VALUES ('system', $1, $2, now(), $3)",
        )
        .bind(format!("gh200-{host}"))
        .bind(uuid::Uuid::now_v7())
        .bind(&body)
        .execute(&env.pool)
        .await
        .unwrap();
    }

    let _api = env.spawn("exporter-api", &[]);
    wait_for_port(env.api_port, Duration::from_secs(30));
    let node_port = free_port();
    let log = env.dir.path().join("node-exporter.log");
    let file = std::fs::File::create(&log).unwrap();
    let child = Command::new("/usr/bin/prometheus-node-exporter")
        .arg(format!("--web.listen-address=127.0.0.1:{node_port}"))
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap();
    let _node = Proc {
        name: "prometheus-node-exporter".to_owned(),
        child,
        log,
    };
    wait_for_port(node_port, Duration::from_secs(30));

    let client = reqwest::Client::new();
    let api_url = env.api_url("/metrics");
    let node_url = format!("http://127.0.0.1:{node_port}/metrics");
    // Warm both (connections, caches, the first page of the table).
    scrapes(&client, &api_url, Some(&env.api_key)).await;
    scrapes(&client, &node_url, None).await;
    let (mut api_times, mut node_times) = (Vec::new(), Vec::new());
    let (mut api_size, mut node_size) = (0, 0);
    for _ in 0..ROUNDS {
        let (times, size) = scrapes(&client, &api_url, Some(&env.api_key)).await;
        api_times.extend(times);
        api_size = size;
        let (times, size) = scrapes(&client, &node_url, None).await;
        node_times.extend(times);
        node_size = size;
    }
    let exposition = client
        .get(&api_url)
        .bearer_auth(&env.api_key)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let exported = exposition.lines().filter(|l| !l.starts_with('#')).count();
    let node_text = client
        .get(&node_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let node_series = node_text.lines().filter(|l| !l.starts_with('#')).count();
    let mean = |t: &[f64]| t.iter().sum::<f64>() / t.len() as f64;
    let (api_mean, node_mean) = (mean(&api_times), mean(&node_times));
    let (api_median, node_median) = (median(&mut api_times), median(&mut node_times));
    println!(
        "scrape of /metrics: {hosts} hosts x {series} series stored ({exported} samples exported, {api_size} bytes), {} scrapes each, interleaved",
        ROUNDS * SCRAPES_PER_ROUND
    );
    println!(
        "  baseline prometheus-node-exporter /metrics ({node_series} samples, {node_size} bytes): median {node_median:>7.2} ms  mean {node_mean:>7.2} ms  x1.0"
    );
    println!(
        "  exporter-api /metrics:                                              median {api_median:>7.2} ms  mean {api_mean:>7.2} ms  x{:.2} (median), x{:.2} (mean)",
        api_median / node_median,
        api_mean / node_mean
    );
    drop(_api);
    env.finish().await;
}

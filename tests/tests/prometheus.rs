//! `/metrics` as a Prometheus user meets it: against the real stack (aggregator, system and
//! hardware collectors, API), the exposition passes `promtool check metrics`, holds every
//! numeric series of `/metrics/all` under its contract name, speaks OpenMetrics when asked,
//! drops a stopped collector's series once stale, and takes the key as a Bearer token; then
//! Debian's own `prometheus` scrapes it and answers `up` and the memory total from its API.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use exporter_protocol::SourceKind;
use exporter_protocol::series::describe;
use exporter_tests::{Proc, TestEnv, eventually, free_port, poll_until};

type Series = BTreeMap<(String, BTreeMap<String, String>), f64>;

fn mem_total_bytes() -> f64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let line = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .unwrap();
    let kib: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024.0
}

/// A TestEnv whose API leaves out series older than `stale_after_seconds`.
async fn env_with_stale_after(stale_after_seconds: u64) -> TestEnv {
    let env = TestEnv::new("").await;
    let yaml = std::fs::read_to_string(&env.settings_path).unwrap();
    assert!(yaml.contains("stale_after_seconds: 30"));
    assert!(yaml.contains("heartbeat_interval_seconds: 1\n"));
    std::fs::write(
        &env.settings_path,
        yaml.replace(
            "stale_after_seconds: 30",
            &format!("stale_after_seconds: {stale_after_seconds}"),
        )
        // Self-metrics every second, so a counter moves between scrapes.
        .replace(
            "heartbeat_interval_seconds: 1\n",
            "heartbeat_interval_seconds: 1\n  self_metrics_interval_seconds: 1\n",
        ),
    )
    .unwrap();
    env
}

/// `GET /metrics` with a Bearer key and an optional `Accept`: status, content type, body.
async fn scrape(env: &TestEnv, bearer: &str, accept: Option<&str>) -> (u16, String, String) {
    let mut request = reqwest::Client::new()
        .get(env.api_url("/metrics"))
        .bearer_auth(bearer)
        .timeout(Duration::from_secs(10));
    if let Some(accept) = accept {
        request = request.header("Accept", accept);
    }
    let Ok(response) = request.send().await else {
        return (0, String::new(), String::new());
    };
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (
        status,
        content_type,
        response.text().await.unwrap_or_default(),
    )
}

/// The samples of an exposition: (name, labels) → value.
fn parse(exposition: &str) -> Series {
    let mut series = Series::new();
    for line in exposition.lines().filter(|l| !l.starts_with('#')) {
        let (head, value) = line.rsplit_once(' ').unwrap();
        let (name, labels) = match head.split_once('{') {
            Some((name, rest)) => (name, parse_labels(rest.strip_suffix('}').unwrap())),
            None => (head, BTreeMap::new()),
        };
        let value = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            other => other.parse().unwrap(),
        };
        assert!(
            series.insert((name.to_owned(), labels), value).is_none(),
            "duplicate series in: {line}"
        );
    }
    series
}

fn parse_labels(text: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut chars = text.chars().peekable();
    while chars.peek().is_some() {
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        assert_eq!(chars.next(), Some('"'));
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next().unwrap() {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                '"' => break,
                c => value.push(c),
            }
        }
        if chars.peek() == Some(&',') {
            chars.next();
        }
        labels.insert(key, value);
    }
    labels
}

fn promtool_check(exposition: &str) -> String {
    let mut child = Command::new("/usr/bin/promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    format!(
        "{}{}{}",
        if output.status.success() {
            ""
        } else {
            "promtool failed: "
        },
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Every numeric series of `/metrics/all`, as the (family sample name, labels) `/metrics`
/// should carry it.
async fn expected_series(env: &TestEnv) -> BTreeSet<(String, BTreeMap<String, String>)> {
    let (status, all) = env.get("/metrics/all").await;
    assert_eq!(status, 200, "{all}");
    let mut expected = BTreeSet::new();
    for (source, hosts) in all["sources"].as_object().unwrap() {
        let kind: SourceKind = source.parse().unwrap();
        for host in hosts.as_array().unwrap() {
            for point in kind.series_of(&host["sample"]).unwrap() {
                let def = describe(point.name).unwrap();
                let mut labels = point.labels;
                labels.insert("host".to_owned(), host["host"].as_str().unwrap().to_owned());
                if def.is_currency() {
                    labels.insert("currency".to_owned(), "USD".to_owned());
                }
                // A histogram's points keep their `_bucket`/`_sum`/`_count` suffix.
                let suffix = point.name.strip_prefix(def.name).unwrap_or("");
                expected.insert((format!("{}{suffix}", def.prometheus_family()), labels));
            }
        }
    }
    expected
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_is_a_prometheus_target() {
    let env = env_with_stale_after(5).await;
    let _aggregator = env.spawn("exporter-aggregator", &[]);
    let mut system = env.spawn("exporter-collector", &["system"]);
    let _hardware = env.spawn("exporter-collector", &["hardware"]);
    let _api = env.spawn("exporter-api", &[]);
    env.stored_sample("system").await;
    env.stored_sample("hardware").await;

    // The key as a Bearer token works; a wrong one is the same 401 as a wrong X-API-Key.
    let (status, content_type, text) =
        eventually("a scrape with memory", Duration::from_secs(30), || async {
            let scraped = scrape(&env, &env.api_key, None).await;
            (scraped.0 == 200 && scraped.2.contains("gh200_memory_total_bytes{")).then_some(scraped)
        })
        .await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    let (status, _, problem) = scrape(&env, "not-the-key", None).await;
    assert_eq!(status, 401, "{problem}");
    assert!(problem.contains("/problems/unauthorized"), "{problem}");

    // promtool finds nothing to say.
    assert_eq!(promtool_check(&text), "", "{text}");
    let series = parse(&text);
    let memory = series[&(
        "gh200_memory_total_bytes".to_owned(),
        BTreeMap::from([("host".to_owned(), "test-host".to_owned())]),
    )];
    assert_eq!(memory, mem_total_bytes());
    assert!(
        text.contains("# TYPE gh200_cpu_usage_ratio gauge\n"),
        "{text}"
    );
    assert!(
        series.iter().any(
            |((name, _), value)| name == "gh200_cpu_usage_ratio" && (0.0..=1.0).contains(value)
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "gh200_exporter_last_sample_timestamp_seconds{host=\"test-host\",source=\"system\"} "
        ),
        "{text}"
    );

    // Every numeric series of /metrics/all is in /metrics (taken after it, so nothing is
    // missing for being newer).
    let expected = expected_series(&env).await;
    assert!(expected.len() > 20, "{expected:?}");
    let (_, _, text) = scrape(&env, &env.api_key, None).await;
    let series = parse(&text);
    let missing: Vec<_> = expected
        .iter()
        .filter(|key| !series.contains_key(*key))
        .collect();
    assert!(
        missing.is_empty(),
        "missing from /metrics: {missing:?}\n{text}"
    );

    // OpenMetrics when the scraper prefers it, as Prometheus does.
    let (status, content_type, om) = scrape(
        &env,
        &env.api_key,
        Some("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        content_type.starts_with("application/openmetrics-text; version=1.0.0"),
        "{content_type}"
    );
    assert!(om.ends_with("# EOF\n"), "{om}");
    assert!(
        om.contains("# UNIT gh200_memory_total_bytes bytes\n"),
        "{om}"
    );

    // /metrics is in the OpenAPI contract, with the Bearer scheme beside the header.
    let (_, doc) = env.get("/openapi.json").await;
    let content = &doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"];
    assert!(
        content.get("text/plain; version=0.0.4").is_some(),
        "{content}"
    );
    assert!(
        content
            .get("application/openmetrics-text; version=1.0.0")
            .is_some(),
        "{content}"
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );

    // Today's realised P&L, from the stored fills: bought 10 at 100, sold 10 at 105.
    for (id, side, price, minutes_ago) in [("f1", "buy", 100, 2), ("f2", "sell", 105, 1)] {
        sqlx::query(
            "INSERT INTO fill (fill_id, symbol, side, quantity, price, time, origin) \
             VALUES ($1, 'AAPL', $2, 10, $3, now() - make_interval(mins => $4), 'broker')",
        )
        .bind(id)
        .bind(side)
        .bind(price)
        .bind(minutes_ago)
        .execute(&env.pool)
        .await
        .unwrap();
    }
    sqlx::query(
        "INSERT INTO latest_sample (source, host, message_id, sample_time, body) \
         VALUES ('fills', 'test-host', $1, now(), '{\"fills\": []}')",
    )
    .bind(uuid::Uuid::now_v7())
    .execute(&env.pool)
    .await
    .unwrap();
    // A scrape never rebuilds trades itself: the first one after new fills starts a rebuild in
    // the background, a later one shows it.
    let pnl_key = (
        "gh200_trading_realized_pnl_today".to_owned(),
        BTreeMap::from([
            ("currency".to_owned(), "USD".to_owned()),
            ("host".to_owned(), "test-host".to_owned()),
        ]),
    );
    let (text, pnl) = eventually("today's realised P&L", Duration::from_secs(20), || async {
        let (_, _, text) = scrape(&env, &env.api_key, None).await;
        let pnl = parse(&text).get(&pnl_key).copied();
        pnl.map(|pnl| (text, pnl))
    })
    .await;
    assert_eq!(pnl, 50.0, "{text}");
    assert_eq!(promtool_check(&text), "", "{text}");

    // A real Prometheus scrapes it with the key from a credentials file.
    let prometheus = Prometheus::start(&env);
    let up = prometheus
        .value_eventually("up", Duration::from_secs(30))
        .await;
    assert_eq!(up, 1.0, "up");
    let scraped_memory = prometheus
        .value_eventually(
            "gh200_memory_total_bytes{host=\"test-host\"}",
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(scraped_memory, mem_total_bytes());
    // The aggregator's own counter, scraped through the same exposition, increases.
    let ingested = "gh200_exporter_ingested_messages_total{process=\"aggregator\"}";
    let first = prometheus
        .value_eventually(ingested, Duration::from_secs(30))
        .await;
    let increased = poll_until(Duration::from_secs(30), || async {
        prometheus
            .value_eventually(ingested, Duration::from_secs(5))
            .await
            > first
    })
    .await;
    assert!(increased, "{ingested} stayed at {first}");

    // A stopped collector's series leave once stale; its last sample time stays.
    system.kill();
    let gone = poll_until(Duration::from_secs(20), || async {
        let (_, _, text) = scrape(&env, &env.api_key, None).await;
        !text.contains("gh200_memory_total_bytes{") && text.contains("gh200_hwmon_")
    })
    .await;
    let (_, _, text) = scrape(&env, &env.api_key, None).await;
    assert!(
        gone,
        "system series still exported after its collector stopped:\n{text}"
    );
    assert!(
        text.contains(
            "gh200_exporter_last_sample_timestamp_seconds{host=\"test-host\",source=\"system\"} "
        ),
        "{text}"
    );
    drop(prometheus);
    env.finish().await;
}

/// Debian's `prometheus`, scraping the env's API every second with a Bearer credentials file.
struct Prometheus {
    process: Proc,
    port: u16,
}

impl Prometheus {
    fn start(env: &TestEnv) -> Self {
        let dir = env.dir.path().join("prometheus");
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let key_file = dir.join("api.key");
        std::fs::write(&key_file, &env.api_key).unwrap();
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
                 scrape_configs:\n  - job_name: gh200\n    authorization:\n      credentials_file: {}\n    \
                 static_configs:\n      - targets: [\"127.0.0.1:{}\"]\n",
                key_file.display(),
                env.api_port
            ),
        )
        .unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
        let child = Command::new("/usr/bin/prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        Self {
            process: Proc {
                name: "prometheus".to_owned(),
                child,
                log: dir.join("prometheus.log"),
            },
            port,
        }
    }

    /// The value of an instant query once it has one result.
    async fn value_eventually(&self, query: &str, limit: Duration) -> f64 {
        let url = format!("http://127.0.0.1:{}/api/v1/query", self.port);
        let client = reqwest::Client::new();
        let what = format!("Prometheus to answer {query}");
        let value = poll_until(limit, || async {
            let Ok(response) = client.get(&url).query(&[("query", query)]).send().await else {
                return false;
            };
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            body["data"]["result"][0]["value"][1].as_str().is_some()
        })
        .await;
        assert!(
            value,
            "timed out waiting for {what}; log:\n{}",
            self.process.output()
        );
        let body: serde_json::Value = client
            .get(&url)
            .query(&[("query", query)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["data"]["result"][0]["value"][1]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    }
}

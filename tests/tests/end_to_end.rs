//! The whole path for system metrics with the real binaries: collector → NATS → aggregator →
//! PostgreSQL → API, checked against what this machine itself reports.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use exporter_tests::{TestEnv, eventually, get_json};

fn mem_total_bytes() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let line = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

fn cpu_count() -> u64 {
    std::fs::read_to_string("/proc/cpuinfo")
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_metrics_flow_from_collector_to_rest() {
    let env = TestEnv::new("").await;
    let _aggregator = env.spawn("exporter-aggregator", &[]);
    let _collector = env.spawn("exporter-collector", &["system"]);
    let _api = env.spawn("exporter-api", &[]);

    let body = env.first_host_sample("/metrics/system").await;
    let host = &body["hosts"][0];
    assert_eq!(host["host"], "test-host");
    let sample = &host["sample"];
    assert_eq!(
        sample["cpu"]["logical_cores"].as_u64().unwrap(),
        cpu_count()
    );
    assert_eq!(
        sample["cpu"]["per_core_percent"].as_array().unwrap().len() as u64,
        cpu_count()
    );
    assert_eq!(
        sample["memory"]["total_bytes"].as_u64().unwrap(),
        mem_total_bytes()
    );
    let filesystems = sample["filesystems"].as_array().unwrap();
    let root = filesystems
        .iter()
        .find(|fs| fs["mount_point"] == "/")
        .expect("the root filesystem is reported");
    assert!(root["total_bytes"].as_u64().unwrap() > 0);
    // Used percent as df computes it (reserved blocks are neither used nor available).
    let df = std::process::Command::new("df")
        .args(["-B1", "--output=used,avail", "/"])
        .output()
        .unwrap();
    let df = String::from_utf8(df.stdout).unwrap();
    let numbers: Vec<f64> = df
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    let df_percent = numbers[0] * 100.0 / (numbers[0] + numbers[1]);
    let ours = root["used_percent"].as_f64().unwrap();
    assert!(
        (ours - df_percent).abs() < 1.0,
        "ours {ours} vs df {df_percent}"
    );
    assert!(sample["host"]["uptime_seconds"].as_u64().unwrap() > 0);

    // Without the key, or with a wrong one: the same JSON 401.
    let (status, missing) = get_json(&env.api_url("/metrics/system"), None).await;
    assert_eq!(status, 401);
    assert_eq!(missing["status"], 401);
    let (status, wrong) = get_json(&env.api_url("/metrics/system"), Some("not-the-key")).await;
    assert_eq!(status, 401);
    assert_eq!(wrong, missing, "no hint which part was wrong");

    // /health needs no key: without one it gives the states and nothing a stranger could use
    // (no host name, version, URL, error text or alert count).
    let (status, public) = get_json(&env.api_url("/health"), None).await;
    assert_eq!(status, 200, "{public}");
    assert_eq!(public["postgres"]["status"], "up");
    assert_eq!(public["nats"]["status"], "up");
    assert_eq!(public["stream"]["status"], "up");
    let text = public.to_string();
    for hidden in [
        "test-host",
        "version",
        "latency_ms",
        "alerts",
        "gpus",
        "uptime",
    ] {
        assert!(
            !text.contains(hidden),
            "{hidden} shown without a key: {public}"
        );
    }
    assert!(
        public["collectors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["source"] == "system" && c["status"] == "fresh"),
        "{public}"
    );
    // With the key: every detail, the host of each collector included.
    let (status, health) = get_json(&env.api_url("/health"), Some(&env.api_key)).await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["postgres"]["status"], "up");
    assert_eq!(health["nats"]["status"], "up");
    let system = health["collectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["source"] == "system" && c["host"] == "test-host")
        .expect("system collector listed");
    assert_eq!(system["status"], "fresh");

    // History of a numeric series, bucketed.
    let history = eventually(
        "two cpu points in history",
        Duration::from_secs(20),
        || async {
            let (status, body) = env
                .get("/metrics/history?name=cpu.usage_percent&step=1s")
                .await;
            let points = body["series"][0]["points"].as_array().map_or(0, Vec::len);
            (status == 200 && points >= 2).then_some(body)
        },
    )
    .await;
    assert_eq!(history["series"][0]["host"], "test-host");
    // A range that does not start on a step boundary still gives at most max_points points.
    let from = (chrono::Utc::now() - chrono::Duration::seconds(65))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let (status, bounded) = env
        .get(&format!(
            "/metrics/history?name=cpu.usage_percent&max_points=3&from={}",
            from.replace('+', "%2B")
        ))
        .await;
    assert_eq!(status, 200, "{bounded}");
    let points = bounded["series"][0]["points"].as_array().unwrap();
    assert!(!points.is_empty() && points.len() <= 3, "{bounded}");
    assert!(history["series"][0]["points"][0]["value"].as_f64().unwrap() >= 0.0);
    // A range whose start is after its end holds no point (the same query the other way has).
    let (status, inverted) = env
        .get(&format!(
            "/metrics/history?name=cpu.usage_percent&from=2099-01-01T00:00:00Z&to={}",
            from.replace('+', "%2B")
        ))
        .await;
    assert_eq!(status, 200, "{inverted}");
    assert_eq!(inverted["series"], serde_json::json!([]), "{inverted}");

    // Label matchers pick one filesystem.
    let (status, fs) = env
        .get("/metrics/history?name=filesystem.total_bytes&labels=mount_point=/&agg=max")
        .await;
    assert_eq!(status, 200, "{fs}");
    let series = fs["series"].as_array().unwrap();
    assert_eq!(series.len(), 1, "{fs}");
    assert_eq!(series[0]["labels"]["mount_point"], "/");
    assert_eq!(
        series[0]["points"][0]["value"].as_f64().unwrap() as u64,
        root["total_bytes"].as_u64().unwrap()
    );

    // /metrics/all groups by source; ?host= filters; an unknown host is a 404.
    let (status, all) = env.get("/metrics/all").await;
    assert_eq!(status, 200);
    assert_eq!(all["sources"]["system"][0]["host"], "test-host");
    let (status, _) = env.get("/metrics/system?host=test-host").await;
    assert_eq!(status, 200);
    let (status, missing_host) = env.get("/metrics/system?host=nowhere").await;
    assert_eq!(status, 404);
    assert!(missing_host["detail"].as_str().unwrap().contains("nowhere"));

    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_query_parameters_get_400_naming_the_parameter() {
    let env = TestEnv::new("").await;
    env.migrate().await;
    let _api = env.spawn("exporter-api", &[]);
    exporter_tests::wait_for_port(env.api_port, Duration::from_secs(20));

    let cases = [
        ("/metrics/history", "name"),
        ("/metrics/history?name=x&from=yesterday", "from"),
        ("/metrics/history?name=x&to=2026-13-01T00:00:00Z", "to"),
        ("/metrics/history?name=x&step=5w", "step"),
        ("/metrics/history?name=x&max_points=0", "max_points"),
        ("/metrics/history?name=x&max_points=lots", "max_points"),
        ("/metrics/history?name=x&agg=median", "agg"),
        ("/metrics/history?name=x&labels=core", "labels"),
        ("/metrics/history?name=x&nmae=y", "nmae"),
        ("/metrics/history?name=x&name=y", "name"),
        ("/metrics/system?hots=a", "hots"),
    ];
    for (path, parameter) in cases {
        let response = reqwest::Client::new()
            .get(env.api_url(path))
            .header("X-API-Key", &env.api_key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{path}"
        );
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["parameter"], parameter, "{path}: {body}");
        assert_eq!(body["status"], 400);
        assert!(
            body["detail"].as_str().unwrap().contains(parameter),
            "{body}"
        );
    }

    // A good query over an empty store is a 200 with no series, not an error.
    let (status, body) = env
        .get("/metrics/history?name=cpu.usage_percent&step=1m")
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["series"], serde_json::json!([]));
    assert_eq!(body["step_seconds"], 60);

    // The step is raised so no series exceeds max_points.
    let (_, body) = env
        .get("/metrics/history?name=x&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z&max_points=24&step=1s")
        .await;
    assert_eq!(body["step_seconds"], 3600);
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_covers_every_route() {
    let env = TestEnv::new("").await;
    env.migrate().await;
    let _api = env.spawn("exporter-api", &[]);
    exporter_tests::wait_for_port(env.api_port, Duration::from_secs(20));
    let (status, _) = get_json(&env.api_url("/openapi.json"), None).await;
    assert_eq!(status, 401);
    let (status, doc) = env.get("/openapi.json").await;
    assert_eq!(status, 200);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().unwrap();
    for route in [
        "/health",
        "/metrics/system",
        "/metrics/all",
        "/metrics/history",
        "/metrics/hardware",
        "/metrics/portfolio",
        "/trades/active",
        "/trades/history",
        "/trades/statistics",
        "/trades/daily-pnl",
        "/trades/pnl-calendar",
        "/market/chart/{symbol}",
        "/market/quote/{symbol}",
        "/openapi.json",
    ] {
        assert!(
            paths.contains_key(route),
            "{route} missing from the OpenAPI document"
        );
    }
    let history_params: Vec<&str> = doc["paths"]["/metrics/history"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for name in [
        "name",
        "host",
        "labels",
        "from",
        "to",
        "step",
        "max_points",
        "agg",
    ] {
        assert!(
            history_params.contains(&name),
            "history parameter {name} undocumented"
        );
    }
    assert!(doc["components"]["securitySchemes"]["api_key"].is_object());
    env.finish().await;
}

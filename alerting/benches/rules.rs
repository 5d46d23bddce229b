//! Rule evaluation cost per sample with 100 rules: a sample of 100 points is observed and all
//! rules evaluated, against a baseline in the same process: parsing that sample's JSON (work
//! the aggregator does for every sample anyway).
//!
//! `cargo bench -p exporter-alerting --bench rules`

#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::time::{Duration as StdDuration, Instant};

use chrono::{Duration, Utc};
use exporter_alerting::AlertRules;
use exporter_alerting::engine::Engine;
use exporter_alerting::rules::compile;
use exporter_protocol::SeriesPoint;

const RULES: usize = 100;
const ROUNDS: u32 = 20_000;

fn rules_yaml() -> String {
    let mut yaml = String::from("rules:\n");
    let series = [
        "cpu.core_usage_percent{core=~\"1[0-9]\"} > 95",
        "filesystem.used_percent{mount=\"/\"} > 90",
        "gpu.temperature_celsius > 85",
        "memory.used_percent > 92",
        "network.rx_errors_total{interface!=\"lo\"} > 0",
    ];
    for i in 0..RULES {
        yaml.push_str(&format!(
            "- {{name: Rule{i}, severity: warning, category: system, expr: '{}', for: 1m, summary: 'value {{{{ value }}}} on {{{{ labels.host }}}}'}}\n",
            series[i % series.len()]
        ));
    }
    yaml
}

fn sample() -> Vec<SeriesPoint> {
    let mut points = Vec::new();
    for core in 0..72 {
        points.push(SeriesPoint::labelled(
            "cpu.core_usage_percent",
            "core",
            &core.to_string(),
            (core * 7 % 100) as f64,
        ));
    }
    for mount in ["/", "/data", "/boot", "/var"] {
        points.push(SeriesPoint::labelled(
            "filesystem.used_percent",
            "mount",
            mount,
            50.0,
        ));
    }
    for interface in ["lo", "eth0", "eth1", "ib0"] {
        points.push(SeriesPoint::labelled(
            "network.rx_errors_total",
            "interface",
            interface,
            0.0,
        ));
    }
    points.push(SeriesPoint::plain("memory.used_percent", 40.0));
    points.push(SeriesPoint::labelled(
        "gpu.temperature_celsius",
        "gpu",
        "0",
        60.0,
    ));
    while points.len() < 100 {
        let n = points.len().to_string();
        points.push(SeriesPoint::labelled("host.extra", "n", &n, 1.0));
    }
    points
}

fn as_json(points: &[SeriesPoint]) -> Vec<u8> {
    let body: Vec<serde_json::Value> = points
        .iter()
        .map(|p| serde_json::json!({"name": p.name, "labels": p.labels, "value": p.value}))
        .collect();
    serde_json::to_vec(&serde_json::json!({"schema": 1, "host": "gh200", "body": body})).unwrap()
}

fn main() {
    let rules = compile(&AlertRules::parse(&rules_yaml()).unwrap()).unwrap();
    assert_eq!(rules.len(), RULES);
    let points = sample();
    let json = as_json(&points);
    let start = Utc::now();
    let mut engine = Engine::new(rules, start, Duration::hours(1));

    // Baseline: parse the sample's JSON.
    let t = Instant::now();
    for _ in 0..ROUNDS {
        let value: serde_json::Value = serde_json::from_slice(black_box(&json)).unwrap();
        black_box(value);
    }
    let parse = t.elapsed() / ROUNDS;

    // Observe + evaluate all rules, one sample per evaluation (the worst case: real evaluations
    // run every few seconds over many samples).
    let t = Instant::now();
    for round in 0..ROUNDS {
        let now = start + Duration::milliseconds(i64::from(round));
        engine.observe_sample("system", "gh200", black_box(&points), now);
        black_box(engine.evaluate(now));
    }
    let evaluate = t.elapsed() / ROUNDS;

    let open = engine.open_alerts().count();
    println!(
        "rule evaluation, {RULES} rules, {} points per sample ({open} alerts open):",
        points.len()
    );
    println!(
        "  parse the sample's JSON (baseline):  {:>8.1} µs",
        micros(parse)
    );
    println!(
        "  observe + evaluate {RULES} rules:       {:>8.1} µs",
        micros(evaluate)
    );
    println!(
        "  ratio: evaluation = {:.2}× parsing the sample; {:.2} µs per rule",
        evaluate.as_secs_f64() / parse.as_secs_f64(),
        micros(evaluate) / RULES as f64
    );
}

fn micros(d: StdDuration) -> f64 {
    d.as_secs_f64() * 1e6
}

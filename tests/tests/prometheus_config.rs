//! The Prometheus and Grafana examples in `deploy/` are checked by the tools their users run:
//! `promtool check config` on the scrape configuration (with a generated key file, since
//! promtool insists the credentials file exists), `promtool check rules` and `promtool test rules`
//! on the shipped rules and their unit tests, and a name check of the Grafana dashboard: every
//! metric it (or a rule) queries is a family of the naming contract, kept in
//! `prometheus_families.txt` beside this file and tied to the protocol's series catalogue.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use exporter_protocol::series;

/// Where the shipped scrape configuration expects the API key.
const SHIPPED_KEY_FILE: &str = "/etc/gh200-exporter/prometheus-api-key";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn prometheus_dir() -> PathBuf {
    repo().join("deploy/prometheus")
}

/// promtool's exit status and everything it printed (it splits its report over both streams).
struct Promtool {
    success: bool,
    output: String,
}

fn promtool(args: &[&str], dir: &Path) -> Promtool {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("promtool runs (Debian's prometheus package; deploy/lib/services.sh installs it)");
    Promtool {
        success: out.status.success(),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// The `*.yml` files of `dir`, sorted, as paths relative to it.
fn yml_files(dir: &Path) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yml"))
        .collect();
    files.sort();
    files
}

/// A copy of `deploy/prometheus` in a temporary directory (rule and test paths are relative).
fn copy_of_prometheus_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["", "rules", "tests"] {
        let from = prometheus_dir().join(sub);
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        for name in yml_files(&from) {
            std::fs::copy(from.join(&name), dir.path().join(sub).join(&name)).unwrap();
        }
    }
    dir
}

/// The copy's prometheus.yml pointed at a freshly generated 0600 key file; returns its path.
fn with_generated_key(dir: &Path) -> PathBuf {
    let key_file = dir.join("prometheus-api-key");
    std::fs::write(&key_file, uuid::Uuid::new_v4().simple().to_string()).unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let config = dir.join("prometheus.yml");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains(SHIPPED_KEY_FILE), "{text}");
    std::fs::write(
        &config,
        text.replace(SHIPPED_KEY_FILE, key_file.to_str().unwrap()),
    )
    .unwrap();
    config
}

/// How many `- alert:` and `- record:` rules a rule file declares.
fn rule_count(text: &str) -> usize {
    text.lines()
        .map(str::trim_start)
        .filter(|line| line.starts_with("- alert:") || line.starts_with("- record:"))
        .count()
}

/// The names after `key:` in a YAML file (alert names, record names, test alertnames).
fn values_of(text: &str, key: &str) -> BTreeSet<String> {
    let needle = format!("{key}:");
    text.lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .flat_map(|line| line.match_indices(&needle).map(move |(at, _)| &line[at..]))
        .filter_map(|rest| {
            let value = rest[needle.len()..].trim_start();
            let end = value.find([',', '}', ' ', '#']).unwrap_or(value.len());
            (!value.is_empty()).then(|| value[..end].trim_matches('"').to_owned())
        })
        .filter(|value| !value.is_empty())
        .collect()
}

/// Every `expr:` of a rule file (one line, or a `|`/`>` block).
fn rule_exprs(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut exprs = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some((indent, rest)) = line.split_once("expr:") else {
            continue;
        };
        if !indent.trim_start_matches([' ', '-']).is_empty() {
            continue;
        }
        let rest = rest.trim();
        if rest == "|" || rest == ">" {
            let own = indent.len();
            let block: Vec<&str> = lines[i + 1..]
                .iter()
                .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > own)
                .copied()
                .collect();
            exprs.push(block.join("\n"));
        } else {
            exprs.push(rest.to_owned());
        }
    }
    exprs
}

/// The metric names a PromQL expression selects: string literals, label matchers, ranges and
/// the label lists of `by`/`without`/`on`/`ignoring`/`group_*` are skipped, and so are
/// functions, keywords, numbers and Grafana variables (`$__rate_interval`).
fn metric_names(expr: &str) -> BTreeSet<String> {
    const KEYWORDS: &[&str] = &[
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "inf",
        "nan", // operators and literals
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile", // aggregations: `sum by (x) (...)` puts `by` before `(`
    ];
    const LABEL_LISTS: &[&str] = &[
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    let skip_to = |from: usize, close: char| {
        let mut j = from;
        while j < chars.len() && chars[j] != close {
            if chars[j] == '"' {
                j += 1;
                while j < chars.len() && chars[j] != '"' {
                    j += if chars[j] == '\\' { 2 } else { 1 };
                }
            }
            j += 1;
        }
        j + 1
    };
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' | '`' => {
                i += 1;
                while i < chars.len() && chars[i] != c {
                    i += if chars[i] == '\\' { 2 } else { 1 };
                }
                i += 1;
            }
            '{' => i = skip_to(i + 1, '}'),
            '[' => i = skip_to(i + 1, ']'),
            '$' => {
                i += 1;
                while i < chars.len() && is_ident(chars[i]) {
                    i += 1;
                }
            }
            c if c.is_ascii_digit() || c == '.' => {
                while i < chars.len() && (is_ident(chars[i]) || chars[i] == '.') {
                    i += 1;
                }
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let start = i;
                while i < chars.len() && is_ident(chars[i]) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let mut next = i;
                while next < chars.len() && chars[next].is_whitespace() {
                    next += 1;
                }
                let call = chars.get(next) == Some(&'(');
                if LABEL_LISTS.contains(&word.as_str()) {
                    if call {
                        i = skip_to(next + 1, ')');
                    }
                } else if !call && !KEYWORDS.contains(&word.as_str()) {
                    names.insert(word);
                }
            }
            _ => i += 1,
        }
    }
    names
}

/// `family -> type` from prometheus_families.txt.
fn families() -> BTreeMap<String, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/prometheus_families.txt");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (family, kind) = line.split_once(' ').expect("`family type`");
            (family.to_owned(), kind.trim().to_owned())
        })
        .collect()
}

/// The family `name` belongs to: itself, or the histogram it is a `_bucket`/`_sum`/`_count` of.
fn family_of<'a>(name: &'a str, families: &BTreeMap<String, String>) -> Option<&'a str> {
    if families.contains_key(name) {
        return Some(name);
    }
    ["_bucket", "_sum", "_count"]
        .iter()
        .filter_map(|suffix| name.strip_suffix(suffix))
        .find(|base| families.get(*base).is_some_and(|kind| kind == "histogram"))
}

/// The names of `exprs` that are not families of the contract, each with its expression.
fn unknown_names(exprs: &[String], families: &BTreeMap<String, String>) -> Vec<String> {
    exprs
        .iter()
        .flat_map(|expr| {
            metric_names(expr)
                .into_iter()
                .filter(|name| {
                    let prefix = name.starts_with("gh200_") || name == "ALERTS" || name == "up";
                    !prefix || family_of(name, families).is_none()
                })
                .map(move |name| format!("{name} (in {expr})"))
        })
        .collect()
}

#[test]
fn the_scrape_config_passes_promtool_and_targets_the_default_api_port() {
    let dir = copy_of_prometheus_dir();
    let config = with_generated_key(dir.path());
    let checked = promtool(&["check", "config", config.to_str().unwrap()], dir.path());
    assert!(checked.success, "{}", checked.output);
    assert!(
        checked
            .output
            .contains("is valid prometheus config file syntax"),
        "{}",
        checked.output
    );
    assert!(
        checked.output.contains("SUCCESS: 2 rule files found"),
        "{}",
        checked.output
    );

    // Without the key file the configuration is refused, which is why the test writes one.
    std::fs::remove_file(dir.path().join("prometheus-api-key")).unwrap();
    let refused = promtool(&["check", "config", config.to_str().unwrap()], dir.path());
    assert!(!refused.success, "{}", refused.output);
    assert!(
        refused.output.contains("prometheus-api-key"),
        "{}",
        refused.output
    );

    // The target is the API of the shipped settings, with the key sent as a Bearer token.
    let settings =
        exporter_settings::Settings::load_from(&repo().join("settings/system.yaml"), &|_| None)
            .unwrap();
    let shipped = std::fs::read_to_string(prometheus_dir().join("prometheus.yml")).unwrap();
    let target = format!("targets: [\"{}:{}\"]", settings.api.host, settings.api.port);
    assert!(shipped.contains(&target), "{target} not in prometheus.yml");
    assert!(shipped.contains("type: Bearer"), "{shipped}");
}

#[test]
fn the_shipped_rules_pass_promtool_check_rules() {
    let rules = prometheus_dir().join("rules");
    let files = yml_files(&rules);
    assert_eq!(files, ["alerts.yml", "recording.yml"]);
    let args: Vec<&str> = ["check", "rules"]
        .into_iter()
        .chain(files.iter().map(String::as_str))
        .collect();
    let checked = promtool(&args, &rules);
    assert!(checked.success, "{}", checked.output);
    for name in &files {
        let declared = rule_count(&std::fs::read_to_string(rules.join(name)).unwrap());
        assert!(declared > 0, "{name} declares no rule");
        let expected = format!("Checking {name}\n  SUCCESS: {declared} rules found");
        assert!(checked.output.contains(&expected), "{}", checked.output);
    }
}

#[test]
fn the_rule_unit_tests_pass_and_cover_every_rule() {
    let dir = prometheus_dir();
    let tests = yml_files(&dir.join("tests"));
    assert_eq!(tests, ["alerts_test.yml", "recording_test.yml"]);
    let paths: Vec<String> = tests.iter().map(|name| format!("tests/{name}")).collect();
    let args: Vec<&str> = ["test", "rules"]
        .into_iter()
        .chain(paths.iter().map(String::as_str))
        .collect();
    let ran = promtool(&args, &dir);
    assert!(ran.success, "{}", ran.output);
    assert_eq!(ran.output.matches("SUCCESS").count(), 2, "{}", ran.output);
    assert!(!ran.output.contains("FAILED"), "{}", ran.output);

    let read = |path: &str| std::fs::read_to_string(dir.join(path)).unwrap();
    // The shipped defaults, less the two log rules (log lines are not metrics), which the file
    // says it leaves out.
    let text = read("rules/alerts.yml");
    let alerts = values_of(&text, "- alert");
    let defaults = std::fs::read_to_string(repo().join("settings/alerts.yaml")).unwrap();
    let mut expected = values_of(&defaults, "- name");
    assert_eq!(expected.len(), 24, "{expected:?}");
    for logs in [
        "ErrorLogBurst",
        "CriticalLogLine",
        // Derived by the exporter's engine or gated by the market calendar.
        "TradingPositionsMismatch",
        "TradingNoFills",
        "TradingOrderRejections",
        "TradingOrderCancellations",
        "TradingDailyLossPercent",
        "QuoteStale",
    ] {
        assert!(expected.remove(logs), "{logs}");
        assert!(
            text.contains(logs),
            "alerts.yml does not say why {logs} is missing"
        );
    }
    assert_eq!(alerts, expected, "one Prometheus alert per default rule");
    let tested = values_of(&read("tests/alerts_test.yml"), "alertname");
    assert_eq!(
        alerts, tested,
        "every alert has a unit test, and only those"
    );
    let records = values_of(&read("rules/recording.yml"), "- record");
    let tested = values_of(&read("tests/recording_test.yml"), "- expr");
    assert_eq!(records, tested, "every recording rule has a unit test");
}

#[test]
fn a_broken_rule_file_or_a_changed_threshold_fails_promtool() {
    let dir = copy_of_prometheus_dir();
    let alerts = dir.path().join("rules/alerts.yml");
    let text = std::fs::read_to_string(&alerts).unwrap();
    let original = "gh200_cpu_usage_ratio > 0.9\n";
    assert!(text.contains(original), "{text}");

    // A syntax error: check rules names the file and fails.
    std::fs::write(
        &alerts,
        text.replace(original, "gh200_cpu_usage_ratio > > 0.9\n"),
    )
    .unwrap();
    let checked = promtool(&["check", "rules", "rules/alerts.yml"], dir.path());
    assert!(!checked.success, "{}", checked.output);
    assert!(checked.output.contains("FAILED"), "{}", checked.output);

    // A valid rule with another threshold: the unit tests catch it.
    std::fs::write(
        &alerts,
        text.replace(original, "gh200_cpu_usage_ratio > 0.8\n"),
    )
    .unwrap();
    let ran = promtool(&["test", "rules", "tests/alerts_test.yml"], dir.path());
    assert!(!ran.success, "{}", ran.output);
    assert!(
        ran.output.contains("alertname: HostCpuHigh"),
        "{}",
        ran.output
    );
}

/// Every `expr` of the dashboard's panels (rows included) and the metric of each `label_values`.
fn dashboard_exprs(dashboard: &serde_json::Value) -> (Vec<String>, Vec<String>) {
    fn walk(value: &serde_json::Value, exprs: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::String(expr)) = map.get("expr") {
                    exprs.push(expr.clone());
                }
                map.values().for_each(|v| walk(v, exprs));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, exprs)),
            _ => {}
        }
    }
    let mut exprs = Vec::new();
    walk(&dashboard["panels"], &mut exprs);
    let variables = dashboard["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|var| var["definition"].as_str())
        .filter_map(|query| query.strip_prefix("label_values("))
        .map(|args| args.rsplit_once(',').unwrap().0.to_owned())
        .collect();
    (exprs, variables)
}

#[test]
fn the_dashboard_queries_only_contract_families_in_valid_promql() {
    let path = repo().join("deploy/grafana/gh200-exporter.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).expect("valid JSON");
    assert!(dashboard["schemaVersion"].as_u64().unwrap() >= 36);
    assert_eq!(dashboard["__inputs"][0]["name"], "DS_PROMETHEUS");
    let variables: BTreeSet<&str> = dashboard["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|var| var["name"].as_str())
        .collect();
    assert!(
        variables.is_superset(&BTreeSet::from(["host", "gpu"])),
        "{variables:?}"
    );

    let (exprs, variable_queries) = dashboard_exprs(&dashboard);
    assert!(exprs.len() > 30, "{} queries", exprs.len());
    let families = families();
    let all: Vec<String> = exprs.iter().chain(&variable_queries).cloned().collect();
    let unknown = unknown_names(&all, &families);
    assert!(
        unknown.is_empty(),
        "not families of the contract: {unknown:#?}"
    );

    // The main views are there.
    let used: BTreeSet<String> = all
        .iter()
        .flat_map(|expr| metric_names(expr))
        .filter_map(|name| family_of(&name, &families).map(str::to_owned))
        .collect();
    for family in [
        "gh200_cpu_usage_ratio",
        "gh200_memory_used_ratio",
        "gh200_filesystem_used_ratio",
        "gh200_gpu_utilization_ratio",
        "gh200_gpu_temperature_celsius",
        "gh200_gpu_power_watts",
        "gh200_gpu_memory_used_bytes",
        "gh200_hwmon_power_watts",
        "gh200_portfolio_equity",
        "gh200_portfolio_day_change",
        "gh200_position_unrealized_pnl",
        "ALERTS",
        "gh200_exporter_ingested_points_total",
        "gh200_exporter_consumer_pending_messages",
        "gh200_exporter_dead_letters_total",
        "gh200_exporter_http_request_duration_seconds",
    ] {
        assert!(used.contains(family), "the dashboard shows no {family}");
    }

    // Every query parses as PromQL: promtool checks them as recording rules, with Grafana's
    // variables replaced by what Grafana sends.
    let dir = tempfile::tempdir().unwrap();
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, expr) in exprs.iter().enumerate() {
        let promql = expr
            .replace("$__rate_interval", "1m")
            .replace("$__range", "6h")
            .replace("$host", ".*")
            .replace("$gpu", ".*");
        let quoted = serde_json::to_string(&promql).unwrap();
        rules.push_str(&format!(
            "      - record: dashboard:query_{i}\n        expr: {quoted}\n"
        ));
    }
    std::fs::write(dir.path().join("dashboard.yml"), rules).unwrap();
    let checked = promtool(&["check", "rules", "dashboard.yml"], dir.path());
    assert!(checked.success, "{}", checked.output);
    assert!(
        checked
            .output
            .contains(&format!("SUCCESS: {} rules found", exprs.len())),
        "{}",
        checked.output
    );
}

#[test]
fn the_shipped_rules_query_only_contract_families() {
    let families = families();
    for name in ["alerts.yml", "recording.yml"] {
        let text = std::fs::read_to_string(prometheus_dir().join("rules").join(name)).unwrap();
        let exprs = rule_exprs(&text);
        assert_eq!(exprs.len(), rule_count(&text), "{name}: {exprs:#?}");
        let unknown = unknown_names(&exprs, &families);
        assert!(unknown.is_empty(), "{name}: {unknown:#?}");
    }
}

/// Computed by the API at scrape time, not a catalogue series.
const EXPOSITION_ONLY: &str = "gh200_exporter_last_sample_timestamp_seconds";

/// `family -> type` of the catalogue's domain series (`exporter: false`) or self-metrics.
fn catalogued(exporter: bool) -> BTreeMap<String, String> {
    series::all()
        .filter(|def| def.name.starts_with("exporter.") == exporter)
        .map(|def| {
            let kind = serde_json::to_value(def.kind).unwrap();
            (def.prometheus_family(), kind.as_str().unwrap().to_owned())
        })
        .filter(|(family, _)| family != EXPOSITION_ONLY)
        .collect()
}

/// The listed `gh200_` families of the same part.
fn listed(families: &BTreeMap<String, String>, exporter: bool) -> BTreeMap<String, String> {
    families
        .iter()
        .filter(|(f, _)| f.starts_with("gh200_") && *f != EXPOSITION_ONLY)
        .filter(|(f, _)| f.starts_with("gh200_exporter_") == exporter)
        .map(|(f, k)| (f.clone(), k.clone()))
        .collect()
}

/// What `listed` lacks or has beyond `catalogue` (family and type), for a readable failure.
fn differences(
    listed: &BTreeMap<String, String>,
    catalogue: &BTreeMap<String, String>,
) -> (Vec<String>, Vec<String>) {
    let line = |(f, k): (&String, &String)| format!("{f} {k}");
    let missing = catalogue
        .iter()
        .filter(|(f, k)| listed.get(*f) != Some(k))
        .map(line)
        .collect();
    let extra = listed
        .iter()
        .filter(|(f, k)| catalogue.get(*f) != Some(k))
        .map(line)
        .collect();
    (missing, extra)
}

#[test]
fn the_family_list_is_the_catalogue_renamed_by_the_contract() {
    let families = families();
    let (missing, extra) = differences(&listed(&families, false), &catalogued(false));
    assert!(
        missing.is_empty() && extra.is_empty(),
        "tests/tests/prometheus_families.txt lacks {missing:?} and has {extra:?}, which the \
         protocol catalogue renamed by the contract does not"
    );
    // The self-metrics (`exporter.*`) join the catalogue with the `/metrics` endpoint; from then
    // on the list must name them, with their types, exactly as the catalogue does.
    let own = catalogued(true);
    if !own.is_empty() {
        let (missing, extra) = differences(&listed(&families, true), &own);
        assert!(
            missing.is_empty() && extra.is_empty(),
            "tests/tests/prometheus_families.txt lacks self-metrics {missing:?} and has {extra:?}"
        );
    }
}

#[test]
fn metric_names_skip_functions_labels_and_variables() {
    let names = metric_names(
        "histogram_quantile(0.99, sum by (le, route) (rate(a_bucket{host=~\"$host\"}[$__rate_interval]))) \
         / on (host) group_left (gpu) b_total or vector(1) > bool 2e3 unless ALERTS {alertname=\"x\"}",
    );
    assert_eq!(
        names,
        BTreeSet::from(["a_bucket", "b_total", "ALERTS"].map(String::from))
    );
}

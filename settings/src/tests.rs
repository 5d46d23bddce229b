use std::io::Write;
use std::path::Path;

use super::*;

fn write(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    file
}

fn no_env(_: &str) -> Option<String> {
    None
}

#[test]
fn the_shipped_default_file_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("system.yaml");
    let settings = Settings::load_from(&path, &no_env).unwrap();
    assert_eq!(settings.api.port, 8000);
    assert_eq!(settings.api.host, "127.0.0.1");
    assert_eq!(settings.collectors.system.interval_seconds, 5);
    assert!(!settings.host_name().is_empty());
}

#[test]
fn an_unknown_key_is_named_with_its_path_and_line() {
    let file = write("api:\n  port: 8000\n  prot: 9\n");
    let err = Settings::load_from(file.path(), &no_env)
        .unwrap_err()
        .to_string();
    assert!(err.contains("`api.prot`") || err.contains("prot"), "{err}");
    assert!(err.contains("unknown field"), "{err}");
    assert!(err.contains("line 3"), "{err}");
}

#[test]
fn a_wrong_type_names_the_key() {
    let file = write("collectors:\n  system:\n    interval_seconds: often\n");
    let err = Settings::load_from(file.path(), &no_env)
        .unwrap_err()
        .to_string();
    assert!(err.contains("collectors.system.interval_seconds"), "{err}");
}

#[test]
fn an_out_of_range_value_names_the_key() {
    let file = write("collectors:\n  system:\n    interval_seconds: 0\n");
    let err = Settings::load_from(file.path(), &no_env)
        .unwrap_err()
        .to_string();
    assert!(err.contains("collectors.system.interval_seconds"), "{err}");
    assert!(err.contains("out of range"), "{err}");
}

#[test]
fn a_password_in_the_database_url_is_refused() {
    let file = write("database:\n  url: postgres://me:hunter2@db/x\n");
    let err = Settings::load_from(file.path(), &no_env)
        .unwrap_err()
        .to_string();
    assert!(err.contains("database.url"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn environment_overrides_win_and_a_bad_port_is_named() {
    let file = write("{}\n");
    let env = |name: &str| match name {
        "EXPORTER_NATS_URL" => Some("nats://10.0.0.9:4222".to_owned()),
        "EXPORTER_API_PORT" => Some("9100".to_owned()),
        "EXPORTER_HOST_NAME" => Some("gh200-a".to_owned()),
        "EXPORTER_API_KEY" => Some("from-env".to_owned()),
        _ => None,
    };
    let settings = Settings::load_from(file.path(), &env).unwrap();
    assert_eq!(settings.nats.url, "nats://10.0.0.9:4222");
    assert_eq!(settings.api.port, 9100);
    assert_eq!(settings.host_name(), "gh200-a");
    assert!(
        matches!(settings.api_key_source, ApiKeySource::Env(ref k) if k.expose() == "from-env")
    );

    let bad = |name: &str| (name == "EXPORTER_API_PORT").then(|| "eighty".to_owned());
    let err = Settings::load_from(file.path(), &bad)
        .unwrap_err()
        .to_string();
    assert!(err.contains("EXPORTER_API_PORT"), "{err}");
}

#[test]
fn a_bad_watch_pattern_is_refused_at_load() {
    let file = write(
        "collectors:\n  system:\n    watch_processes:\n      - name: engine\n        cmdline_pattern: \"(unclosed\"\n",
    );
    let err = Settings::load_from(file.path(), &no_env)
        .unwrap_err()
        .to_string();
    assert!(err.contains("watch_processes[0].cmdline_pattern"), "{err}");
}

#[test]
fn credentials_are_redacted_from_urls() {
    assert_eq!(
        redact_url("nats://user:pw@10.0.0.2:4222"),
        "nats://***@10.0.0.2:4222"
    );
    assert_eq!(
        redact_url("nats://s3cr3t@h:4222/x?y"),
        "nats://***@h:4222/x?y"
    );
    assert_eq!(redact_url("nats://127.0.0.1:4222"), "nats://127.0.0.1:4222");
    let file = write("database:\n  url: postgres://db/x?user=me&password=pw\n");
    let err = Settings::load_from(file.path(), &no_env)
        .unwrap_err()
        .to_string();
    assert!(err.contains("database.url"), "{err}");
}

/// Every check's key path and message, exactly: the paths are built from the sections'
/// structure, so this pins each one.
#[test]
fn every_check_names_its_key_exactly() {
    let cases: &[(&str, &str)] = &[
        ("nats: {url: ''}", "key `nats.url`: must not be empty"),
        (
            "nats: {subject_prefix: a.b}",
            "key `nats.subject_prefix`: must be one subject token of letters, digits, `_` or `-`",
        ),
        (
            "nats: {stream: 'a b'}",
            "key `nats.stream`: must be letters, digits, `_` or `-`",
        ),
        (
            "nats: {consumer: ''}",
            "key `nats.consumer`: must be letters, digits, `_` or `-`",
        ),
        (
            "nats: {stream_max_age_hours: 0}",
            "key `nats.stream_max_age_hours`: 0 is out of range 1..=8760",
        ),
        (
            "nats: {stream_max_messages: 10}",
            "key `nats.stream_max_messages`: must be between 100 and 1000000000",
        ),
        (
            "nats: {publish_timeout_seconds: 0}",
            "key `nats.publish_timeout_seconds`: 0 is out of range 1..=300",
        ),
        (
            "database: {url: 'mysql://x'}",
            "key `database.url`: must start with postgres:// or postgresql://",
        ),
        (
            "database: {url: 'postgres://me:@db/x'}",
            "key `database.url`: must not contain a password: use peer authentication, PGPASSWORD or ~/.pgpass",
        ),
        (
            "database: {max_connections: 0}",
            "key `database.max_connections`: 0 is out of range 1..=200",
        ),
        (
            "database: {acquire_timeout_seconds: 0}",
            "key `database.acquire_timeout_seconds`: 0 is out of range 1..=300",
        ),
        ("api: {host: ''}", "key `api.host`: must not be empty"),
        (
            "api: {history_max_points: 5}",
            "key `api.history_max_points`: 5 is out of range 10..=100000",
        ),
        (
            "api: {request_timeout_seconds: 0}",
            "key `api.request_timeout_seconds`: 0 is out of range 1..=600",
        ),
        (
            "api: {stale_after_seconds: 0}",
            "key `api.stale_after_seconds`: 0 is out of range 1..=86400",
        ),
        (
            "api: {extra_keys: [{name: p, scope: read, key_file: k}, {name: '', scope: read, key_file: k}]}",
            "key `api.extra_keys[1].name`: must not be empty",
        ),
        (
            "aggregator: {batch_max_messages: 0}",
            "key `aggregator.batch_max_messages`: 0 is out of range 1..=100000",
        ),
        (
            "aggregator: {batch_max_wait_ms: 0}",
            "key `aggregator.batch_max_wait_ms`: 0 is out of range 1..=60000",
        ),
        (
            "aggregator: {ack_wait_seconds: 0}",
            "key `aggregator.ack_wait_seconds`: 0 is out of range 1..=3600",
        ),
        (
            "aggregator: {retention: {raw_days: 0}}",
            "key `aggregator.retention.raw_days`: 0 is out of range 1..=3650",
        ),
        (
            "aggregator: {retention: {hour_days: 40000}}",
            "key `aggregator.retention.hour_days`: 40000 is out of range 1..=36500",
        ),
        (
            "aggregator: {log_retention_days: 0}",
            "key `aggregator.log_retention_days`: 0 is out of range 1..=3650",
        ),
        (
            "collectors: {heartbeat_interval_seconds: 0}",
            "key `collectors.heartbeat_interval_seconds`: 0 is out of range 1..=3600",
        ),
        (
            "collectors: {self_metrics_interval_seconds: 0}",
            "key `collectors.self_metrics_interval_seconds`: 0 is out of range 1..=3600",
        ),
        (
            "collectors: {self_metrics_interval_seconds: 60}",
            "key `collectors.self_metrics_interval_seconds`: must be shorter than api.stale_after_seconds (60), or the exporter's own metrics drop out of /metrics between snapshots",
        ),
        (
            "collectors: {buffer_max_samples: 0}",
            "key `collectors.buffer_max_samples`: 0 is out of range 1..=10000000",
        ),
        (
            "collectors: {system: {interval_seconds: 0}}",
            "key `collectors.system.interval_seconds`: 0 is out of range 1..=3600",
        ),
        (
            "collectors: {system: {watch_processes: [{name: ''}]}}",
            "key `collectors.system.watch_processes[0].name`: must not be empty",
        ),
        (
            "collectors: {system: {watch_processes: [{name: e}]}}",
            "key `collectors.system.watch_processes[0]`: needs process_name, cmdline_pattern or both",
        ),
        (
            "collectors: {hardware: {interval_seconds: 0}}",
            "key `collectors.hardware.interval_seconds`: 0 is out of range 1..=3600",
        ),
        (
            "collectors: {hardware: {nvml_retry_seconds: 1}}",
            "key `collectors.hardware.nvml_retry_seconds`: 1 is out of range 5..=86400",
        ),
        (
            "alerts: {evaluation_interval_seconds: 0}",
            "key `alerts.evaluation_interval_seconds`: 0 is out of range 1..=300",
        ),
        (
            "alerts: {watch_interval_seconds: 4000}",
            "key `alerts.watch_interval_seconds`: 4000 is out of range 0..=3600",
        ),
        (
            "alerts: {notification_resolve_after_seconds: 0}",
            "key `alerts.notification_resolve_after_seconds`: 0 is out of range 1..=2592000",
        ),
        (
            "alerts: {retention_days: 0}",
            "key `alerts.retention_days`: 0 is out of range 1..=3650",
        ),
        (
            "collectors: {logs: {files: [{path: ' '}]}}",
            "key `collectors.logs.files[0].path`: must not be empty",
        ),
        (
            "collectors: {logs: {journal_units: [a, '-x']}}",
            "key `collectors.logs.journal_units[1]`: must be a systemd unit name",
        ),
        (
            "collectors: {logs: {max_line_bytes: 10}}",
            "key `collectors.logs.max_line_bytes`: 10 is out of range 256..=131072",
        ),
        (
            "collectors: {logs: {batch_max_lines: 0}}",
            "key `collectors.logs.batch_max_lines`: 0 is out of range 1..=100000",
        ),
        (
            "collectors: {logs: {batch_max_wait_ms: 0}}",
            "key `collectors.logs.batch_max_wait_ms`: 0 is out of range 1..=60000",
        ),
        (
            "collectors: {logs: {poll_interval_ms: 1}}",
            "key `collectors.logs.poll_interval_ms`: 1 is out of range 10..=60000",
        ),
        (
            "collectors: {notifications: {poll_interval_ms: 1}}",
            "key `collectors.notifications.poll_interval_ms`: 1 is out of range 10..=60000",
        ),
        (
            "supervisor: {crash_loop_max_exits: 1}",
            "key `supervisor.crash_loop_max_exits`: 1 is out of range 2..=1000",
        ),
        (
            "supervisor: {crash_loop_window_seconds: 0}",
            "key `supervisor.crash_loop_window_seconds`: 0 is out of range 1..=86400",
        ),
        (
            "supervisor: {crash_loop_hold_seconds: 0}",
            "key `supervisor.crash_loop_hold_seconds`: 0 is out of range 1..=86400",
        ),
        (
            "supervisor: {readiness_timeout_seconds: 0}",
            "key `supervisor.readiness_timeout_seconds`: 0 is out of range 1..=600",
        ),
        (
            "supervisor: {log_max_bytes: 10}",
            "key `supervisor.log_max_bytes`: 10 is out of range 4096..=1099511627776",
        ),
        (
            "supervisor: {stop_grace_seconds: 0}",
            "key `supervisor.stop_grace_seconds`: 0 is out of range 1..=600",
        ),
        (
            "supervisor: {restart_initial_delay_ms: 1}",
            "key `supervisor.restart_initial_delay_ms`: 1 is out of range 10..=600000",
        ),
        (
            "supervisor: {restart_max_delay_seconds: 0}",
            "key `supervisor.restart_max_delay_seconds`: 0 is out of range 1..=3600",
        ),
        (
            "supervisor: {restart_reset_after_seconds: 0}",
            "key `supervisor.restart_reset_after_seconds`: 0 is out of range 1..=86400",
        ),
        (
            "alpaca: {base_url: 'ftp://x'}",
            "key `alpaca.base_url`: must be an http(s) URL",
        ),
        (
            "alpaca: {portfolio_interval_seconds: 0}",
            "key `alpaca.portfolio_interval_seconds`: 0 is out of range 1..=3600",
        ),
        (
            "alpaca: {history_interval_seconds: 1}",
            "key `alpaca.history_interval_seconds`: 1 is out of range 10..=86400",
        ),
        (
            "alpaca: {trades_interval_seconds: 0}",
            "key `alpaca.trades_interval_seconds`: 0 is out of range 1..=3600",
        ),
        (
            "alpaca: {timeout_seconds: 0}",
            "key `alpaca.timeout_seconds`: 0 is out of range 1..=300",
        ),
        (
            "alpaca: {max_requests_per_minute: 0}",
            "key `alpaca.max_requests_per_minute`: 0 is out of range 1..=10000",
        ),
        (
            "market: {yahoo_base_url: x}",
            "key `market.yahoo_base_url`: must be an http(s) URL",
        ),
        (
            "market: {quote_interval_seconds: 1}",
            "key `market.quote_interval_seconds`: 1 is out of range 5..=86400",
        ),
        (
            "market: {bars_interval_seconds: 1}",
            "key `market.bars_interval_seconds`: 1 is out of range 60..=86400",
        ),
        (
            "market: {max_requests_per_minute: 0}",
            "key `market.max_requests_per_minute`: 0 is out of range 1..=2000",
        ),
        (
            "market: {timeout_seconds: 0}",
            "key `market.timeout_seconds`: 0 is out of range 1..=120",
        ),
        (
            "market: {cache_seconds: 4000}",
            "key `market.cache_seconds`: 4000 is out of range 0..=3600",
        ),
        (
            "market: {rpc_timeout_seconds: 0}",
            "key `market.rpc_timeout_seconds`: 0 is out of range 1..=120",
        ),
        (
            "trading: {timezone: Mars/Base}",
            "key `trading.timezone`: `Mars/Base` is not an IANA time zone such as America/New_York",
        ),
        (
            "tunnel: {retry_initial_seconds: 0}",
            "key `tunnel.retry_initial_seconds`: 0 is out of range 1..=3600",
        ),
        (
            "tunnel: {allow_cidrs: [1.2.3.4]}",
            "key `tunnel.allow_cidrs[0]`: must be a CIDR such as 203.0.113.0/24",
        ),
        (
            "tunnel: {deny_cidrs: [10.0.0.0/8, 1.2.3.4]}",
            "key `tunnel.deny_cidrs[1]`: must be a CIDR such as 203.0.113.0/24",
        ),
        (
            "tunnel: {oauth_allowed_emails: [a@example.com]}",
            "key `tunnel.oauth_allowed_emails`: needs tunnel.oauth_provider",
        ),
    ];
    let mut wrong = Vec::new();
    for (yaml, expected) in cases {
        let settings: Settings = serde_yaml::from_str(yaml).unwrap();
        let got = settings.validate().unwrap_err().to_string();
        if got != format!("invalid settings: {expected}") {
            wrong.push(format!("{yaml}\n  got:      {got}\n  expected: {expected}"));
        }
    }
    let regex = "collectors: {system: {watch_processes: [{name: e, cmdline_pattern: '('}]}}";
    let settings: Settings = serde_yaml::from_str(regex).unwrap();
    let got = settings.validate().unwrap_err().to_string();
    assert!(
        got.starts_with(
            "invalid settings: key `collectors.system.watch_processes[0].cmdline_pattern`: "
        ),
        "{got}"
    );
    assert!(Settings::default().validate().is_ok());
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

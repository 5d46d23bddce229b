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

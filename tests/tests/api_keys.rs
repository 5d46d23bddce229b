//! API keys: a key shorter than 32 characters is refused (by the API at start and by `exporter
//! check`); a rotated key file is read again on SIGHUP (the old key then gets 401, the new one
//! 200); SIGHUP leaves the API and a collector running; a key file that cannot be read on
//! reload keeps the keys in force.

#![allow(clippy::unwrap_used)]

use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use exporter_tests::{TestEnv, get_json, poll_until, wait_for_port};
use nix::sys::signal::Signal;

/// Writes `key` to a new 0600 file at `path` (replacing any).
fn write_key(path: &Path, key: &str) {
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .unwrap();
    std::io::Write::write_all(&mut file, format!("{key}\n").as_bytes()).unwrap();
}

async fn status(env: &TestEnv, key: &str) -> u16 {
    get_json(&env.api_url("/alerts"), Some(key)).await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_works_after_sighup_and_the_old_one_stops() {
    let env = TestEnv::new("").await;
    let key_file = env.dir.path().join("phone.key");
    let old_key = format!("phone-{}", uuid::Uuid::new_v4().simple());
    write_key(&key_file, &old_key);
    let yaml = std::fs::read_to_string(&env.settings_path).unwrap();
    let yaml = yaml.replacen(
        "\napi:\n",
        &format!(
            "\napi:\n  extra_keys:\n    - name: phone\n      scope: read\n      key_file: {}\n",
            key_file.display()
        ),
        1,
    );
    std::fs::write(&env.settings_path, yaml).unwrap();
    env.migrate().await;
    let mut api = env.spawn("exporter-api", &[]);
    wait_for_port(env.api_port, Duration::from_secs(30));
    let up = poll_until(Duration::from_secs(30), || async {
        status(&env, &old_key).await == 200
    })
    .await;
    assert!(up, "the phone key works at start:\n{}", api.output());

    let new_key = format!("phone-{}", uuid::Uuid::new_v4().simple());
    write_key(&key_file, &new_key);
    // Not read again until SIGHUP.
    assert_eq!(status(&env, &new_key).await, 401);
    api.signal(Signal::SIGHUP);
    let rotated = poll_until(Duration::from_secs(10), || async {
        status(&env, &new_key).await == 200
    })
    .await;
    assert!(rotated, "the new key after SIGHUP:\n{}", api.output());
    assert_eq!(status(&env, &old_key).await, 401, "the old key is revoked");
    assert_eq!(status(&env, &env.api_key).await, 200, "the main key stays");
    assert!(api.alive(), "SIGHUP must not stop the API");

    // An unreadable file on reload keeps the keys in force.
    std::fs::remove_file(&key_file).unwrap();
    api.signal(Signal::SIGHUP);
    let logged = poll_until(Duration::from_secs(10), || async {
        api.output().contains("cannot read the API keys")
    })
    .await;
    assert!(logged, "{}", api.output());
    assert_eq!(status(&env, &new_key).await, 200);
    assert!(api.alive());
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_leaves_a_collector_running() {
    let env = TestEnv::new("").await;
    let mut collector = env.spawn("exporter-collector", &["system"]);
    env.heartbeat("collector-system").await;
    collector.signal(Signal::SIGHUP);
    // A heartbeat after the signal: still running.
    env.heartbeat("collector-system").await;
    assert!(collector.alive(), "{}", collector.output());
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_api_key_is_refused_with_a_message() {
    let env = TestEnv::new("").await;
    let short = "k".repeat(24);
    let mut api = env.spawn_with("exporter-api", &[], &[("EXPORTER_API_KEY", &short)]);
    let status = api.wait_exit(Duration::from_secs(30));
    assert!(
        status.is_some_and(|s| !s.success()),
        "the API must not start with a 24-character key"
    );
    let output = api.output();
    assert!(output.contains("at least 32"), "{output}");
    assert!(
        !output.contains(&short),
        "the key must not be printed: {output}"
    );
    let check = env.run("exporter", &["check"], &[("EXPORTER_API_KEY", &short)]);
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(!check.status.success(), "{text}");
    assert!(text.contains("at least 32"), "{text}");
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managed_keys_work_and_stop_without_a_restart() {
    let env = TestEnv::new("").await;
    env.migrate().await;
    let api = env.spawn("exporter-api", &[]);
    wait_for_port(env.api_port, Duration::from_secs(30));
    let create = |name: &str, extra: &[&str]| {
        let mut args = vec!["key", "create", name];
        args.extend_from_slice(extra);
        let output = env.run("exporter", &args, &[]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    };
    let phone = create("phone", &[]);
    assert!(
        phone.len() >= 32,
        "a generated key is long: {}",
        phone.len()
    );
    let ci = create("ci", &["--scope", "admin", "--expires", "4s"]);
    // Both work without a restart, within the API's look at the directory.
    for key in [&phone, &ci] {
        assert!(
            poll_until(Duration::from_secs(10), || async {
                status(&env, key).await == 200
            })
            .await,
            "a created key works"
        );
    }
    let list = env.run("exporter", &["key", "list", "--json"], &[]);
    let listed: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
    assert!(
        !String::from_utf8_lossy(&list.stdout).contains(&phone),
        "only hashes are listed"
    );

    // The expired one stops at its expiry, the revoked one at the next look.
    assert!(
        poll_until(Duration::from_secs(15), || async {
            status(&env, &ci).await == 401
        })
        .await,
        "an expired key gets 401"
    );
    let table = env.run("exporter", &["key", "list"], &[]);
    let table = String::from_utf8_lossy(&table.stdout).into_owned();
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("ci ") && l.ends_with("expired")),
        "{table}"
    );
    let revoke = env.run("exporter", &["key", "revoke", "phone"], &[]);
    assert!(revoke.status.success());
    assert!(
        poll_until(Duration::from_secs(10), || async {
            status(&env, &phone).await == 401
        })
        .await,
        "a revoked key gets 401"
    );
    assert_eq!(
        status(&env, &env.api_key).await,
        200,
        "the main key is untouched"
    );
    let unknown = env.run("exporter", &["key", "revoke", "phone"], &[]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no key named `phone`"));
    assert!(!api.output().contains(&phone) && !api.output().contains(&ci));
    env.finish().await;
}

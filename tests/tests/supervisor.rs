//! `exporter up` and `exporter check` as a user runs them: the key created once and never
//! printed, a killed child restarted, everything stopped on SIGTERM with nothing left behind,
//! and settings mistakes named.

#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use exporter_tests::{TestEnv, children_of, eventually, get_json};
use nix::sys::signal::Signal;

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            !stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_restarts_a_killed_child_and_stops_everything_on_sigterm() {
    let env = TestEnv::new("").await;
    let mut up = env.spawn_with("exporter", &["up"], &[]);

    eventually(
        "both collectors fresh in /health",
        Duration::from_secs(60),
        || async {
            let (status, body) = get_json(&env.api_url("/health"), None).await;
            let fresh: Vec<&str> = body["collectors"]
                .as_array()?
                .iter()
                .filter(|c| c["status"] == "fresh")
                .filter_map(|c| c["source"].as_str())
                .collect();
            (status == 200 && fresh.contains(&"system") && fresh.contains(&"hardware"))
                .then_some(())
        },
    )
    .await;

    // The generated key: mode 0600, works, never printed.
    let key_path = env.dir.path().join("state/api-key");
    let mode = std::fs::metadata(&key_path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let key = std::fs::read_to_string(&key_path)
        .unwrap()
        .trim()
        .to_owned();
    assert!(key.len() >= 32);
    let (status, _) = get_json(&env.api_url("/metrics/system"), Some(&key)).await;
    assert_eq!(status, 200);
    assert!(up.output().contains("api-key"), "says where the key is");
    assert!(
        !up.output().contains(&key),
        "the key itself is never printed"
    );

    let children = children_of(up.pid());
    assert_eq!(
        children.len(),
        6,
        "aggregator, four collectors (system, hardware, market, logs), api: {children:?}"
    );
    let (collector_pid, _) = children
        .iter()
        .find(|(_, cmd)| cmd.contains("exporter-collector system"))
        .cloned()
        .unwrap();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(collector_pid), Signal::SIGKILL).unwrap();
    let restarted = eventually(
        "the collector restarted",
        Duration::from_secs(20),
        || async {
            children_of(up.pid()).into_iter().find(|(pid, cmd)| {
                cmd.contains("exporter-collector system") && *pid != collector_pid
            })
        },
    )
    .await;
    assert!(up.output().contains("restarting"));

    let pids: Vec<i32> = children_of(up.pid())
        .into_iter()
        .map(|(pid, _)| pid)
        .collect();
    assert!(pids.contains(&restarted.0));
    // Ctrl-C at a terminal: SIGINT to the whole foreground process group.
    let restarts_before = up.output().matches("exited; restarting").count();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(-up.pid()), Signal::SIGINT).unwrap();
    let status = up
        .wait_exit(Duration::from_secs(30))
        .expect("exporter up exits after SIGINT");
    assert!(status.success(), "{status:?}\n{}", up.output());
    for pid in pids {
        assert!(!alive(pid), "child {pid} left behind");
    }
    let output = up.output();
    assert_eq!(
        output.matches("exited; restarting").count(),
        restarts_before,
        "nothing restarted during shutdown:\n{output}"
    );
    // Stopped in reverse start order: the API first, the aggregator last.
    let stopped_at = |process: &str| {
        output
            .find(&format!("stopped process=\"{process}\""))
            .or_else(|| output.find(&format!("stopped process={process}")))
            .unwrap_or_else(|| panic!("{process} not reported stopped:\n{output}"))
    };
    assert!(stopped_at("api") < stopped_at("collector-system"));
    assert!(stopped_at("collector-system") < stopped_at("aggregator"));
    let started_at = |process: &str| output.find(&format!("process={process} pid=")).unwrap();
    assert!(started_at("aggregator") < started_at("collector-system"));
    assert!(started_at("collector-system") < started_at("api"));
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_exit_when_the_supervisor_is_killed() {
    let env = TestEnv::new("").await;
    let mut up = env.spawn("exporter", &["up"]);
    let pids = eventually("six children", Duration::from_secs(30), || async {
        let children = children_of(up.pid());
        (children.len() == 6).then_some(children)
    })
    .await;
    up.kill();
    eventually(
        "orphaned children gone",
        Duration::from_secs(15),
        || async { pids.iter().all(|(pid, _)| !alive(*pid)).then_some(()) },
    )
    .await;
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_settings_key_stops_every_binary_naming_the_key() {
    let env = TestEnv::new("").await;
    let bad = env.dir.path().join("bad.yaml");
    std::fs::write(&bad, "api:\n  port: 8000\n  bind_everywhere: true\n").unwrap();
    let settings = bad.to_str().unwrap();
    for (binary, args) in [
        ("exporter-aggregator", vec![]),
        ("exporter-api", vec![]),
        ("exporter-collector", vec!["system"]),
        ("exporter", vec!["check"]),
    ] {
        let mut proc = env.spawn_with(binary, &args, &[("EXPORTER_SETTINGS", settings)]);
        let status = proc
            .wait_exit(Duration::from_secs(10))
            .expect("exits at once");
        assert_eq!(status.code(), Some(2), "{binary}");
        let output = proc.output();
        assert!(output.contains("bind_everywhere"), "{binary}: {output}");
        assert!(output.contains("bad.yaml"), "{binary}: {output}");
        assert!(output.contains("line 3"), "{binary}: {output}");
    }
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_says_what_is_wrong_and_what_is_right() {
    let env = TestEnv::new("").await;
    let mut ok = env.spawn("exporter", &["check"]);
    let status = ok.wait_exit(Duration::from_secs(30)).unwrap();
    assert!(status.success(), "{}", ok.output());
    assert!(ok.output().contains("JetStream enabled"), "{}", ok.output());

    let dead_port = exporter_tests::free_port();
    let mut broken = env.spawn_with(
        "exporter",
        &["check"],
        &[
            (
                "EXPORTER_NATS_URL",
                &format!("nats://127.0.0.1:{dead_port}"),
            ),
            (
                "EXPORTER_DATABASE_URL",
                &env.database_url.replace(&env.database, "no_such_db"),
            ),
        ],
    );
    let status = broken.wait_exit(Duration::from_secs(30)).unwrap();
    assert_eq!(status.code(), Some(1));
    let output = broken.output();
    assert!(output.contains("FAIL postgresql"), "{output}");
    assert!(output.contains("no_such_db"), "{output}");
    assert!(output.contains("FAIL nats"), "{output}");
    assert!(output.contains(&dead_port.to_string()), "{output}");
    assert!(output.contains("ok   settings"), "{output}");
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_applies_new_settings_and_refuses_bad_ones() {
    let env = TestEnv::new("").await;
    let mut up = env.spawn("exporter", &["up"]);
    eventually("six children", Duration::from_secs(30), || async {
        (children_of(up.pid()).len() == 6).then_some(())
    })
    .await;

    // A broken settings file: reload refuses it and nothing changes.
    let good = std::fs::read_to_string(&env.settings_path).unwrap();
    std::fs::write(&env.settings_path, format!("{good}\nnot_a_key: 1\n")).unwrap();
    up.signal(Signal::SIGHUP);
    eventually("the refusal logged", Duration::from_secs(10), || async {
        up.output()
            .contains("settings are invalid; nothing restarted")
            .then_some(())
    })
    .await;
    assert_eq!(children_of(up.pid()).len(), 6);

    // Disable the hardware collector: after the reload it is gone, the rest runs again.
    let without_hardware = good.replace(
        "  hardware:\n    interval_seconds: 1\n",
        "  hardware:\n    enabled: false\n    interval_seconds: 1\n",
    );
    assert_ne!(without_hardware, good);
    std::fs::write(&env.settings_path, without_hardware).unwrap();
    let reload = env.run("exporter", &["reload"], &[]);
    assert!(
        reload.status.success(),
        "{}",
        String::from_utf8_lossy(&reload.stderr)
    );
    let children = eventually(
        "five children without the hardware collector",
        Duration::from_secs(30),
        || async {
            let children = children_of(up.pid());
            (children.len() == 5 && !children.iter().any(|(_, cmd)| cmd.contains("hardware")))
                .then_some(children)
        },
    )
    .await;
    assert!(
        children.iter().any(|(_, cmd)| cmd.contains("exporter-api")),
        "{children:?}"
    );
    up.signal(Signal::SIGTERM);
    assert!(up.wait_exit(Duration::from_secs(30)).unwrap().success());
    env.finish().await;
}

/// The environment of a running process, as `/proc/<pid>/environ` shows it to the same user.
fn environ(pid: i32) -> Vec<(String, String)> {
    let raw = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    raw.split(|b| *b == 0)
        .filter(|entry| !entry.is_empty())
        .filter_map(|entry| {
            let text = String::from_utf8_lossy(entry).into_owned();
            text.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_hold_only_their_own_secrets_and_the_state_directory_is_private() {
    // ngrok at a closed local port: the supervisor holds the token and keeps retrying.
    let closed = exporter_tests::free_port();
    let env = TestEnv::new(&format!(
        "tunnel:\n  server_addr: 127.0.0.1:{closed}\n  retry_initial_seconds: 1\n"
    ))
    .await;
    // An earlier version left the state directory readable by others.
    let state = env.dir.path().join("state");
    std::fs::create_dir_all(state.join("logs")).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(state.join("logs/old.log"), "old\n").unwrap();
    std::fs::set_permissions(
        state.join("logs/old.log"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();

    let token = format!("ngrok-{}", uuid::Uuid::new_v4().simple());
    let unrelated = format!("unrelated-{}", uuid::Uuid::new_v4().simple());
    let mut up = env.spawn_with(
        "exporter",
        &["up"],
        &[
            ("EXPORTER_API_KEY", &env.api_key),
            ("NGROK_AUTHTOKEN", &token),
            ("SOME_OTHER_TOKEN", &unrelated),
        ],
    );
    let children = eventually("six children", Duration::from_secs(60), || async {
        let children = children_of(up.pid());
        let (status, _) = get_json(&env.api_url("/metrics/system"), Some(&env.api_key)).await;
        (children.len() == 6 && status == 200).then_some(children)
    })
    .await;

    let supervisor = environ(up.pid());
    assert!(supervisor.iter().any(|(k, _)| k == "NGROK_AUTHTOKEN"));
    for (pid, command) in &children {
        let vars = environ(*pid);
        let values: Vec<&str> = vars.iter().map(|(_, v)| v.as_str()).collect();
        assert!(
            !values.contains(&token.as_str()) && !values.contains(&unrelated.as_str()),
            "{command} holds a secret it does not use: {vars:?}"
        );
        let has_key = values.contains(&env.api_key.as_str());
        assert_eq!(
            has_key,
            command.contains("exporter-api"),
            "only the API holds the API key ({command})"
        );
        assert!(
            vars.iter().any(|(k, _)| k == "EXPORTER_SETTINGS"),
            "{command} keeps its settings: {vars:?}"
        );
    }

    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&state), 0o700, "the state directory is private");
    let mut files = 0;
    let mut stack = vec![state.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                assert_eq!(mode(&path), 0o700, "{}", path.display());
                stack.push(path);
            } else {
                assert_eq!(mode(&path), 0o600, "{}", path.display());
                files += 1;
            }
        }
    }
    assert!(
        files >= 3,
        "the child logs and the pid file were checked ({files})"
    );

    up.signal(Signal::SIGTERM);
    assert!(up.wait_exit(Duration::from_secs(30)).unwrap().success());
    env.finish().await;
}

//! Running it for real: `exporter status --json` against a running stack, the tunnel down
//! (no internet here) while everything else runs, a crash-looping child held back, `exporter
//! logs` and `exporter stop`, sd_notify readiness and watchdog, and the systemd units verified.

#![allow(clippy::unwrap_used)]

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use exporter_tests::{TestEnv, eventually, free_port, get_json};

fn status_json(env: &TestEnv) -> (Option<i32>, serde_json::Value) {
    let output = env.run("exporter", &["status", "--json"], &[]);
    let json = serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "status --json is not JSON ({err}): {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code(), json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_tunnel_down_logs_and_stop_on_a_running_stack() {
    // ngrok's address points at a closed local port: what a machine without internet sees.
    let closed = free_port();
    let env = TestEnv::new(&format!(
        "tunnel:\n  server_addr: 127.0.0.1:{closed}\n  retry_initial_seconds: 1\n"
    ))
    .await;
    let token = format!("test-token-{}", uuid::Uuid::new_v4().simple());
    let mut up = env.spawn_with("exporter", &["up"], &[("NGROK_AUTHTOKEN", &token)]);

    let status = eventually(
        "all processes running with fresh data",
        Duration::from_secs(60),
        || async {
            let (code, status) = status_json(&env);
            let running = status["processes"]
                .as_array()?
                .iter()
                .filter(|p| p["state"] == "running")
                .count();
            let fresh = status["collectors"]
                .as_array()?
                .iter()
                .filter(|c| c["fresh"] == true)
                .count();
            let tunnel_down = status["tunnels"][0]["status"] == "down";
            (code == Some(0) && running == 6 && fresh == 2 && tunnel_down).then_some(status)
        },
    )
    .await;
    assert_eq!(status["nats"]["reachable"], true);
    assert_eq!(status["postgres"]["reachable"], true);
    for process in status["processes"].as_array().unwrap() {
        assert!(process["pid"].as_u64().unwrap() > 0, "{process}");
        assert_eq!(process["restarts"], 0, "{process}");
        assert!(
            process["heartbeat_age_seconds"].as_f64().unwrap() < 5.0,
            "{process}"
        );
    }
    // Disk per tier of points, each with its retention; the raw tier holds today's samples.
    let tiers: Vec<(&str, u64)> = status["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["resolution"].as_str().unwrap(),
                t["retention_days"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(tiers, [("raw", 7), ("1m", 90), ("1h", 730)]);
    assert!(
        status["tiers"][0]["used_bytes"].as_i64().unwrap() > 0,
        "{}",
        status["tiers"]
    );
    let reason = status["tunnels"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("cannot connect to ngrok"), "{reason}");

    // /health tells the same, and the API works without the tunnel.
    let (code, health) = get_json(&env.api_url("/health"), None).await;
    assert_eq!(code, 200);
    assert_eq!(health["tunnels"][0]["status"], "down", "{health}");
    assert!(!up.output().contains(&token), "the token is never printed");
    assert!(
        up.output().contains("retry_in_seconds"),
        "the tunnel is retried"
    );

    // The table form names every process.
    let table = env.run("exporter", &["status"], &[]);
    let table = String::from_utf8_lossy(&table.stdout).into_owned();
    for name in [
        "aggregator",
        "collector-system",
        "collector-hardware",
        "collector-market",
        "collector-logs",
        "api",
        "tunnel (test-host): down",
        "TIER",
        "raw",
        "730 d",
    ] {
        assert!(table.contains(name), "{name} missing from:\n{table}");
    }

    let logs = env.run("exporter", &["logs", "api", "-n", "3"], &[]);
    assert!(logs.status.success());
    let lines = String::from_utf8_lossy(&logs.stdout).lines().count();
    assert_eq!(lines, 3, "{}", String::from_utf8_lossy(&logs.stdout));
    let unknown = env.run("exporter", &["logs", "nosuch"], &[]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("known:"));

    let stop = env.run("exporter", &["stop"], &[]);
    assert!(
        stop.status.success(),
        "{}",
        String::from_utf8_lossy(&stop.stderr)
    );
    let exit = up
        .wait_exit(Duration::from_secs(5))
        .expect("up is gone once stop returns");
    assert!(exit.success());
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_looping_child_is_held_back_and_reported() {
    let env = TestEnv::new("").await;
    // Something else holds the API's port: the API exits at once, every time.
    let _squatter = std::net::TcpListener::bind(("127.0.0.1", env.api_port)).unwrap();
    let mut up = env.spawn("exporter", &["up"]);
    let status = eventually("the API held back", Duration::from_secs(60), || async {
        let (_, status) = status_json(&env);
        let api = status["processes"]
            .as_array()?
            .iter()
            .find(|p| p["name"] == "api")?
            .clone();
        (api["state"] == "held").then_some(status)
    })
    .await;
    let api = status["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "api")
        .unwrap();
    assert!(
        api["last_exit"]
            .as_str()
            .unwrap()
            .contains("exit status: 1"),
        "{api}"
    );
    let others_running = status["processes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] != "api" && p["state"] == "running")
        .count();
    assert_eq!(others_running, 5, "{status}");
    let (code, _) = status_json(&env);
    assert_eq!(code, Some(1), "status exits 1 while a process is held");
    assert!(up.output().contains("crash loop"), "{}", up.output());
    assert!(
        up.output().contains("exporter logs api"),
        "says where to look"
    );
    // Held means not restarted: the exit count stays put (over a quiet period, the check itself).
    let exits = up.output().matches("exited; restarting").count();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(up.output().matches("exited; restarting").count(), exits);

    up.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(up.wait_exit(Duration::from_secs(30)).unwrap().success());
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_notify_systemd_readiness_and_watchdog() {
    let env = TestEnv::new("").await;
    let socket_path = env.dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let _aggregator = env.spawn_with(
        "exporter-aggregator",
        &[],
        &[
            ("NOTIFY_SOCKET", socket_path.to_str().unwrap()),
            ("WATCHDOG_USEC", "400000"),
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut ready, mut watchdogs) = (false, 0);
    let mut buffer = [0u8; 512];
    while Instant::now() < deadline && !(ready && watchdogs >= 2) {
        if let Ok(n) = socket.recv(&mut buffer) {
            let message = String::from_utf8_lossy(&buffer[..n]).into_owned();
            ready |= message.contains("READY=1");
            if message.contains("WATCHDOG=1") {
                watchdogs += 1;
            }
        }
    }
    assert!(ready, "READY=1 received");
    assert!(watchdogs >= 2, "WATCHDOG=1 sent repeatedly ({watchdogs})");
    env.finish().await;
}

#[test]
fn systemd_units_verify() {
    let units = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/systemd");
    let dir = tempfile::tempdir().unwrap();
    let bin = exporter_tests::bin_dir();
    // The units name /usr/local/bin; verify them against the binaries of this build.
    for entry in std::fs::read_dir(&units).unwrap().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap();
        let text = text.replace("/usr/local/bin/", &format!("{}/", bin.display()));
        std::fs::write(dir.path().join(entry.file_name()), text).unwrap();
    }
    let names = [
        "exporter-aggregator.service",
        "exporter-api.service",
        "exporter-collector@system.service",
        "exporter-collector@hardware.service",
        "exporter-tunnel.service",
        "exporter-collector@logs.service",
        "exporter-collector@portfolio.service",
        "exporter.target",
    ];
    // The logs collector's drop-in (the systemd-journal group) as install.sh places it.
    let dropin = dir.path().join("exporter-collector@logs.service.d");
    std::fs::create_dir(&dropin).unwrap();
    std::fs::copy(
        units.join("../systemd-dropins/collector-logs-journal.conf"),
        dropin.join("journal.conf"),
    )
    .unwrap();
    // The brokerage collectors' drop-in (the Alpaca keys as credentials), likewise.
    let dropin = dir.path().join("exporter-collector@portfolio.service.d");
    std::fs::create_dir(&dropin).unwrap();
    std::fs::copy(
        units.join("../systemd-dropins/collector-alpaca-credentials.conf"),
        dropin.join("alpaca.conf"),
    )
    .unwrap();
    let output = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg("--man=no")
        .args(names.iter().map(|n| dir.path().join(n)))
        .output()
        .expect("systemd-analyze is installed (apt-get install systemd; deploy/test.sh does)");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(!stderr.contains("Unknown key"), "{stderr}");
    assert!(!stderr.contains("ignoring"), "{stderr}");
    for name in &names[..7] {
        let security = std::process::Command::new("systemd-analyze")
            .args(["security", "--offline=true", "--threshold=30"])
            .arg(dir.path().join(name))
            .output()
            .unwrap();
        assert!(
            security.status.success(),
            "{name}: exposure above 3.0\n{}",
            String::from_utf8_lossy(&security.stdout)
        );
    }
}

//! The API under a connection flood, as systemd's default limits would leave it: with its file
//! descriptors lowered to 1,024, 1,100 half-open connections (a request header that never ends)
//! do not stop `/health` from answering, and the server closes every one of them; live streams
//! are capped per key and in total with a 503 naming the setting.

#![allow(clippy::unwrap_used)]

use std::os::unix::fs::OpenOptionsExt;
use std::time::{Duration, Instant};

use exporter_tests::{TestEnv, get_json, poll_until, wait_for_port};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn api_with(env: &TestEnv, api_settings: &str) -> exporter_tests::Proc {
    let yaml = std::fs::read_to_string(&env.settings_path).unwrap();
    let yaml = yaml.replacen("\napi:\n", &format!("\napi:\n{api_settings}"), 1);
    std::fs::write(&env.settings_path, yaml).unwrap();
    env.migrate().await;
    let api = env.spawn("exporter-api", &[]);
    wait_for_port(env.api_port, Duration::from_secs(30));
    assert!(
        poll_until(Duration::from_secs(30), || async {
            get_json(&env.api_url("/health"), None).await.0 == 200
        })
        .await,
        "the API answers /health"
    );
    api
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_connections_cannot_lock_the_api_out() {
    let env = TestEnv::new("").await;
    // The header timeout is longer than the flood takes, so only the cap can keep room.
    let api = api_with(&env, "  header_read_timeout_seconds: 10\n").await;
    // systemd's default soft limit, which the units raise with LimitNOFILE.
    let limited = std::process::Command::new("prlimit")
        .args(["--pid", &api.pid().to_string(), "--nofile=1024:1024"])
        .status()
        .unwrap();
    assert!(limited.success(), "prlimit (util-linux) lowers the limit");

    let mut held = Vec::new();
    let flood = Instant::now();
    for _ in 0..1100 {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", env.api_port))
            .await
            .unwrap();
        // A header that never ends.
        let _ = stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n")
            .await;
        held.push(stream);
    }
    let flood_took = flood.elapsed();
    let (status, body) = tokio::time::timeout(
        Duration::from_secs(3),
        get_json(&env.api_url("/health"), None),
    )
    .await
    .unwrap_or_else(|_| {
        panic!("/health did not answer within 3 s of the flood (which took {flood_took:?})")
    });
    assert_eq!(status, 200, "/health answers during the flood: {body}");

    // Every half-open connection is closed by the server: evicted at once, or at the header
    // timeout.
    let mut closed = 0;
    for stream in &mut held {
        let mut buffer = [0u8; 256];
        match tokio::time::timeout(Duration::from_secs(20), stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => closed += 1,
            // A 408 or 503 before the close also counts as closed once EOF follows.
            Ok(Ok(_)) => {
                if matches!(
                    tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buffer)).await,
                    Ok(Ok(0)) | Ok(Err(_))
                ) {
                    closed += 1;
                }
            }
            Err(_) => {}
        }
    }
    assert_eq!(closed, 1100, "the server closed every half-open connection");
    let (status, _) = get_json(&env.api_url("/metrics/system"), Some(&env.api_key)).await;
    assert!(status == 200 || status == 404, "still serving: {status}");
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_streams_are_capped_per_key_and_in_total() {
    let env = TestEnv::new("").await;
    let phone_key = format!("phone-{}", uuid::Uuid::new_v4().simple());
    let key_file = env.dir.path().join("phone.key");
    let mut file = std::fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .open(&key_file)
        .unwrap();
    std::io::Write::write_all(&mut file, format!("{phone_key}\n").as_bytes()).unwrap();
    let _api = api_with(
        &env,
        &format!(
            "  sse_max_streams: 3\n  sse_max_streams_per_key: 2\n  extra_keys:\n    - name: phone\n      scope: read\n      key_file: {}\n",
            key_file.display()
        ),
    )
    .await;
    let client = reqwest::Client::new();
    let open = |key: String| {
        let client = client.clone();
        let url = env.api_url("/alerts/stream");
        async move {
            client
                .get(url)
                .header("X-API-Key", key)
                .send()
                .await
                .unwrap()
        }
    };
    let first = open(env.api_key.clone()).await;
    let second = open(env.api_key.clone()).await;
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (200, 200)
    );
    let third = open(env.api_key.clone()).await;
    assert_eq!(third.status(), 503, "past the per-key cap");
    assert!(third.headers().contains_key("retry-after"));
    let problem: serde_json::Value = third.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("api.sse_max_streams_per_key"),
        "{problem}"
    );
    let phone = open(phone_key.clone()).await;
    assert_eq!(phone.status(), 200, "another key still has room");
    let over = open(phone_key.clone()).await;
    assert_eq!(over.status(), 503, "past the total cap");
    let problem: serde_json::Value = over.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("api.sse_max_streams)"),
        "{problem}"
    );
    // Closing a stream frees its slot.
    drop(first);
    assert!(
        poll_until(Duration::from_secs(10), || async {
            open(env.api_key.clone()).await.status() == 200
        })
        .await,
        "a closed stream's slot is reused"
    );
    drop((second, phone));
    env.finish().await;
}

//! The API under a connection flood, as systemd's default limits would leave it: with its file
//! descriptors lowered to 1,024, 1,100 half-open connections (a request header that never ends)
//! do not stop `/health` from answering, and the server closes every one of them; live streams
//! are capped per key and in total with a 503 naming the setting; failed authentications through
//! the tunnel's own socket are throttled per forwarded address, never a valid key.

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
    // No aggregator here, so no stream: /health answers 503 (unhealthy), which is an answer.
    assert!(
        poll_until(Duration::from_secs(30), || async {
            matches!(get_json(&env.api_url("/health"), None).await.0, 200 | 503)
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
    assert!(
        matches!(status, 200 | 503) && body["status"].is_string(),
        "/health answers during the flood: {status} {body}"
    );

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

/// One HTTP/1.1 request over the tunnel's Unix socket: (status, Retry-After).
async fn through_tunnel(
    socket: &std::path::Path,
    key: &str,
    forwarded_for: &str,
) -> (u16, Option<String>) {
    let mut stream = tokio::net::UnixStream::connect(socket).await.unwrap();
    let request = format!(
        "GET /alerts HTTP/1.1\r\nHost: tunnel.example\r\nX-API-Key: {key}\r\nX-Forwarded-For: {forwarded_for}\r\nX-Forwarded-Proto: https\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let retry_after = response.lines().find_map(|line| {
        line.to_ascii_lowercase()
            .strip_prefix("retry-after: ")
            .map(str::to_owned)
    });
    (status, retry_after)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_keys_through_the_tunnel_are_throttled_per_forwarded_address() {
    let env = TestEnv::new("").await;
    let api = api_with(&env, "").await;
    let socket = env.dir.path().join("state/api-tunnel.sock");
    let wrong = format!("wrong-{}", uuid::Uuid::new_v4().simple());
    let mut statuses = Vec::new();
    for _ in 0..50 {
        // ngrok appends the address it saw; the client's own claim comes first.
        statuses.push(through_tunnel(&socket, &wrong, "10.9.9.9, 203.0.113.7").await);
    }
    assert!(
        statuses[..20].iter().all(|(status, _)| *status == 401),
        "the first 20 (api.auth_failure_limit) are 401: {statuses:?}"
    );
    assert!(
        statuses[20..].iter().all(|(status, retry)| *status == 429
            && retry
                .as_deref()
                .is_some_and(|r| r.trim().parse::<u64>().is_ok_and(|s| s >= 1))),
        "past the limit: 429 with Retry-After: {statuses:?}"
    );
    assert_eq!(
        through_tunnel(&socket, &wrong, "198.51.100.4").await.0,
        401,
        "another forwarded address is not throttled"
    );
    assert_eq!(
        through_tunnel(&socket, &env.api_key, "10.9.9.9, 203.0.113.7")
            .await
            .0,
        200,
        "a valid key from the throttled address still works"
    );
    // On the direct listener X-Forwarded-For is not believed: the loopback peer is counted.
    let client = reqwest::Client::new();
    let direct = client
        .get(env.api_url("/alerts"))
        .header("X-API-Key", &wrong)
        .header("X-Forwarded-For", "203.0.113.7")
        .send()
        .await
        .unwrap();
    assert_eq!(
        direct.status(),
        401,
        "the loopback address has its own count"
    );
    // The failures are logged in aggregate with the address (one line per audit interval).
    let logged = |output: &str| -> u64 {
        output
            .lines()
            .filter(|line| line.contains("failed authentication") && line.contains("203.0.113.7"))
            .filter_map(|line| {
                line.split_whitespace()
                    .find_map(|field| field.strip_prefix("failures="))
                    .and_then(|n| n.parse::<u64>().ok())
            })
            .sum()
    };
    assert!(
        poll_until(Duration::from_secs(25), || async {
            logged(&api.output()) == 50
        })
        .await,
        "50 failures logged for the address:\n{}",
        api.output()
    );
    assert!(
        !api.output().contains(&wrong),
        "a presented key is never logged"
    );
    env.finish().await;
}

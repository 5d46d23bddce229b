//! The dashboard's sessions against the real stack (issue #18): a key signs in for an
//! `HttpOnly`, `SameSite=Strict` cookie (`Secure` through the tunnel over HTTPS) that is not the
//! key and works wherever the key does, with its scope; a state change with the cookie must be
//! same-origin; sign-out, a revoked key and the TTL end a session; sessions are bounded; every
//! answer carries the security headers; the page is served compressed; `/metrics/stream`
//! pushes new samples to an open page.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use exporter_tests::{TestEnv, get_json, poll_until, wait_for_port};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Adds `lines` (indented YAML) under `api:` in the env's settings.
fn api_settings(env: &TestEnv, lines: &str) {
    let yaml = std::fs::read_to_string(&env.settings_path).unwrap();
    let yaml = yaml.replacen("\napi:\n", &format!("\napi:\n{lines}"), 1);
    std::fs::write(&env.settings_path, yaml).unwrap();
}

/// What a sign-in answered: status, body, and the `Set-Cookie` header.
struct SignIn {
    status: u16,
    body: Value,
    set_cookie: String,
}

impl SignIn {
    /// `exporter_session=<token>`, as a browser sends it back.
    fn cookie(&self) -> String {
        self.set_cookie.split(';').next().unwrap().trim().to_owned()
    }

    fn token(&self) -> String {
        self.cookie()
            .split_once('=')
            .map(|(_, token)| token.to_owned())
            .unwrap()
    }
}

async fn sign_in(env: &TestEnv, body: Value, headers: &[(&str, &str)]) -> SignIn {
    let mut request = reqwest::Client::new()
        .post(env.api_url("/session"))
        .json(&body)
        .timeout(Duration::from_secs(10));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let set_cookie = response
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.json().await.unwrap_or(Value::Null);
    SignIn {
        status,
        body,
        set_cookie,
    }
}

/// A request with the cookie (and `headers`); status, headers and JSON body.
async fn with_cookie(
    env: &TestEnv,
    method: reqwest::Method,
    path: &str,
    cookie: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (u16, HeaderMap, Value) {
    let mut request = reqwest::Client::new()
        .request(method, env.api_url(path))
        .header("cookie", cookie)
        .timeout(Duration::from_secs(10));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (
        status,
        headers,
        response.json().await.unwrap_or(Value::Null),
    )
}

async fn get_with_cookie(env: &TestEnv, path: &str, cookie: &str) -> (u16, Value) {
    let (status, _, body) = with_cookie(env, reqwest::Method::GET, path, cookie, &[], None).await;
    (status, body)
}

fn silence() -> Value {
    json!({"matchers": [{"name": "alertname", "value": "DiskAlmostFull"}], "duration": "1h", "comment": "from the dashboard"})
}

fn assert_security_headers(headers: &HeaderMap, what: &str) {
    assert_eq!(headers["content-security-policy"], CSP, "{what}");
    assert_eq!(headers["x-content-type-options"], "nosniff", "{what}");
    assert_eq!(headers["x-frame-options"], "DENY", "{what}");
    assert_eq!(headers["referrer-policy"], "no-referrer", "{what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_signs_in_for_a_cookie_that_works_like_the_key_until_sign_out() {
    let env = TestEnv::new("").await;
    env.migrate().await;
    let _aggregator = env.spawn("exporter-aggregator", &[]);
    let _collector = env.spawn("exporter-collector", &["system"]);
    let api = env.spawn("exporter-api", &[]);
    wait_for_port(env.api_port, Duration::from_secs(30));
    env.first_host_sample("/metrics/system").await;

    let signed = sign_in(&env, json!({"key": env.api_key}), &[]).await;
    assert_eq!(signed.status, 200, "{}", signed.body);
    assert_eq!(signed.body["name"], "main");
    assert_eq!(signed.body["scope"], "admin");
    assert!(
        signed.body["expires_at"]
            .as_str()
            .unwrap()
            .parse::<chrono::DateTime<chrono::Utc>>()
            .is_ok()
    );
    let flags: BTreeSet<&str> = signed
        .set_cookie
        .split(';')
        .skip(1)
        .map(str::trim)
        .collect();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(flags.contains(flag), "{flag} in {}", signed.set_cookie);
    }
    assert!(
        !flags.contains("Secure"),
        "plain HTTP on loopback: no Secure ({})",
        signed.set_cookie
    );
    let token = signed.token();
    assert!(
        token.len() >= 43 && token != env.api_key && !token.contains(&env.api_key),
        "the cookie is a token of its own, not the key"
    );
    let cookie = signed.cookie();

    // The cookie reads what the key reads, /health's details included.
    let (status, system) = get_with_cookie(&env, "/metrics/system", &cookie).await;
    assert_eq!(status, 200, "{system}");
    assert_eq!(system["hosts"][0]["host"], "test-host");
    let (_, health) = get_with_cookie(&env, "/health", &cookie).await;
    assert!(
        health["version"].is_string(),
        "details with the cookie: {health}"
    );
    let (_, public) = get_json(&env.api_url("/health"), None).await;
    assert!(public.get("version").is_none(), "none without: {public}");
    let (status, who) = get_with_cookie(&env, "/session", &cookie).await;
    assert_eq!((status, &who["name"]), (200, &json!("main")));

    // Authenticated JSON: security headers, never cached.
    let (_, headers, _) = with_cookie(
        &env,
        reqwest::Method::GET,
        "/metrics/system",
        &cookie,
        &[],
        None,
    )
    .await;
    assert_security_headers(&headers, "/metrics/system");
    assert_eq!(headers["cache-control"], "no-store");

    // State changes with the cookie: only from the API's own origin.
    let own = format!("http://127.0.0.1:{}", env.api_port);
    for (headers, why) in [
        (vec![("sec-fetch-site", "cross-site")], "Sec-Fetch-Site"),
        (vec![("sec-fetch-site", "same-site")], "Sec-Fetch-Site"),
        (vec![("origin", "http://evil.example")], "Origin"),
        (vec![], "Origin"),
    ] {
        let (status, _, body) = with_cookie(
            &env,
            reqwest::Method::POST,
            "/silences",
            &cookie,
            &headers,
            Some(silence()),
        )
        .await;
        assert_eq!(status, 403, "{headers:?}: {body}");
        assert_eq!(body["status"], 403);
        assert!(body["detail"].as_str().unwrap().contains(why), "{body}");
    }
    for headers in [
        vec![("sec-fetch-site", "same-origin"), ("origin", own.as_str())],
        vec![("origin", own.as_str())],
    ] {
        let (status, _, body) = with_cookie(
            &env,
            reqwest::Method::POST,
            "/silences",
            &cookie,
            &headers,
            Some(silence()),
        )
        .await;
        assert_eq!(status, 201, "{headers:?}: {body}");
        assert_eq!(body["created_by"], "main");
    }
    let (status, body) = get_json(&env.api_url("/silences"), Some(&env.api_key)).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["total"], 2,
        "two silences made with the cookie: {body}"
    );
    // A cross-origin sign-in is refused too; a program's (no Origin) is not.
    let cross = sign_in(
        &env,
        json!({"key": env.api_key}),
        &[("origin", "http://evil.example")],
    )
    .await;
    assert_eq!(cross.status, 403, "{}", cross.body);
    assert!(cross.set_cookie.is_empty());

    // Sign-in refuses a wrong key like every route, and names a bad body's field.
    let wrong = sign_in(
        &env,
        json!({"key": format!("wrong-{}", uuid::Uuid::new_v4())}),
        &[],
    )
    .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.body["title"], "Unauthorized");
    assert!(wrong.set_cookie.is_empty());
    for (body, status) in [
        (json!({}), 422),
        (json!({"key": ""}), 422),
        (json!({"key": 5}), 422),
    ] {
        let bad = sign_in(&env, body.clone(), &[]).await;
        assert_eq!(bad.status, status, "{body}: {}", bad.body);
        assert_eq!(bad.body["parameter"], "key", "{body}: {}", bad.body);
    }

    // Sign-out: the session ends on the server, the cookie is cleared.
    let (status, headers, _) = with_cookie(
        &env,
        reqwest::Method::DELETE,
        "/session",
        &cookie,
        &[("sec-fetch-site", "same-origin")],
        None,
    )
    .await;
    assert_eq!(status, 204);
    let cleared = headers["set-cookie"].to_str().unwrap();
    assert!(
        cleared.starts_with("exporter_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    for path in ["/metrics/system", "/session"] {
        let (status, body) = get_with_cookie(&env, path, &cookie).await;
        assert_eq!(status, 401, "{path} with the old cookie: {body}");
    }
    let (_, health) = get_with_cookie(&env, "/health", &cookie).await;
    assert!(health.get("version").is_none(), "{health}");
    assert!(!api.output().contains(&env.api_key) && !api.output().contains(&token));
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_keeps_its_keys_scope_and_ends_with_its_key_or_its_ttl() {
    let env = TestEnv::new("").await;
    api_settings(&env, "  session_ttl_seconds: 15\n");
    env.migrate().await;
    let _api = env.spawn("exporter-api", &[]);
    wait_for_port(env.api_port, Duration::from_secs(30));
    let created = env.run("exporter", &["key", "create", "phone"], &[]);
    assert!(created.status.success());
    let phone = String::from_utf8_lossy(&created.stdout).trim().to_owned();
    assert!(
        poll_until(Duration::from_secs(10), || async {
            get_json(&env.api_url("/alerts"), Some(&phone)).await.0 == 200
        })
        .await,
        "the managed key works"
    );

    // A read-scope key's session reads, and cannot acknowledge or silence.
    let signed = sign_in(&env, json!({"key": phone}), &[]).await;
    assert_eq!(signed.status, 200, "{}", signed.body);
    assert_eq!(
        (&signed.body["name"], &signed.body["scope"]),
        (&json!("phone"), &json!("read"))
    );
    let cookie = signed.cookie();
    assert_eq!(get_with_cookie(&env, "/alerts", &cookie).await.0, 200);
    let same_origin = [("sec-fetch-site", "same-origin")];
    let acknowledge = format!("/alerts/{}/acknowledge", uuid::Uuid::now_v7());
    for (path, body) in [(acknowledge.as_str(), None), ("/silences", Some(silence()))] {
        let (status, _, body) = with_cookie(
            &env,
            reqwest::Method::POST,
            path,
            &cookie,
            &same_origin,
            body,
        )
        .await;
        assert_eq!(status, 403, "{path}: {body}");
        assert!(
            body["detail"].as_str().unwrap().contains("admin scope"),
            "{body}"
        );
    }

    // Revoking the key ends its session within the API's look at the keys' directory.
    assert!(
        env.run("exporter", &["key", "revoke", "phone"], &[])
            .status
            .success()
    );
    assert!(
        poll_until(Duration::from_secs(10), || async {
            get_with_cookie(&env, "/alerts", &cookie).await.0 == 401
        })
        .await,
        "a revoked key's session gets 401"
    );

    // The TTL ends a session: Max-Age says when, and the server agrees.
    let signed = sign_in(&env, json!({"key": env.api_key}), &[]).await;
    assert!(
        signed.set_cookie.contains("Max-Age=15"),
        "{}",
        signed.set_cookie
    );
    let cookie = signed.cookie();
    assert_eq!(get_with_cookie(&env, "/alerts", &cookie).await.0, 200);
    assert!(
        poll_until(Duration::from_secs(40), || async {
            get_with_cookie(&env, "/alerts", &cookie).await.0 == 401
        })
        .await,
        "an expired session gets 401"
    );
    assert_eq!(
        get_json(&env.api_url("/alerts"), Some(&env.api_key))
            .await
            .0,
        200,
        "the key itself is untouched"
    );
    env.finish().await;
}

/// One raw HTTP/1.1 request through the tunnel's Unix socket, as the tunnel sends it; the
/// answer's head (status line and headers).
async fn through_tunnel(env: &TestEnv, request: &str) -> String {
    let socket = env.settings().api_tunnel_socket();
    let mut stream = tokio::net::UnixStream::connect(&socket).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .unwrap()
        .unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    answer
        .split_once("\r\n\r\n")
        .map_or(answer.clone(), |(head, _)| head.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_secure_through_the_tunnel_and_bounded() {
    let env = TestEnv::new("").await;
    api_settings(&env, "  session_max: 3\n  session_max_per_key: 2\n");
    env.migrate().await;
    let _api = env.spawn("exporter-api", &[]);
    wait_for_port(env.api_port, Duration::from_secs(30));

    // Over HTTPS through the tunnel: the cookie is Secure, and the page's own https origin
    // may change state.
    let body = json!({"key": env.api_key}).to_string();
    let head = through_tunnel(
        &env,
        &format!(
            "POST /session HTTP/1.1\r\nhost: abc.ngrok.app\r\nx-forwarded-proto: https\r\nx-forwarded-for: 198.51.100.7\r\norigin: https://abc.ngrok.app\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let set_cookie = head
        .lines()
        .find_map(|line| line.strip_prefix("set-cookie: "))
        .unwrap_or_else(|| panic!("no cookie: {head}"));
    assert!(set_cookie.contains("; Secure"), "{set_cookie}");
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"));
    let cookie = set_cookie.split(';').next().unwrap();
    let head = through_tunnel(
        &env,
        &format!(
            "DELETE /session HTTP/1.1\r\nhost: abc.ngrok.app\r\nx-forwarded-proto: https\r\norigin: https://abc.ngrok.app\r\ncookie: {cookie}\r\nconnection: close\r\n\r\n"
        ),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 204"), "{head}");
    assert!(head.contains("Max-Age=0; Secure"), "{head}");

    // At most 2 sessions per key (the oldest ends), 3 in all (then sign-in is refused).
    let mut main = Vec::new();
    for _ in 0..3 {
        let signed = sign_in(&env, json!({"key": env.api_key}), &[]).await;
        assert_eq!(signed.status, 200, "{}", signed.body);
        main.push(signed.cookie());
    }
    assert_eq!(
        get_with_cookie(&env, "/session", &main[0]).await.0,
        401,
        "the oldest ended"
    );
    for cookie in &main[1..] {
        assert_eq!(get_with_cookie(&env, "/session", cookie).await.0, 200);
    }
    let mut keys = Vec::new();
    for name in ["phone", "tablet"] {
        let created = env.run("exporter", &["key", "create", name], &[]);
        assert!(created.status.success());
        keys.push(String::from_utf8_lossy(&created.stdout).trim().to_owned());
    }
    for key in &keys {
        assert!(
            poll_until(Duration::from_secs(10), || async {
                get_json(&env.api_url("/alerts"), Some(key)).await.0 == 200
            })
            .await
        );
    }
    assert_eq!(
        sign_in(&env, json!({"key": keys[0]}), &[]).await.status,
        200
    );
    let full = sign_in(&env, json!({"key": keys[1]}), &[]).await;
    assert_eq!(full.status, 503, "{}", full.body);
    assert!(
        full.body["detail"]
            .as_str()
            .unwrap()
            .contains("api.session_max"),
        "{}",
        full.body
    );
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_is_served_compressed_under_the_policy() {
    let env = TestEnv::new("").await;
    env.migrate().await;
    let _api = env.spawn("exporter-api", &[]);
    wait_for_port(env.api_port, Duration::from_secs(30));
    let client = reqwest::Client::new();

    // No key needed for the page and its files; the policy and nosniff on each.
    let page = client
        .get(env.api_url("/"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    assert_security_headers(&headers, "/");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(headers["content-encoding"], "gzip", "asked for gzip");
    assert_eq!(headers["cache-control"], "no-cache");
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let compressed = page.bytes().await.unwrap();
    assert_eq!(&compressed[..2], &[0x1f, 0x8b], "a gzip body");
    let plain = client.get(env.api_url("/")).send().await.unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    let html = plain.text().await.unwrap();
    assert!(
        html.contains("<html") && !html.contains("<script>"),
        "no inline script"
    );

    let again = client
        .get(env.api_url("/"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304, "unchanged: not sent again");

    let script = client
        .get(env.api_url("/ui/js/app.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), 200);
    assert_security_headers(script.headers(), "/ui/js/app.js");
    assert!(
        script.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    let missing = client
        .get(env.api_url("/ui/nothing.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.headers()["content-type"],
        "application/problem+json"
    );
    assert_security_headers(missing.headers(), "a 404");

    // The API reference works under the same policy: no inline script or style there either.
    let docs = client.get(env.api_url("/docs")).send().await.unwrap();
    assert_security_headers(docs.headers(), "/docs");
    let html = docs.text().await.unwrap();
    assert!(
        !html.contains("<script>") && !html.contains("<style") && html.contains("/docs/docs.js"),
        "{html}"
    );
    let docs_script = client
        .get(env.api_url("/docs/docs.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(docs_script.status(), 200);
    assert!(
        docs_script
            .text()
            .await
            .unwrap()
            .contains("SwaggerUIBundle")
    );
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sample_stream_pushes_new_samples_to_an_open_page() {
    let env = TestEnv::new("").await;
    env.migrate().await;
    let _aggregator = env.spawn("exporter-aggregator", &[]);
    let _collector = env.spawn("exporter-collector", &["system"]);
    let _api = env.spawn("exporter-api", &[]);
    wait_for_port(env.api_port, Duration::from_secs(30));
    let (status, _) = get_json(&env.api_url("/metrics/stream"), None).await;
    assert_eq!(status, 401, "the stream needs the key or a session");
    let signed = sign_in(&env, json!({"key": env.api_key}), &[]).await;
    let mut response = reqwest::Client::new()
        .get(env.api_url("/metrics/stream?source=system"))
        .header("cookie", signed.cookie())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    // Two different samples of this host on one open stream: the second came without a reload.
    let mut text = String::new();
    let mut samples = BTreeSet::new();
    let seen = tokio::time::timeout(Duration::from_secs(60), async {
        while samples.len() < 2 {
            let Some(chunk) = response.chunk().await.unwrap() else {
                break;
            };
            text.push_str(&String::from_utf8_lossy(&chunk));
            while let Some((event, rest)) = text.split_once("\n\n") {
                let data: String = event
                    .lines()
                    .filter_map(|line| line.strip_prefix("data:"))
                    .map(str::trim)
                    .collect();
                if event.lines().any(|line| line == "event: sample") {
                    let sample: Value = serde_json::from_str(&data).unwrap();
                    assert_eq!(sample["source"], "system", "{sample}");
                    assert_eq!(sample["host"], "test-host");
                    assert!(sample["sample"]["memory"].is_object(), "{sample}");
                    samples.insert(sample["message_id"].as_str().unwrap().to_owned());
                }
                text = rest.to_owned();
            }
        }
    })
    .await;
    assert!(seen.is_ok(), "two samples within 60 s, saw {samples:?}");
    env.finish().await;
}

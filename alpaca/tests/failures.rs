//! How the client behaves when Alpaca says no: rate limits and server errors are retried,
//! wrong keys stop at once with a clear message, refusals carry Alpaca's message, and bodies
//! that do not parse become errors naming the endpoint.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{Canned, StandIn, client_for};
use exporter_alpaca::AlpacaError;

#[tokio::test]
async fn a_429_then_200_is_survived() {
    let stand_in = StandIn::start().await;
    stand_in.push(
        Canned::new(429, r#"{"code":42910000,"message":"rate limit exceeded"}"#)
            .header("Retry-After", "0")
            .header("X-Ratelimit-Remaining", "0"),
    );
    let account = stand_in.client().account().await.unwrap();
    assert_eq!(account.account_number, "010203ABCD");
    assert_eq!(stand_in.requests().len(), 2);
}

#[tokio::test]
async fn a_429_waits_as_long_as_retry_after_says() {
    let stand_in = StandIn::start().await;
    stand_in.push(Canned::new(429, "{}").header("Retry-After", "1"));
    let started = Instant::now();
    stand_in.client().positions().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(950));
    assert_eq!(stand_in.requests().len(), 2);
}

#[tokio::test]
async fn an_exhausted_server_budget_pauses_until_its_reset() {
    let stand_in = StandIn::start().await;
    let now_seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let reset = now_seconds.floor() + 2.0;
    stand_in.push(
        Canned::new(200, &common::fixture_body("positions.json").to_string())
            .header("X-Ratelimit-Remaining", "0")
            .header("X-Ratelimit-Reset", &format!("{reset}")),
    );
    let client = stand_in.client();
    client.positions().await.unwrap();
    let started = Instant::now();
    client.positions().await.unwrap();
    let expected = Duration::from_secs_f64(reset - now_seconds);
    assert!(
        started.elapsed() + Duration::from_millis(100) >= expected,
        "waited {:?}, reset was {expected:?} away",
        started.elapsed()
    );
}

#[tokio::test]
async fn persistent_429s_end_in_a_rate_limited_error() {
    let stand_in = StandIn::start().await;
    stand_in.always(Canned::new(429, "{}"));
    let mut config = stand_in.config();
    config.max_retries = 2;
    let error = client_for(config).account().await.unwrap_err();
    assert!(
        matches!(error, AlpacaError::RateLimited { attempts: 3, .. }),
        "{error:?}"
    );
    assert_eq!(stand_in.requests().len(), 3);
}

#[tokio::test]
async fn a_503_then_200_is_survived() {
    let stand_in = StandIn::start().await;
    stand_in.push(Canned::new(503, "upstream unavailable"));
    let positions = stand_in.client().positions().await.unwrap();
    assert_eq!(positions.len(), 1);
    assert_eq!(stand_in.requests().len(), 2);
}

#[tokio::test]
async fn persistent_5xx_ends_after_max_retries() {
    let stand_in = StandIn::start().await;
    stand_in.always(Canned::new(502, r#"{"message":"bad gateway"}"#));
    let mut config = stand_in.config();
    config.max_retries = 2;
    let error = client_for(config).account().await.unwrap_err();
    match &error {
        AlpacaError::Server {
            status,
            attempts,
            message,
            endpoint,
        } => {
            assert_eq!(*status, 502);
            assert_eq!(*attempts, 3);
            assert_eq!(message, "bad gateway");
            assert_eq!(endpoint, "GET /v2/account");
        }
        other => panic!("expected Server, got {other:?}"),
    }
    assert_eq!(stand_in.requests().len(), 3);
}

#[tokio::test]
async fn wrong_keys_stop_at_once_with_a_clear_message() {
    for status in [401, 403] {
        let stand_in = StandIn::start().await;
        stand_in.always(Canned::new(
            status,
            r#"{"code":40110000,"message":"request is not authorized"}"#,
        ));
        let config = stand_in.config();
        let secret = config.secret_key.expose().to_owned();
        let error = client_for(config).account().await.unwrap_err();
        assert!(error.is_unauthorized(), "{error:?}");
        let text = error.to_string();
        assert!(
            text.contains(&format!("Alpaca rejected the API keys (HTTP {status})")),
            "{text}"
        );
        assert!(text.contains("EXPORTER_ALPACA_KEY_ID"), "{text}");
        assert!(text.contains("EXPORTER_ALPACA_SECRET_KEY"), "{text}");
        assert!(text.contains("paper endpoint for paper keys"), "{text}");
        assert!(text.contains("request is not authorized"), "{text}");
        assert!(!text.contains(&secret));
        assert!(!format!("{error:?}").contains(&secret));
        assert_eq!(
            stand_in.requests().len(),
            1,
            "HTTP {status} must not be retried"
        );
    }
}

#[tokio::test]
async fn other_4xx_carry_alpacas_message() {
    let stand_in = StandIn::start().await;
    stand_in.always(Canned::new(
        422,
        r#"{"code":42210000,"message":"invalid timeframe"}"#,
    ));
    let error = stand_in
        .client()
        .portfolio_history("1M", "7Min")
        .await
        .unwrap_err();
    match &error {
        AlpacaError::Rejected {
            status, message, ..
        } => {
            assert_eq!(*status, 422);
            assert_eq!(message, "invalid timeframe");
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert!(error.to_string().contains("invalid timeframe"));
    assert_eq!(stand_in.requests().len(), 1);
}

#[tokio::test]
async fn a_body_that_does_not_parse_names_the_endpoint_and_field() {
    let stand_in = StandIn::start().await;
    let mut account = common::fixture_body("account.json");
    account["cash"] = serde_json::json!("twelve dollars");
    stand_in.set_body("/v2/account", &account.to_string());
    stand_in.set_body("/v2/positions", "<html>maintenance</html>");
    stand_in.set_body(
        "/v2/account/portfolio/history",
        r#"{"timestamp":[1,2],"equity":[1],"timeframe":"1D"}"#,
    );
    let client = stand_in.client();

    let error = client.account().await.unwrap_err();
    match &error {
        AlpacaError::Parse { endpoint, path, .. } => {
            assert_eq!(endpoint, "GET /v2/account");
            assert_eq!(path, "cash");
        }
        other => panic!("expected Parse, got {other:?}"),
    }
    let text = error.to_string();
    assert!(
        text.contains("GET /v2/account") && text.contains("cash"),
        "{text}"
    );

    let error = client.positions().await.unwrap_err();
    assert!(matches!(error, AlpacaError::Parse { .. }), "{error:?}");
    assert!(error.to_string().contains("GET /v2/positions"));

    let error = client.portfolio_history("1D", "1H").await.unwrap_err();
    assert!(matches!(error, AlpacaError::Parse { .. }), "{error:?}");
    assert!(
        error.to_string().contains("`equity` has 1 elements"),
        "{error}"
    );
}

#[tokio::test]
async fn a_malformed_fill_fails_the_page_with_its_id() {
    let stand_in = StandIn::start().await;
    stand_in.set_activities(vec![serde_json::json!({
        "id": "fill-1", "activity_type": "FILL", "transaction_time": "2024-01-01T00:00:00Z",
        "type": "fill", "price": "not a price", "qty": "1", "side": "buy", "symbol": "X",
        "leaves_qty": "0", "order_id": "o", "cum_qty": "1", "order_status": "filled"
    })]);
    let error = stand_in
        .client()
        .activities(&Default::default())
        .await
        .unwrap_err();
    let text = error.to_string();
    assert!(text.contains("GET /v2/account/activities"), "{text}");
    assert!(text.contains("fill-1"), "{text}");
}

#[tokio::test]
async fn a_timeout_is_retried() {
    let stand_in = StandIn::start().await;
    stand_in.push(Canned::new(200, "{}").delayed(Duration::from_millis(800)));
    let mut config = stand_in.config();
    config.timeout = Duration::from_millis(200);
    let account = client_for(config).account().await.unwrap();
    assert_eq!(account.account_number, "010203ABCD");
    assert_eq!(stand_in.requests().len(), 2);
}

#[tokio::test]
async fn an_unreachable_server_ends_in_a_transport_error() {
    // A port that was just free: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let (key_id, secret) = common::test_keys();
    let mut config =
        exporter_alpaca::ClientConfig::new(format!("http://{address}"), key_id, secret);
    config.max_retries = 1;
    let error = client_for(config).account().await.unwrap_err();
    assert!(
        matches!(error, AlpacaError::Transport { attempts: 2, .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn bad_settings_are_refused() {
    let (key_id, secret) = common::test_keys();
    let cases = [
        exporter_alpaca::ClientConfig::new("not a url", key_id.clone(), secret.clone()),
        exporter_alpaca::ClientConfig::new("http://127.0.0.1:1", "", secret.clone()),
        exporter_alpaca::ClientConfig::new("http://127.0.0.1:1", key_id.clone(), ""),
        exporter_alpaca::ClientConfig {
            timeout: Duration::ZERO,
            ..exporter_alpaca::ClientConfig::new("http://127.0.0.1:1", key_id, secret.clone())
        },
    ];
    for config in cases {
        let error = exporter_alpaca::Client::new(config).unwrap_err();
        assert!(matches!(error, AlpacaError::Config(_)), "{error:?}");
        assert!(!error.to_string().contains(&secret));
    }
}

//! A local stand-in for Alpaca's Trading API, serving the recorded responses in
//! `shared/fixtures/alpaca/` on 127.0.0.1, so the real client is tested over real HTTP.
//!
//! Tests can queue canned answers (429, 503, 401, slow answers, ...) that are served before the
//! fixtures, replace a route's body, and read back every request the client sent.

#![allow(dead_code, clippy::unwrap_used)]

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use exporter_alpaca::{Client, ClientConfig};
use serde_json::Value;

/// The recorded Alpaca responses.
pub fn fixtures_dir() -> PathBuf {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/fixtures/alpaca"
    ));
    assert!(
        dir.is_dir(),
        "the recorded Alpaca fixtures are missing: expected the directory {} (shared/fixtures/alpaca \
         beside the repository checkout)",
        dir.display()
    );
    dir
}

/// The body Alpaca sent, from a fixture file: `body` of a `{method, url, body}` record, or the
/// whole file when it is the bare body.
pub fn fixture_body(name: &str) -> Value {
    let path = fixtures_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", path.display()));
    let value: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("fixture {} is not JSON: {e}", path.display()));
    match value {
        Value::Object(mut record) if record.contains_key("body") => {
            record.remove("body").unwrap_or(Value::Null)
        }
        other => other,
    }
}

/// The activities fixture as a list.
pub fn fixture_activities() -> Vec<Value> {
    match fixture_body("account_activities.json") {
        Value::Array(items) => items,
        other => panic!("account_activities.json is not a list: {other}"),
    }
}

/// A canned answer served instead of the fixture.
#[derive(Debug, Clone)]
pub struct Canned {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub delay: Duration,
}

impl Canned {
    pub fn new(status: u16, body: &str) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.to_owned(),
            delay: Duration::ZERO,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// One request the stand-in received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: HashMap<String, String>,
    pub headers: HeaderMap,
}

struct Shared {
    activities: Mutex<Vec<Value>>,
    orders: Mutex<Vec<Value>>,
    bodies: Mutex<HashMap<String, Canned>>,
    script: Mutex<VecDeque<Canned>>,
    always: Mutex<Option<Canned>>,
    requests: Mutex<Vec<Recorded>>,
}

/// The running stand-in.
pub struct StandIn {
    pub base_url: String,
    shared: Arc<Shared>,
}

impl StandIn {
    /// Starts a stand-in on 127.0.0.1 with an OS-chosen port.
    pub async fn start() -> Self {
        let orders = match fixture_body("orders.json") {
            Value::Array(items) => items,
            other => panic!("orders.json is not a list: {other}"),
        };
        let shared = Arc::new(Shared {
            activities: Mutex::new(fixture_activities()),
            orders: Mutex::new(orders),
            bodies: Mutex::new(HashMap::new()),
            script: Mutex::new(VecDeque::new()),
            always: Mutex::new(None),
            requests: Mutex::new(Vec::new()),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            base_url: format!("http://{address}"),
            shared,
        }
    }

    /// Serves `canned` for the next request (queued after earlier ones).
    pub fn push(&self, canned: Canned) {
        self.shared.script.lock().unwrap().push_back(canned);
    }

    /// Serves `canned` for every request once the queue is empty.
    pub fn always(&self, canned: Canned) {
        *self.shared.always.lock().unwrap() = Some(canned);
    }

    /// Serves `body` (HTTP 200) for `path` instead of its fixture.
    pub fn set_body(&self, path: &str, body: &str) {
        self.shared
            .bodies
            .lock()
            .unwrap()
            .insert(path.to_owned(), Canned::new(200, body));
    }

    /// Replaces the activities the stand-in pages through.
    pub fn set_activities(&self, activities: Vec<Value>) {
        *self.shared.activities.lock().unwrap() = activities;
    }

    /// Replaces the orders the stand-in pages through.
    pub fn set_orders(&self, orders: Vec<Value>) {
        *self.shared.orders.lock().unwrap() = orders;
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// Settings for a client of this stand-in with freshly made keys.
    pub fn config(&self) -> ClientConfig {
        let (key_id, secret) = test_keys();
        let mut config = ClientConfig::new(&self.base_url, key_id, secret);
        config.timeout = Duration::from_secs(5);
        config.max_retries = 3;
        config
    }

    /// A client of this stand-in with short backoff delays.
    pub fn client(&self) -> Client {
        client_for(self.config())
    }
}

/// A client with 5 ms backoff so retry tests stay fast.
pub fn client_for(config: ClientConfig) -> Client {
    Client::new(config)
        .unwrap()
        .with_retry_base_delay(Duration::from_millis(5))
}

/// A key id and secret made up for this run (never real keys).
pub fn test_keys() -> (String, String) {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    (
        format!("PKTEST{:08X}", std::process::id()),
        format!("test-secret-{nanos:x}-{}", std::process::id()),
    )
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let query: HashMap<String, String> = Query::try_from_uri(request.uri())
        .map(|q| q.0)
        .unwrap_or_default();
    shared.requests.lock().unwrap().push(Recorded {
        method: request.method().to_string(),
        path: path.clone(),
        query: query.clone(),
        headers: request.headers().clone(),
    });

    let scripted = shared.script.lock().unwrap().pop_front();
    let canned = scripted
        .or_else(|| shared.always.lock().unwrap().clone())
        .or_else(|| shared.bodies.lock().unwrap().get(&path).cloned());
    if let Some(canned) = canned {
        return serve(canned).await;
    }

    let body = match path.as_str() {
        "/v2/account" => fixture_body("account.json"),
        "/v2/positions" => fixture_body("positions.json"),
        "/v2/orders" => match orders_page(&shared, &query) {
            Ok(page) => page,
            Err(message) => return error(422, &message),
        },
        "/v2/account/activities" => match activities_page(&shared, &query) {
            Ok(page) => page,
            Err(message) => return error(422, &message),
        },
        _ => return error(404, "endpoint not found"),
    };
    serve(Canned::new(200, &body.to_string())).await
}

/// Pages the activities like Alpaca: `page_token` is the id of the last activity of the
/// previous page; `direction=asc` reverses the (newest-first) recording.
fn activities_page(shared: &Shared, query: &HashMap<String, String>) -> Result<Value, String> {
    let mut all = shared.activities.lock().unwrap().clone();
    if query.get("direction").map(String::as_str) == Some("asc") {
        all.reverse();
    }
    let page_size: usize = match query.get("page_size") {
        Some(size) => size
            .parse()
            .map_err(|_| format!("invalid page_size {size}"))?,
        None => 100,
    };
    if !(1..=100).contains(&page_size) {
        return Err(format!("page_size {page_size} out of range"));
    }
    let start = match query.get("page_token") {
        None => 0,
        Some(token) => {
            all.iter()
                .position(|a| a["id"].as_str() == Some(token.as_str()))
                .ok_or_else(|| format!("invalid page_token {token}"))?
                + 1
        }
    };
    Ok(Value::Array(
        all.into_iter().skip(start).take(page_size).collect(),
    ))
}

/// Pages the orders like Alpaca: oldest first, `after` exclusive on `submitted_at`, `limit`.
fn orders_page(shared: &Shared, query: &HashMap<String, String>) -> Result<Value, String> {
    let limit: usize = match query.get("limit") {
        Some(limit) => limit
            .parse()
            .map_err(|_| format!("invalid limit {limit}"))?,
        None => 50,
    };
    let after: Option<DateTime<Utc>> = match query.get("after") {
        Some(after) => Some(
            DateTime::parse_from_rfc3339(after)
                .map_err(|e| format!("invalid after {after}: {e}"))?
                .with_timezone(&Utc),
        ),
        None => None,
    };
    let submitted = |order: &Value| -> DateTime<Utc> {
        order["submitted_at"]
            .as_str()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc))
            .unwrap()
    };
    let mut orders = shared.orders.lock().unwrap().clone();
    orders.sort_by_key(submitted);
    Ok(Value::Array(
        orders
            .into_iter()
            .filter(|order| after.is_none_or(|after| submitted(order) > after))
            .take(limit)
            .collect(),
    ))
}

fn error(status: u16, message: &str) -> Response {
    let body = serde_json::json!({ "code": 40010000 + u32::from(status), "message": message });
    let mut response = (StatusCode::from_u16(status).unwrap(), body.to_string()).into_response();
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

async fn serve(canned: Canned) -> Response {
    if !canned.delay.is_zero() {
        tokio::time::sleep(canned.delay).await;
    }
    let mut response = (StatusCode::from_u16(canned.status).unwrap(), canned.body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for (name, value) in canned.headers {
        headers.insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(&value).unwrap(),
        );
    }
    response
}

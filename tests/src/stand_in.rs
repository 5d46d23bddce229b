//! One local HTTP stand-in for the outside services the system talks to (webhook receivers,
//! Slack, ntfy, Telegram, Yahoo, Alpaca), so that each test says only what the service answers
//! and reads back what it was sent.
//!
//! A [`StandIn`] listens on 127.0.0.1 (a port of its own), records every request it gets
//! ([`Recorded`]: when, method, path, query, headers, body), then answers from its script of
//! [`Reply`]s while one is queued, and otherwise from the routes the test gave it (by default,
//! 200 `{"ok":true}` to anything).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// One request a stand-in received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// When it arrived.
    pub at: Instant,
    pub method: Method,
    pub path: String,
    /// The query string, without the `?`.
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The body as JSON (`null` when it is not JSON).
    pub json: Value,
}

impl Recorded {
    /// A header's value, if it was sent (and is text).
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

/// A scripted answer: status, headers and body.
#[derive(Debug, Clone)]
pub struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    /// An empty answer with `status`; add a body with [`Reply::json`] or [`Reply::body`].
    pub fn status(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: String::new(),
        }
    }

    /// The default answer: 200 `{"ok":true}` (what Telegram and most webhooks answer).
    pub fn ok() -> Self {
        Self::status(200).json(&serde_json::json!({"ok": true}))
    }

    /// `value` as an `application/json` body.
    pub fn json(self, value: &Value) -> Self {
        self.body("application/json", &value.to_string())
    }

    /// `text` as the body, sent as `content_type` whatever it holds.
    pub fn body(self, content_type: &str, text: &str) -> Self {
        Self {
            body: text.to_owned(),
            ..self.header("content-type", content_type)
        }
    }

    /// One more header (such as `retry-after`).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut response = (StatusCode::from_u16(self.status).unwrap(), self.body).into_response();
        for (name, value) in self.headers {
            response.headers_mut().insert(
                HeaderName::try_from(name).unwrap(),
                HeaderValue::try_from(value).unwrap(),
            );
        }
        response
    }
}

/// What the recording layer shares with the test.
#[derive(Debug, Default)]
struct Shared {
    seen: Mutex<Vec<Recorded>>,
    script: Mutex<VecDeque<Reply>>,
}

/// A local stand-in service; it runs until the test's runtime ends.
#[derive(Debug, Clone)]
pub struct StandIn {
    base: String,
    shared: Arc<Shared>,
}

impl StandIn {
    /// A stand-in that answers 200 `{"ok":true}` to any request (after its script).
    pub async fn start() -> Self {
        Self::serve(axum::Router::new().fallback(|| async { Reply::ok() })).await
    }

    /// A stand-in that answers the `script` in order, then 200 `{"ok":true}`.
    pub async fn scripted(script: impl IntoIterator<Item = Reply>) -> Self {
        let stand_in = Self::start().await;
        stand_in.shared.script.lock().unwrap().extend(script);
        stand_in
    }

    /// A stand-in that answers with `routes` (a service's API, with its state applied).
    pub async fn serve(routes: axum::Router) -> Self {
        let shared = Arc::new(Shared::default());
        let app = routes.layer(axum::middleware::from_fn_with_state(shared.clone(), record));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            base: format!("http://127.0.0.1:{port}"),
            shared,
        }
    }

    /// Its base URL, `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> &str {
        &self.base
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// How many requests so far.
    pub fn count(&self) -> usize {
        self.shared.seen.lock().unwrap().len()
    }

    /// Waits (up to 10 s, else panics naming `what`) for request number `index` (from 0).
    pub async fn received(&self, what: &str, index: usize) -> Recorded {
        crate::eventually(what, Duration::from_secs(10), || async {
            self.shared.seen.lock().unwrap().get(index).cloned()
        })
        .await
    }
}

/// Records the request, then answers from the script or passes it on to the routes.
async fn record(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let at = Instant::now();
    shared.seen.lock().unwrap().push(Recorded {
        at,
        method: parts.method.clone(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers.clone(),
        json: serde_json::from_slice(&body).unwrap_or(Value::Null),
        body: body.clone(),
    });
    let scripted = shared.script.lock().unwrap().pop_front();
    match scripted {
        Some(reply) => reply.into_response(),
        None => next.run(Request::from_parts(parts, Body::from(body))).await,
    }
}

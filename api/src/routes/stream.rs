//! `GET /alerts/stream`: alert state changes as they happen, as server-sent events, for a
//! dashboard or a phone that keeps a page open instead of polling `/alerts`.
//!
//! Each event is the `AlertEvent` the aggregator publishes on `<prefix>.v1.alert.<kind>`, with
//! the kind as the SSE event name (`pending`, `firing`, `resolved`, `inactive`, `acknowledged`).
//! A comment line every 15 s keeps proxies (and the ngrok tunnel) from closing an idle stream.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::{Stream, StreamExt};

use std::sync::Arc;

use crate::auth::Caller;
use crate::{ApiError, AppState};

/// One open stream in `exporter.sse_streams`, for as long as the stream lives (dropped when the
/// client goes away and axum drops the stream).
/// The caps on open streams: `api.sse_max_streams` in total and `api.sse_max_streams_per_key`
/// per key, so one client (or one leaked key) cannot hold the API's memory with streams.
#[derive(Debug, Default)]
pub struct StreamLimits {
    max_total: usize,
    max_per_key: usize,
    open: std::sync::Mutex<std::collections::HashMap<String, usize>>,
}

impl StreamLimits {
    pub fn new(max_total: usize, max_per_key: usize) -> Self {
        Self {
            max_total,
            max_per_key,
            open: Default::default(),
        }
    }

    /// A slot for one more stream of `key`, or the 503 that says which cap was reached.
    pub(crate) fn open(self: &Arc<Self>, key: &str) -> Result<OpenStream, ApiError> {
        let mut open = self.open.lock().expect("stream limits");
        let total: usize = open.values().sum();
        let mine = open.get(key).copied().unwrap_or(0);
        let detail = if total >= self.max_total {
            format!("{total} live streams are open, the limit (api.sse_max_streams); close one")
        } else if mine >= self.max_per_key {
            format!(
                "this key has {mine} live streams open, the limit per key (api.sse_max_streams_per_key); close one"
            )
        } else {
            *open.entry(key.to_owned()).or_default() += 1;
            let gauge = exporter_runtime::self_metrics::global()
                .gauge(&exporter_protocol::self_metrics::SSE_STREAMS, &[]);
            gauge.add(1.0);
            return Ok(OpenStream {
                gauge,
                limits: self.clone(),
                key: key.to_owned(),
            });
        };
        Err(ApiError::Unavailable {
            detail,
            retry_after_seconds: 5,
        })
    }
}

/// One open stream: counted until the stream is dropped.
#[derive(Debug)]
pub(crate) struct OpenStream {
    gauge: exporter_runtime::self_metrics::Gauge,
    limits: Arc<StreamLimits>,
    key: String,
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.gauge.add(-1.0);
        if let Ok(mut open) = self.limits.open.lock()
            && let Some(count) = open.get_mut(&self.key)
        {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

#[utoipa::path(
    get,
    path = "/alerts/stream", operation_id = "alert_stream",
    tag = "alerts",
    responses(
        (status = 200, description = "Server-sent events: one per alert state change, named by its kind (`pending`, `firing`, `resolved`, `inactive`, `acknowledged`), whose data is an AlertEvent; a comment line every 15 s", body = exporter_protocol::alert::AlertEvent, content_type = "text/event-stream"),
        (status = 401, description = "Missing or wrong API key", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "NATS is not connected, or the live-stream caps (api.sse_max_streams, api.sse_max_streams_per_key) are reached (Retry-After)", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn alerts(
    State(state): State<AppState>,
    caller: Option<axum::Extension<Caller>>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let key = caller.map_or_else(String::new, |caller| caller.0.name.clone());
    let open = state.streams.open(&key)?;
    let Some(client) = state.nats.clone() else {
        return Err(ApiError::Unavailable {
            detail: "NATS is not connected; the live stream needs it".into(),
            retry_after_seconds: 5,
        });
    };
    let subject = exporter_protocol::Subjects::new(&state.subject_prefix).all_alerts();
    let subscription = client.subscribe(subject).await.map_err(|err| {
        tracing::warn!(error = %err, "cannot subscribe to alert events");
        ApiError::Unavailable {
            detail: "cannot subscribe to alert events on NATS".into(),
            retry_after_seconds: 5,
        }
    })?;
    let events = subscription
        .filter_map(|message| async move {
            let kind = message
                .subject
                .as_str()
                .rsplit('.')
                .next()
                .unwrap_or("event")
                .to_owned();
            let data = String::from_utf8(message.payload.to_vec()).ok()?;
            Some(Ok(Event::default().event(kind).data(data)))
        })
        // The stream owns the count: it ends when axum drops the stream.
        .inspect(move |_| {
            let _ = &open;
        });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

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

use crate::{ApiError, AppState};

/// One open stream in `exporter.sse_streams`, for as long as the stream lives (dropped when the
/// client goes away and axum drops the stream).
#[derive(Debug)]
struct OpenStream(exporter_runtime::self_metrics::Gauge);

impl OpenStream {
    fn new() -> Self {
        let gauge = exporter_runtime::self_metrics::global()
            .gauge(&exporter_protocol::self_metrics::SSE_STREAMS, &[]);
        gauge.add(1.0);
        Self(gauge)
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.add(-1.0);
    }
}

#[utoipa::path(
    get,
    path = "/alerts/stream", operation_id = "alert_stream",
    tag = "alerts",
    responses(
        (status = 200, description = "Server-sent events: one per alert state change, named by its kind (`pending`, `firing`, `resolved`, `inactive`, `acknowledged`), whose data is an AlertEvent; a comment line every 15 s", body = exporter_protocol::alert::AlertEvent, content_type = "text/event-stream"),
        (status = 401, description = "Missing or wrong API key", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "NATS is not connected (Retry-After)", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn alerts(
    State(state): State<AppState>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
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
    let open = OpenStream::new();
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

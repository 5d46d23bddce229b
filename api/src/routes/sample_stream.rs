//! `GET /metrics/stream`: new samples as they are stored, as server-sent events, so an open
//! dashboard updates without polling. On connect (and on every reconnect: `Last-Event-ID` is
//! not needed, the current values are what matters) it first sends the current latest sample
//! of every source and host, then each new one. Every stream reads one shared producer
//! ([`crate::live`]), within the same caps as `/alerts/stream`, with a comment line every 15 s
//! so proxies and the tunnel keep an idle stream open.

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::{Stream, StreamExt};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::Caller;
use crate::extract::{AppQuery, de};
use crate::live::LiveSample;
use crate::{ApiError, AppState};

/// Query of `/metrics/stream`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StreamParams {
    /// Only samples of this source (`system`, `hardware`, `portfolio`, ...).
    #[serde(default, deserialize_with = "de::text")]
    #[param(min_length = 1, max_length = 256, pattern = "^[^\\u0000]+$")]
    pub source: Option<String>,
    /// Only samples of this host.
    #[serde(default, deserialize_with = "de::text")]
    #[param(min_length = 1, max_length = 256, pattern = "^[^\\u0000]+$")]
    pub host: Option<String>,
}

impl StreamParams {
    fn wants(&self, sample: &LiveSample) -> bool {
        self.source.as_ref().is_none_or(|s| *s == sample.source)
            && self.host.as_ref().is_none_or(|h| *h == sample.host)
    }
}

fn event(sample: &LiveSample) -> Option<Result<Event, Infallible>> {
    let data = serde_json::to_string(sample).ok()?;
    Some(Ok(Event::default()
        .event("sample")
        .id(sample.message_id.to_string())
        .data(data)))
}

#[utoipa::path(
    get,
    path = "/metrics/stream", operation_id = "sample_stream",
    tag = "metrics",
    params(StreamParams),
    responses(
        (status = 200, description = "Server-sent events named `sample`, whose data is a LiveSample (one entry of /metrics/all with its `source`) and whose id is its message id: first the current latest sample of every source and host, then each new one as it is stored; a comment line every 15 s", body = LiveSample, content_type = "text/event-stream"),
        (status = 400, description = "A parameter is invalid; `parameter` names it", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong API key", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "The live-stream caps (api.sse_max_streams, api.sse_max_streams_per_key) are reached, or PostgreSQL did not answer (Retry-After)", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn samples(
    State(state): State<AppState>,
    caller: Option<axum::Extension<Caller>>,
    AppQuery(params): AppQuery<StreamParams>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let key = caller.map_or_else(String::new, |caller| caller.0.name.clone());
    let open = state.streams.open(&key)?;
    // Subscribed before the current samples are read: nothing stored in between is missed
    // (what arrives twice is left out by its id).
    let receiver = state.live.subscribe(&state.store);
    let current: Vec<LiveSample> = state
        .store
        .latest(params.source.as_deref(), params.host.as_deref())
        .await?
        .into_iter()
        .map(LiveSample::from)
        .collect();
    let already: HashSet<uuid::Uuid> = current.iter().map(|s| s.message_id).collect();
    let params = Arc::new(params);
    let first = futures::stream::iter(current.iter().filter_map(event).collect::<Vec<_>>());
    let new = tokio_stream_of(receiver).filter_map(move |sample| {
        let keep = params.wants(&sample) && !already.contains(&sample.message_id);
        async move { keep.then(|| event(&sample)).flatten() }
    });
    let events = first
        .chain(new)
        // The stream owns the count: it ends when axum drops the stream.
        .inspect(move |_| {
            let _ = &open;
        });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// The broadcast receiver as a stream; a stream that fell behind skips ahead (a lost sample is
/// replaced by the next one of its source).
fn tokio_stream_of(
    receiver: tokio::sync::broadcast::Receiver<Arc<LiveSample>>,
) -> impl Stream<Item = Arc<LiveSample>> {
    futures::stream::unfold(receiver, |mut receiver| async move {
        loop {
            match receiver.recv().await {
                Ok(sample) => return Some((sample, receiver)),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(skipped)) => {
                    tracing::debug!(skipped, "a live sample stream fell behind; skipping ahead");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
}

//! New samples for `GET /metrics/stream`, from one producer for every client: a single task
//! looks at the latest-sample table every [`POLL`] (message ids only; the bodies of the
//! samples that changed are read once) and sends each new sample into a broadcast channel that
//! every open stream reads. A hundred open pages cost the store one small query a second, not a
//! hundred. The task sleeps while no stream is open and wakes with the first one.
//!
//! The store, not the bus, is the source: a sample reaches the page once the aggregator has
//! stored it, exactly what `/metrics/all` answers next, and the API needs no new NATS
//! permission.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use exporter_store::{LatestSample, Store};
use serde::Serialize;
use tokio::sync::{Notify, broadcast};
use utoipa::ToSchema;
use uuid::Uuid;

/// How often the producer looks for new samples.
pub const POLL: Duration = Duration::from_secs(1);
/// Samples a slow stream may fall behind before it skips ahead.
const BACKLOG: usize = 256;

/// One sample as `/metrics/stream` sends it: the shape of one entry of `/metrics/all`, with its
/// source.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "source": "system", "host": "gh200", "time": "2026-12-01T13:37:11.059879Z",
    "received_at": "2026-12-01T13:37:11.260112Z", "age_seconds": 0.2,
    "message_id": "019ada1e-62b3-7c52-a4b0-2f8a3c1d9e10",
    "sample": {"cpu": {"usage_percent": 12.5}, "memory": {"used_bytes": 17179869184_u64}}
}))]
pub struct LiveSample {
    /// The collector kind (`system`, `hardware`, `portfolio`, ...).
    pub source: String,
    pub host: String,
    /// When the collector took the sample.
    pub time: DateTime<Utc>,
    /// When the aggregator stored it.
    pub received_at: DateTime<Utc>,
    /// Seconds since `time`, when the API read it.
    pub age_seconds: f64,
    pub message_id: Uuid,
    /// The source's own document, as in `/metrics/all` (the typed routes describe each).
    #[schema(value_type = Object)]
    pub sample: serde_json::Value,
}

impl From<LatestSample> for LiveSample {
    fn from(latest: LatestSample) -> Self {
        let source = latest.source.clone();
        let sample = crate::routes::metrics::host_sample(latest);
        Self {
            source,
            host: sample.host,
            time: sample.time,
            received_at: sample.received_at,
            age_seconds: sample.age_seconds,
            message_id: sample.message_id,
            sample: sample.sample,
        }
    }
}

/// The shared producer and its channel.
#[derive(Debug)]
pub struct LiveSamples {
    sender: broadcast::Sender<Arc<LiveSample>>,
    wake: Notify,
    started: AtomicBool,
}

impl Default for LiveSamples {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(BACKLOG).0,
            wake: Notify::new(),
            started: AtomicBool::new(false),
        }
    }
}

impl LiveSamples {
    /// A receiver of every sample stored from now on (the producer starts with the first).
    pub fn subscribe(self: &Arc<Self>, store: &Store) -> broadcast::Receiver<Arc<LiveSample>> {
        let receiver = self.sender.subscribe();
        if !self.started.swap(true, Ordering::SeqCst) {
            tokio::spawn(self.clone().produce(store.clone()));
        }
        self.wake.notify_one();
        receiver
    }

    /// The producer's loop: every [`POLL`] while someone listens, the samples that are new.
    async fn produce(self: Arc<Self>, store: Store) {
        let mut seen: Option<HashSet<Uuid>> = None;
        loop {
            // Nobody listens: nothing is read. What changed meanwhile is sent at the next look;
            // a new stream leaves out what it already read itself.
            while self.sender.receiver_count() == 0 {
                self.wake.notified().await;
            }
            tokio::time::sleep(POLL).await;
            let ids = match store.latest_message_ids().await {
                Ok(ids) => ids,
                Err(err) => {
                    tracing::warn!(error = %err, "live samples: cannot read the latest samples; retrying");
                    continue;
                }
            };
            let current: HashSet<Uuid> = ids.into_iter().collect();
            let Some(before) = seen.replace(current.clone()) else {
                continue;
            };
            let new: Vec<Uuid> = current.difference(&before).copied().collect();
            if new.is_empty() {
                continue;
            }
            match store.latest_of(&new).await {
                Ok(rows) => {
                    for row in rows {
                        let _ = self.sender.send(Arc::new(LiveSample::from(row)));
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "live samples: cannot read the new samples");
                    // Seen again as new at the next look.
                    if let Some(seen) = seen.as_mut() {
                        for id in &new {
                            seen.remove(id);
                        }
                    }
                }
            }
        }
    }
}

//! How far behind ingest is, from JetStream's own view: what the shared consumer has not
//! delivered yet, what it delivered and nobody acknowledged (batches being written, or held by
//! an aggregator that died until `ack_wait` passes), and the age of the oldest message in the
//! work-queue stream (a committed message is removed from it, so that is the oldest sample not
//! stored yet).
//!
//! The figures are self-metrics (`exporter.consumer_pending_messages`,
//! `exporter.consumer_ack_pending_messages`, `exporter.ingest_lag_seconds`,
//! `exporter.stream_messages`, `exporter.stream_bytes`), so they are stored like every other
//! sample, `/health` reads them through the store and the shipped `IngestLagging` rule watches
//! them. A stall is also logged when it starts, every minute while it lasts, and when it ends:
//! a silent stall is what this module exists to prevent.

use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::PullConsumer;
use async_nats::jetstream::stream::Stream;
use exporter_protocol::self_metrics as names;
use exporter_runtime::Shutdown;
use exporter_runtime::self_metrics::{self, Gauge};

/// How often a stall that goes on is logged again.
const REPEAT_WARNING: Duration = Duration::from_secs(60);

/// One reading of the stream and the consumer.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Lag {
    /// Messages the consumer has not delivered yet.
    pub pending_messages: u64,
    /// Messages delivered and not acknowledged yet.
    pub ack_pending_messages: u64,
    /// Messages in the stream (not committed yet).
    pub stream_messages: u64,
    pub stream_bytes: u64,
    /// Age of the oldest message in the stream; 0 when it is empty.
    pub oldest_age_seconds: f64,
}

/// When a reading counts as a stall.
#[derive(Debug, Clone, Copy)]
pub struct LagLimits {
    /// The oldest uncommitted message is older than this.
    pub warn_after: Duration,
    /// The consumer's `max_ack_pending`: at it, JetStream delivers nothing more.
    pub max_ack_pending: u64,
}

impl Lag {
    /// Why this reading is a stall, if it is one.
    pub fn stalled(&self, limits: &LagLimits) -> Option<&'static str> {
        if self.ack_pending_messages >= limits.max_ack_pending {
            Some(
                "the consumer is at max_ack_pending: JetStream delivers nothing until acks come or ack_wait passes",
            )
        } else if self.oldest_age_seconds > limits.warn_after.as_secs_f64() {
            Some("the oldest message in the stream waits longer than aggregator.lag_warn_seconds")
        } else {
            None
        }
    }
}

/// Reads the figures once.
pub async fn read(stream: &Stream, consumer: &PullConsumer) -> Result<Lag, String> {
    let info = consumer.get_info().await.map_err(|err| err.to_string())?;
    let (pending, ack_pending) = (info.num_pending, info.num_ack_pending as u64);
    let state = stream
        .get_info()
        .await
        .map_err(|err| err.to_string())?
        .state;
    let oldest_age_seconds = if state.messages == 0 {
        0.0
    } else {
        let now_ns = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX);
        let first_ns = state.first_timestamp.unix_timestamp_nanos();
        ((i128::from(now_ns) - first_ns).max(0) as f64) / 1e9
    };
    Ok(Lag {
        pending_messages: pending,
        ack_pending_messages: ack_pending,
        stream_messages: state.messages,
        stream_bytes: state.bytes,
        oldest_age_seconds,
    })
}

struct Gauges {
    pending: Gauge,
    ack_pending: Gauge,
    age: Gauge,
    messages: Gauge,
    bytes: Gauge,
}

impl Gauges {
    fn new() -> Self {
        let registry = self_metrics::global();
        Self {
            pending: registry.gauge(&names::CONSUMER_PENDING, &[]),
            ack_pending: registry.gauge(&names::CONSUMER_ACK_PENDING, &[]),
            age: registry.gauge(&names::INGEST_LAG, &[]),
            messages: registry.gauge(&names::STREAM_MESSAGES, &[]),
            bytes: registry.gauge(&names::STREAM_BYTES, &[]),
        }
    }

    fn set(&self, lag: &Lag) {
        self.pending.set(lag.pending_messages as f64);
        self.ack_pending.set(lag.ack_pending_messages as f64);
        self.age.set(lag.oldest_age_seconds);
        self.messages.set(lag.stream_messages as f64);
        self.bytes.set(lag.stream_bytes as f64);
    }
}

/// Reads the lag every `interval` until `shutdown`, keeps the gauges and logs stalls.
pub async fn run(
    stream: Stream,
    consumer: PullConsumer,
    interval: Duration,
    limits: LagLimits,
    health: std::sync::Arc<crate::deadman::IngestHealth>,
    shutdown: Shutdown,
) {
    let gauges = Gauges::new();
    let mut stalled_since: Option<Instant> = None;
    let mut last_warning = Instant::now();
    loop {
        match read(&stream, &consumer).await {
            Ok(lag) => {
                gauges.set(&lag);
                health.lag_ok.store(
                    lag.stalled(&limits).is_none(),
                    std::sync::atomic::Ordering::Relaxed,
                );
                match (lag.stalled(&limits), stalled_since) {
                    (Some(why), None) => {
                        stalled_since = Some(Instant::now());
                        last_warning = Instant::now();
                        warn(&lag, why, 0);
                    }
                    (Some(why), Some(since)) if last_warning.elapsed() >= REPEAT_WARNING => {
                        last_warning = Instant::now();
                        warn(&lag, why, since.elapsed().as_secs());
                    }
                    (None, Some(since)) => {
                        stalled_since = None;
                        tracing::info!(
                            stalled_seconds = since.elapsed().as_secs(),
                            pending_messages = lag.pending_messages,
                            ack_pending_messages = lag.ack_pending_messages,
                            oldest_age_seconds = lag.oldest_age_seconds,
                            "ingest caught up"
                        );
                    }
                    _ => {}
                }
            }
            Err(err) => {
                health
                    .lag_ok
                    .store(false, std::sync::atomic::Ordering::Relaxed);
                tracing::debug!(error = %err, "stream or consumer info not read");
            }
        }
        if shutdown.sleep(interval).await {
            return;
        }
    }
}

fn warn(lag: &Lag, why: &str, stalled_seconds: u64) {
    tracing::warn!(
        stalled_seconds,
        pending_messages = lag.pending_messages,
        ack_pending_messages = lag.ack_pending_messages,
        stream_messages = lag.stream_messages,
        stream_bytes = lag.stream_bytes,
        oldest_age_seconds = lag.oldest_age_seconds,
        reason = why,
        "ingest is behind. Check the aggregator's log for PostgreSQL errors, `exporter status`, and GET /health"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_ack_window_or_an_old_message_is_a_stall() {
        let limits = LagLimits {
            warn_after: Duration::from_secs(30),
            max_ack_pending: 100,
        };
        let ok = Lag {
            ack_pending_messages: 99,
            oldest_age_seconds: 29.0,
            ..Lag::default()
        };
        assert_eq!(ok.stalled(&limits), None);
        let full = Lag {
            ack_pending_messages: 100,
            ..ok
        };
        assert!(full.stalled(&limits).unwrap().contains("max_ack_pending"));
        let old = Lag {
            oldest_age_seconds: 31.0,
            ..ok
        };
        assert!(old.stalled(&limits).unwrap().contains("lag_warn_seconds"));
    }
}

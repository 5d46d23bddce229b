//! Reliable publishing for every collector: each sample goes to JetStream with its id as
//! `Nats-Msg-Id` and counts as sent only once JetStream acked it.
//!
//! While NATS is away (or the stream is full) samples wait in a bounded in-memory buffer and are
//! retried in order with exponential backoff; a re-sent sample keeps its id, so the server's
//! duplicate window drops it if the first attempt had in fact arrived. When the buffer is full
//! the oldest sample is dropped and counted; the count is logged when publishing recovers and
//! reported in every heartbeat.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::{self, message::PublishMessage};
use bytes::Bytes;
use exporter_protocol::Envelope;
use exporter_protocol::self_metrics as names;
use exporter_runtime::heartbeat::HeartbeatCounters;
use exporter_runtime::self_metrics::{self, Counter, Gauge, Histogram};
use exporter_runtime::{Backoff, RetryPolicy, Shutdown};
use serde::Serialize;
use tokio::sync::mpsc;

/// Why a publish that waits for JetStream's ack failed.
#[derive(Debug, thiserror::Error)]
pub enum AckedPublishError {
    #[error("cannot serialise the message: {0}")]
    Serialise(#[from] serde_json::Error),
    #[error("publishing to JetStream failed: {0}")]
    Publish(String),
    #[error("JetStream did not acknowledge the message: {0}")]
    Ack(String),
}

/// Publishes one envelope with its id as `Nats-Msg-Id` and waits for JetStream's ack, for
/// collectors that move a cursor only once their data is safe (trades, logs, notifications).
pub async fn publish_acked<T: Serialize>(
    js: &jetstream::Context,
    subject: String,
    envelope: &Envelope<T>,
) -> Result<(), AckedPublishError> {
    let payload = serde_json::to_vec(envelope)?;
    publish_payload_acked(js, subject, &envelope.id.to_string(), payload.into()).await
}

/// [`publish_acked`] for an already serialised payload (re-sent with the same `message_id`, a
/// copy inside JetStream's duplicate window is dropped by the server).
pub async fn publish_payload_acked(
    js: &jetstream::Context,
    subject: String,
    message_id: &str,
    payload: Bytes,
) -> Result<(), AckedPublishError> {
    let started = Instant::now();
    let publish = PublishMessage::build()
        .payload(payload)
        .message_id(message_id);
    js.send_publish(subject, publish)
        .await
        .map_err(|err| AckedPublishError::Publish(err.to_string()))?
        .await
        .map_err(|err| AckedPublishError::Ack(err.to_string()))?;
    PublishMetrics::new().latency.observe_since(started);
    Ok(())
}

/// The publisher's self-metrics; each mirrors a [`HeartbeatCounters`] field or adds to it.
#[derive(Debug, Clone)]
struct PublishMetrics {
    latency: Histogram,
    buffered: Gauge,
    dropped: Counter,
}

impl PublishMetrics {
    fn new() -> Self {
        let registry = self_metrics::global();
        Self {
            latency: registry.histogram(&names::PUBLISH_LATENCY, &[]),
            buffered: registry.gauge(&names::BUFFERED_SAMPLES, &[]),
            dropped: registry.counter(&names::DROPPED_SAMPLES, &[]),
        }
    }

    fn drop_one(&self, counters: &HeartbeatCounters) {
        counters
            .dropped_samples_total
            .fetch_add(1, Ordering::Relaxed);
        self.dropped.inc();
    }

    fn buffered(&self, counters: &HeartbeatCounters, samples: usize) {
        counters
            .buffered_samples
            .store(samples as u64, Ordering::Relaxed);
        self.buffered.set(samples as f64);
    }
}

/// Publishes sent concurrently before their acks are awaited.
const WINDOW: usize = 64;
/// Longest the final flush on shutdown may take.
const FINAL_FLUSH: Duration = Duration::from_secs(3);
/// Retrying a publish JetStream did not acknowledge (here, and the file followers' batches):
/// 200 ms doubling to 5 s. A retry is cheap (one window, bounded by the publish timeout) and data
/// should flow again within seconds of NATS coming back.
pub const JETSTREAM_RETRY: RetryPolicy =
    RetryPolicy::new(Duration::from_millis(200), Duration::from_secs(5));

/// One serialised message waiting for its ack.
#[derive(Debug, Clone)]
struct Pending {
    subject: String,
    message_id: String,
    payload: Bytes,
    /// When it was queued, for the publish latency.
    queued_at: Instant,
}

/// What collectors hold to publish; cloneable, never blocks.
#[derive(Debug, Clone)]
pub struct PublishHandle {
    tx: mpsc::Sender<Pending>,
    counters: Arc<HeartbeatCounters>,
    metrics: PublishMetrics,
}

impl PublishHandle {
    /// Queues an envelope for publishing on `subject`.
    pub fn publish<T: Serialize>(&self, subject: String, envelope: &Envelope<T>) {
        let payload = match serde_json::to_vec(envelope) {
            Ok(payload) => payload,
            Err(err) => {
                tracing::error!(error = %err, %subject, "sample could not be serialised; dropped");
                self.metrics.drop_one(&self.counters);
                return;
            }
        };
        let pending = Pending {
            subject,
            message_id: envelope.id.to_string(),
            payload: payload.into(),
            queued_at: Instant::now(),
        };
        if self.tx.try_send(pending).is_err() {
            self.metrics.drop_one(&self.counters);
            tracing::warn!("publisher queue full; sample dropped");
        }
    }
}

/// Owns the buffer and the retry loop; runs in its own task.
#[derive(Debug)]
pub struct Publisher {
    js: jetstream::Context,
    buffer: VecDeque<Pending>,
    capacity: usize,
    counters: Arc<HeartbeatCounters>,
    metrics: PublishMetrics,
    failing_since: Option<Instant>,
    /// When the next retry is due while failing: a fixed deadline, so samples arriving more
    /// often than the backoff cannot keep pushing the retry away.
    next_retry: Option<tokio::time::Instant>,
    dropped_during_outage: u64,
    backoff: Backoff,
}

impl Publisher {
    /// Starts the publisher task; it ends once every handle is dropped and a last flush ran.
    pub fn spawn(
        js: jetstream::Context,
        capacity: usize,
        counters: Arc<HeartbeatCounters>,
        shutdown: Shutdown,
    ) -> (tokio::task::JoinHandle<()>, PublishHandle) {
        let (tx, rx) = mpsc::channel(1024);
        let metrics = PublishMetrics::new();
        let publisher = Self {
            js,
            buffer: VecDeque::new(),
            capacity,
            counters: counters.clone(),
            metrics: metrics.clone(),
            failing_since: None,
            next_retry: None,
            dropped_during_outage: 0,
            backoff: JETSTREAM_RETRY.backoff(),
        };
        let task = tokio::spawn(publisher.run(rx, shutdown));
        (
            task,
            PublishHandle {
                tx,
                counters,
                metrics,
            },
        )
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Pending>, shutdown: Shutdown) {
        loop {
            let deadline = self.next_retry.filter(|_| !self.buffer.is_empty());
            let retry = async move {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                message = rx.recv() => match message {
                    Some(pending) => {
                        self.enqueue(pending);
                        while let Ok(more) = rx.try_recv() {
                            self.enqueue(more);
                        }
                        if self.failing_since.is_none() {
                            self.flush().await;
                        }
                    }
                    None => break,
                },
                () = retry => self.flush().await,
            }
        }
        if !self.buffer.is_empty() {
            let _ = tokio::time::timeout(FINAL_FLUSH, self.flush()).await;
        }
        if !self.buffer.is_empty() {
            for _ in 0..self.buffer.len() {
                self.metrics.drop_one(&self.counters);
            }
            tracing::warn!(
                unsent_samples = self.buffer.len(),
                dropped_samples_total = self.counters.dropped_samples_total.load(Ordering::Relaxed),
                "stopping with samples JetStream never acknowledged; they are lost (counted as dropped)"
            );
        }
        drop(shutdown);
    }

    fn enqueue(&mut self, pending: Pending) {
        if self.buffer.len() >= self.capacity {
            self.buffer.pop_front();
            self.dropped_during_outage += 1;
            self.metrics.drop_one(&self.counters);
        }
        self.buffer.push_back(pending);
        self.metrics.buffered(&self.counters, self.buffer.len());
    }

    /// Publishes the buffer in order, a window at a time, until it is empty or a publish fails.
    async fn flush(&mut self) {
        while !self.buffer.is_empty() {
            let window: Vec<Pending> = self.buffer.iter().take(WINDOW).cloned().collect();
            let mut acks = Vec::with_capacity(window.len());
            let mut error = None;
            let mut oversized = Vec::new();
            for pending in &window {
                let publish = PublishMessage::build()
                    .payload(pending.payload.clone())
                    .message_id(&pending.message_id);
                match self.js.send_publish(pending.subject.clone(), publish).await {
                    Ok(ack) => acks.push(ack),
                    Err(err) if err.kind() == PublishErrorKind::MaxPayloadExceeded => {
                        // It would fail forever and block everything behind it.
                        tracing::error!(subject = %pending.subject, bytes = pending.payload.len(), error = %err, "sample larger than the server's max_payload; dropped");
                        self.metrics.drop_one(&self.counters);
                        oversized.push(pending.message_id.clone());
                        break;
                    }
                    Err(err) => {
                        error = Some(err.to_string());
                        break;
                    }
                }
            }
            let acks_sent = acks.len();
            let mut acked = 0;
            let mut contiguous = true;
            for (ack, pending) in acks.into_iter().zip(&window) {
                match ack.await {
                    Ok(_) if contiguous => {
                        acked += 1;
                        self.metrics.latency.observe_since(pending.queued_at);
                    }
                    Ok(_) => {}
                    Err(err) => {
                        contiguous = false;
                        error.get_or_insert_with(|| err.to_string());
                    }
                }
            }
            // Everything before the first failure is acked; the rest is retried with the same
            // ids (JetStream drops any that did arrive).
            self.buffer.drain(..acked);
            if !oversized.is_empty() && acked == acks_sent {
                self.buffer.retain(|p| !oversized.contains(&p.message_id));
            }
            self.metrics.buffered(&self.counters, self.buffer.len());
            if let Some(error) = error {
                if acked > 0 {
                    // Progress: the server is back, only part of the window failed.
                    self.backoff.reset();
                }
                self.note_failure(&error);
                return;
            }
        }
        self.note_recovery();
    }

    fn note_failure(&mut self, error: &str) {
        if self.failing_since.is_none() {
            self.failing_since = Some(Instant::now());
            tracing::warn!(
                %error,
                buffered_samples = self.buffer.len(),
                buffer_capacity = self.capacity,
                "publishing to JetStream failed; buffering and retrying. Check that nats-server is running with -js and the stream is not full"
            );
        }
        let delay = self.backoff.next_delay().unwrap_or(JETSTREAM_RETRY.max);
        self.next_retry = Some(tokio::time::Instant::now() + delay);
    }

    fn note_recovery(&mut self) {
        if let Some(since) = self.failing_since.take() {
            tracing::info!(
                outage_seconds = since.elapsed().as_secs(),
                dropped_samples = self.dropped_during_outage,
                dropped_samples_total = self.counters.dropped_samples_total.load(Ordering::Relaxed),
                "publishing to JetStream recovered; buffered samples sent"
            );
            self.dropped_during_outage = 0;
        }
        self.next_retry = None;
        self.backoff.reset();
    }
}

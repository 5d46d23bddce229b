//! The ingest loop: pull a batch (up to `batch_max_messages`, committed as soon as the stream has
//! nothing more for it), decode, write it in one transaction, then ack. Behind a full batch (a
//! backlog) the next one is pulled and decoded meanwhile, so at most two batches are held. A failed write is retried
//! with backoff without acking; a shutdown in the middle abandons the batch unacked, and
//! JetStream redelivers it to whoever runs next.

use std::time::{Duration, Instant};

use async_nats::jetstream::{self, AckKind, consumer::PullConsumer};
use exporter_runtime::{RetryPolicy, Shutdown};
use exporter_settings::AggregatorSettings;
use exporter_store::{Batch, DeadLetter, Store};
use futures::StreamExt;

use exporter_protocol::self_metrics as names;
use exporter_runtime::self_metrics::{self, Counter, Histogram};

use crate::decode::{Decoded, Decoder, RawMessage, reason_category};

/// The aggregator's self-metrics handles, looked up once.
#[derive(Debug, Clone)]
struct Metrics {
    messages: Counter,
    points: Counter,
    commit: Histogram,
    redeliveries: Counter,
}

impl Metrics {
    fn new() -> Self {
        let registry = self_metrics::global();
        // Every dead-letter counter exists from the start at zero, so the first dead letter of
        // a kind is an increase Prometheus sees, not a series appearing at 1.
        for reason in crate::decode::reason_categories() {
            registry.counter(&names::DEAD_LETTERS, &[("reason", reason)]);
        }
        Self {
            messages: registry.counter(&names::INGESTED_MESSAGES, &[]),
            points: registry.counter(&names::INGESTED_POINTS, &[]),
            commit: registry.histogram(&names::BATCH_COMMIT, &[]),
            redeliveries: registry.counter(&names::REDELIVERIES, &[]),
        }
    }

    /// Counts a committed batch of `messages` messages.
    fn committed(&self, batch: &Batch, messages: usize) {
        self.messages.add(messages as u64);
        let points: usize = batch.samples.iter().map(|s| s.points.len()).sum();
        self.points.add(points as u64);
    }
}

/// Counts dead letters by the category of their reason.
fn count_dead_letters(dead: &[DeadLetter]) {
    for letter in dead {
        self_metrics::global()
            .counter(
                &names::DEAD_LETTERS,
                &[("reason", reason_category(&letter.reason))],
            )
            .inc();
    }
}

/// Batch bounds, and how often a batch still being written is reported in progress.
#[derive(Debug, Clone, Copy)]
pub struct IngestOptions {
    pub batch_max_messages: usize,
    pub batch_max_bytes: usize,
    pub batch_max_wait: Duration,
    /// A third of `ack_wait`: two in-progress acks may be lost before JetStream redelivers a
    /// batch this instance is still writing.
    pub progress_interval: Duration,
}

impl IngestOptions {
    pub fn from_settings(settings: &AggregatorSettings) -> Self {
        Self {
            batch_max_messages: settings.batch_max_messages,
            batch_max_bytes: settings.batch_max_bytes,
            batch_max_wait: Duration::from_millis(settings.batch_max_wait_ms),
            progress_interval: Duration::from_millis(settings.ack_wait_seconds * 1000 / 3),
        }
    }
}

/// Ingests until `shutdown`.
pub async fn run(
    consumer: PullConsumer,
    store: Store,
    decoder: Decoder,
    options: IngestOptions,
    health: std::sync::Arc<crate::deadman::IngestHealth>,
    shutdown: Shutdown,
) {
    let metrics = Metrics::new();
    let mut pull_backoff = RetryPolicy::FAST.backoff();
    // The next batch, pulled and decoded while this one is written (only behind a full batch:
    // a backlog).
    let mut prefetched: Option<tokio::task::JoinHandle<Pulled>> = None;
    while !shutdown.is_triggered() {
        let pulled = match prefetched.take() {
            Some(task) => task.await.unwrap_or_else(|err| Err(err.into())),
            None => {
                pull_decoded(
                    consumer.clone(),
                    decoder.clone(),
                    options,
                    shutdown.clone(),
                    metrics.clone(),
                )
                .await
            }
        };
        let (messages, batch) = match pulled {
            Ok(pulled) => {
                pull_backoff.reset();
                pulled
            }
            Err(err) => {
                let delay = pull_backoff.failed();
                tracing::warn!(
                    error = %err,
                    retry_in_ms = delay.as_millis() as u64,
                    "pulling from JetStream failed; retrying. Check that nats-server is running with -js"
                );
                if shutdown.sleep(delay).await {
                    return;
                }
                continue;
            }
        };
        if messages.is_empty() {
            continue;
        }
        if messages.len() >= options.batch_max_messages {
            // A full batch: more is likely waiting. Pull and decode it on another worker while
            // this one is written, so PostgreSQL and the decoder work at the same time. Its
            // messages are acked only after their own commit, like any other.
            prefetched = Some(tokio::spawn(pull_decoded(
                consumer.clone(),
                decoder.clone(),
                options,
                shutdown.clone(),
                metrics.clone(),
            )));
        }
        let started = Instant::now();
        let written = in_progress(
            &messages,
            options.progress_interval,
            write_with_retry(&store, &batch, &health, &shutdown),
        );
        if !written.await {
            tracing::info!(
                messages = messages.len(),
                "shutdown during a write; batch left unacked for redelivery"
            );
            return;
        }
        metrics.commit.observe_since(started);
        metrics.committed(&batch, messages.len());
        for message in &messages {
            if let Err(err) = message.ack().await {
                tracing::warn!(error = %err, "ack failed; the message will be redelivered and skipped as a duplicate");
            }
        }
        drop(batch);
        if started.elapsed() >= options.progress_interval {
            // The prefetched batch waited through a long write: restart its `ack_wait`.
            if let Some(task) = prefetched.take() {
                let pulled = task.await.unwrap_or_else(|err| Err(err.into()));
                if let Ok((messages, _)) = &pulled {
                    for message in messages {
                        if message.ack_with(AckKind::Progress).await.is_err() {
                            break;
                        }
                    }
                }
                prefetched = Some(tokio::spawn(async move { pulled }));
            }
        }
    }
}

/// A pulled batch and its decoded content.
type Pulled = Result<(Vec<jetstream::Message>, Batch), async_nats::Error>;

/// Pulls up to one batch and decodes it.
async fn pull_decoded(
    consumer: PullConsumer,
    decoder: Decoder,
    options: IngestOptions,
    shutdown: Shutdown,
    metrics: Metrics,
) -> Pulled {
    let messages = pull(&consumer, options, &shutdown).await?;
    let batch = decode_all(&decoder, &messages, &metrics);
    Ok((messages, batch))
}

/// Runs `work` while telling JetStream every `interval` that `messages` are still being worked
/// on (`+WPI`, which restarts their `ack_wait`): `ack_wait` stays short, so the batch of an
/// instance that died is redelivered within seconds, and a long write (a slow commit, PostgreSQL
/// away for minutes) is still never handed to a second instance meanwhile.
async fn in_progress<T>(
    messages: &[jetstream::Message],
    interval: Duration,
    work: impl std::future::Future<Output = T>,
) -> T {
    tokio::pin!(work);
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    loop {
        tokio::select! {
            out = &mut work => return out,
            _ = ticks.tick() => {
                for message in messages {
                    if let Err(err) = message.ack_with(AckKind::Progress).await {
                        tracing::debug!(error = %err, "in-progress ack not sent");
                        break;
                    }
                }
            }
        }
    }
}

/// Pulls up to one batch; returns early on shutdown with what it has (to be left unacked).
async fn pull(
    consumer: &PullConsumer,
    options: IngestOptions,
    shutdown: &Shutdown,
) -> Result<Vec<jetstream::Message>, async_nats::Error> {
    // Wait (up to `batch_max_wait`) for the first message only, then take what else is already
    // there without waiting: a batch is committed as soon as the stream has nothing more for
    // it, never held back waiting to fill (freshness), and a backlog still comes in full
    // batches.
    let mut first = consumer
        .batch()
        .max_messages(1)
        .expires(options.batch_max_wait)
        .messages()
        .await?;
    let mut messages = Vec::with_capacity(options.batch_max_messages);
    tokio::select! {
        _ = shutdown.wait() => return Ok(Vec::new()),
        next = first.next() => match next {
            Some(Ok(message)) => messages.push(message),
            Some(Err(err)) => return Err(err),
            None => return Ok(messages),
        }
    }
    if options.batch_max_messages <= 1 {
        return Ok(messages);
    }
    let room_bytes = options
        .batch_max_bytes
        .saturating_sub(messages[0].payload.len())
        .max(1);
    let rest = consumer
        .fetch()
        .max_messages(options.batch_max_messages - 1)
        .max_bytes(room_bytes)
        .messages()
        .await;
    let mut rest = match rest {
        Ok(rest) => rest,
        Err(err) => {
            tracing::debug!(error = %err, "no more messages for this batch");
            return Ok(messages);
        }
    };
    loop {
        tokio::select! {
            _ = shutdown.wait() => return Ok(Vec::new()),
            next = rest.next() => match next {
                Some(Ok(message)) => messages.push(message),
                Some(Err(err)) => {
                    tracing::debug!(error = %err, "batch ended early");
                    break;
                }
                None => break,
            }
        }
    }
    Ok(messages)
}

fn decode_all(decoder: &Decoder, messages: &[jetstream::Message], metrics: &Metrics) -> Batch {
    let mut batch = Batch::default();
    for message in messages {
        let info = message.info().ok();
        if info.as_ref().is_some_and(|info| info.delivered > 1) {
            metrics.redeliveries.inc();
        }
        let position = info
            .map(|info| format!("{}:{}", info.stream, info.stream_sequence))
            .unwrap_or_else(|| format!("unknown:{}", uuid::Uuid::now_v7()));
        let message_id = message
            .headers
            .as_ref()
            .and_then(|h| h.get("Nats-Msg-Id"))
            .map(|v| v.as_str());
        let headers = message.headers.as_ref().map(|h| {
            h.iter()
                .map(|(name, values)| {
                    let values: Vec<&str> = values.iter().map(|v| v.as_str()).collect();
                    (name.to_string(), serde_json::json!(values))
                })
                .collect::<serde_json::Map<_, _>>()
                .into()
        });
        let raw = RawMessage {
            subject: message.subject.as_str(),
            payload: &message.payload,
            message_id,
            stream_position: &position,
            headers,
        };
        add_decoded(&mut batch, decoder.decode(raw));
    }
    batch
}

/// Puts one decoded message where it belongs in `batch`.
pub(crate) fn add_decoded(batch: &mut Batch, decoded: Decoded) {
    match decoded {
        Decoded::Sample(sample) => batch.samples.push(sample),
        Decoded::IngestFill(fill) => batch.ingest_fills.push(fill),
        Decoded::IngestNotification(n) => batch.ingest_notifications.push(n),
        Decoded::Dead(dead) => {
            // Both are cut to a few hundred bytes: a flood of huge bodies never floods the log.
            tracing::warn!(subject = %dead.subject, reason = %dead.reason, raw_size_bytes = dead.raw_size_bytes, "message kept as a dead letter");
            batch.dead_letters.push(dead);
        }
    }
}

/// Writes until committed (true) or shutdown (false). A batch PostgreSQL refuses for its content
/// (not for being away) is split, and the samples it refuses become dead letters, so one poison
/// message can never stop ingest.
async fn write_with_retry(
    store: &Store,
    batch: &Batch,
    health: &crate::deadman::IngestHealth,
    shutdown: &Shutdown,
) -> bool {
    let mut backoff = RetryPolicy::FAST.backoff();
    loop {
        let started = Instant::now();
        let result = match store.write_batch(batch).await {
            Err(err) if err.is_permanent() => {
                tracing::warn!(error = %err, "PostgreSQL refused a batch's content; isolating the refused samples");
                write_isolating(store, batch).await
            }
            other => other.map(|_| batch.dead_letters.clone()),
        };
        match result {
            Ok(dead) => {
                health
                    .writes_ok
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                count_dead_letters(&dead);
                tracing::debug!(
                    samples = batch.samples.len(),
                    dead_letters = batch.dead_letters.len(),
                    write_ms = started.elapsed().as_millis() as u64,
                    "batch committed"
                );
                return true;
            }
            Err(err) => {
                health
                    .writes_ok
                    .store(false, std::sync::atomic::Ordering::Relaxed);
                let delay = backoff.failed();
                tracing::warn!(
                    error = %err,
                    retry_in_ms = delay.as_millis() as u64,
                    "writing a batch to PostgreSQL failed; retrying (nothing acked). Check that PostgreSQL is up: `exporter check`"
                );
                if shutdown.sleep(delay).await {
                    return false;
                }
            }
        }
    }
}

/// Writes each sample on its own; those refused for their content become dead letters (every
/// dead letter committed is returned).
async fn write_isolating(
    store: &Store,
    batch: &Batch,
) -> Result<Vec<DeadLetter>, exporter_store::StoreError> {
    let mut dead = batch.dead_letters.clone();
    for sample in &batch.samples {
        let single = Batch {
            samples: vec![sample.clone()],
            ..Batch::default()
        };
        match store.write_batch(&single).await {
            Ok(_) => {}
            Err(err) if err.is_permanent() => {
                let letter = DeadLetter::new(
                    &sample.message_id.to_string(),
                    &sample.subject,
                    &format!("refused by PostgreSQL: {err}"),
                    &serde_json::to_vec(&sample.body).unwrap_or_default(),
                    None,
                );
                tracing::warn!(subject = %letter.subject, reason = %letter.reason, "sample refused by PostgreSQL; kept as a dead letter");
                dead.push(letter);
            }
            Err(err) => return Err(err),
        }
    }
    store
        .write_batch(&Batch {
            dead_letters: dead.clone(),
            ingest_fills: batch.ingest_fills.clone(),
            ingest_notifications: batch.ingest_notifications.clone(),
            ..Batch::default()
        })
        .await
        .map(|_| dead)
}

//! This process's own metrics (self-metrics): a registry of counters, gauges and histograms that
//! hot paths update cheaply, and the task that publishes a snapshot of it as an ordinary
//! `exporter` sample, so the aggregator stores it like any other and `/metrics` and
//! `/metrics/history` serve it.
//!
//! Handles ([`Counter`], [`Gauge`], [`Histogram`]) are atomics (a mutex per histogram); looking
//! one up takes the registry's lock, so a hot path keeps its handle. Every metric is named by
//! its catalogue entry in [`exporter_protocol::self_metrics`], so a name the exposition does not
//! know cannot be created.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, message::PublishMessage};
use exporter_protocol::self_metrics::{self, Metric, SelfMetrics};
use exporter_protocol::series::{SeriesDef, SeriesType};
use exporter_protocol::{Envelope, Labels, SourceKind, Subjects};

use crate::Shutdown;

/// Bucket bounds of every duration histogram: 1 ms to 10 s.
pub const SECONDS_BOUNDS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

type Key = (&'static str, Labels);

/// Every metric of one process.
#[derive(Debug, Default)]
pub struct Registry {
    counters: Mutex<BTreeMap<Key, Arc<AtomicU64>>>,
    /// `f64` bits.
    gauges: Mutex<BTreeMap<Key, Arc<AtomicU64>>>,
    histograms: Mutex<BTreeMap<Key, Arc<Mutex<Buckets>>>>,
}

static GLOBAL: Registry = Registry::new();

/// The process's registry.
pub fn global() -> &'static Registry {
    &GLOBAL
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn key(def: &'static SeriesDef, kind: SeriesType, labels: &[(&str, &str)]) -> Key {
    debug_assert_eq!(def.kind, kind, "{} is not a {kind:?}", def.name);
    let name = def
        .name
        .strip_prefix(self_metrics::PREFIX)
        .unwrap_or(def.name);
    let labels = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    (name, labels)
}

impl Registry {
    pub const fn new() -> Self {
        Self {
            counters: Mutex::new(BTreeMap::new()),
            gauges: Mutex::new(BTreeMap::new()),
            histograms: Mutex::new(BTreeMap::new()),
        }
    }

    /// The counter `def` with `labels` (created at zero).
    pub fn counter(&self, def: &'static SeriesDef, labels: &[(&str, &str)]) -> Counter {
        let key = key(def, SeriesType::Counter, labels);
        Counter(lock(&self.counters).entry(key).or_default().clone())
    }

    /// The gauge `def` with `labels` (created at zero).
    pub fn gauge(&self, def: &'static SeriesDef, labels: &[(&str, &str)]) -> Gauge {
        let key = key(def, SeriesType::Gauge, labels);
        Gauge(lock(&self.gauges).entry(key).or_default().clone())
    }

    /// The duration histogram `def` with `labels`, over [`SECONDS_BOUNDS`].
    pub fn histogram(&self, def: &'static SeriesDef, labels: &[(&str, &str)]) -> Histogram {
        let key = key(def, SeriesType::Histogram, labels);
        Histogram(
            lock(&self.histograms)
                .entry(key)
                .or_insert_with(|| Arc::new(Mutex::new(Buckets::new(SECONDS_BOUNDS))))
                .clone(),
        )
    }

    /// Every metric now, as `process` publishes it.
    pub fn snapshot(&self, process: &str) -> SelfMetrics {
        let plain = |map: &Mutex<BTreeMap<Key, Arc<AtomicU64>>>, value: fn(u64) -> f64| {
            lock(map)
                .iter()
                .map(|((name, labels), cell)| Metric {
                    name: (*name).to_owned(),
                    labels: labels.clone(),
                    value: value(cell.load(Ordering::Relaxed)),
                })
                .collect()
        };
        SelfMetrics {
            process: process.to_owned(),
            counters: plain(&self.counters, |v| v as f64),
            gauges: plain(&self.gauges, f64::from_bits),
            histograms: lock(&self.histograms)
                .iter()
                .map(|((name, labels), buckets)| {
                    let buckets = lock(buckets);
                    self_metrics::Histogram {
                        name: (*name).to_owned(),
                        labels: labels.clone(),
                        bounds: buckets.bounds.to_vec(),
                        counts: buckets.counts.clone(),
                        sum: buckets.sum,
                    }
                })
                .collect(),
        }
    }
}

/// Only goes up.
#[derive(Debug, Clone)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    pub fn inc(&self) {
        self.add(1);
    }

    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Goes up and down.
#[derive(Debug, Clone)]
pub struct Gauge(Arc<AtomicU64>);

impl Gauge {
    pub fn set(&self, value: f64) {
        self.0.store(value.to_bits(), Ordering::Relaxed);
    }

    /// Adds `delta` (negative to subtract).
    pub fn add(&self, delta: f64) {
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + delta).to_bits())
            });
    }

    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
}

/// Counts observations per bucket.
#[derive(Debug, Clone)]
pub struct Histogram(Arc<Mutex<Buckets>>);

#[derive(Debug)]
struct Buckets {
    bounds: &'static [f64],
    /// One per bound, and one above them all.
    counts: Vec<u64>,
    sum: f64,
}

impl Buckets {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
        }
    }
}

impl Histogram {
    pub fn observe(&self, value: f64) {
        if !value.is_finite() {
            return;
        }
        let mut buckets = lock(&self.0);
        let index = buckets.bounds.partition_point(|bound| *bound < value);
        buckets.counts[index] += 1;
        buckets.sum += value;
    }

    /// Observes the seconds since `started`.
    pub fn observe_since(&self, started: Instant) {
        self.observe(started.elapsed().as_secs_f64());
    }
}

/// Publishes a snapshot of [`global`] as `process` every `interval` until `shutdown`, as an
/// `exporter` sample through JetStream with its id as `Nats-Msg-Id`. A snapshot that does not
/// arrive (NATS away) is not retried: the next one carries the same cumulative counters.
pub async fn run(
    client: async_nats::Client,
    subjects: Subjects,
    process: String,
    host: String,
    interval: Duration,
    shutdown: Shutdown,
) {
    let js = jetstream::new(client);
    let subject = subjects.sample(SourceKind::Exporter.name(), &host);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut seq = 0;
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = ticker.tick() => {}
        }
        seq += 1;
        let envelope = Envelope::new(
            &host,
            SourceKind::Exporter.name(),
            seq,
            global().snapshot(&process),
        );
        let Ok(payload) = serde_json::to_vec(&envelope) else {
            continue;
        };
        let publish = PublishMessage::build()
            .payload(payload.into())
            .message_id(envelope.id.to_string());
        let sent = async {
            js.send_publish(subject.clone(), publish)
                .await
                .map_err(|err| err.to_string())?
                .await
                .map_err(|err| err.to_string())
        };
        let result = tokio::select! {
            _ = shutdown.wait() => return,
            result = sent => result,
        };
        if let Err(error) = result {
            tracing::debug!(%error, "self-metrics snapshot not published; the next one carries the same counters");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use exporter_protocol::HasSeries;
    use exporter_protocol::self_metrics::{
        BATCH_COMMIT, CONSUMER_PENDING, DEAD_LETTERS, INGESTED_MESSAGES,
    };

    #[test]
    fn handles_share_their_value_and_the_snapshot_flattens_it() {
        let registry = Registry::new();
        let messages = registry.counter(&INGESTED_MESSAGES, &[]);
        messages.add(5);
        registry.counter(&INGESTED_MESSAGES, &[]).inc();
        registry
            .counter(&DEAD_LETTERS, &[("reason", "parse")])
            .inc();
        let pending = registry.gauge(&CONSUMER_PENDING, &[]);
        pending.set(7.0);
        pending.add(-2.0);
        let snapshot = registry.snapshot("aggregator");
        assert_eq!(snapshot.process, "aggregator");
        let points = snapshot.series();
        let value = |name: &str| points.iter().find(|p| p.name == name).map(|p| p.value);
        assert_eq!(value("exporter.ingested_messages_total"), Some(6.0));
        assert_eq!(value("exporter.dead_letters_total"), Some(1.0));
        assert_eq!(value("exporter.consumer_pending_messages"), Some(5.0));
    }

    #[test]
    fn observations_land_in_their_bucket_and_the_count_is_every_one() {
        let registry = Registry::new();
        let commit = registry.histogram(&BATCH_COMMIT, &[]);
        for value in [0.0005, 0.001, 0.002, 0.3, 42.0, f64::NAN] {
            commit.observe(value);
        }
        let snapshot = registry.snapshot("aggregator");
        let histogram = &snapshot.histograms[0];
        assert_eq!(histogram.count(), 5);
        // 0.0005 and 0.001 are at most 0.001 (le is inclusive).
        assert_eq!(histogram.counts[0], 2);
        assert_eq!(*histogram.counts.last().unwrap(), 1);
        let points = snapshot.series();
        let inf = points
            .iter()
            .find(|p| p.name == "exporter.batch_commit_seconds_bucket" && p.labels["le"] == "+Inf")
            .unwrap();
        assert_eq!(inf.value, 5.0);
        let half = points
            .iter()
            .find(|p| p.name == "exporter.batch_commit_seconds_bucket" && p.labels["le"] == "0.5")
            .unwrap();
        assert_eq!(half.value, 4.0);
        assert!((histogram.sum - 42.3035).abs() < 1e-9);
    }
}

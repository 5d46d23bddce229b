//! What every collector is given: one [`CollectorContext`], built once by [`crate::run`], so
//! every collector has the same `run(&CollectorContext)` signature and none repeats the setup
//! (host name, subjects, sequence numbers, envelopes, the sampling schedule).
//!
//! A periodic collector needs nothing else: `ctx.every(seconds)` ticks until shutdown and
//! `ctx.publish(SourceKind::X, body)` builds the subject and envelope (with the next sequence
//! number of that source) and queues it on the buffered publisher.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use async_nats::jetstream;
use exporter_protocol::{CollectorKind, Envelope, SourceKind, Subjects};
use exporter_runtime::Shutdown;
use exporter_runtime::self_metrics::{self, Histogram};
use exporter_settings::Settings;
use serde::Serialize;

use crate::CollectorError;
use crate::publisher::{AckedPublishError, PublishHandle, publish_acked};

/// Everything a collector needs; cheap to clone (tasks a collector spawns take a copy).
#[derive(Debug, Clone)]
pub struct CollectorContext {
    /// The collector this process runs.
    pub kind: CollectorKind,
    pub settings: Arc<Settings>,
    pub subjects: Subjects,
    /// This host's name, as samples carry it.
    pub host: String,
    /// The NATS connection (request/reply services, subscriptions, server limits).
    pub nats: async_nats::Client,
    /// JetStream, for collectors that move a saved position only after the ack
    /// ([`publish_acked`], [`crate::follow`]).
    pub jetstream: jetstream::Context,
    /// The buffered publisher (samples wait here while NATS is away).
    pub publisher: PublishHandle,
    pub shutdown: Shutdown,
    /// The last sequence number of each source, in [`SourceKind::ALL`] order.
    sequences: Arc<[AtomicU64; SourceKind::ALL.len()]>,
}

impl CollectorContext {
    pub fn new(
        kind: CollectorKind,
        settings: Arc<Settings>,
        nats: async_nats::Client,
        jetstream: jetstream::Context,
        publisher: PublishHandle,
        shutdown: Shutdown,
    ) -> Self {
        Self {
            kind,
            subjects: Subjects::new(&settings.nats.subject_prefix),
            host: settings.host_name().to_owned(),
            settings,
            nats,
            jetstream,
            publisher,
            shutdown,
            sequences: Arc::default(),
        }
    }

    /// `<prefix>.v1.sample.<source>.<host>`.
    pub fn subject(&self, source: SourceKind) -> String {
        self.subjects.sample(source.name(), &self.host)
    }

    /// An envelope of `source` from this host, with the source's next sequence number
    /// (per process, starting at 1).
    pub fn envelope<T>(&self, source: SourceKind, body: T) -> Envelope<T> {
        // `ALL` is the declaration order, so the discriminant is the source's index in it.
        let seq = self.sequences[source as usize].fetch_add(1, Ordering::Relaxed) + 1;
        Envelope::new(&self.host, source.name(), seq, body)
    }

    /// Queues `body` as the next message of `source` on the buffered publisher.
    pub fn publish<T: Serialize>(&self, source: SourceKind, body: T) {
        self.publisher
            .publish(self.subject(source), &self.envelope(source, body));
    }

    /// Publishes `envelope` (of `source`) and waits for JetStream's ack.
    pub async fn publish_acked<T: Serialize>(
        &self,
        source: SourceKind,
        envelope: &Envelope<T>,
    ) -> Result<(), AckedPublishError> {
        publish_acked(&self.jetstream, self.subject(source), envelope).await
    }

    /// A sampling schedule of `seconds` that ends at shutdown (see [`Ticks`]); the time from
    /// one tick to the next call of [`Ticks::next`] is this collector's cycle duration.
    pub fn every(&self, seconds: u64) -> Ticks {
        Ticks {
            ticker: crate::every(seconds),
            shutdown: self.shutdown.clone(),
            cycle: self_metrics::global()
                .histogram(&exporter_protocol::self_metrics::COLLECTION_CYCLE, &[]),
            cycle_started: None,
        }
    }

    /// Times one sampling cycle of a collector with a loop of its own (not [`Self::every`]):
    /// the cycle ends, and is observed, when the guard drops.
    pub fn cycle(&self) -> CycleTimer {
        CycleTimer {
            cycle: self_metrics::global()
                .histogram(&exporter_protocol::self_metrics::COLLECTION_CYCLE, &[]),
            started: Instant::now(),
        }
    }

    /// Counts a sampling cycle in which `family` failed or was missing.
    pub fn family_error(&self, family: &str) {
        self_metrics::global()
            .counter(
                &exporter_protocol::self_metrics::COLLECTION_ERRORS,
                &[("family", family)],
            )
            .inc();
    }

    /// "This collector cannot start": a configuration or environment problem.
    pub fn init_error(&self, message: impl Into<String>) -> CollectorError {
        CollectorError::Init {
            kind: self.kind,
            message: message.into(),
        }
    }
}

/// One sampling cycle in `exporter.collection_cycle_seconds`, observed on drop.
#[derive(Debug)]
pub struct CycleTimer {
    cycle: Histogram,
    started: Instant,
}

impl Drop for CycleTimer {
    fn drop(&mut self) {
        self.cycle.observe_since(self.started);
    }
}

/// The ticks of [`crate::every`] until shutdown.
#[derive(Debug)]
pub struct Ticks {
    ticker: tokio::time::Interval,
    shutdown: Shutdown,
    /// `exporter.collection_cycle_seconds`.
    cycle: Histogram,
    /// When the cycle now ending began.
    cycle_started: Option<Instant>,
}

impl Ticks {
    /// Ends the current cycle (observing its duration), then waits for the next tick; `false`
    /// once shutdown came.
    pub async fn next(&mut self) -> bool {
        if let Some(started) = self.cycle_started.take() {
            self.cycle.observe_since(started);
        }
        let ticked = tokio::select! {
            () = self.shutdown.wait() => false,
            _ = self.ticker.tick() => true,
        };
        if ticked {
            self.cycle_started = Some(Instant::now());
        }
        ticked
    }
}

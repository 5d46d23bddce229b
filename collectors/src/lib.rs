//! Collectors: one module per [`CollectorKind`], each a loop that samples something outside the
//! system and publishes it through the shared [`publisher`] (JetStream acks, bounded buffer while
//! NATS is away, drop counts reported).
//!
//! `exporter-collector <kind>` calls [`run`], which connects, builds one [`CollectorContext`]
//! and hands it to the kind's `run(&CollectorContext)`; file followers build on [`follow`]. A new
//! kind is its payload and [`CollectorKind`]/`SourceKind` entry in `exporter-protocol`, its
//! settings section, and its module here; the compiler then points at the match arm in [`run`]
//! (see "Adding a collector" in `docs/architecture.md`).

pub mod brokerage;
pub mod context;
pub mod follow;
pub mod hardware;
pub mod logs;
pub mod market;
pub mod notifications;
pub mod pressure;
pub mod publisher;
pub mod system;
pub mod yahoo;

use std::sync::Arc;
use std::time::Duration;

pub use context::CollectorContext;
use exporter_protocol::{CollectorKind, Subjects};
use exporter_runtime::heartbeat::{self, HeartbeatCounters};
use exporter_runtime::{Shutdown, bus};
use exporter_settings::Settings;

/// A sampling schedule of `seconds`: the first tick at once, and a late tick skipped rather than
/// bunched up (a slow sample must not trigger a burst of catch-up samples).
pub fn every(seconds: u64) -> tokio::time::Interval {
    let mut ticker = tokio::time::interval(std::time::Duration::from_secs(seconds));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    ticker
}

/// Why a collector stopped.
#[derive(Debug, thiserror::Error)]
pub enum CollectorError {
    #[error(transparent)]
    Bus(#[from] bus::BusError),
    #[error("{kind} collector cannot start: {message}")]
    Init {
        kind: CollectorKind,
        message: String,
    },
}

/// Runs the collector of `kind` until `shutdown`.
pub async fn run(
    kind: CollectorKind,
    settings: Settings,
    shutdown: Shutdown,
) -> Result<(), CollectorError> {
    let process = kind.process_name();
    let client = bus::connect(&settings.nats, &process).await?;
    let subjects = Subjects::new(&settings.nats.subject_prefix);
    let mut js = async_nats::jetstream::new(client.clone());
    js.set_timeout(Duration::from_secs(settings.nats.publish_timeout_seconds));
    // Set the stream up in the background: sampling starts at once, and while NATS is away the
    // samples wait in the publisher's buffer instead of never being taken.
    let stream_setup = {
        let (js, settings, subjects, shutdown) = (
            js.clone(),
            settings.clone(),
            subjects.clone(),
            shutdown.clone(),
        );
        tokio::spawn(async move {
            let _ = bus::retry(
                exporter_runtime::RetryPolicy::SERVICE,
                "creating the JetStream stream",
                "Is nats-server running with JetStream enabled (-js)?",
                &shutdown,
                || bus::ensure_stream(&js, &settings.nats, &subjects),
            )
            .await;
        })
    };

    let counters = Arc::new(HeartbeatCounters::default());
    let heartbeat = tokio::spawn(heartbeat::run(
        client.clone(),
        subjects.clone(),
        process.clone(),
        settings.host_name().to_owned(),
        Duration::from_secs(settings.collectors.heartbeat_interval_seconds),
        counters.clone(),
        shutdown.clone(),
    ));
    let self_metrics = tokio::spawn(exporter_runtime::self_metrics::run(
        client.clone(),
        subjects.clone(),
        process.clone(),
        settings.host_name().to_owned(),
        Duration::from_secs(settings.collectors.self_metrics_interval_seconds),
        shutdown.clone(),
    ));
    let (publisher, handle) = publisher::Publisher::spawn(
        js.clone(),
        settings.collectors.buffer_max_samples,
        counters,
        shutdown.clone(),
    );
    // Collectors that move a saved position only after JetStream's ack publish directly.
    let ctx = CollectorContext::new(
        kind,
        Arc::new(settings),
        client.clone(),
        js,
        handle,
        shutdown.clone(),
    );
    exporter_runtime::systemd::ready(&format!("collecting {kind}"));
    let result = match kind {
        CollectorKind::System => system::run(&ctx).await,
        CollectorKind::Pressure => pressure::run(&ctx).await,
        CollectorKind::Hardware => hardware::run(&ctx).await,
        CollectorKind::Portfolio => brokerage::portfolio::run(&ctx).await,
        CollectorKind::Market => market::run(&ctx).await,
        CollectorKind::Trades => brokerage::trades::run(&ctx).await,
        CollectorKind::Logs => logs::run(&ctx).await,
        CollectorKind::Notifications => notifications::run(&ctx).await,
    };
    // The publisher ends once every handle is gone.
    drop(ctx);
    stream_setup.abort();
    let _ = publisher.await;
    let _ = heartbeat.await;
    let _ = self_metrics.await;
    client.flush().await.ok();
    result
}

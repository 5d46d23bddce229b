//! The aggregator: the only writer of PostgreSQL. It pulls samples from the shared durable
//! JetStream consumer, writes each batch in one transaction and acks only after the commit, keeps
//! unreadable messages aside as dead letters, and keeps the daily partitions and retention.
//! When `alerts.enabled`, it also runs the alert engine (`exporter-alerting`), fed with what its
//! decoder reads from the live subjects.
//!
//! Several aggregators may run at once: they share the consumer, and the store's writes are
//! idempotent on the message id, so a redelivery never counts twice.

pub mod deadman;
pub mod decode;
pub mod ingest;
pub mod lag;
pub mod leftovers;
pub mod retention;

use std::sync::Arc;
use std::time::Duration;

use exporter_alerting::{AlertRunner, SampleDecoder};
use exporter_protocol::Subjects;
use exporter_runtime::heartbeat::{self, HeartbeatCounters};
use exporter_runtime::{RetryPolicy, Shutdown, bus};
use exporter_settings::Settings;
use exporter_store::Store;

/// Why the aggregator stopped.
#[derive(Debug, thiserror::Error)]
pub enum AggregatorError {
    #[error(transparent)]
    Bus(#[from] bus::BusError),
    #[error(transparent)]
    Store(#[from] exporter_store::StoreError),
    #[error(transparent)]
    Rules(#[from] exporter_alerting::RulesError),
    #[error(transparent)]
    Alerts(#[from] exporter_alerting::AlertsError),
}

/// Connects (retrying while NATS or PostgreSQL are away), migrates, then ingests until
/// `shutdown`.
pub async fn run(settings: Settings, shutdown: Shutdown) -> Result<(), AggregatorError> {
    // Rules are checked before anything else: a mistake stops the start with the rule named.
    let rules = if settings.alerts.enabled {
        Some(exporter_alerting::load_rules(&settings.alert_rules_path())?)
    } else {
        None
    };
    let retention = retention::Retention::from_settings(&settings);
    let store = Store::connect_retrying(&settings.database, &shutdown)
        .await?
        .with_tiers(retention.tiers);
    store.migrate().await?;

    let client = bus::connect(&settings.nats, "aggregator").await?;
    let subjects = Subjects::new(&settings.nats.subject_prefix);
    let js = async_nats::jetstream::new(client.clone());
    let stream = bus::retry(
        RetryPolicy::SERVICE,
        "creating the JetStream stream",
        "Is nats-server running with JetStream enabled (-js)?",
        &shutdown,
        || bus::ensure_stream(&js, &settings.nats, &subjects),
    )
    .await?;
    let ack_wait = Duration::from_secs(settings.aggregator.ack_wait_seconds);
    let max_ack_pending = settings.aggregator.max_ack_pending as i64;
    let consumer = bus::retry(
        RetryPolicy::SERVICE,
        "creating the durable consumer",
        "",
        &shutdown,
        || bus::ensure_consumer(&stream, &settings.nats, ack_wait, max_ack_pending),
    )
    .await?;

    let mut signals = deadman::Signals {
        ping_url: settings.aggregator.deadman_url.clone(),
        watchdog: None,
    };
    let alerting = match rules {
        Some(rules) => {
            let (runner, dispatcher) = AlertRunner::start(
                settings.clone(),
                store.clone(),
                client.clone(),
                subjects.clone(),
                rules,
                live_samples(decode::Decoder::new(
                    &subjects,
                    retention.tiers.longest_days(),
                )),
                &shutdown,
            )
            .await?;
            signals.watchdog = Some((runner.dispatcher(), settings.host_name().to_owned()));
            let stop = shutdown.clone();
            Some((
                tokio::spawn(async move {
                    if let Err(err) = runner.run(stop).await {
                        tracing::error!(error = %err, "the alert engine stopped; alerts are not evaluated. Restart the aggregator");
                    }
                }),
                dispatcher,
            ))
        }
        None => {
            tracing::info!("alert evaluation is off in this aggregator (alerts.enabled: false)");
            None
        }
    };
    let heartbeat = tokio::spawn(heartbeat::run(
        client.clone(),
        subjects.clone(),
        "aggregator".to_owned(),
        settings.host_name().to_owned(),
        Duration::from_secs(settings.collectors.heartbeat_interval_seconds),
        Arc::new(HeartbeatCounters::default()),
        shutdown.clone(),
    ));
    let self_metrics = tokio::spawn(exporter_runtime::self_metrics::run(
        client.clone(),
        subjects.clone(),
        "aggregator".to_owned(),
        settings.host_name().to_owned(),
        Duration::from_secs(settings.collectors.self_metrics_interval_seconds),
        shutdown.clone(),
    ));
    let health = Arc::new(deadman::IngestHealth::default());
    let deadman = signals.any().then(|| {
        tokio::spawn(deadman::run(
            signals,
            Duration::from_secs(settings.aggregator.deadman_interval_seconds),
            health.clone(),
            settings
                .alerts
                .enabled
                .then(|| Duration::from_secs(settings.alerts.evaluation_interval_seconds)),
            shutdown.clone(),
        ))
    });
    let lag = tokio::spawn(lag::run(
        stream.clone(),
        consumer.clone(),
        Duration::from_secs(settings.collectors.self_metrics_interval_seconds.min(5)),
        lag::LagLimits {
            warn_after: Duration::from_secs(settings.aggregator.lag_warn_seconds),
            max_ack_pending: settings.aggregator.max_ack_pending,
        },
        health.clone(),
        shutdown.clone(),
    ));
    let leftovers = tokio::spawn(leftovers::run(
        decode::Decoder::new(&subjects, retention.tiers.longest_days()),
        stream.clone(),
        consumer.clone(),
        store.clone(),
        Duration::from_secs(settings.aggregator.leftover_sweep_seconds),
        shutdown.clone(),
    ));
    let decoder = decode::Decoder::new(&subjects, retention.tiers.longest_days());
    let retention = tokio::spawn(retention::run(store.clone(), retention, shutdown.clone()));
    let options = ingest::IngestOptions::from_settings(&settings.aggregator);
    tracing::info!(
        consumer = %settings.nats.consumer,
        batch_max_messages = options.batch_max_messages,
        "aggregator started"
    );
    exporter_runtime::systemd::ready("ingesting");
    ingest::run(consumer, store, decoder, options, health, shutdown).await;
    let _ = heartbeat.await;
    let _ = self_metrics.await;
    let _ = lag.await;
    let _ = leftovers.await;
    if let Some(deadman) = deadman {
        let _ = deadman.await;
    }
    let _ = retention.await;
    if let Some((runner, dispatcher)) = alerting {
        let _ = runner.await;
        let _ = dispatcher.await;
    }
    Ok(())
}

/// What the alert engine observes of a live message: the sample `decoder` reads from it.
fn live_samples(decoder: decode::Decoder) -> SampleDecoder {
    SampleDecoder::new(move |message| {
        let raw = decode::RawMessage {
            subject: message.subject.as_str(),
            payload: &message.payload,
            message_id: message
                .headers
                .as_ref()
                .and_then(|h| h.get("Nats-Msg-Id"))
                .map(|v| v.as_str()),
            stream_position: "live",
            headers: None,
        };
        match decoder.decode(raw) {
            decode::Decoded::Sample(sample) => Some(sample),
            _ => None,
        }
    })
}

//! Publishes this process's [`Heartbeat`] on core NATS every interval until shutdown.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::Utc;
use exporter_protocol::{Heartbeat, Subjects};

use crate::Shutdown;

/// Counters a process shares with its heartbeat.
#[derive(Debug, Default)]
pub struct HeartbeatCounters {
    pub dropped_samples_total: AtomicU64,
    pub buffered_samples: AtomicU64,
}

/// Runs until `shutdown`; a failed publish is logged at debug (NATS down is logged elsewhere).
pub async fn run(
    client: async_nats::Client,
    subjects: Subjects,
    process: String,
    host: String,
    interval: Duration,
    counters: Arc<HeartbeatCounters>,
    shutdown: Shutdown,
) {
    let subject = subjects.heartbeat(&process, &host);
    let started_at = Utc::now();
    let mut ticker = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = ticker.tick() => {}
        }
        let beat = Heartbeat {
            process: process.clone(),
            host: host.clone(),
            pid: std::process::id(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            started_at,
            time: Utc::now(),
            dropped_samples_total: counters.dropped_samples_total.load(Ordering::Relaxed),
            buffered_samples: counters.buffered_samples.load(Ordering::Relaxed),
        };
        let Ok(payload) = serde_json::to_vec(&beat) else {
            continue;
        };
        if let Err(err) = client.publish(subject.clone(), payload.into()).await {
            tracing::debug!(error = %err, "heartbeat not published");
        }
    }
}

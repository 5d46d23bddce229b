//! The dead-man's switch. Every alert leaves from the box being watched, so nothing pages the
//! owner when the box, NATS or the aggregator dies. While ingest and alert evaluation are
//! healthy, every `aggregator.deadman_interval_seconds` the aggregator pings
//! `aggregator.deadman_url` (the push-monitor form of healthchecks.io, Uptime Kuma and similar
//! services: a plain GET) and sends the always-firing `Watchdog` alert to the alert receivers
//! with `watchdog: true` (`exporter_alerting::dispatch::watchdog`); the outside service pages
//! when they stop.
//!
//! Healthy means: the last lag reading succeeded and showed no stall (`lag.rs`), the last batch
//! write did not fail, and, when this aggregator evaluates alerts, the engine finished an
//! evaluation within the last three evaluation intervals.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use exporter_protocol::self_metrics as names;
use exporter_runtime::Shutdown;

/// What the ingest loop and the lag reader report, for the switch.
#[derive(Debug)]
pub struct IngestHealth {
    /// The last lag reading succeeded and was no stall.
    pub lag_ok: AtomicBool,
    /// The last batch write succeeded (false while one is being retried).
    pub writes_ok: AtomicBool,
}

impl Default for IngestHealth {
    fn default() -> Self {
        Self {
            lag_ok: AtomicBool::new(false),
            writes_ok: AtomicBool::new(true),
        }
    }
}

impl IngestHealth {
    pub fn healthy(&self) -> bool {
        self.lag_ok.load(Ordering::Relaxed) && self.writes_ok.load(Ordering::Relaxed)
    }
}

/// How many alert evaluations this process finished (its `alert_evaluation_seconds` count).
fn evaluations() -> u64 {
    let suffix = names::ALERT_EVALUATION
        .name
        .strip_prefix(names::PREFIX)
        .unwrap_or(names::ALERT_EVALUATION.name);
    exporter_runtime::self_metrics::global()
        .snapshot("aggregator")
        .histograms
        .iter()
        .filter(|h| h.name == suffix)
        .map(|h| h.count())
        .sum()
}

/// The URL's scheme and host only: a push URL's path is its secret token.
fn origin(url: &str) -> String {
    let host_start = url.find("://").map_or(0, |i| i + 3);
    let end = url[host_start..]
        .find('/')
        .map_or(url.len(), |i| host_start + i);
    let authority = &url[host_start..end];
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    format!("{}{host}/…", &url[..host_start])
}

/// Where "all is well" goes.
#[derive(Debug, Clone, Default)]
pub struct Signals {
    /// `aggregator.deadman_url`, pinged with a GET.
    pub ping_url: Option<String>,
    /// The alert dispatcher (when this aggregator evaluates alerts), with the host the
    /// Watchdog names.
    pub watchdog: Option<(exporter_alerting::dispatch::DispatchHandle, String)>,
}

impl Signals {
    /// True when there is anything to send.
    pub fn any(&self) -> bool {
        self.ping_url.is_some() || self.watchdog.is_some()
    }
}

/// Pings and sends the Watchdog every `interval` while healthy, until `shutdown`. The first
/// waits one interval, so a start that fails at once never reports healthy.
pub async fn run(
    signals: Signals,
    interval: Duration,
    health: Arc<IngestHealth>,
    evaluation_interval: Option<Duration>,
    shutdown: Shutdown,
) {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
    {
        Ok(client) => client,
        Err(err) => {
            tracing::error!(error = %err, "dead-man's switch off: no HTTP client");
            return;
        }
    };
    let shown = signals.ping_url.as_deref().map(origin).unwrap_or_default();
    let mut evaluated = evaluations();
    let mut evaluated_at = std::time::Instant::now();
    let mut was_healthy = true;
    loop {
        if shutdown.sleep(interval).await {
            return;
        }
        let now_evaluated = evaluations();
        if now_evaluated > evaluated {
            evaluated = now_evaluated;
            evaluated_at = std::time::Instant::now();
        }
        let evaluation_ok =
            evaluation_interval.is_none_or(|every| evaluated_at.elapsed() <= every * 3);
        let healthy = health.healthy() && evaluation_ok;
        if !healthy {
            if was_healthy {
                tracing::warn!(
                    lag_ok = health.lag_ok.load(Ordering::Relaxed),
                    writes_ok = health.writes_ok.load(Ordering::Relaxed),
                    evaluation_ok,
                    deadman_url = %shown,
                    watchdog = signals.watchdog.is_some(),
                    "dead-man's switch: not pinging and no Watchdog while ingest or alert evaluation is unhealthy"
                );
            }
            was_healthy = false;
            continue;
        }
        if !was_healthy {
            tracing::info!(deadman_url = %shown, "dead-man's switch: healthy again, pinging");
        }
        was_healthy = true;
        if let Some((dispatcher, host)) = &signals.watchdog {
            dispatcher.watchdog(host);
        }
        let Some(url) = &signals.ping_url else {
            continue;
        };
        match client.get(url).send().await {
            Ok(response) if response.status().is_success() => {
                tracing::debug!(deadman_url = %shown, "dead-man's switch pinged");
            }
            Ok(response) => tracing::warn!(
                deadman_url = %shown,
                status = response.status().as_u16(),
                "dead-man's switch ping refused"
            ),
            Err(err) => tracing::warn!(
                deadman_url = %shown,
                error = %err,
                "dead-man's switch ping failed; the monitor will page if this goes on"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_logged_url_keeps_no_token() {
        assert_eq!(
            origin("https://hc-ping.com/0f6c1b2a-token"),
            "https://hc-ping.com/…"
        );
        assert_eq!(
            origin("http://user:pw@kuma.local:3001/api/push/abc?status=up"),
            "http://kuma.local:3001/…"
        );
    }
}

//! Payload of the `exporter` source: one process's own metrics (self-metrics), so the exporter
//! reports its own health through the same bus, store and endpoints as everything else.
//!
//! Every process (aggregator, API, supervisor, each collector) publishes a [`SelfMetrics`]
//! snapshot on a schedule: cumulative counters, gauges and histograms with fixed bucket bounds.
//! It flattens into `exporter.<name>` series labelled `process` (and the metric's own labels);
//! a histogram becomes `<name>_bucket{le}` (cumulative, `le="+Inf"` equal to the count),
//! `<name>_sum` and `<name>_count`, as Prometheus does. Only the names in this module's
//! catalogue are flattened: a metric a newer build adds is kept in the stored sample but makes
//! no series until this build knows it.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::series::{HasSeries, Labels, SeriesDef, SeriesPoint, SeriesType};

/// The subject token and envelope source of self-metrics samples.
pub const KIND: &str = "exporter";

/// The prefix of every self-metric series name.
pub const PREFIX: &str = "exporter.";

/// One process's metrics at one moment. Counters and histograms count since the process
/// started, so losing a snapshot loses nothing but its time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SelfMetrics {
    /// `aggregator`, `api`, `supervisor` or `collector-<kind>`: the series' `process` label.
    pub process: String,
    #[serde(default)]
    pub counters: Vec<Metric>,
    #[serde(default)]
    pub gauges: Vec<Metric>,
    #[serde(default)]
    pub histograms: Vec<Histogram>,
}

/// A counter or a gauge: its name without the `exporter.` prefix, its labels and its value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Metric {
    pub name: String,
    #[serde(default)]
    pub labels: Labels,
    pub value: f64,
}

/// A distribution over fixed bucket bounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Histogram {
    pub name: String,
    #[serde(default)]
    pub labels: Labels,
    /// Upper bounds of the buckets, increasing (the `+Inf` bucket is implied).
    pub bounds: Vec<f64>,
    /// Observations per bucket, not cumulative: one more entry than `bounds` (the last is
    /// above every bound).
    pub counts: Vec<u64>,
    /// Sum of every observed value.
    pub sum: f64,
}

impl Histogram {
    /// Every observation.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// True when `counts` fits `bounds` and the bounds increase.
    pub fn is_well_formed(&self) -> bool {
        self.counts.len() == self.bounds.len() + 1
            && self.bounds.iter().all(|b| b.is_finite())
            && self.bounds.windows(2).all(|w| w[0] < w[1])
            && self.sum.is_finite()
    }
}

crate::series_catalogue! {
    INGESTED_MESSAGES = counter("exporter.ingested_messages_total", Count, "Messages the aggregator committed (samples, ingested fills and notifications, dead letters)");
    INGESTED_POINTS = counter("exporter.ingested_points_total", Count, "Numeric points the aggregator committed");
    BATCH_COMMIT = histogram("exporter.batch_commit_seconds", Seconds, "Time to write and commit one batch in PostgreSQL, retries included");
    CONSUMER_PENDING = gauge("exporter.consumer_pending_messages", Count, "Messages in the stream the aggregators' consumer has not delivered yet");
    CONSUMER_ACK_PENDING = gauge("exporter.consumer_ack_pending_messages", Count, "Messages delivered to an aggregator and not acknowledged yet (batches being written, or held by a dead instance until ack_wait)");
    INGEST_LAG = gauge("exporter.ingest_lag_seconds", Seconds, "Age of the oldest message in the stream, that no aggregator has committed yet (0 when the stream is empty)");
    STREAM_MESSAGES = gauge("exporter.stream_messages", Count, "Messages in the work-queue stream (not committed yet)");
    STREAM_BYTES = gauge("exporter.stream_bytes", Bytes, "Bytes the work-queue stream holds");
    REDELIVERIES = counter("exporter.redeliveries_total", Count, "Messages JetStream delivered more than once to the aggregator");
    DEAD_LETTERS = counter("exporter.dead_letters_total", Count, "Messages kept aside as dead letters, by reason category");
    COLLECTION_CYCLE = histogram("exporter.collection_cycle_seconds", Seconds, "Time a collector spends on one sampling cycle");
    PUBLISH_LATENCY = histogram("exporter.publish_latency_seconds", Seconds, "Time from queueing a sample to JetStream's acknowledgement");
    BUFFERED_SAMPLES = gauge("exporter.buffered_samples", Count, "Samples waiting in the publisher's buffer for JetStream");
    DROPPED_SAMPLES = counter("exporter.dropped_samples_total", Count, "Samples dropped before JetStream acknowledged them (buffer full, too large)");
    COLLECTION_ERRORS = counter("exporter.collection_errors_total", Count, "Sampling cycles in which a family failed or was missing, by family");
    HTTP_REQUEST_DURATION = histogram("exporter.http_request_duration_seconds", Seconds, "Time the API took to answer a request, by route template and status");
    SSE_STREAMS = gauge("exporter.sse_streams", Count, "Server-sent event streams open on the API");
    AUTH_FAILURES_RECENT = gauge("exporter.auth_failures_recent", Count, "Failed API authentications within api.auth_failure_window_seconds, every client address together");
    HTTP_CONNECTIONS = gauge("exporter.http_connections", Count, "Connections open on the API");
    HTTP_CONNECTIONS_CLOSED = counter("exporter.http_connections_closed_total", Count, "Connections the API closed at its connection cap, by reason (evicted: had sent no request; refused: answered 503)");
    ALERT_EVALUATION = histogram("exporter.alert_evaluation_seconds", Seconds, "Time one evaluation of every alert rule took");
    ALERT_RULES = gauge("exporter.alert_rules", Count, "Alert rule instances by state (inactive, pending, firing)");
    NOTIFICATIONS = counter("exporter.notifications_total", Count, "Alert notifications by receiver and outcome (sent, failed)");
    PROCESS_RESTARTS = counter("exporter.process_restarts_total", Count, "Times the supervisor restarted a child process");
    TUNNEL_UP = gauge("exporter.tunnel_up", Boolean, "1 while the supervisor's tunnel is up");
}

/// The three series names of a histogram, as static strings (series names are `&'static`).
struct HistogramNames {
    base: &'static str,
    bucket: &'static str,
    sum: &'static str,
    count: &'static str,
}

macro_rules! histogram_names {
    ($($name:literal),+ $(,)?) => {
        &[$(HistogramNames {
            base: $name,
            bucket: concat!($name, "_bucket"),
            sum: concat!($name, "_sum"),
            count: concat!($name, "_count"),
        }),+]
    };
}

/// Every histogram of the catalogue (a test checks the two lists agree).
const HISTOGRAMS: &[HistogramNames] = histogram_names!(
    "exporter.batch_commit_seconds",
    "exporter.collection_cycle_seconds",
    "exporter.publish_latency_seconds",
    "exporter.http_request_duration_seconds",
    "exporter.alert_evaluation_seconds",
);

/// The catalogue entry of the metric `name` (without prefix), if it is of type `kind`.
fn def_of(name: &str, kind: SeriesType) -> Option<&'static SeriesDef> {
    SERIES
        .iter()
        .find(|def| def.kind == kind && def.name.strip_prefix(PREFIX) == Some(name))
}

/// How `le` reads in Prometheus: `0.005`, `1`, `+Inf`.
pub fn le_label(bound: f64) -> String {
    if bound == f64::INFINITY {
        "+Inf".to_owned()
    } else {
        bound.to_string()
    }
}

impl SelfMetrics {
    fn labels(&self, own: &Labels) -> Labels {
        let mut labels = own.clone();
        labels.insert("process".to_owned(), self.process.clone());
        labels
    }
}

impl HasSeries for SelfMetrics {
    fn series(&self) -> Vec<SeriesPoint> {
        let mut points = Vec::new();
        let plain = [
            (&self.counters, SeriesType::Counter),
            (&self.gauges, SeriesType::Gauge),
        ];
        for (metrics, kind) in plain {
            for metric in metrics {
                if let Some(def) = def_of(&metric.name, kind)
                    && metric.value.is_finite()
                {
                    points.push(def.point(self.labels(&metric.labels), metric.value));
                }
            }
        }
        for histogram in &self.histograms {
            let Some(def) = def_of(&histogram.name, SeriesType::Histogram) else {
                continue;
            };
            let Some(names) = HISTOGRAMS.iter().find(|names| names.base == def.name) else {
                continue;
            };
            if !histogram.is_well_formed() {
                continue;
            }
            let labels = self.labels(&histogram.labels);
            let mut cumulative = 0;
            let bounds = histogram.bounds.iter().copied().chain([f64::INFINITY]);
            for (bound, count) in bounds.zip(&histogram.counts) {
                cumulative += count;
                let mut bucket = labels.clone();
                bucket.insert("le".to_owned(), le_label(bound));
                points.push(SeriesPoint {
                    name: names.bucket,
                    labels: bucket,
                    value: cumulative as f64,
                });
            }
            points.push(SeriesPoint {
                name: names.sum,
                labels: labels.clone(),
                value: histogram.sum,
            });
            points.push(SeriesPoint {
                name: names.count,
                labels,
                value: cumulative as f64,
            });
        }
        points
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SelfMetrics {
        SelfMetrics {
            process: "aggregator".into(),
            counters: vec![
                Metric {
                    name: "dead_letters_total".into(),
                    labels: Labels::from([("reason".to_owned(), "parse".to_owned())]),
                    value: 3.0,
                },
                Metric {
                    name: "from_a_newer_build_total".into(),
                    labels: Labels::new(),
                    value: 1.0,
                },
            ],
            gauges: vec![Metric {
                name: "consumer_pending_messages".into(),
                labels: Labels::new(),
                value: 12.0,
            }],
            histograms: vec![Histogram {
                name: "batch_commit_seconds".into(),
                labels: Labels::new(),
                bounds: vec![0.01, 0.1, 1.0],
                counts: vec![2, 0, 3, 1],
                sum: 4.5,
            }],
        }
    }

    #[test]
    fn buckets_are_cumulative_and_inf_equals_the_count() {
        let points = sample().series();
        let bucket = |le: &str| {
            points
                .iter()
                .find(|p| p.name == "exporter.batch_commit_seconds_bucket" && p.labels["le"] == le)
                .map(|p| p.value)
        };
        assert_eq!(bucket("0.01"), Some(2.0));
        assert_eq!(bucket("0.1"), Some(2.0));
        assert_eq!(bucket("1"), Some(5.0));
        assert_eq!(bucket("+Inf"), Some(6.0));
        let count = points
            .iter()
            .find(|p| p.name == "exporter.batch_commit_seconds_count")
            .unwrap();
        assert_eq!(count.value, 6.0);
        assert_eq!(count.labels["process"], "aggregator");
        let sum = points
            .iter()
            .find(|p| p.name == "exporter.batch_commit_seconds_sum")
            .unwrap();
        assert_eq!(sum.value, 4.5);
    }

    #[test]
    fn counters_and_gauges_carry_process_and_their_labels_and_unknown_names_are_skipped() {
        let points = sample().series();
        let dead = points
            .iter()
            .find(|p| p.name == "exporter.dead_letters_total")
            .unwrap();
        assert_eq!(dead.labels["reason"], "parse");
        assert_eq!(dead.labels["process"], "aggregator");
        assert!(
            points
                .iter()
                .any(|p| p.name == "exporter.consumer_pending_messages" && p.value == 12.0)
        );
        assert!(!points.iter().any(|p| p.name.contains("newer_build")));
        // 2 plain points, 4 buckets, sum and count.
        assert_eq!(points.len(), 8);
    }

    #[test]
    fn a_malformed_histogram_or_a_wrong_type_makes_no_series() {
        let mut metrics = sample();
        metrics.histograms[0].counts.pop();
        metrics.gauges[0].name = "dead_letters_total".into();
        let points = metrics.series();
        assert!(!points.iter().any(|p| p.name.starts_with("exporter.batch")));
        assert_eq!(points.len(), 1);
    }

    #[test]
    fn every_catalogued_histogram_has_its_three_names() {
        let histograms: Vec<_> = SERIES
            .iter()
            .filter(|def| def.kind == SeriesType::Histogram)
            .map(|def| def.name)
            .collect();
        let named: Vec<_> = HISTOGRAMS.iter().map(|names| names.base).collect();
        assert_eq!(histograms, named);
        for names in HISTOGRAMS {
            for name in [names.bucket, names.sum, names.count] {
                assert_eq!(
                    crate::series::describe(name).map(|d| d.name),
                    Some(names.base)
                );
            }
        }
        assert!(SERIES.iter().all(|def| def.name.starts_with(PREFIX)));
    }

    #[test]
    fn an_old_shape_without_lists_still_parses() {
        let old: SelfMetrics = serde_json::from_str(r#"{"process":"api"}"#).unwrap();
        assert!(old.series().is_empty());
    }
}

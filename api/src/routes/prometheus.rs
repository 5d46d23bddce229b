//! `GET /metrics`: the latest value of every series of every host in the Prometheus text format
//! 0.0.4, or in OpenMetrics 1.0 when the scraper's `Accept` prefers it, so an existing
//! Prometheus can scrape the exporter like any other target.
//!
//! Everything comes from one read of the latest-sample table (plus the open alerts and, for
//! the realised P&L of the day, the API's trades cache), flattened with
//! [`SourceKind::series_of`] and named by [`SeriesDef::prometheus_family`]: the naming contract
//! lives there, not here. The encoder is written by hand because both formats are needed and
//! the families are only known at scrape time (see the README's dependencies section).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use exporter_protocol::alert::{Alert, AlertState};
use exporter_protocol::series::{Labels, SeriesDef, describe};
use exporter_protocol::{SourceKind, kinds};
use exporter_store::LatestSample;

use crate::{ApiError, AppState};

/// Content type of the text format 0.0.4.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// Content type of OpenMetrics 1.0.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Family of the age of each (host, periodic source), computed at scrape time.
const LAST_SAMPLE_FAMILY: &str = "gh200_exporter_last_sample_timestamp_seconds";

/// Which exposition format to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    OpenMetrics,
}

impl Format {
    /// OpenMetrics when the `Accept` header ranks `application/openmetrics-text` above the text
    /// format (as Prometheus does), the text format otherwise.
    pub fn negotiate(accept: Option<&str>) -> Self {
        let (mut openmetrics, mut text) = (0.0_f64, 0.0_f64);
        for range in accept.unwrap_or("").split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or("").to_ascii_lowercase();
            let mut q = 1.0;
            let mut version = None;
            for param in parts {
                match param.split_once('=').map(|(k, v)| (k.trim(), v.trim())) {
                    Some(("q", value)) => q = value.parse().unwrap_or(0.0),
                    Some(("version", value)) => version = Some(value.to_owned()),
                    _ => {}
                }
            }
            match media.as_str() {
                "application/openmetrics-text"
                    if version
                        .as_deref()
                        .is_none_or(|v| v.starts_with("1.") || v == "0.0.1") =>
                {
                    openmetrics = openmetrics.max(q);
                }
                "text/plain" | "*/*" | "text/*" => text = text.max(q),
                _ => {}
            }
        }
        if openmetrics > 0.0 && openmetrics > text {
            Self::OpenMetrics
        } else {
            Self::Text
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Self::Text => TEXT_CONTENT_TYPE,
            Self::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
        }
    }
}

/// One metric family: its metadata and its samples, keyed by (name suffix, labels) so a series
/// appears once (the newest value wins).
#[derive(Debug)]
struct Family {
    kind: &'static str,
    help: &'static str,
    unit: Option<&'static str>,
    samples: BTreeMap<(&'static str, Labels), (f64, DateTime<Utc>)>,
}

/// The exposition being built: families by name (the text format's name: counters with
/// `_total`).
#[derive(Debug, Default)]
pub struct Exposition {
    families: BTreeMap<String, Family>,
    /// Points whose series is not in this build's catalogue (left out).
    pub uncatalogued: usize,
    /// Latest samples left out because they are older than `api.stale_after_seconds`.
    pub stale_samples: usize,
}

impl Exposition {
    /// The series of one stored latest sample, unless it is older than `stale_before`. Every
    /// periodic source also gets its `gh200_exporter_last_sample_timestamp_seconds` (for a day:
    /// a host retired longer ago leaves the exposition, so absence rules about it resolve).
    ///
    /// Periodic sources and events go stale (an XID reported once is not an XID now); an
    /// inventory's latest sample stays true until the next one (the GPU count), as
    /// `/metrics/hardware` shows it.
    pub fn add_latest(&mut self, latest: &LatestSample, stale_before: DateTime<Utc>) {
        let periodic = kinds::is_periodic(&latest.source);
        let retired = latest.sample_time < Utc::now() - chrono::Duration::days(1);
        if periodic && !retired {
            let labels = Labels::from([
                ("host".to_owned(), latest.host.clone()),
                ("source".to_owned(), latest.source.clone()),
            ]);
            let seconds = latest.sample_time.timestamp_millis() as f64 / 1000.0;
            let family = self.family(
                LAST_SAMPLE_FAMILY,
                "gauge",
                "Unix time of the latest stored sample of each host and periodic source",
                Some("seconds"),
            );
            // Several processes share the `exporter` source of a host: keep the newest.
            let newest = family
                .samples
                .get(&("", labels.clone()))
                .is_none_or(|(value, _)| *value < seconds);
            if newest {
                family
                    .samples
                    .insert(("", labels), (seconds, latest.sample_time));
            }
        }
        let expires = periodic || latest.source == SourceKind::GpuEvent.name();
        if expires && latest.sample_time < stale_before {
            self.stale_samples += 1;
            return;
        }
        // Quotes are exported per symbol from the quote table (`add_quotes`): the latest
        // sample holds only the last symbol fetched.
        if latest.source == SourceKind::Quote.name() {
            return;
        }
        let Ok(kind) = latest.source.parse::<SourceKind>() else {
            tracing::debug!(source = %latest.source, "source unknown to this build; left out of /metrics");
            return;
        };
        let points = match kind.series_of(&latest.body) {
            Ok(points) => points,
            Err(err) => {
                tracing::debug!(host = %latest.host, error = %err, "left out of /metrics");
                return;
            }
        };
        let currency = currency_of(&latest.body);
        for point in points {
            let Some(def) = describe(point.name) else {
                self.uncatalogued += 1;
                tracing::debug!(
                    series = point.name,
                    "series not in the catalogue; left out of /metrics"
                );
                continue;
            };
            let mut labels = point.labels;
            if def.is_currency() {
                labels.insert("currency".to_owned(), currency.clone());
            }
            self.add_point(
                def,
                point.name,
                &latest.host,
                labels,
                point.value,
                latest.sample_time,
            );
        }
    }

    /// One value of a catalogued series on `host`, converted to the family's base unit.
    pub fn add_point(
        &mut self,
        def: &'static SeriesDef,
        point_name: &str,
        host: &str,
        mut labels: Labels,
        value: f64,
        time: DateTime<Utc>,
    ) {
        let suffix = histogram_suffix(def, point_name);
        let value = if suffix.is_empty() || suffix == "_sum" {
            def.prometheus_value(value)
        } else {
            value
        };
        labels.insert("host".to_owned(), host.to_owned());
        let family = self.family(
            &def.prometheus_family(),
            def.prometheus_type(),
            def.help,
            def.prometheus_unit(),
        );
        match family.samples.get(&(suffix, labels.clone())) {
            Some((_, newer)) if *newer > time => {}
            _ => {
                family.samples.insert((suffix, labels), (value, time));
            }
        }
    }

    /// `ALERTS{alertname, alertstate, severity, category, …labels} 1` for every pending or
    /// firing alert, like Prometheus' own.
    pub fn add_alerts(&mut self, alerts: &[Alert]) {
        let family = self.family(
            "ALERTS",
            "gauge",
            "Alerts pending or firing, one series per alert (like Prometheus' own ALERTS)",
            None,
        );
        for alert in alerts {
            let state = match alert.state {
                AlertState::Pending => "pending",
                AlertState::Firing => "firing",
                AlertState::Resolved | AlertState::Inactive => continue,
            };
            let mut labels = alert.labels.clone();
            labels
                .entry("alertname".to_owned())
                .or_insert_with(|| alert.rule.clone());
            labels.insert("alertstate".to_owned(), state.to_owned());
            labels.insert("severity".to_owned(), alert.severity.as_str().to_owned());
            labels.insert("category".to_owned(), alert.category.clone());
            family
                .samples
                .insert(("", labels), (1.0, alert.last_active_at));
        }
    }

    fn family(
        &mut self,
        name: &str,
        kind: &'static str,
        help: &'static str,
        unit: Option<&'static str>,
    ) -> &mut Family {
        self.families
            .entry(name.to_owned())
            .or_insert_with(|| Family {
                kind,
                help,
                unit,
                samples: BTreeMap::new(),
            })
    }

    /// The exposition in `format`.
    pub fn encode(&self, format: Format) -> String {
        let mut out = String::with_capacity(self.families.len() * 256);
        let om = format == Format::OpenMetrics;
        for (name, family) in &self.families {
            if family.samples.is_empty() {
                continue;
            }
            let counter = family.kind == "counter";
            let family_name = match (om, counter) {
                (true, true) => name.strip_suffix("_total").unwrap_or(name),
                _ => name.as_str(),
            };
            let _ = writeln!(out, "# HELP {family_name} {}", escape_help(family.help, om));
            let _ = writeln!(out, "# TYPE {family_name} {}", family.kind);
            if let (true, Some(unit)) = (om, family.unit) {
                let _ = writeln!(out, "# UNIT {family_name} {unit}");
            }
            let mut samples: Vec<_> = family.samples.iter().collect();
            if family.kind == "histogram" {
                samples.sort_by(|((a_suffix, a), _), ((b_suffix, b), _)| {
                    without_le(a)
                        .cmp(&without_le(b))
                        .then(suffix_rank(a_suffix).cmp(&suffix_rank(b_suffix)))
                        .then(le_of(a).total_cmp(&le_of(b)))
                });
            }
            for ((suffix, labels), (value, _)) in samples {
                let sample_name = if counter && om {
                    format!("{family_name}_total")
                } else {
                    format!("{family_name}{suffix}")
                };
                out.push_str(&sample_name);
                write_labels(&mut out, labels);
                out.push(' ');
                out.push_str(&format_value(*value));
                out.push('\n');
            }
        }
        if om {
            out.push_str("# EOF\n");
        }
        out
    }
}

/// `_bucket`, `_sum` or `_count` for a histogram's points, `""` for everything else.
fn histogram_suffix(def: &SeriesDef, point_name: &str) -> &'static str {
    if def.kind != exporter_protocol::series::SeriesType::Histogram {
        return "";
    }
    ["_bucket", "_sum", "_count"]
        .into_iter()
        .find(|suffix| point_name.ends_with(suffix))
        .unwrap_or("")
}

fn suffix_rank(suffix: &str) -> u8 {
    match suffix {
        "_bucket" => 0,
        "_sum" => 1,
        _ => 2,
    }
}

fn without_le(labels: &Labels) -> Vec<(&String, &String)> {
    labels.iter().filter(|(k, _)| *k != "le").collect()
}

fn le_of(labels: &Labels) -> f64 {
    labels
        .get("le")
        .and_then(|le| match le.as_str() {
            "+Inf" | "Inf" | "inf" => Some(f64::INFINITY),
            other => other.parse().ok(),
        })
        .unwrap_or(f64::INFINITY)
}

/// The account's (or quote's) currency in a sample body; USD when it names none.
fn currency_of(body: &serde_json::Value) -> String {
    body.pointer("/account/currency")
        .or_else(|| body.get("currency"))
        .and_then(serde_json::Value::as_str)
        .filter(|c| !c.is_empty())
        .unwrap_or("USD")
        .to_owned()
}

fn write_labels(out: &mut String, labels: &Labels) {
    if labels.is_empty() {
        return;
    }
    out.push('{');
    for (i, (key, value)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for (j, c) in key.chars().enumerate() {
            let valid = c.is_ascii_alphabetic() || c == '_' || (j > 0 && c.is_ascii_digit());
            out.push(if valid { c } else { '_' });
        }
        out.push_str("=\"");
        for c in value.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push('}');
}

fn escape_help(help: &str, om: bool) -> String {
    let mut escaped = help.replace('\\', "\\\\").replace('\n', "\\n");
    if om {
        escaped = escaped.replace('"', "\\\"");
    }
    escaped
}

fn format_value(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value == f64::INFINITY {
        "+Inf".to_owned()
    } else if value == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else {
        value.to_string()
    }
}

/// Realised P&L of today's trading day, from the API's trading ledger, on each host that sent
/// fills (in the currency of that host's account). A scrape never builds the ledger: before
/// the first build (started in the background) the family is left out.
async fn add_realised_pnl(state: &AppState, rows: &[LatestSample], exposition: &mut Exposition) {
    use rust_decimal::prelude::ToPrimitive;
    let fill_hosts: Vec<&LatestSample> = rows
        .iter()
        .filter(|row| row.source == SourceKind::Fills.name())
        .collect();
    if fill_hosts.is_empty() {
        return;
    }
    let Some(pnl) = crate::routes::trades::realised_pnl_today(state).await else {
        return;
    };
    let Some(value) = pnl.to_f64() else {
        return;
    };
    let def = &exporter_protocol::brokerage::TRADING_REALIZED_PNL_TODAY;
    for fills in fill_hosts {
        let currency = rows
            .iter()
            .find(|row| row.host == fills.host && row.source == SourceKind::Portfolio.name())
            .map_or_else(|| "USD".to_owned(), |row| currency_of(&row.body));
        let labels = Labels::from([("currency".to_owned(), currency)]);
        exposition.add_point(def, def.name, &fills.host, labels, value, fills.sample_time);
    }
}

/// The last price of every symbol, from the quote table (one row per symbol), labelled with
/// the host of the market collector. Quotes older than `stale_before` are left out.
async fn add_quotes(
    state: &AppState,
    rows: &[LatestSample],
    stale_before: DateTime<Utc>,
    exposition: &mut Exposition,
) {
    let Some(collector) = rows
        .iter()
        .find(|row| row.source == SourceKind::Quote.name())
    else {
        return;
    };
    let quotes = match state.store.quotes().await {
        Ok(quotes) => quotes,
        Err(err) => {
            tracing::warn!(error = %err, "reading quotes for /metrics failed; market prices left out");
            return;
        }
    };
    for (quote, received_at) in quotes {
        if received_at < stale_before {
            exposition.stale_samples += 1;
            continue;
        }
        for point in exporter_protocol::HasSeries::series(&quote) {
            let Some(def) = describe(point.name) else {
                continue;
            };
            let mut labels = point.labels;
            labels.insert(
                "currency".to_owned(),
                quote.currency.clone().unwrap_or_else(|| "USD".to_owned()),
            );
            exposition.add_point(
                def,
                point.name,
                &collector.host,
                labels,
                point.value,
                received_at,
            );
        }
    }
}

/// `gh200_portfolio_drawdown_ratio`: how far each host's equity is below the highest equity
/// recorded, as the alert engine derives it (`exporter_trading::drawdown_percent`).
async fn add_drawdown(state: &AppState, rows: &[LatestSample], exposition: &mut Exposition) {
    let def = &exporter_protocol::brokerage::PORTFOLIO_DRAWDOWN_PERCENT;
    let equity_def = &exporter_protocol::brokerage::PORTFOLIO_EQUITY;
    let portfolios: Vec<&LatestSample> = rows
        .iter()
        .filter(|row| row.source == SourceKind::Portfolio.name())
        .collect();
    if portfolios.is_empty() {
        return;
    }
    let peak = match state.store.max_equity().await {
        Ok(peak) => peak,
        Err(err) => {
            tracing::warn!(error = %err, "reading the equity peak for /metrics failed");
            return;
        }
    };
    for portfolio in portfolios {
        let Ok(points) = SourceKind::Portfolio.series_of(&portfolio.body) else {
            continue;
        };
        let Some(equity) = points
            .iter()
            .find(|p| p.name == equity_def.name)
            .map(|p| p.value)
        else {
            continue;
        };
        let peak = peak.unwrap_or(equity).max(equity);
        if let Some(percent) = exporter_trading::drawdown_percent(peak, equity) {
            exposition.add_point(
                def,
                def.name,
                &portfolio.host,
                Labels::new(),
                percent,
                portfolio.sample_time,
            );
        }
    }
}

#[utoipa::path(
    get,
    path = "/metrics", operation_id = "prometheus_metrics",
    tag = "metrics",
    responses(
        (status = 200, description = "The latest value of every series of every host, for Prometheus: the text format 0.0.4 by default, OpenMetrics 1.0 when `Accept` prefers `application/openmetrics-text`. Families and labels: docs/metrics.md",
            content(
                (String = "text/plain; version=0.0.4"),
                (String = "application/openmetrics-text; version=1.0.0")
            )),
        (status = 401, body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn exposition(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let format = Format::negotiate(
        headers
            .get(header::ACCEPT)
            .and_then(|value| value.to_str().ok()),
    );
    let rows = state.store.latest(None, None).await?;
    let alerts = state.store.open_alerts().await?;
    let stale_after = i64::try_from(state.stale_after_seconds)
        .ok()
        .and_then(chrono::Duration::try_seconds)
        .unwrap_or(chrono::Duration::MAX);
    let stale_before = Utc::now()
        .checked_sub_signed(stale_after)
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let mut exposition = Exposition::default();
    for row in &rows {
        exposition.add_latest(row, stale_before);
    }
    exposition.add_alerts(&alerts);
    let fresh: Vec<LatestSample> = rows
        .iter()
        .filter(|row| row.sample_time >= stale_before)
        .cloned()
        .collect();
    add_realised_pnl(&state, &fresh, &mut exposition).await;
    add_quotes(&state, &rows, stale_before, &mut exposition).await;
    add_drawdown(&state, &fresh, &mut exposition).await;
    if exposition.uncatalogued > 0 {
        tracing::debug!(
            points = exposition.uncatalogued,
            "points of series not in the catalogue left out of /metrics"
        );
    }
    let body = exposition.encode(format);
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(format.content_type()),
        )],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn latest(source: &str, age_seconds: i64, body: serde_json::Value) -> LatestSample {
        let time = Utc::now() - chrono::Duration::seconds(age_seconds);
        LatestSample {
            source: source.to_owned(),
            host: "gh1".to_owned(),
            message_id: uuid::Uuid::nil(),
            sample_time: time,
            received_at: time,
            body,
        }
    }

    fn system_body() -> serde_json::Value {
        serde_json::json!({
            "cpu": {"usage_percent": 42.0, "per_core_percent": [10.0], "logical_cores": 1},
            "memory": {"total_bytes": 1024, "used_bytes": 512, "available_bytes": 512, "free_bytes": 0,
                       "used_percent": 50.0, "swap_total_bytes": 0, "swap_used_bytes": 0, "swap_free_bytes": 0},
        })
    }

    fn stale_before() -> DateTime<Utc> {
        Utc::now() - chrono::Duration::seconds(30)
    }

    #[test]
    fn families_are_named_converted_and_labelled_by_host() {
        let mut exposition = Exposition::default();
        exposition.add_latest(&latest("system", 1, system_body()), stale_before());
        let text = exposition.encode(Format::Text);
        assert!(
            text.contains("# TYPE gh200_cpu_usage_ratio gauge\n"),
            "{text}"
        );
        assert!(
            text.contains("gh200_cpu_usage_ratio{host=\"gh1\"} 0.42\n"),
            "{text}"
        );
        assert!(
            text.contains("gh200_cpu_core_usage_ratio{core=\"0\",host=\"gh1\"} 0.1\n"),
            "{text}"
        );
        assert!(
            text.contains("gh200_memory_total_bytes{host=\"gh1\"} 1024\n"),
            "{text}"
        );
        assert!(
            text.contains("# HELP gh200_exporter_last_sample_timestamp_seconds "),
            "{text}"
        );
        assert!(
            text.contains(
                "gh200_exporter_last_sample_timestamp_seconds{host=\"gh1\",source=\"system\"} "
            ),
            "{text}"
        );
        assert!(!text.contains("# EOF"));
        assert_eq!(exposition.uncatalogued, 0);
    }

    #[test]
    fn stale_samples_are_left_out_but_their_age_is_not() {
        let mut exposition = Exposition::default();
        exposition.add_latest(&latest("system", 120, system_body()), stale_before());
        let text = exposition.encode(Format::Text);
        assert!(!text.contains("gh200_memory_total_bytes"), "{text}");
        assert!(
            text.contains("gh200_exporter_last_sample_timestamp_seconds{"),
            "{text}"
        );
        assert_eq!(exposition.stale_samples, 1);
        let inventory = serde_json::json!({"gpus": []});
        let mut exposition = Exposition::default();
        exposition.add_latest(&latest("gpu_inventory", 3600, inventory), stale_before());
        assert_eq!(exposition.stale_samples, 0, "inventories do not go stale");
    }

    #[test]
    fn openmetrics_strips_total_from_counter_families_and_ends_with_eof() {
        let mut exposition = Exposition::default();
        let def = describe("network.rx_errors_total").unwrap();
        let labels = Labels::from([("interface".to_owned(), "eth0".to_owned())]);
        exposition.add_point(def, def.name, "gh1", labels, 3.0, Utc::now());
        let om = exposition.encode(Format::OpenMetrics);
        assert!(
            om.contains("# TYPE gh200_network_rx_errors counter\n"),
            "{om}"
        );
        assert!(
            om.contains("gh200_network_rx_errors_total{host=\"gh1\",interface=\"eth0\"} 3\n"),
            "{om}"
        );
        assert!(om.ends_with("# EOF\n"), "{om}");
        let text = exposition.encode(Format::Text);
        assert!(
            text.contains("# TYPE gh200_network_rx_errors_total counter\n"),
            "{text}"
        );
    }

    #[test]
    fn money_gets_the_accounts_currency() {
        let mut exposition = Exposition::default();
        let def = describe("portfolio.equity").unwrap();
        exposition.add_point(
            def,
            def.name,
            "gh1",
            Labels::from([(
                "currency".to_owned(),
                currency_of(&serde_json::json!({"account": {"currency": "EUR"}})),
            )]),
            1000.5,
            Utc::now(),
        );
        assert!(
            exposition
                .encode(Format::Text)
                .contains("gh200_portfolio_equity{currency=\"EUR\",host=\"gh1\"} 1000.5\n")
        );
        assert_eq!(currency_of(&serde_json::json!({})), "USD");
    }

    #[test]
    fn alerts_look_like_prometheus_alerts() {
        let alert: Alert = serde_json::from_value(serde_json::json!({
            "id": uuid::Uuid::nil(), "fingerprint": "f", "rule": "HighCpu", "severity": "critical",
            "category": "system", "state": "firing", "labels": {"host": "gh1"},
            "annotations": {}, "started_at": Utc::now(), "last_active_at": Utc::now(),
        }))
        .unwrap();
        let mut exposition = Exposition::default();
        exposition.add_alerts(&[alert]);
        let text = exposition.encode(Format::Text);
        assert!(text.contains("ALERTS{alertname=\"HighCpu\",alertstate=\"firing\",category=\"system\",host=\"gh1\",severity=\"critical\"} 1\n"), "{text}");
    }

    static BATCH_SECONDS: SeriesDef = SeriesDef {
        name: "exporter.batch_commit_seconds",
        kind: exporter_protocol::series::SeriesType::Histogram,
        unit: exporter_protocol::series::Unit::Seconds,
        help: "Time to commit one batch",
    };

    #[test]
    fn histogram_points_become_one_family_with_buckets_in_order() {
        let mut exposition = Exposition::default();
        let now = Utc::now();
        let process = || Labels::from([("process".to_owned(), "aggregator".to_owned())]);
        for (le, count) in [("10", 5.0), ("+Inf", 6.0), ("0.5", 2.0), ("2.5", 4.0)] {
            let mut labels = process();
            labels.insert("le".to_owned(), le.to_owned());
            let name = "exporter.batch_commit_seconds_bucket";
            exposition.add_point(&BATCH_SECONDS, name, "gh1", labels, count, now);
        }
        let sum = "exporter.batch_commit_seconds_sum";
        exposition.add_point(&BATCH_SECONDS, sum, "gh1", process(), 7.5, now);
        let count = "exporter.batch_commit_seconds_count";
        exposition.add_point(&BATCH_SECONDS, count, "gh1", process(), 6.0, now);
        let text = exposition.encode(Format::Text);
        let family = "gh200_exporter_batch_commit_seconds";
        let expected = format!(
            "# HELP {family} Time to commit one batch\n# TYPE {family} histogram\n\
             {family}_bucket{{host=\"gh1\",le=\"0.5\",process=\"aggregator\"}} 2\n\
             {family}_bucket{{host=\"gh1\",le=\"2.5\",process=\"aggregator\"}} 4\n\
             {family}_bucket{{host=\"gh1\",le=\"10\",process=\"aggregator\"}} 5\n\
             {family}_bucket{{host=\"gh1\",le=\"+Inf\",process=\"aggregator\"}} 6\n\
             {family}_sum{{host=\"gh1\",process=\"aggregator\"}} 7.5\n\
             {family}_count{{host=\"gh1\",process=\"aggregator\"}} 6\n"
        );
        assert_eq!(text, expected);
        let om = exposition.encode(Format::OpenMetrics);
        assert!(om.contains(&format!("# UNIT {family} seconds\n")), "{om}");
        assert!(
            om.ends_with("_count{host=\"gh1\",process=\"aggregator\"} 6\n# EOF\n"),
            "{om}"
        );
    }

    #[test]
    fn labels_and_help_are_escaped() {
        let mut out = String::new();
        write_labels(
            &mut out,
            &Labels::from([("mount point".to_owned(), "a\"b\\c\nd".to_owned())]),
        );
        assert_eq!(out, "{mount_point=\"a\\\"b\\\\c\\nd\"}");
        assert_eq!(escape_help("a\\b\nc", false), "a\\\\b\\nc");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(f64::NAN), "NaN");
    }

    #[test]
    fn openmetrics_is_chosen_only_when_preferred() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(prometheus)), Format::OpenMetrics);
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text")),
            Format::OpenMetrics
        );
        assert_eq!(
            Format::negotiate(Some(
                "text/plain;version=0.0.4;q=1,application/openmetrics-text;q=0.5"
            )),
            Format::Text
        );
        assert_eq!(Format::negotiate(Some("*/*")), Format::Text);
        assert_eq!(Format::negotiate(None), Format::Text);
    }
}

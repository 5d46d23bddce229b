//! The Yahoo Finance chart client (`GET {base}/v8/finance/chart/{symbol}`), written here rather
//! than taken from `yahoo_finance_api`, which turns null prices into 0 or drops bars silently.
//!
//! A bar whose close is null is dropped and counted (never 0); a null open/high/low/volume stays
//! absent. An empty result (a weekend one-minute request) is an empty chart, not an error.
//! Yahoo's `chart.error` and 404 become [`ChartError::NotFound`], 422 and refused
//! interval/range combinations [`ChartError::Unprocessable`], with Yahoo's description. 429, 5xx
//! and transport errors are retried with backoff, then [`ChartError::Unavailable`]. Requests are
//! validated before anything leaves, and bounded per minute.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use exporter_runtime::RetryPolicy;
use serde::Deserialize;
use tokio::sync::Mutex;

/// A browser-like User-Agent: Yahoo refuses obvious bots.
pub const USER_AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36";

const INTERVALS: &[&str] = &[
    "1m", "2m", "5m", "15m", "30m", "60m", "90m", "1h", "1d", "5d", "1wk", "1mo", "3mo",
];

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub base_url: String,
    pub timeout: Duration,
    pub max_requests_per_minute: u32,
    pub max_retries: u32,
    /// First retry delay; doubles per retry.
    pub retry_base_delay: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            base_url: "https://query1.finance.yahoo.com".into(),
            timeout: Duration::from_secs(10),
            max_requests_per_minute: 60,
            max_retries: 3,
            retry_base_delay: Duration::from_millis(500),
        }
    }
}

/// Why a chart could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error("invalid {parameter}: {message}")]
    Invalid {
        parameter: &'static str,
        message: String,
    },
    #[error("Yahoo: {description}")]
    NotFound { description: String },
    #[error("Yahoo refuses this request: {description}")]
    Unprocessable { description: String },
    #[error("Yahoo is unavailable: {message}")]
    Unavailable { message: String },
    #[error("Yahoo's answer is malformed: {message}")]
    Malformed { message: String },
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// A validated request.
#[derive(Debug, Clone)]
pub struct ChartRequest {
    pub symbol: String,
    pub range: String,
    pub interval: String,
}

impl ChartRequest {
    /// Validates symbol, range and interval, including Yahoo's documented limits: `1m` only for
    /// ranges up to 5 days (7 days per request), other intraday intervals up to 60 days (`1h` and
    /// `60m` up to 2 years).
    pub fn for_range(symbol: &str, range: &str, interval: &str) -> Result<Self, ChartError> {
        let valid_symbol = (1..=32).contains(&symbol.len())
            && symbol
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '=' | '^'));
        if !valid_symbol {
            return Err(ChartError::Invalid {
                parameter: "symbol",
                message: "must be 1 to 32 letters, digits, `.`, `-`, `=` or `^`".into(),
            });
        }
        if !exporter_protocol::market::RANGES.contains(&range) {
            return Err(ChartError::Invalid {
                parameter: "period",
                message: format!(
                    "`{range}` is not one of {}",
                    exporter_protocol::market::RANGES.join(", ")
                ),
            });
        }
        if !INTERVALS.contains(&interval) {
            return Err(ChartError::Invalid {
                parameter: "interval",
                message: format!("`{interval}` is not one of {}", INTERVALS.join(", ")),
            });
        }
        let days = |r: &str| match r {
            "1d" => 1,
            "5d" => 5,
            "1mo" => 31,
            "3mo" => 92,
            "6mo" => 183,
            "1y" | "ytd" => 366,
            "2y" => 731,
            _ => 100_000,
        };
        let limit = match interval {
            "1m" => Some(7),
            "2m" | "5m" | "15m" | "30m" | "90m" => Some(60),
            "60m" | "1h" => Some(730),
            _ => None,
        };
        if let Some(limit) = limit
            && days(range) > limit
        {
            return Err(ChartError::Unprocessable {
                description: format!(
                    "interval {interval} is available for at most {limit} days; period {range} is longer"
                ),
            });
        }
        Ok(Self {
            symbol: symbol.to_owned(),
            range: range.to_owned(),
            interval: interval.to_owned(),
        })
    }
}

/// Symbol metadata and market fields of a chart answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChartMeta {
    pub currency: Option<String>,
    pub exchange_name: Option<String>,
    pub instrument_type: Option<String>,
    pub exchange_timezone_name: Option<String>,
    pub regular_market_price: Option<f64>,
    pub chart_previous_close: Option<f64>,
    pub previous_close: Option<f64>,
    pub regular_market_day_high: Option<f64>,
    pub regular_market_day_low: Option<f64>,
    pub regular_market_volume: Option<u64>,
    pub regular_market_time: Option<DateTime<Utc>>,
    pub market_state: Option<String>,
}

/// One bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub time: DateTime<Utc>,
    pub open: Option<f64>,
    pub high: Option<f64>,
    pub low: Option<f64>,
    pub close: f64,
    pub adj_close: Option<f64>,
    pub volume: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    pub time: DateTime<Utc>,
    pub numerator: f64,
    pub denominator: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Dividend {
    pub time: DateTime<Utc>,
    pub amount: f64,
}

/// A parsed chart.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Chart {
    pub meta: ChartMeta,
    pub bars: Vec<Bar>,
    /// Bars Yahoo sent without a close.
    pub dropped_null_bars: usize,
    pub splits: Vec<Split>,
    pub dividends: Vec<Dividend>,
}

#[derive(Deserialize)]
struct Envelope {
    chart: ChartBody,
}

#[derive(Deserialize)]
struct ChartBody {
    result: Option<Vec<RawResult>>,
    error: Option<RawError>,
}

#[derive(Deserialize)]
struct RawError {
    code: Option<String>,
    description: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMeta {
    currency: Option<String>,
    exchange_name: Option<String>,
    instrument_type: Option<String>,
    exchange_timezone_name: Option<String>,
    regular_market_price: Option<f64>,
    chart_previous_close: Option<f64>,
    previous_close: Option<f64>,
    regular_market_day_high: Option<f64>,
    regular_market_day_low: Option<f64>,
    regular_market_volume: Option<u64>,
    regular_market_time: Option<i64>,
    market_state: Option<String>,
}

#[derive(Deserialize)]
struct RawResult {
    meta: RawMeta,
    #[serde(default)]
    timestamp: Option<Vec<i64>>,
    indicators: RawIndicators,
    #[serde(default)]
    events: Option<RawEvents>,
}

#[derive(Deserialize)]
struct RawIndicators {
    #[serde(default)]
    quote: Vec<RawQuote>,
    #[serde(default)]
    adjclose: Option<Vec<RawAdj>>,
}

#[derive(Deserialize, Default)]
struct RawQuote {
    #[serde(default)]
    open: Vec<Option<f64>>,
    #[serde(default)]
    high: Vec<Option<f64>>,
    #[serde(default)]
    low: Vec<Option<f64>>,
    #[serde(default)]
    close: Vec<Option<f64>>,
    #[serde(default)]
    volume: Vec<Option<f64>>,
}

#[derive(Deserialize)]
struct RawAdj {
    #[serde(default)]
    adjclose: Vec<Option<f64>>,
}

#[derive(Deserialize)]
struct RawEvents {
    #[serde(default)]
    splits: Option<std::collections::BTreeMap<String, RawSplit>>,
    #[serde(default)]
    dividends: Option<std::collections::BTreeMap<String, RawDividend>>,
}

#[derive(Deserialize)]
struct RawSplit {
    date: i64,
    numerator: f64,
    denominator: f64,
}

#[derive(Deserialize)]
struct RawDividend {
    date: i64,
    amount: f64,
}

fn time(secs: i64) -> Result<DateTime<Utc>, ChartError> {
    DateTime::from_timestamp(secs, 0).ok_or_else(|| ChartError::Malformed {
        message: format!("timestamp {secs} is out of range"),
    })
}

/// Parses a chart answer's body.
pub fn parse(body: &[u8]) -> Result<Chart, ChartError> {
    let envelope: Envelope = serde_json::from_slice(body).map_err(|err| ChartError::Malformed {
        message: err.to_string(),
    })?;
    if let Some(error) = envelope.chart.error {
        let description = error.description.unwrap_or_default();
        return Err(match error.code.as_deref() {
            Some("Not Found") => ChartError::NotFound { description },
            _ => ChartError::Unprocessable { description },
        });
    }
    let result = envelope
        .chart
        .result
        .and_then(|mut r| (!r.is_empty()).then(|| r.swap_remove(0)))
        .ok_or_else(|| ChartError::Malformed {
            message: "no result and no error".into(),
        })?;
    let m = result.meta;
    let meta = ChartMeta {
        currency: m.currency,
        exchange_name: m.exchange_name,
        instrument_type: m.instrument_type,
        exchange_timezone_name: m.exchange_timezone_name,
        regular_market_price: m.regular_market_price,
        chart_previous_close: m.chart_previous_close,
        previous_close: m.previous_close,
        regular_market_day_high: m.regular_market_day_high,
        regular_market_day_low: m.regular_market_day_low,
        regular_market_volume: m.regular_market_volume,
        regular_market_time: m
            .regular_market_time
            .and_then(|t| DateTime::from_timestamp(t, 0)),
        market_state: m.market_state,
    };
    let timestamps = result.timestamp.unwrap_or_default();
    let quote = result
        .indicators
        .quote
        .into_iter()
        .next()
        .unwrap_or_default();
    if timestamps.is_empty() {
        if !quote.close.is_empty() {
            return Err(ChartError::Malformed {
                message: format!("{} prices but no timestamps", quote.close.len()),
            });
        }
        return Ok(Chart {
            meta,
            ..Chart::default()
        });
    }
    let n = timestamps.len();
    if quote.close.len() != n {
        return Err(ChartError::Malformed {
            message: format!("{n} timestamps but {} closes", quote.close.len()),
        });
    }
    let adj = result
        .indicators
        .adjclose
        .and_then(|a| a.into_iter().next())
        .map(|a| a.adjclose)
        .unwrap_or_default();
    let at = |v: &Vec<Option<f64>>, i: usize| v.get(i).copied().flatten().filter(|x| x.is_finite());
    let mut chart = Chart {
        meta,
        ..Chart::default()
    };
    for (i, &ts) in timestamps.iter().enumerate() {
        let Some(close) = at(&quote.close, i) else {
            chart.dropped_null_bars += 1;
            continue;
        };
        chart.bars.push(Bar {
            time: time(ts)?,
            open: at(&quote.open, i),
            high: at(&quote.high, i),
            low: at(&quote.low, i),
            close,
            adj_close: at(&adj, i),
            volume: at(&quote.volume, i).map(|v| v.max(0.0) as u64),
        });
    }
    if let Some(events) = result.events {
        for split in events.splits.unwrap_or_default().into_values() {
            chart.splits.push(Split {
                time: time(split.date)?,
                numerator: split.numerator,
                denominator: split.denominator,
            });
        }
        for dividend in events.dividends.unwrap_or_default().into_values() {
            chart.dividends.push(Dividend {
                time: time(dividend.date)?,
                amount: dividend.amount,
            });
        }
    }
    Ok(chart)
}

/// The chart client; clones share the rate limit.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    config: ClientConfig,
    recent: Arc<Mutex<VecDeque<Instant>>>,
}

impl Client {
    pub fn new(config: ClientConfig) -> Result<Self, ChartError> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .user_agent(USER_AGENT)
            .build()
            .map_err(|err| ChartError::Client(err.to_string()))?;
        Ok(Self {
            http,
            config,
            recent: Arc::default(),
        })
    }

    /// Waits until one more request fits in the per-minute budget.
    async fn admit(&self) {
        loop {
            let wait = {
                let mut recent = self.recent.lock().await;
                let now = Instant::now();
                while recent
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60))
                {
                    recent.pop_front();
                }
                if recent.len() < self.config.max_requests_per_minute as usize {
                    recent.push_back(now);
                    return;
                }
                Duration::from_secs(60).saturating_sub(
                    recent
                        .front()
                        .map_or(Duration::ZERO, |t| now.duration_since(*t)),
                )
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Fetches and parses a chart, retrying 429, 5xx and transport errors with backoff.
    pub async fn chart(&self, request: &ChartRequest) -> Result<Chart, ChartError> {
        let url = format!(
            "{}/v8/finance/chart/{}",
            self.config.base_url.trim_end_matches('/'),
            request.symbol
        );
        let mut backoff = RetryPolicy::REMOTE
            .with_initial(self.config.retry_base_delay)
            .backoff();
        let mut retry_after: Option<Duration> = None;
        let mut attempt = 0;
        loop {
            self.admit().await;
            let response = self
                .http
                .get(&url)
                .query(&[
                    ("range", request.range.as_str()),
                    ("interval", request.interval.as_str()),
                    ("includePrePost", "false"),
                    ("events", "div|split"),
                ])
                .send()
                .await;
            let retryable = match response {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let asked = response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok());
                    let body = response.bytes().await.unwrap_or_default();
                    match status {
                        200..=299 => return parse(&body),
                        404 => {
                            return Err(match parse(&body) {
                                Err(err @ ChartError::NotFound { .. }) => err,
                                _ => ChartError::NotFound {
                                    description: format!("no chart for {}", request.symbol),
                                },
                            });
                        }
                        400 | 422 => {
                            return Err(match parse(&body) {
                                Err(
                                    ChartError::NotFound { description }
                                    | ChartError::Unprocessable { description },
                                ) => ChartError::Unprocessable { description },
                                _ => ChartError::Unprocessable {
                                    description: format!("HTTP {status}"),
                                },
                            });
                        }
                        429 => {
                            retry_after = asked.map(|seconds| Duration::from_secs(seconds.min(60)));
                            "rate limited (HTTP 429)".to_owned()
                        }
                        _ => format!("HTTP {status}"),
                    }
                }
                Err(err) => err.to_string(),
            };
            if attempt >= self.config.max_retries {
                return Err(ChartError::Unavailable {
                    message: format!("{retryable} after {} attempts", attempt + 1),
                });
            }
            attempt += 1;
            // Never sooner than a 429's Retry-After asks.
            let delay = backoff
                .next_delay()
                .unwrap_or(backoff.policy().max)
                .max(retry_after.take().unwrap_or_default());
            tracing::debug!(reason = %retryable, retry_in_ms = delay.as_millis() as u64, "Yahoo request failed; retrying");
            tokio::time::sleep(delay).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/fixtures/yahoo")
            .join(name);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|err| panic!("fixture {} missing ({err})", path.display()));
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        serde_json::to_vec(&value["response"]["bodyJson"]).unwrap()
    }

    #[test]
    fn parses_the_recorded_aapl_chart_with_its_split() {
        let chart = parse(&recorded("chart-AAPL-2020-08-31-to-2020-11-07.json")).unwrap();
        assert_eq!(chart.bars.len(), 49);
        assert_eq!(chart.bars[0].close, 129.0399932861328);
        assert!(chart.bars[0].adj_close.is_some());
        assert_eq!(chart.splits.len(), 1);
        assert_eq!(
            (chart.splits[0].numerator, chart.splits[0].denominator),
            (4.0, 1.0)
        );
        assert_eq!(
            chart.meta.exchange_timezone_name.as_deref(),
            Some("America/New_York")
        );
        assert_eq!(chart.meta.currency.as_deref(), Some("USD"));
    }

    #[test]
    fn a_weekend_minute_request_is_an_empty_chart_and_btc_has_its_timezone() {
        let empty = parse(&recorded(
            "chart-AAPL-2025-02-01-to-2025-02-02-includePrePost-false-interval-1m.json",
        ))
        .unwrap();
        assert!(empty.bars.is_empty());
        let btc = parse(&recorded("chart-BTC-USD-2020-01-01-to-2020-01-03.json")).unwrap();
        assert!(!btc.bars.is_empty());
        assert_ne!(
            btc.meta.exchange_timezone_name.as_deref(),
            Some("America/New_York")
        );
        parse(&recorded("chart-AAPL-2020-01-01-to-2020-01-03.json")).unwrap();
    }

    #[test]
    fn malformed_answers_are_clear_errors_and_null_closes_are_dropped() {
        let err = parse(&recorded("chart-notimestamp-quotes-length.fake.json")).unwrap_err();
        assert!(matches!(err, ChartError::Malformed { .. }), "{err}");
        parse(&recorded(
            "chart-TSLA-2025-01-01-to-2025-01-02-interval-1h.fake.json",
        ))
        .unwrap();
        let body = br#"{"chart":{"result":[{"meta":{"currency":"USD"},"timestamp":[1,2,3],
            "indicators":{"quote":[{"open":[1.0,null,3.0],"high":[1.0,2.0,3.0],"low":[1.0,2.0,3.0],
            "close":[1.0,null,3.0],"volume":[10,null,30]}]}}],"error":null}}"#;
        let chart = parse(body).unwrap();
        assert_eq!(chart.bars.len(), 2);
        assert_eq!(chart.dropped_null_bars, 1);
        let err = parse(br#"{"chart":{"result":null,"error":{"code":"Not Found","description":"No data found, symbol may be delisted"}}}"#).unwrap_err();
        assert!(
            matches!(err, ChartError::NotFound { ref description } if description.contains("delisted"))
        );
        assert!(matches!(
            parse(b"<html>"),
            Err(ChartError::Malformed { .. })
        ));
    }

    #[test]
    fn requests_are_validated_before_they_leave() {
        assert!(ChartRequest::for_range("AAPL", "1y", "1d").is_ok());
        assert!(ChartRequest::for_range("BRK-B", "5d", "1m").is_ok());
        for (symbol, range, interval, parameter) in [
            ("AAPL;rm", "1y", "1d", "symbol"),
            ("", "1y", "1d", "symbol"),
            (&"A".repeat(40) as &str, "1y", "1d", "symbol"),
            ("AAPL", "7y", "1d", "period"),
            ("AAPL", "1y", "2h", "interval"),
        ] {
            match ChartRequest::for_range(symbol, range, interval) {
                Err(ChartError::Invalid { parameter: p, .. }) => assert_eq!(p, parameter),
                other => panic!("{symbol} {range} {interval}: {other:?}"),
            }
        }
        assert!(matches!(
            ChartRequest::for_range("AAPL", "1mo", "1m"),
            Err(ChartError::Unprocessable { .. })
        ));
        assert!(matches!(
            ChartRequest::for_range("AAPL", "1y", "5m"),
            Err(ChartError::Unprocessable { .. })
        ));
    }
}

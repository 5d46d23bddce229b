//! `/market/chart/{symbol}` and `/market/quote/{symbol}`: served from the store when it holds
//! the range (or a fresh quote); otherwise the API asks the market collector over NATS
//! request/reply (only collectors talk to the outside world), which fetches, stores and replies.
//! Indicators are computed here over the bars (`exporter-indicators`, TA-Lib conventions).

use std::time::Duration;

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Datelike, Utc};
use exporter_protocol::Subjects;
use exporter_protocol::market::{
    BarBatch, BarRecord, ChartQuery, CorporateEvent, Quote, QuoteQuery, RPC_SERVICE, RpcReply,
    SymbolMeta, range_start,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::Problem;
use crate::extract::{AppPath, AppQuery, NoParams, de};
use crate::{ApiError, AppState};

/// A chart's period (Yahoo's ranges).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum Period {
    #[serde(rename = "1d")]
    D1,
    #[serde(rename = "5d")]
    D5,
    #[serde(rename = "1mo")]
    Mo1,
    #[serde(rename = "3mo")]
    Mo3,
    #[serde(rename = "6mo")]
    Mo6,
    #[default]
    #[serde(rename = "1y")]
    Y1,
    #[serde(rename = "2y")]
    Y2,
    #[serde(rename = "5y")]
    Y5,
    #[serde(rename = "10y")]
    Y10,
    #[serde(rename = "ytd")]
    Ytd,
    #[serde(rename = "max")]
    Max,
}

impl Period {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::D1 => "1d",
            Self::D5 => "5d",
            Self::Mo1 => "1mo",
            Self::Mo3 => "3mo",
            Self::Mo6 => "6mo",
            Self::Y1 => "1y",
            Self::Y2 => "2y",
            Self::Y5 => "5y",
            Self::Y10 => "10y",
            Self::Ytd => "ytd",
            Self::Max => "max",
        }
    }
}

/// A bar's width (Yahoo's intervals).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum Interval {
    #[serde(rename = "1m")]
    M1,
    #[serde(rename = "2m")]
    M2,
    #[serde(rename = "5m")]
    M5,
    #[serde(rename = "15m")]
    M15,
    #[serde(rename = "30m")]
    M30,
    #[serde(rename = "60m")]
    M60,
    #[serde(rename = "90m")]
    M90,
    #[serde(rename = "1h")]
    H1,
    #[default]
    #[serde(rename = "1d")]
    D1,
    #[serde(rename = "5d")]
    D5,
    #[serde(rename = "1wk")]
    Wk1,
    #[serde(rename = "1mo")]
    Mo1,
    #[serde(rename = "3mo")]
    Mo3,
}

impl Interval {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::M1 => "1m",
            Self::M2 => "2m",
            Self::M5 => "5m",
            Self::M15 => "15m",
            Self::M30 => "30m",
            Self::M60 => "60m",
            Self::M90 => "90m",
            Self::H1 => "1h",
            Self::D1 => "1d",
            Self::D5 => "5d",
            Self::Wk1 => "1wk",
            Self::Mo1 => "1mo",
            Self::Mo3 => "3mo",
        }
    }
}

/// How bars are drawn: `line` has the close only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum ChartType {
    #[default]
    #[serde(rename = "candlestick")]
    Candlestick,
    #[serde(rename = "ohlc")]
    Ohlc,
    #[serde(rename = "line")]
    Line,
}

impl ChartType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Candlestick => "candlestick",
            Self::Ohlc => "ohlc",
            Self::Line => "line",
        }
    }
}

/// Where an answer came from: the store, or the market collector asked now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum Source {
    #[default]
    #[serde(rename = "store")]
    Store,
    #[serde(rename = "collector")]
    Collector,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Store => "store",
            Self::Collector => "collector",
        }
    }
}

/// A stored quote younger than this is served without asking the collector.
const QUOTE_FRESH_SECONDS: i64 = 60;

/// An exchange symbol as Yahoo writes them, at most 32 characters: an optional `^` (an index,
/// `^GSPC`), then runs of letters and digits joined by single `.` or `-` (`BRK-B`, `0700.HK`,
/// `BTC-USD`), then optionally `=` and letters or digits (`EURUSD=X`, `ES=F`). So `..`, `-`,
/// `A..B` or `=X` never reach Yahoo.
pub fn valid_symbol(symbol: &str) -> bool {
    if !(1..=32).contains(&symbol.len()) {
        return false;
    }
    let body = symbol.strip_prefix('^').unwrap_or(symbol);
    let (main, suffix) = match body.split_once('=') {
        Some((main, suffix)) => (main, Some(suffix)),
        None => (body, None),
    };
    let run = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric());
    main.split(['.', '-']).all(run) && suffix.is_none_or(run)
}

fn symbol_param(symbol: &str) -> Result<String, ApiError> {
    if valid_symbol(symbol) {
        Ok(symbol.to_ascii_uppercase())
    } else {
        Err(ApiError::bad(
            "symbol",
            "must be an exchange symbol of at most 32 characters: an optional `^`, letters and digits joined by single `.` or `-`, optionally `=` and letters or digits (AAPL, BRK-B, ^GSPC, EURUSD=X)",
        ))
    }
}

/// How recent stored bars must reach to be served without a fetch.
fn staleness(interval: &str) -> chrono::Duration {
    match interval {
        "1m" | "2m" | "5m" => chrono::Duration::minutes(5),
        "15m" | "30m" | "60m" | "90m" | "1h" => chrono::Duration::minutes(30),
        _ => chrono::Duration::hours(12),
    }
}

/// Sends a request to the market collector and maps its failure to the right status.
async fn rpc<Q: serde::Serialize, T: DeserializeOwned>(
    state: &AppState,
    verb: &str,
    query: &Q,
) -> Result<T, ApiError> {
    let unavailable = |detail: String| ApiError::Unavailable {
        detail,
        retry_after_seconds: 30,
    };
    let client = state
        .nats
        .as_ref()
        .ok_or_else(|| unavailable("no NATS connection".into()))?;
    let subject = Subjects::new(&state.subject_prefix).rpc(RPC_SERVICE, verb);
    let payload = serde_json::to_vec(query).map_err(|err| ApiError::Internal(err.to_string()))?;
    // The client's own request timeout (10 s by default) would cut in first: it is the setting.
    let wait = Duration::from_secs(state.market_rpc_timeout_seconds);
    let request = async_nats::Request::new()
        .payload(payload.into())
        .timeout(Some(wait));
    let answer = tokio::time::timeout(
        wait + Duration::from_secs(1),
        client.send_request(subject, request),
    )
    .await
    .map_err(|_| unavailable("the market collector did not answer in time".into()))?
    .map_err(|err| {
        unavailable(format!(
            "the market collector is not reachable ({err}); is `exporter-collector market` running?"
        ))
    })?;
    match serde_json::from_slice::<RpcReply<T>>(&answer.payload) {
        Ok(RpcReply::Ok(value)) => Ok(value),
        Ok(RpcReply::Failed(failure)) => Err(match failure.kind.as_str() {
            "not_found" => ApiError::NotFound(failure.message),
            "unprocessable" => ApiError::Unprocessable(failure.message),
            "invalid" => ApiError::bad(
                failure.parameter.unwrap_or_else(|| "symbol".into()),
                failure.message,
            ),
            // The upstream's own words may hold its URL: logged here, never answered.
            _ => {
                tracing::warn!(verb, error = %failure.message, "market data unavailable");
                unavailable(
                    "market data unavailable: Yahoo did not answer the market collector (`exporter logs collector-market` says why)".into(),
                )
            }
        }),
        Err(err) => Err(ApiError::Internal(format!(
            "bad reply from the market collector: {err}"
        ))),
    }
}

/// Query of `GET /market/chart/{symbol}`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ChartParams {
    /// Default `1y`.
    #[serde(default)]
    #[param(inline)]
    pub period: Option<Period>,
    /// Default `1d`.
    #[serde(default)]
    #[param(inline)]
    pub interval: Option<Interval>,
    /// Default `candlestick`.
    #[serde(default)]
    #[param(inline)]
    pub chart_type: Option<ChartType>,
    /// Default true.
    #[serde(default, deserialize_with = "de::boolean")]
    pub include_indicators: Option<bool>,
}

/// Open, high, low, adjusted close and volume of a bar (absent from `line` charts; null where
/// the source had none).
#[derive(Debug, Serialize, ToSchema)]
pub struct Ohlc {
    pub open: Option<f64>,
    pub high: Option<f64>,
    pub low: Option<f64>,
    pub adj_close: Option<f64>,
    pub volume: Option<u64>,
}

/// One bar of a chart.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChartBar {
    /// Start of the bar.
    pub time: DateTime<Utc>,
    #[serde(flatten)]
    pub ohlc: Option<Ohlc>,
    pub close: f64,
}

/// `GET /market/chart/{symbol}` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Chart {
    /// The symbol, upper-cased.
    pub symbol: String,
    pub period: Period,
    pub interval: Interval,
    pub chart_type: ChartType,
    pub source: Source,
    pub meta: SymbolMeta,
    pub bars: Vec<ChartBar>,
    /// Every indicator by name (`sma_20`, `rsi_14`, `macd`, ...), one value per bar, null during
    /// warm-up; null when `include_indicators=false`.
    pub indicators: Option<BTreeMap<String, Vec<Option<f64>>>>,
    /// Splits and dividends in the range.
    pub events: Vec<CorporateEvent>,
}

#[utoipa::path(
    get, path = "/market/chart/{symbol}", operation_id = "market_chart", tag = "market",
    params(
        ("symbol" = String, Path, description = "An exchange symbol (AAPL, BRK-B, ^GSPC, EURUSD=X), at most 32 characters", pattern = "^\\^?[A-Za-z0-9]+([.-][A-Za-z0-9]+)*(=[A-Za-z0-9]+)?$", max_length = 32),
        ChartParams,
    ),
    responses(
        (status = 200, description = "Bars with indicators, events and the symbol's metadata", body = Chart),
        (status = 400, description = "A parameter is invalid; `parameter` names it", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown symbol (Yahoo's description)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Yahoo refuses this interval/period combination", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Market data unavailable now (Retry-After)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn chart(
    State(state): State<AppState>,
    AppPath(symbol): AppPath<String>,
    AppQuery(params): AppQuery<ChartParams>,
) -> Result<Json<Chart>, ApiError> {
    let symbol = symbol_param(&symbol)?;
    let period = params.period.unwrap_or_default();
    let interval = params.interval.unwrap_or_default();
    let chart_type = params.chart_type.unwrap_or_default();
    let include_indicators = params.include_indicators.unwrap_or(true);
    let now = Utc::now();
    let from = range_start(period.as_str(), now);

    let covered = state
        .store
        .bars_covered(
            &symbol,
            interval.as_str(),
            from,
            now - staleness(interval.as_str()),
        )
        .await?;
    let (bars, events, meta, source) = if covered {
        let bars = state
            .store
            .bars(&symbol, interval.as_str(), from, now)
            .await?;
        let events = state.store.corporate_events(&symbol, from, now).await?;
        let meta = state.store.symbol_meta(&symbol).await?.unwrap_or_default();
        (bars, events, meta, Source::Store)
    } else {
        let query = ChartQuery {
            symbol: symbol.clone(),
            range: period.as_str().to_owned(),
            interval: interval.as_str().to_owned(),
            include_pre_post: false,
        };
        let batch: BarBatch = rpc(&state, "chart", &query).await?;
        let bars: Vec<BarRecord> = batch.bars.into_iter().filter(|b| b.time >= from).collect();
        (bars, batch.events, batch.meta, Source::Collector)
    };

    let indicators = include_indicators.then(|| {
        let interval = interval.as_str();
        let intraday =
            interval.ends_with('m') && interval != "1mo" && interval != "3mo" || interval == "1h";
        indicators_for(&bars, intraday, meta.timezone.as_deref())
    });
    let series = bars
        .iter()
        .map(|b| ChartBar {
            time: b.time,
            close: b.close,
            ohlc: (chart_type != ChartType::Line).then_some(Ohlc {
                open: b.open,
                high: b.high,
                low: b.low,
                adj_close: b.adj_close,
                volume: b.volume,
            }),
        })
        .collect();
    Ok(Json(Chart {
        symbol,
        period,
        interval,
        chart_type,
        source,
        meta,
        bars: series,
        indicators,
        events,
    }))
}

/// Every indicator over `bars`; VWAP only for intraday bars (reset on each exchange-local day).
fn indicators_for(
    bars: &[BarRecord],
    intraday: bool,
    timezone: Option<&str>,
) -> std::collections::BTreeMap<String, Vec<Option<f64>>> {
    let close: Vec<f64> = bars.iter().map(|b| b.close).collect();
    let high: Vec<f64> = bars.iter().map(|b| b.high.unwrap_or(b.close)).collect();
    let low: Vec<f64> = bars.iter().map(|b| b.low.unwrap_or(b.close)).collect();
    let volume: Vec<f64> = bars.iter().map(|b| b.volume.unwrap_or(0) as f64).collect();
    let tz: chrono_tz::Tz = timezone
        .and_then(|t| t.parse().ok())
        .unwrap_or(chrono_tz::America::New_York);
    let sessions = intraday.then(|| {
        bars.iter()
            .map(|b| i64::from(b.time.with_timezone(&tz).date_naive().num_days_from_ce()))
            .collect()
    });
    exporter_indicators::compute_all(&exporter_indicators::Bars {
        high,
        low,
        close,
        volume,
        sessions,
    })
}

/// `GET /market/quote/{symbol}` answer.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "symbol": "AAPL", "price": 244.87, "previous_close": 124.808, "change": 120.062,
    "change_percent": 96.19735914364463, "day_high": 246.01, "day_low": 243.16,
    "volume": 32129951, "market_state": "CLOSED", "market_state_source": "calendar",
    "currency": "USD",
    "time": "2025-02-19T21:00:01Z", "age_seconds": 12.5, "source": "collector"
}))]
pub struct QuoteView {
    pub symbol: String,
    pub price: f64,
    pub previous_close: Option<f64>,
    /// `price` − `previous_close`.
    pub change: Option<f64>,
    /// `change` / `previous_close` × 100.
    pub change_percent: Option<f64>,
    pub day_high: Option<f64>,
    pub day_low: Option<f64>,
    pub volume: Option<u64>,
    /// The market state (`REGULAR`, `PRE`, `POST`, `CLOSED`): from the exchange calendar when
    /// it is known and the symbol trades on it, else Yahoo's.
    pub market_state: Option<String>,
    /// Where `market_state` came from; `null` with it.
    pub market_state_source: Option<MarketStateSource>,
    pub currency: Option<String>,
    /// When the source priced it.
    pub time: DateTime<Utc>,
    /// Seconds since `time`.
    pub age_seconds: f64,
    pub source: Source,
}

/// Where a quote's `market_state` came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MarketStateSource {
    /// The stored exchange calendar (Alpaca's `/v2/calendar`).
    Calendar,
    /// Yahoo's own field of the quote.
    Yahoo,
}

#[utoipa::path(
    get, path = "/market/quote/{symbol}", operation_id = "market_quote", tag = "market",
    params(
        ("symbol" = String, Path, description = "An exchange symbol (AAPL, BRK-B, ^GSPC, EURUSD=X), at most 32 characters", pattern = "^\\^?[A-Za-z0-9]+([.-][A-Za-z0-9]+)*(=[A-Za-z0-9]+)?$", max_length = 32),
        NoParams,
    ),
    responses(
        (status = 200, description = "The latest quote, with its change from the previous close", body = QuoteView),
        (status = 400, description = "A parameter is invalid; `parameter` names it", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown symbol", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Market data unavailable now (Retry-After)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn quote(
    State(state): State<AppState>,
    AppPath(symbol): AppPath<String>,
    AppQuery(NoParams {}): AppQuery<NoParams>,
) -> Result<Json<QuoteView>, ApiError> {
    let symbol = symbol_param(&symbol)?;
    let stored = state.store.quote(&symbol).await?;
    let (quote, source) = match stored {
        Some((quote, received)) if (Utc::now() - received).num_seconds() < QUOTE_FRESH_SECONDS => {
            (quote, Source::Store)
        }
        _ => (
            rpc::<_, Quote>(
                &state,
                "quote",
                &QuoteQuery {
                    symbol: symbol.clone(),
                },
            )
            .await?,
            Source::Collector,
        ),
    };
    // The market state from the exchange calendar when it is known and the symbol trades on
    // it (not a crypto pair, a currency or a future: `-` or `=` in Yahoo's symbol), else
    // Yahoo's own field.
    let calendar_state = if quote.symbol.contains(['-', '=']) {
        None
    } else {
        crate::routes::trades::market_calendar(&state)
            .await
            .and_then(|m| m.session_at(Utc::now()))
            .map(|session| match session {
                exporter_trading::Session::PreMarket => "PRE",
                exporter_trading::Session::Regular => "REGULAR",
                exporter_trading::Session::AfterHours => "POST",
                exporter_trading::Session::Closed => "CLOSED",
            })
    };
    let (market_state, market_state_source) = match calendar_state {
        Some(state) => (Some(state.to_owned()), Some(MarketStateSource::Calendar)),
        None => (
            quote.market_state.clone(),
            quote
                .market_state
                .as_ref()
                .map(|_| MarketStateSource::Yahoo),
        ),
    };
    let change = quote.previous_close.map(|p| quote.price - p);
    let change_percent = quote
        .previous_close
        .filter(|p| *p != 0.0)
        .map(|p| (quote.price - p) / p * 100.0);
    Ok(Json(QuoteView {
        age_seconds: (Utc::now() - quote.time).num_milliseconds() as f64 / 1000.0,
        symbol: quote.symbol,
        price: quote.price,
        previous_close: quote.previous_close,
        change,
        change_percent,
        day_high: quote.day_high,
        day_low: quote.day_low,
        volume: quote.volume,
        market_state,
        market_state_source,
        currency: quote.currency,
        time: quote.time,
        source,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_follow_the_exchange_grammar() {
        for good in [
            "AAPL", "BRK-B", "BRK.B", "0700.HK", "^GSPC", "EURUSD=X", "ES=F", "BTC-USD",
        ] {
            assert!(valid_symbol(good), "{good}");
        }
        let long = "A".repeat(33);
        for bad in [
            "", "..", ".", "-", "A..B", "A-", "=X", "A=", "^", "^^GSPC", "A/B", "A B", &long,
        ] {
            assert!(!valid_symbol(bad), "{bad}");
        }
    }
}

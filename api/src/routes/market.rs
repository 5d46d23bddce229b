//! `/market/chart/{symbol}` and `/market/quote/{symbol}`: served from the store when it holds
//! the range (or a fresh quote); otherwise the API asks the market collector over NATS
//! request/reply (only collectors talk to the outside world), which fetches, stores and replies.
//! Indicators are computed here over the bars (`exporter-indicators`, TA-Lib conventions).

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use chrono::{Datelike, Utc};
use exporter_protocol::Subjects;
use exporter_protocol::market::{
    BarBatch, BarRecord, ChartQuery, Quote, QuoteQuery, RANGES, RPC_SERVICE, RpcReply, range_start,
};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::params::Params;
use crate::{ApiError, AppState};

/// Yahoo's intervals.
const INTERVALS: &[&str] = &[
    "1m", "2m", "5m", "15m", "30m", "60m", "90m", "1h", "1d", "5d", "1wk", "1mo", "3mo",
];
const CHART_TYPES: &[&str] = &["candlestick", "line", "ohlc"];
/// A stored quote younger than this is served without asking the collector.
const QUOTE_FRESH_SECONDS: i64 = 60;

/// Letters, digits, `.`, `-`, `=`, `^`; 1 to 32 characters.
pub fn valid_symbol(symbol: &str) -> bool {
    (1..=32).contains(&symbol.len())
        && symbol
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '=' | '^'))
}

fn symbol_param(symbol: &str) -> Result<String, ApiError> {
    if valid_symbol(symbol) {
        Ok(symbol.to_ascii_uppercase())
    } else {
        Err(ApiError::bad(
            "symbol",
            "must be 1 to 32 letters, digits, `.`, `-`, `=` or `^`",
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
    let answer = tokio::time::timeout(
        Duration::from_secs(state.market_rpc_timeout_seconds),
        client.request(subject, payload.into()),
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
            _ => unavailable(format!("market data unavailable: {}", failure.message)),
        }),
        Err(err) => Err(ApiError::Internal(format!(
            "bad reply from the market collector: {err}"
        ))),
    }
}

#[utoipa::path(
    get, path = "/market/chart/{symbol}", tag = "market", security(("api_key" = [])),
    params(
        ("symbol" = String, Path, description = "letters, digits, `.`, `-`, `=`, `^` (1-32)"),
        ("period" = Option<String>, Query, description = "1d, 5d, 1mo, 3mo, 6mo, 1y (default), 2y, 5y, 10y, ytd, max"),
        ("interval" = Option<String>, Query, description = "1m, 2m, 5m, 15m, 30m, 60m, 90m, 1h, 1d (default), 5d, 1wk, 1mo, 3mo"),
        ("chart_type" = Option<String>, Query, description = "candlestick (default), ohlc, or line (close only)"),
        ("include_indicators" = Option<bool>, Query, description = "default true"),
    ),
    responses(
        (status = 200, description = "`bars`, `indicators` keyed by name (null during warm-up), `events` (splits, dividends), `meta` (currency, exchange, timezone), `source` (store or collector)"),
        (status = 400, body = crate::error::Problem),
        (status = 401, body = crate::error::Problem),
        (status = 404, description = "Unknown symbol (Yahoo's description)", body = crate::error::Problem),
        (status = 422, description = "Yahoo refuses this interval/period combination", body = crate::error::Problem),
        (status = 503, description = "Market data unavailable now (Retry-After)", body = crate::error::Problem),
    )
)]
pub async fn chart(
    State(state): State<AppState>,
    Path(symbol): Path<String>,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    params.only(&["period", "interval", "chart_type", "include_indicators"])?;
    let symbol = symbol_param(&symbol)?;
    let period = params.choice("period", RANGES)?.unwrap_or("1y");
    let interval = params.choice("interval", INTERVALS)?.unwrap_or("1d");
    let chart_type = params
        .choice("chart_type", CHART_TYPES)?
        .unwrap_or("candlestick");
    let include_indicators = params
        .choice("include_indicators", &["true", "false"])?
        .is_none_or(|v| v == "true");
    let now = Utc::now();
    let from = range_start(period, now);

    let covered = state
        .store
        .bars_covered(&symbol, interval, from, now - staleness(interval))
        .await?;
    let (bars, events, meta, source) = if covered {
        let bars = state.store.bars(&symbol, interval, from, now).await?;
        let events = state.store.corporate_events(&symbol, from, now).await?;
        let meta = state.store.symbol_meta(&symbol).await?.unwrap_or_default();
        (bars, events, meta, "store")
    } else {
        let query = ChartQuery {
            symbol: symbol.clone(),
            range: period.to_owned(),
            interval: interval.to_owned(),
            include_pre_post: false,
        };
        let batch: BarBatch = rpc(&state, "chart", &query).await?;
        let bars: Vec<BarRecord> = batch.bars.into_iter().filter(|b| b.time >= from).collect();
        (bars, batch.events, batch.meta, "collector")
    };

    let indicators = if include_indicators {
        let intraday =
            interval.ends_with('m') && interval != "1mo" && interval != "3mo" || interval == "1h";
        json!(indicators_for(&bars, intraday, meta.timezone.as_deref()))
    } else {
        Value::Null
    };
    let series: Vec<Value> = bars
        .iter()
        .map(|b| match chart_type {
            "line" => json!({"time": b.time, "close": b.close}),
            _ => json!({
                "time": b.time, "open": b.open, "high": b.high, "low": b.low,
                "close": b.close, "adj_close": b.adj_close, "volume": b.volume,
            }),
        })
        .collect();
    Ok(Json(json!({
        "symbol": symbol,
        "period": period,
        "interval": interval,
        "chart_type": chart_type,
        "source": source,
        "meta": meta,
        "bars": series,
        "indicators": indicators,
        "events": events,
    })))
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

#[utoipa::path(
    get, path = "/market/quote/{symbol}", tag = "market", security(("api_key" = [])),
    params(("symbol" = String, Path, description = "letters, digits, `.`, `-`, `=`, `^` (1-32)")),
    responses(
        (status = 200, description = "price, change and change percent from the previous close, day high/low, volume, market state, quote time and age"),
        (status = 400, body = crate::error::Problem),
        (status = 401, body = crate::error::Problem),
        (status = 404, body = crate::error::Problem),
        (status = 503, body = crate::error::Problem),
    )
)]
pub async fn quote(
    State(state): State<AppState>,
    Path(symbol): Path<String>,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    params.only(&[])?;
    let symbol = symbol_param(&symbol)?;
    let stored = state.store.quote(&symbol).await?;
    let (quote, source) = match stored {
        Some((quote, received)) if (Utc::now() - received).num_seconds() < QUOTE_FRESH_SECONDS => {
            (quote, "store")
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
            "collector",
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
        Some(state) => (Some(state.to_owned()), Some("calendar")),
        None => (
            quote.market_state.clone(),
            quote.market_state.as_ref().map(|_| "yahoo"),
        ),
    };
    let change = quote.previous_close.map(|p| quote.price - p);
    let change_percent = quote
        .previous_close
        .filter(|p| *p != 0.0)
        .map(|p| (quote.price - p) / p * 100.0);
    Ok(Json(json!({
        "symbol": quote.symbol,
        "price": quote.price,
        "previous_close": quote.previous_close,
        "change": change,
        "change_percent": change_percent,
        "day_high": quote.day_high,
        "day_low": quote.day_low,
        "volume": quote.volume,
        "market_state": market_state,
        "market_state_source": market_state_source,
        "currency": quote.currency,
        "time": quote.time,
        "age_seconds": (Utc::now() - quote.time).num_milliseconds() as f64 / 1000.0,
        "source": source,
    })))
}

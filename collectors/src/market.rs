//! `exporter-collector market`: Yahoo Finance for the watchlist (settings plus every symbol with
//! an open position, learnt from the portfolio samples on the bus): quotes every
//! `market.quote_interval_seconds`, recent daily bars every `market.bars_interval_seconds`; and
//! the request/reply service the API uses for what the store lacks
//! (`exporter.v1.rpc.market.chart` and `.quote`): fetch, publish for storage, reply. A short
//! cache makes a burst of the same request fetch once.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::yahoo::{Chart, ChartError, ChartRequest, Client, ClientConfig};
use chrono::{DateTime, Utc};
use exporter_protocol::brokerage::PortfolioSnapshot;
use exporter_protocol::market::{
    BarBatch, BarRecord, ChartQuery, CorporateEvent, Quote, QuoteQuery, RPC_SERVICE, RpcFailure,
    RpcReply, SymbolMeta, range_start,
};
use exporter_protocol::{Envelope, SourceKind};
use futures::StreamExt;
use serde::Serialize;

use crate::{CollectorContext, CollectorError};

type CacheKey = (String, String, String);

/// What the request handlers share.
#[derive(Debug, Clone)]
struct Service {
    yahoo: Client,
    ctx: CollectorContext,
    cache_for: Duration,
    cache: Arc<Mutex<HashMap<CacheKey, (Instant, BarBatch)>>>,
}

/// Runs until shutdown.
pub async fn run(ctx: &CollectorContext) -> Result<(), CollectorError> {
    let (settings, subjects, nats) = (&ctx.settings, &ctx.subjects, &ctx.nats);
    let init = |message: String| ctx.init_error(message);
    let config = ClientConfig {
        base_url: settings.market.yahoo_base_url.clone(),
        timeout: Duration::from_secs(settings.market.timeout_seconds),
        max_requests_per_minute: settings.market.max_requests_per_minute,
        ..ClientConfig::default()
    };
    let yahoo = Client::new(config).map_err(|err| init(err.to_string()))?;
    let service = Service {
        yahoo,
        ctx: ctx.clone(),
        cache_for: Duration::from_secs(settings.market.cache_seconds),
        cache: Arc::default(),
    };
    let subscribe =
        |verb: &str| nats.queue_subscribe(subjects.rpc(RPC_SERVICE, verb), "market".to_owned());
    let mut charts = subscribe("chart")
        .await
        .map_err(|err| init(err.to_string()))?;
    let mut quotes = subscribe("quote")
        .await
        .map_err(|err| init(err.to_string()))?;
    let mut portfolios = nats
        .subscribe(subjects.samples_of(SourceKind::Portfolio.name()))
        .await
        .map_err(|err| init(err.to_string()))?;
    let mut positions: BTreeSet<String> = BTreeSet::new();
    let watchlist: BTreeSet<String> = settings
        .market
        .watchlist
        .iter()
        .map(|s| s.to_ascii_uppercase())
        .collect();
    let mut quote_tick = crate::every(settings.market.quote_interval_seconds);
    let mut bars_tick = crate::every(settings.market.bars_interval_seconds);
    let refreshing_quotes = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let refreshing_bars = Arc::new(std::sync::atomic::AtomicBool::new(false));
    tracing::info!(base_url = %settings.market.yahoo_base_url, watchlist = ?watchlist, "market collector started");
    loop {
        let symbols = || watchlist.union(&positions).cloned().collect::<Vec<_>>();
        tokio::select! {
            _ = ctx.shutdown.wait() => return Ok(()),
            Some(message) = charts.next() => {
                let service = service.clone();
                let client = nats.clone();
                tokio::spawn(async move {
                    let reply = match serde_json::from_slice::<ChartQuery>(&message.payload) {
                        Ok(query) => service.chart(&query).await,
                        Err(err) => RpcReply::Failed(failure("invalid", format!("bad chart request: {err}"))),
                    };
                    respond(&client, message.reply, &reply).await;
                });
            }
            Some(message) = quotes.next() => {
                let service = service.clone();
                let client = nats.clone();
                tokio::spawn(async move {
                    let reply = match serde_json::from_slice::<QuoteQuery>(&message.payload) {
                        Ok(query) => service.quote(&query.symbol).await,
                        Err(err) => RpcReply::Failed(failure("invalid", format!("bad quote request: {err}"))),
                    };
                    respond(&client, message.reply, &reply).await;
                });
            }
            Some(message) = portfolios.next() => {
                if let Ok(envelope) = Envelope::<PortfolioSnapshot>::from_slice(&message.payload) {
                    positions = envelope.body.positions.iter().map(|p| p.symbol.to_ascii_uppercase()).collect();
                }
            }
            // Refreshes run in their own tasks so requests from the API are never kept waiting
            // behind them; a refresh still running when the next tick comes is not doubled.
            _ = quote_tick.tick() => {
                if !refreshing_quotes.swap(true, std::sync::atomic::Ordering::SeqCst) {
                    let (service, symbols, flag) = (service.clone(), symbols(), refreshing_quotes.clone());
                    tokio::spawn(async move {
                        for symbol in symbols {
                            if let RpcReply::Failed(f) = service.quote(&symbol).await {
                                tracing::warn!(%symbol, reason = %f.message, "quote refresh failed");
                            }
                        }
                        flag.store(false, std::sync::atomic::Ordering::SeqCst);
                    });
                }
            }
            _ = bars_tick.tick() => {
                if !refreshing_bars.swap(true, std::sync::atomic::Ordering::SeqCst) {
                    let (service, symbols, flag) = (service.clone(), symbols(), refreshing_bars.clone());
                    tokio::spawn(async move {
                        for symbol in symbols {
                            let query = ChartQuery { symbol: symbol.clone(), range: "1mo".into(), interval: "1d".into(), include_pre_post: false };
                            if let RpcReply::Failed(f) = service.chart(&query).await {
                                tracing::warn!(%symbol, reason = %f.message, "daily bars refresh failed");
                            }
                        }
                        flag.store(false, std::sync::atomic::Ordering::SeqCst);
                    });
                }
            }
        }
    }
}

fn failure(kind: &str, message: String) -> RpcFailure {
    RpcFailure {
        kind: kind.to_owned(),
        message,
        parameter: None,
    }
}

/// Replies; an answer too large for one NATS message becomes a clear failure instead of
/// silence (the API would otherwise wait out its timeout).
async fn respond<T: Serialize>(
    client: &async_nats::Client,
    reply: Option<async_nats::Subject>,
    value: &RpcReply<T>,
) {
    let Some(reply) = reply else { return };
    let mut payload = serde_json::to_vec(value).unwrap_or_default();
    let limit = client.server_info().max_payload;
    if payload.len() + 1024 > limit {
        let failure: RpcReply<()> = RpcReply::Failed(failure(
            "unprocessable",
            format!(
                "the answer ({} bytes) is larger than one NATS message ({limit} bytes): choose a shorter period or a coarser interval",
                payload.len()
            ),
        ));
        payload = serde_json::to_vec(&failure).unwrap_or_default();
    }
    if let Err(err) = client.publish(reply, payload.into()).await {
        tracing::warn!(error = %err, "could not send a market reply");
    }
}

fn from_error(err: ChartError) -> RpcFailure {
    let kind = match &err {
        ChartError::NotFound { .. } => "not_found",
        ChartError::Unprocessable { .. } => "unprocessable",
        ChartError::Invalid { .. } => "invalid",
        _ => "unavailable",
    };
    let parameter = match &err {
        ChartError::Invalid { parameter, .. } => Some((*parameter).to_owned()),
        _ => None,
    };
    RpcFailure {
        kind: kind.to_owned(),
        message: err.to_string(),
        parameter,
    }
}

impl Service {
    /// Fetches (or takes from the short cache) a chart, publishes it for storage, returns it.
    async fn chart(&self, query: &ChartQuery) -> RpcReply<BarBatch> {
        let key = (
            query.symbol.to_ascii_uppercase(),
            query.range.clone(),
            query.interval.clone(),
        );
        if let Some((at, batch)) = self.cache.lock().expect("chart cache").get(&key)
            && at.elapsed() < self.cache_for
        {
            return RpcReply::Ok(batch.clone());
        }
        let request = match ChartRequest::for_range(&key.0, &query.range, &query.interval) {
            Ok(request) => request,
            Err(err) => return RpcReply::Failed(from_error(err)),
        };
        let now = Utc::now();
        match self.yahoo.chart(&request).await {
            Ok(chart) => {
                let batch = to_batch(
                    &key.0,
                    &query.interval,
                    range_start(&query.range, now),
                    now,
                    chart,
                );
                self.ctx.publish(SourceKind::MarketBars, batch.clone());
                self.cache
                    .lock()
                    .expect("chart cache")
                    .insert(key, (Instant::now(), batch.clone()));
                RpcReply::Ok(batch)
            }
            Err(err) => RpcReply::Failed(from_error(err)),
        }
    }

    /// Fetches the quote (a one-day chart's metadata), publishes it, returns it.
    async fn quote(&self, symbol: &str) -> RpcReply<Quote> {
        let symbol = symbol.to_ascii_uppercase();
        let request = match ChartRequest::for_range(&symbol, "1d", "1d") {
            Ok(request) => request,
            Err(err) => return RpcReply::Failed(from_error(err)),
        };
        match self.yahoo.chart(&request).await {
            Ok(chart) => {
                let Some(quote) = to_quote(&symbol, &chart) else {
                    return RpcReply::Failed(failure(
                        "unavailable",
                        format!("no price for {symbol} in Yahoo's answer"),
                    ));
                };
                self.ctx.publish(SourceKind::Quote, quote.clone());
                RpcReply::Ok(quote)
            }
            Err(err) => RpcReply::Failed(from_error(err)),
        }
    }
}

fn to_batch(
    symbol: &str,
    interval: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    chart: Chart,
) -> BarBatch {
    let mut events: Vec<CorporateEvent> = chart
        .splits
        .iter()
        .map(|s| CorporateEvent {
            time: s.time,
            kind: "split".into(),
            amount: None,
            numerator: Some(s.numerator),
            denominator: Some(s.denominator),
        })
        .collect();
    events.extend(chart.dividends.iter().map(|d| CorporateEvent {
        time: d.time,
        kind: "dividend".into(),
        amount: Some(d.amount),
        numerator: None,
        denominator: None,
    }));
    BarBatch {
        symbol: symbol.to_owned(),
        interval: interval.to_owned(),
        range_start: start,
        range_end: end,
        meta: SymbolMeta {
            currency: chart.meta.currency.clone(),
            exchange: chart.meta.exchange_name.clone(),
            timezone: chart.meta.exchange_timezone_name.clone(),
            instrument_type: chart.meta.instrument_type.clone(),
        },
        bars: chart
            .bars
            .iter()
            .map(|b| BarRecord {
                time: b.time,
                open: b.open,
                high: b.high,
                low: b.low,
                close: b.close,
                adj_close: b.adj_close,
                volume: b.volume,
            })
            .collect(),
        events,
        dropped_null_bars: chart.dropped_null_bars as u64,
    }
}

fn to_quote(symbol: &str, chart: &Chart) -> Option<Quote> {
    let meta = &chart.meta;
    let price = meta
        .regular_market_price
        .or_else(|| chart.bars.last().map(|b| b.close))?;
    Some(Quote {
        symbol: symbol.to_owned(),
        price,
        previous_close: meta.chart_previous_close.or(meta.previous_close),
        day_high: meta.regular_market_day_high,
        day_low: meta.regular_market_day_low,
        volume: meta.regular_market_volume,
        market_state: meta.market_state.clone(),
        currency: meta.currency.clone(),
        time: meta.regular_market_time.unwrap_or_else(Utc::now),
    })
}

//! Market data on the bus: bars with their splits, dividends and symbol metadata
//! (`market_bars`), the latest quote (`quote`), and the request/reply the API uses to ask the
//! market collector for what the store does not hold yet (`exporter.v1.rpc.market.chart` and
//! `.quote`). Prices are f64 (they are charted and fed to indicators; Yahoo sends floats).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::series::{HasSeries, Labels, SeriesPoint};

/// Kind of a batch of bars for storage.
pub const BARS_KIND: &str = "market_bars";
/// Kind of a quote.
pub const QUOTE_KIND: &str = "quote";
/// RPC service name (`exporter.v1.rpc.market.<verb>`).
pub const RPC_SERVICE: &str = "market";

/// Yahoo's ranges, the `period` parameter of the chart endpoint.
pub const RANGES: &[&str] = &[
    "1d", "5d", "1mo", "3mo", "6mo", "1y", "2y", "5y", "10y", "ytd", "max",
];

/// Where a `range` ending `now` starts (`ytd`: 1 January; `max`: the epoch).
pub fn range_start(range: &str, now: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::{Datelike, TimeZone};
    let days = match range {
        "1d" => 1,
        "5d" => 5,
        "1mo" => 31,
        "3mo" => 92,
        "6mo" => 183,
        "1y" => 366,
        "2y" => 731,
        "5y" => 1827,
        "10y" => 3653,
        "ytd" => {
            return Utc
                .with_ymd_and_hms(now.year(), 1, 1, 0, 0, 0)
                .single()
                .unwrap_or(now);
        }
        _ => return DateTime::<Utc>::UNIX_EPOCH,
    };
    now - chrono::Duration::days(days)
}

/// Symbol metadata from the data source.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SymbolMeta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange: Option<String>,
    /// IANA name of the exchange's time zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instrument_type: Option<String>,
}

/// One OHLCV bar. A bar without a close never exists (it is dropped and counted at the source).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BarRecord {
    pub time: DateTime<Utc>,
    #[serde(default)]
    pub open: Option<f64>,
    #[serde(default)]
    pub high: Option<f64>,
    #[serde(default)]
    pub low: Option<f64>,
    pub close: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adj_close: Option<f64>,
    #[serde(default)]
    pub volume: Option<u64>,
}

/// A split or a dividend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CorporateEvent {
    pub time: DateTime<Utc>,
    /// `split` or `dividend`.
    pub kind: String,
    /// Dividend per share.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<f64>,
    /// Split ratio `numerator:denominator` (4:1 quadruples the share count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numerator: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denominator: Option<f64>,
}

/// Bars of one symbol and interval over a fetched range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BarBatch {
    pub symbol: String,
    /// Yahoo interval (`1d`, `1h`, `5m`, ...).
    pub interval: String,
    /// The range the source was asked for; the store records it as covered.
    pub range_start: DateTime<Utc>,
    pub range_end: DateTime<Utc>,
    pub meta: SymbolMeta,
    pub bars: Vec<BarRecord>,
    #[serde(default)]
    pub events: Vec<CorporateEvent>,
    /// Bars the source sent without a close (dropped, not zero).
    #[serde(default)]
    pub dropped_null_bars: u64,
}

/// The latest quote of a symbol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Quote {
    pub symbol: String,
    pub price: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_close: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day_high: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day_low: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub market_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// When the source priced it.
    pub time: DateTime<Utc>,
}

/// `exporter.v1.rpc.market.chart` request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChartQuery {
    pub symbol: String,
    /// Yahoo range (`1y`, `5d`, ...).
    pub range: String,
    pub interval: String,
    #[serde(default)]
    pub include_pre_post: bool,
}

/// `exporter.v1.rpc.market.quote` request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuoteQuery {
    pub symbol: String,
}

/// Why the collector could not answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RpcFailure {
    /// `not_found`, `unprocessable`, `invalid`, `unavailable`.
    pub kind: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
}

/// A reply: the data, or why not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RpcReply<T> {
    Ok(T),
    Failed(RpcFailure),
}

crate::series_catalogue! {
    MARKET_PRICE = gauge("market.price", Currency, "Last price of a symbol");
}

impl HasSeries for BarBatch {
    fn series(&self) -> Vec<SeriesPoint> {
        Vec::new()
    }
}

impl HasSeries for Quote {
    fn series(&self) -> Vec<SeriesPoint> {
        let labels = Labels::from([("symbol".to_owned(), self.symbol.clone())]);
        if self.price.is_finite() {
            vec![MARKET_PRICE.point(labels, self.price)]
        } else {
            Vec::new()
        }
    }
}

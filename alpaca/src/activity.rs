//! Account activities (`GET /v2/account/activities`): fills, and the cash that moved.
//!
//! Alpaca returns two shapes in one list: trade activities (`FILL`, with `type` `fill` or
//! `partial_fill`) and non-trade activities (deposits `CSD`, withdrawals `CSW`, fees, dividends,
//! interest, ...). They are told apart by `activity_type`. Alpaca adds activity types from time
//! to time, so a type this client does not know, or a non-trade activity of an unexpected
//! shape, is kept as [`OtherActivity`] with its raw JSON instead of failing the page; a `FILL`
//! that does not parse is still an error, since the exporter's P&L depends on it.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The activity types requested by default: fills and every type that moves cash.
pub const DEFAULT_ACTIVITY_TYPES: &[&str] = &[
    "FILL", "CSD", "CSW", "TRANS", "JNLC", "FEE", "CFEE", "PTC", "DIV", "DIVCGL", "DIVCGS",
    "DIVFEE", "DIVFT", "DIVNRA", "DIVROC", "DIVTW", "DIVTXEX", "INT", "INTNRA", "INTTW",
];

/// Largest page Alpaca serves for activities.
pub const MAX_ACTIVITIES_PAGE_SIZE: u32 = 100;

/// Sort order of a page of activities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Oldest first.
    Asc,
    /// Newest first (Alpaca's default).
    #[default]
    Desc,
}

impl Direction {
    /// The query-string value, `asc` or `desc`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Asc => "asc",
            Self::Desc => "desc",
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which activities to ask for, and which page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivitiesQuery {
    /// Activity types (`FILL`, `CSD`, ...); empty asks for every type.
    pub activity_types: Vec<String>,
    /// Only activities after this time.
    pub after: Option<DateTime<Utc>>,
    /// Sort order.
    pub direction: Direction,
    /// Activities per page, 1 to [`MAX_ACTIVITIES_PAGE_SIZE`] (clamped).
    pub page_size: u32,
    /// Start after the activity with this id (the last id of the previous page).
    pub page_token: Option<String>,
}

impl Default for ActivitiesQuery {
    /// [`DEFAULT_ACTIVITY_TYPES`], no lower bound, newest first, pages of 100, first page.
    fn default() -> Self {
        Self {
            activity_types: DEFAULT_ACTIVITY_TYPES
                .iter()
                .map(|&t| t.to_owned())
                .collect(),
            after: None,
            direction: Direction::Desc,
            page_size: MAX_ACTIVITIES_PAGE_SIZE,
            page_token: None,
        }
    }
}

impl ActivitiesQuery {
    /// The page size actually sent: `page_size` clamped to 1..=100.
    pub fn effective_page_size(&self) -> u32 {
        self.page_size.clamp(1, MAX_ACTIVITIES_PAGE_SIZE)
    }
}

/// Whether a fill completed its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FillType {
    /// The order is now completely filled.
    Fill,
    /// Part of the order is still open (`leaves_qty` > 0).
    PartialFill,
    /// A value this client does not know.
    #[serde(other)]
    Other,
}

/// Side of a fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TradeSide {
    /// Bought.
    Buy,
    /// Sold a long position.
    Sell,
    /// Sold short.
    SellShort,
    /// A value this client does not know.
    #[serde(other)]
    Other,
}

/// A fill (`activity_type` `FILL` or `PARTIAL_FILL`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TradeActivity {
    /// Activity id; also the page token for the next page.
    pub id: String,
    /// Account id, where sent.
    #[serde(default)]
    pub account_id: Option<String>,
    /// `FILL` (or `PARTIAL_FILL`).
    pub activity_type: String,
    /// When the fill happened.
    pub transaction_time: DateTime<Utc>,
    /// `fill` or `partial_fill`.
    #[serde(rename = "type")]
    pub fill_type: FillType,
    /// Price of this fill.
    pub price: Decimal,
    /// Quantity of this fill.
    pub qty: Decimal,
    /// Buy, sell or sell short.
    pub side: TradeSide,
    /// Ticker.
    pub symbol: String,
    /// Quantity of the order still open after this fill.
    pub leaves_qty: Decimal,
    /// The order filled.
    pub order_id: String,
    /// Quantity of the order filled so far, this fill included.
    pub cum_qty: Decimal,
    /// The order's status after this fill.
    pub order_status: String,
}

/// A non-trade activity: cash deposit or withdrawal, fee, dividend, interest, journal, ...
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NonTradeActivity {
    /// Activity id; also the page token for the next page.
    pub id: String,
    /// Account id, where sent.
    #[serde(default)]
    pub account_id: Option<String>,
    /// `CSD`, `CSW`, `FEE`, `DIV`, ...
    pub activity_type: String,
    /// Alpaca's finer code, where sent (`REG`, `TAF` under `FEE`; free-form, not exhaustive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity_sub_type: Option<String>,
    /// Day it applies to.
    #[serde(deserialize_with = "crate::serde_util::date_lenient")]
    pub date: NaiveDate,
    /// Cash moved: positive into the account, negative out of it.
    pub net_amount: Decimal,
    /// Alpaca's description (often empty).
    #[serde(default)]
    pub description: Option<String>,
    /// `executed`, `correct`, `canceled`, where sent.
    #[serde(default)]
    pub status: Option<String>,
    /// Ticker, for dividends and other per-asset activities.
    #[serde(default)]
    pub symbol: Option<String>,
    /// Quantity, for per-asset activities.
    #[serde(default)]
    pub qty: Option<Decimal>,
    /// Amount per share, for dividends.
    #[serde(default)]
    pub per_share_amount: Option<Decimal>,
    /// The order it belongs to, where Alpaca names one (fees charged on an order's fills).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
}

impl NonTradeActivity {
    /// The order this activity names: its `order_id`, else an order id (a UUID) quoted in its
    /// description (`"REG fee for order 6f4a…"`); `None` when it names none.
    pub fn named_order_id(&self) -> Option<String> {
        if let Some(id) = self.order_id.as_deref().map(str::trim)
            && !id.is_empty()
        {
            return Some(id.to_owned());
        }
        self.description
            .as_deref()?
            .split(|c: char| !(c.is_ascii_hexdigit() || c == '-'))
            .find(|word| uuid_shaped(word))
            .map(str::to_owned)
    }
}

/// `8-4-4-4-12` hexadecimal digits, the shape of Alpaca's order ids.
fn uuid_shaped(word: &str) -> bool {
    let groups: Vec<&str> = word.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(group, len)| group.len() == len && group.chars().all(|c| c.is_ascii_hexdigit()))
}

/// An activity this client could not read as either shape; its JSON is kept as sent.
#[derive(Debug, Clone, PartialEq)]
pub struct OtherActivity {
    /// Activity id; also the page token for the next page.
    pub id: String,
    /// The `activity_type` Alpaca sent (empty if none).
    pub activity_type: String,
    /// The whole activity as Alpaca sent it.
    pub raw: serde_json::Value,
}

/// One account activity.
#[derive(Debug, Clone, PartialEq)]
pub enum Activity {
    /// A fill.
    Trade(TradeActivity),
    /// Cash moved for another reason.
    NonTrade(NonTradeActivity),
    /// An activity of a type or shape this client does not know.
    Other(OtherActivity),
}

impl Activity {
    /// The activity id (the page token for the page after it).
    pub fn id(&self) -> &str {
        match self {
            Self::Trade(a) => &a.id,
            Self::NonTrade(a) => &a.id,
            Self::Other(a) => &a.id,
        }
    }

    /// The `activity_type` (`FILL`, `CSD`, ...).
    pub fn activity_type(&self) -> &str {
        match self {
            Self::Trade(a) => &a.activity_type,
            Self::NonTrade(a) => &a.activity_type,
            Self::Other(a) => &a.activity_type,
        }
    }

    /// The fill, if this is one.
    pub fn as_trade(&self) -> Option<&TradeActivity> {
        match self {
            Self::Trade(a) => Some(a),
            _ => None,
        }
    }

    /// The non-trade activity, if this is one.
    pub fn as_non_trade(&self) -> Option<&NonTradeActivity> {
        match self {
            Self::NonTrade(a) => Some(a),
            _ => None,
        }
    }
}

/// Whether an `activity_type` is a trade activity.
pub fn is_trade_activity_type(activity_type: &str) -> bool {
    matches!(activity_type, "FILL" | "PARTIAL_FILL")
}

impl<'de> Deserialize<'de> for Activity {
    fn deserialize<D>(deserializer: D) -> Result<Self, D::Error>
    where
        D: Deserializer<'de>,
    {
        let raw = serde_json::Value::deserialize(deserializer)?;
        let id = match raw.get("id") {
            Some(serde_json::Value::String(id)) => id.clone(),
            _ => return Err(D::Error::custom("activity without a string `id`")),
        };
        let activity_type = raw
            .get("activity_type")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if is_trade_activity_type(&activity_type) {
            return TradeActivity::deserialize(raw)
                .map(Self::Trade)
                .map_err(|e| D::Error::custom(format!("fill activity {id}: {e}")));
        }
        match NonTradeActivity::deserialize(&raw) {
            Ok(activity) => Ok(Self::NonTrade(activity)),
            Err(e) => {
                tracing::debug!(
                    activity_id = %id,
                    activity_type = %activity_type,
                    error = %e,
                    "activity kept as raw JSON"
                );
                Ok(Self::Other(OtherActivity {
                    id,
                    activity_type,
                    raw,
                }))
            }
        }
    }
}

impl Serialize for Activity {
    /// Serialises the fill or the non-trade activity in Alpaca's shape; an [`OtherActivity`] as
    /// the JSON it arrived as.
    fn serialize<S>(&self, serializer: S) -> Result<S::Ok, S::Error>
    where
        S: Serializer,
    {
        match self {
            Self::Trade(a) => a.serialize(serializer),
            Self::NonTrade(a) => a.serialize(serializer),
            Self::Other(a) => a.raw.serialize(serializer),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fee(order_id: Option<&str>, description: Option<&str>) -> NonTradeActivity {
        let mut json = serde_json::json!({
            "id": "20260302000000000::f", "activity_type": "FEE", "activity_sub_type": "REG",
            "date": "2026-03-02", "net_amount": "-0.03", "status": "executed"
        });
        if let Some(order_id) = order_id {
            json["order_id"] = order_id.into();
        }
        if let Some(description) = description {
            json["description"] = description.into();
        }
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn a_fee_names_its_order_by_field_or_in_its_description() {
        let order = "4e7a3f1b-2c1d-4f5e-9a8b-7c6d5e4f3a2b";
        assert_eq!(
            fee(Some(order), None).named_order_id().as_deref(),
            Some(order)
        );
        assert_eq!(
            fee(None, Some(&format!("REG fee (order {order})")))
                .named_order_id()
                .as_deref(),
            Some(order)
        );
        assert_eq!(fee(None, Some("TAF fee")).named_order_id(), None);
        assert_eq!(
            fee(Some(" "), Some("no order 1234-5678")).named_order_id(),
            None
        );
        assert_eq!(fee(None, None).activity_sub_type.as_deref(), Some("REG"));
    }
}

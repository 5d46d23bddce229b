//! Small serde helpers for the few fields Alpaca sends in more than one shape.
//!
//! Most fields use the types' own `Deserialize`: `Decimal` already accepts both a JSON string
//! and an exact JSON number. These helpers cover a level sent as `"1"` or `1`, a date sent as
//! `2022-04-19` or a full timestamp, and one optional price Alpaca's own examples fill with junk.

use std::str::FromStr;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, de::Error as _};

/// `Option<u32>` from `null`, `"1"` or `1`.
pub(crate) fn opt_u32_lenient<'de, D>(deserializer: D) -> Result<Option<u32>, D::Error>
where
    D: Deserializer<'de>,
{
    let text = match Option::<serde_json::Value>::deserialize(deserializer)? {
        None | Some(serde_json::Value::Null) => return Ok(None),
        Some(serde_json::Value::String(s)) => s.trim().to_owned(),
        Some(serde_json::Value::Number(n)) => n.to_string(),
        Some(other) => {
            return Err(D::Error::custom(format!(
                "expected a small integer, got {other}"
            )));
        }
    };
    if text.is_empty() {
        return Ok(None);
    }
    u32::from_str(&text)
        .map(Some)
        .map_err(|e| D::Error::custom(format!("expected a small integer, got {text:?}: {e}")))
}

/// `Option<Decimal>` where an unreadable value (Alpaca's OpenAPI examples put `"string"` in
/// `hwm`) becomes `None` instead of failing the whole answer.
pub(crate) fn opt_decimal_lenient<'de, D>(deserializer: D) -> Result<Option<Decimal>, D::Error>
where
    D: Deserializer<'de>,
{
    let value = Option::<serde_json::Value>::deserialize(deserializer)?;
    Ok(value.and_then(|value| <Decimal as Deserialize>::deserialize(value).ok()))
}

/// A calendar date from `2022-04-19` or from a timestamp that starts with one.
pub(crate) fn date_lenient<'de, D>(deserializer: D) -> Result<NaiveDate, D::Error>
where
    D: Deserializer<'de>,
{
    let text = String::deserialize(deserializer)?;
    let day = text.get(..10).unwrap_or(&text);
    NaiveDate::parse_from_str(day, "%Y-%m-%d").map_err(|e| {
        D::Error::custom(format!(
            "expected a date like 2022-04-19, got {text:?}: {e}"
        ))
    })
}

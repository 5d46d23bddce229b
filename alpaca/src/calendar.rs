//! The market calendar (`GET /v2/calendar`) and clock (`GET /v2/clock`): which days the US
//! equity market opens, its regular hours (early closes included) and its extended session.
//!
//! Alpaca's calendar lists only the days the market opens; a weekday missing from a range asked
//! for is a holiday. Times are New York local times, as Alpaca sends them: `open`/`close` as
//! `"09:30"`, `session_open`/`session_close` (pre-market start, after-hours end) as `"0400"`.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime};
use serde::{Deserialize, Deserializer, Serialize};

/// One day the market opens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarketDay {
    /// The trading day.
    pub date: NaiveDate,
    /// Regular session open, New York time (`09:30`).
    #[serde(deserialize_with = "clock_time")]
    pub open: NaiveTime,
    /// Regular session close, New York time (`16:00`, `13:00` on an early close).
    #[serde(deserialize_with = "clock_time")]
    pub close: NaiveTime,
    /// Start of the pre-market session, where sent (`0400`).
    #[serde(default, deserialize_with = "optional_clock_time")]
    pub session_open: Option<NaiveTime>,
    /// End of the after-hours session, where sent (`2000`).
    #[serde(default, deserialize_with = "optional_clock_time")]
    pub session_close: Option<NaiveTime>,
    /// Settlement date of a trade made that day, where sent.
    #[serde(default)]
    pub settlement_date: Option<NaiveDate>,
}

/// The market clock now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clock {
    /// Alpaca's time of the answer, with New York's offset.
    pub timestamp: DateTime<FixedOffset>,
    /// Whether the regular session is open now.
    pub is_open: bool,
    /// The next regular open.
    pub next_open: DateTime<FixedOffset>,
    /// The next regular close.
    pub next_close: DateTime<FixedOffset>,
}

/// `HH:MM`, `HHMM` or `HH:MM:SS`.
pub fn parse_clock_time(text: &str) -> Option<NaiveTime> {
    let text = text.trim();
    NaiveTime::parse_from_str(text, "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(text, "%H%M"))
        .or_else(|_| NaiveTime::parse_from_str(text, "%H:%M:%S"))
        .ok()
}

fn clock_time<'de, D: Deserializer<'de>>(deserializer: D) -> Result<NaiveTime, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_clock_time(&text).ok_or_else(|| {
        serde::de::Error::custom(format!("`{text}` is not a time of day (HH:MM or HHMM)"))
    })
}

fn optional_clock_time<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<NaiveTime>, D::Error> {
    match Option::<String>::deserialize(deserializer)? {
        None => Ok(None),
        Some(text) if text.trim().is_empty() => Ok(None),
        Some(text) => parse_clock_time(&text).map(Some).ok_or_else(|| {
            serde::de::Error::custom(format!("`{text}` is not a time of day (HH:MM or HHMM)"))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alpacas_documented_shapes_parse() {
        let day: MarketDay = serde_json::from_str(
            r#"{"date":"2026-11-27","open":"09:30","close":"13:00","session_open":"0400","session_close":"2000","settlement_date":"2026-11-30"}"#,
        )
        .unwrap();
        assert_eq!(day.close, NaiveTime::from_hms_opt(13, 0, 0).unwrap());
        assert_eq!(day.session_open, NaiveTime::from_hms_opt(4, 0, 0));
        let clock: Clock = serde_json::from_str(
            r#"{"timestamp":"2026-12-01T10:15:02.123456789-05:00","is_open":true,"next_open":"2026-12-02T09:30:00-05:00","next_close":"2026-12-01T16:00:00-05:00"}"#,
        )
        .unwrap();
        assert!(clock.is_open);
        assert_eq!(clock.next_close.offset().local_minus_utc(), -5 * 3600);
        assert!(
            serde_json::from_str::<MarketDay>(
                r#"{"date":"2026-11-27","open":"9h","close":"13:00"}"#
            )
            .is_err()
        );
    }
}

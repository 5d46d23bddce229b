//! The market calendar payload (`market_calendar`): the days the exchange opens within a range,
//! with their regular and extended hours, as the broker (Alpaca's `/v2/calendar`) gives them.
//! A weekday in `[first_date, last_date]` without a day here is a holiday; outside the range
//! nothing is known.

use chrono::{NaiveDate, NaiveTime};
use serde::{Deserialize, Serialize};

use crate::series::{HasSeries, SeriesPoint};

/// Kind of a market calendar message.
pub const KIND: &str = "market_calendar";

/// The calendar of `[first_date, last_date]` (both inclusive), in the exchange's time zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarketCalendar {
    /// IANA name of the exchange's time zone the hours are in (`America/New_York`).
    pub timezone: String,
    pub first_date: NaiveDate,
    pub last_date: NaiveDate,
    /// Every day the market opens in the range, in date order.
    pub days: Vec<MarketSession>,
}

/// One day the market opens, local times of the exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarketSession {
    pub date: NaiveDate,
    /// Regular session open (`09:30:00`).
    pub open: NaiveTime,
    /// Regular session close (`16:00:00`; earlier on an early close).
    pub close: NaiveTime,
    /// Pre-market start, where known (`04:00:00`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_open: Option<NaiveTime>,
    /// After-hours end, where known (`20:00:00`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_close: Option<NaiveTime>,
}

impl MarketCalendar {
    /// Checks what serde cannot: a range in order, a time zone name, days inside the range, open
    /// before close (the reader checks the name is a known IANA zone).
    pub fn validate(&self) -> Result<(), String> {
        if self.first_date > self.last_date {
            return Err("market calendar: first_date is after last_date".into());
        }
        if self.timezone.is_empty() || self.timezone.contains('\0') {
            return Err("market calendar: no time zone".into());
        }
        for day in &self.days {
            if day.date < self.first_date || day.date > self.last_date {
                return Err(format!(
                    "market calendar: {} is outside its range",
                    day.date
                ));
            }
            if day.open >= day.close {
                return Err(format!(
                    "market calendar: {} opens after it closes",
                    day.date
                ));
            }
        }
        Ok(())
    }
}

impl HasSeries for MarketCalendar {
    fn series(&self) -> Vec<SeriesPoint> {
        Vec::new()
    }
}

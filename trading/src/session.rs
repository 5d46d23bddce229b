//! Market sessions from the exchange calendar: which session a moment is in (pre-market,
//! regular, after-hours, closed) and what kind of day a date is (a regular day, an early close,
//! a holiday, a weekend).
//!
//! Weekends, holidays and early closes otherwise look like days without trades, and a rule about
//! quotes fires on a holiday against a stale quote. The trading day stays the calendar date in
//! the exchange's time zone ([`crate::trading_day`]); sessions label fills and days, they move no
//! day boundary.
//!
//! # Rules
//!
//! * The calendar covers `[first_date, last_date]`; outside it nothing is known (`None`).
//! * A date with a session is **regular**, or an **early close** when its regular close is before
//!   16:00; a Saturday or Sunday without one is a **weekend**; any other date without one is a
//!   **holiday**.
//! * On a day with a session, local time `t` is **pre-market** in `[session_open, open)`,
//!   **regular** in `[open, close)`, **after-hours** in `[close, session_close)`, else
//!   **closed**; without extended hours from the broker they are 04:00 and 20:00.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;
use exporter_protocol::calendar::{MarketCalendar as CalendarMessage, MarketSession};
use serde::Serialize;

/// Regular close of a full day; a day closing earlier is an early close.
pub const REGULAR_CLOSE: NaiveTime = match NaiveTime::from_hms_opt(16, 0, 0) {
    Some(t) => t,
    None => NaiveTime::MIN,
};
/// Pre-market start when the broker gives none.
pub const DEFAULT_SESSION_OPEN: NaiveTime = match NaiveTime::from_hms_opt(4, 0, 0) {
    Some(t) => t,
    None => NaiveTime::MIN,
};
/// After-hours end when the broker gives none.
pub const DEFAULT_SESSION_CLOSE: NaiveTime = match NaiveTime::from_hms_opt(20, 0, 0) {
    Some(t) => t,
    None => NaiveTime::MIN,
};

/// What kind of day a date is on the exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MarketDayKind {
    /// A full session.
    Regular,
    /// A session whose regular close is before 16:00.
    EarlyClose,
    /// A weekday without a session.
    Holiday,
    /// Saturday or Sunday.
    Weekend,
}

/// The session a moment is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Session {
    PreMarket,
    Regular,
    AfterHours,
    Closed,
}

impl Session {
    /// Whether the market trades at all (extended hours included).
    pub fn is_extended_or_regular(self) -> bool {
        self != Self::Closed
    }
}

/// The exchange calendar over a known range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarketCalendar {
    tz: Tz,
    first_date: NaiveDate,
    last_date: NaiveDate,
    days: BTreeMap<NaiveDate, MarketSession>,
}

/// A calendar message that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("market calendar: {0}")]
pub struct CalendarError(pub String);

impl MarketCalendar {
    /// The calendar of `[first_date, last_date]` in `tz` with these sessions (days outside the
    /// range are ignored).
    pub fn new(
        tz: Tz,
        first_date: NaiveDate,
        last_date: NaiveDate,
        sessions: impl IntoIterator<Item = MarketSession>,
    ) -> Self {
        let days = sessions
            .into_iter()
            .filter(|s| s.date >= first_date && s.date <= last_date)
            .map(|s| (s.date, s))
            .collect();
        Self {
            tz,
            first_date,
            last_date,
            days,
        }
    }

    /// From the bus message (its time zone must be an IANA name).
    pub fn from_message(message: &CalendarMessage) -> Result<Self, CalendarError> {
        message.validate().map_err(CalendarError)?;
        let tz: Tz = message.timezone.parse().map_err(|_| {
            CalendarError(format!("`{}` is not an IANA time zone", message.timezone))
        })?;
        Ok(Self::new(
            tz,
            message.first_date,
            message.last_date,
            message.days.iter().copied(),
        ))
    }

    /// The exchange's time zone.
    pub fn timezone(&self) -> Tz {
        self.tz
    }

    /// The range the calendar knows.
    pub fn range(&self) -> (NaiveDate, NaiveDate) {
        (self.first_date, self.last_date)
    }

    /// Whether `date` is in the known range.
    pub fn knows(&self, date: NaiveDate) -> bool {
        date >= self.first_date && date <= self.last_date
    }

    /// The session of `date`, if the market opens then.
    pub fn session_of(&self, date: NaiveDate) -> Option<&MarketSession> {
        self.days.get(&date)
    }

    /// What kind of day `date` is; `None` outside the known range.
    pub fn day_kind(&self, date: NaiveDate) -> Option<MarketDayKind> {
        if !self.knows(date) {
            return None;
        }
        Some(match self.days.get(&date) {
            Some(s) if s.close < REGULAR_CLOSE => MarketDayKind::EarlyClose,
            Some(_) => MarketDayKind::Regular,
            None if matches!(date.weekday(), Weekday::Sat | Weekday::Sun) => MarketDayKind::Weekend,
            None => MarketDayKind::Holiday,
        })
    }

    /// The session `time` falls in; `None` when its date (in the exchange's zone) is outside
    /// the known range.
    pub fn session_at(&self, time: DateTime<Utc>) -> Option<Session> {
        let local = time.with_timezone(&self.tz);
        let date = local.date_naive();
        if !self.knows(date) {
            return None;
        }
        let Some(day) = self.days.get(&date) else {
            return Some(Session::Closed);
        };
        let t = local.time();
        let session_open = day
            .session_open
            .unwrap_or(DEFAULT_SESSION_OPEN)
            .min(day.open);
        let session_close = day
            .session_close
            .unwrap_or(DEFAULT_SESSION_CLOSE)
            .max(day.close);
        Some(if t >= day.open && t < day.close {
            Session::Regular
        } else if t >= session_open && t < day.open {
            Session::PreMarket
        } else if t >= day.close && t < session_close {
            Session::AfterHours
        } else {
            Session::Closed
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn hm(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    fn thanksgiving_week() -> MarketCalendar {
        let day = |d: &str, close: NaiveTime, session_close: NaiveTime| MarketSession {
            date: date(d),
            open: hm(9, 30),
            close,
            session_open: Some(hm(4, 0)),
            session_close: Some(session_close),
        };
        MarketCalendar::new(
            crate::DEFAULT_TIMEZONE,
            date("2026-11-23"),
            date("2026-11-29"),
            [
                day("2026-11-23", hm(16, 0), hm(20, 0)),
                day("2026-11-24", hm(16, 0), hm(20, 0)),
                day("2026-11-25", hm(16, 0), hm(20, 0)),
                day("2026-11-27", hm(13, 0), hm(17, 0)),
            ],
        )
    }

    #[test]
    fn holidays_early_closes_and_weekends_are_told_apart() {
        let calendar = thanksgiving_week();
        assert_eq!(
            calendar.day_kind(date("2026-11-25")),
            Some(MarketDayKind::Regular)
        );
        assert_eq!(
            calendar.day_kind(date("2026-11-26")),
            Some(MarketDayKind::Holiday)
        );
        assert_eq!(
            calendar.day_kind(date("2026-11-27")),
            Some(MarketDayKind::EarlyClose)
        );
        assert_eq!(
            calendar.day_kind(date("2026-11-28")),
            Some(MarketDayKind::Weekend)
        );
        assert_eq!(calendar.day_kind(date("2026-11-30")), None);
    }

    #[test]
    fn sessions_follow_the_day_in_new_york_time() {
        let calendar = thanksgiving_week();
        let at = |text: &str| calendar.session_at(text.parse().unwrap());
        // 24 November is EST (UTC-5): 09:29 local is pre-market, 09:30 regular.
        assert_eq!(at("2026-11-24T14:29:00Z"), Some(Session::PreMarket));
        assert_eq!(at("2026-11-24T14:30:00Z"), Some(Session::Regular));
        assert_eq!(at("2026-11-24T21:00:00Z"), Some(Session::AfterHours));
        assert_eq!(at("2026-11-25T01:00:00Z"), Some(Session::Closed));
        assert_eq!(
            at("2026-11-26T15:00:00Z"),
            Some(Session::Closed),
            "Thanksgiving"
        );
        // The early close: 13:00 local ends the regular session, after-hours until 17:00.
        assert_eq!(at("2026-11-27T17:59:00Z"), Some(Session::Regular));
        assert_eq!(at("2026-11-27T18:00:00Z"), Some(Session::AfterHours));
        assert_eq!(at("2026-11-27T22:00:00Z"), Some(Session::Closed));
        assert_eq!(at("2026-12-01T15:00:00Z"), None);
    }
}

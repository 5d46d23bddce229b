//! The API's read of stored fills (`GET /trades/fills`): filtered, newest first, one page at a
//! time, with the total count of the filter, in SQL, so a page costs the rows it returns (and
//! the count), not a read of every fill the account ever made.
//!
//! Newest first is `time DESC, fill_id DESC`, the exact reverse of [`Store::fills`]'s
//! `time, fill_id` (the `fill_time` index of migration 0002, read backwards). Trading days
//! (`start_day`, `end_day`) are calendar dates in the trading time zone: they become ranges of
//! UTC instants here, in Rust, with the zone's own offsets, so a day is exactly the fills
//! [`exporter_trading::trading_day`] puts in it, across DST changes too, also where a zone turned
//! its clocks back across midnight (America/St_Johns until 2010: 00:01 back to 23:01 of the day
//! before), so that a minute of the next day comes before the last hour of the day: such a day
//! is a range with a hole.

use chrono::{DateTime, NaiveDate, NaiveTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use exporter_protocol::brokerage::FillRecord;
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::filter::Filter;
use crate::paging::Listing;
use crate::{Store, StoreError};

/// Side of a fill to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FillSide {
    /// `side = 'buy'`.
    Buy,
    /// Every other side (`sell`; a `sell_short` is a sell).
    Sell,
}

/// Which fills to read. Every filter given must hold.
#[derive(Debug, Clone)]
pub struct FillQuery {
    pub symbol: Option<String>,
    pub side: Option<FillSide>,
    /// Exact strategy tag (a fill without one never matches).
    pub strategy: Option<String>,
    /// Filled on or after this trading day (in `timezone`).
    pub start_day: Option<NaiveDate>,
    /// Filled on or before this trading day (in `timezone`); before `start_day`: nothing.
    pub end_day: Option<NaiveDate>,
    /// The trading time zone of the days.
    pub timezone: Tz,
    /// Page size; `None`: every matching fill.
    pub limit: Option<i64>,
    pub offset: i64,
}

/// One page of fills, newest first, and how many fills the filter matches in all.
#[derive(Debug, Clone, Default)]
pub struct FillPage {
    pub total: i64,
    pub fills: Vec<FillRecord>,
}

/// A range of instants `[from, until)`; `None` is unbounded on that side.
type Span = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// How far (either way) from a day's midnight read as UTC its first instant can be: more than
/// any offset the time zone database holds (local mean times reach about ±16 h), with room for a
/// skipped day (Pacific/Apia, 2011-12-30).
const OFFSET_REACH: TimeDelta = TimeDelta::days(2);

/// The step at which offsets are sampled around a midnight: no zone changes its offset twice
/// within it.
const OFFSET_SAMPLE: TimeDelta = TimeDelta::minutes(15);

/// Seconds `tz` is ahead of UTC at `t`.
fn offset_seconds(tz: Tz, t: DateTime<Utc>) -> i32 {
    tz.offset_from_utc_datetime(&t.naive_utc())
        .fix()
        .local_minus_utc()
}

/// The instants (disjoint, ascending) whose trading day in `tz` is `day` or later.
fn from_day(tz: Tz, day: NaiveDate) -> Vec<Span> {
    let midnight = day.and_time(NaiveTime::MIN).and_utc();
    let (Some(first), Some(last)) = (
        midnight.checked_sub_signed(OFFSET_REACH),
        midnight.checked_add_signed(OFFSET_REACH),
    ) else {
        // At the very ends of chrono's range: every offset's midnight is out of reach of a
        // stored time either way, so the day starts at UTC midnight.
        return vec![(Some(midnight), None)];
    };
    // The zone's constant-offset stretches within [first, last): each offset change found by
    // sampling, then to the second (offsets change on whole seconds).
    let mut spans = Vec::new();
    let mut start = first;
    let mut offset = offset_seconds(tz, first);
    let mut probe = first;
    while probe < last {
        let next = (probe + OFFSET_SAMPLE).min(last);
        let next_offset = offset_seconds(tz, next);
        if next_offset != offset {
            // The first second in (probe, next] with the new offset.
            let (mut low, mut high) = (probe.timestamp(), next.timestamp());
            while high - low > 1 {
                let mid = low + (high - low) / 2;
                let at = DateTime::from_timestamp(mid, 0).unwrap_or(next);
                if offset_seconds(tz, at) == offset {
                    low = mid;
                } else {
                    high = mid;
                }
            }
            let change = DateTime::from_timestamp(high, 0).unwrap_or(next);
            push_from(&mut spans, start, change, offset, midnight);
            start = change;
            offset = next_offset;
        }
        probe = next;
    }
    push_from(&mut spans, start, last, offset, midnight);
    // From `last` on, every local date is past `day`.
    push_span(&mut spans, (Some(last), None));
    spans
}

/// The part of `[start, end)` (where `tz` is `offset` seconds ahead) whose local time is at or
/// after `midnight` (read as UTC).
fn push_from(
    spans: &mut Vec<Span>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    offset: i32,
    midnight: DateTime<Utc>,
) {
    let local_midnight = midnight - TimeDelta::seconds(i64::from(offset));
    let from = start.max(local_midnight);
    if from < end {
        push_span(spans, (Some(from), Some(end)));
    }
}

/// Appends a span after the others, merged with the last one when they touch.
fn push_span(spans: &mut Vec<Span>, span: Span) {
    if let Some(last) = spans.last_mut()
        && last.1.is_some()
        && last.1 == span.0
    {
        last.1 = span.1;
        return;
    }
    spans.push(span);
}

/// The instants not in `spans`.
fn complement(spans: &[Span]) -> Vec<Span> {
    let mut out = Vec::new();
    let mut from: Option<DateTime<Utc>> = None;
    let mut open = true;
    for &(start, end) in spans {
        if let Some(start) = start
            && from.is_none_or(|f| f < start)
        {
            push_span(&mut out, (from, Some(start)));
        }
        match end {
            Some(end) => from = Some(end),
            None => open = false,
        }
    }
    if open {
        push_span(&mut out, (from, None));
    }
    out
}

/// The instants in both.
fn intersect(a: &[Span], b: &[Span]) -> Vec<Span> {
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let start = match (a[i].0, b[j].0) {
            (Some(x), Some(y)) => Some(x.max(y)),
            (x, None) | (None, x) => x,
        };
        let end = match (a[i].1, b[j].1) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, None) | (None, x) => x,
        };
        if match (start, end) {
            (Some(s), Some(e)) => s < e,
            _ => true,
        } {
            push_span(&mut out, (start, end));
        }
        // Move past the span that ends first.
        let a_first = match (a[i].1, b[j].1) {
            (Some(x), Some(y)) => x <= y,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if a_first {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// The instants (disjoint, ascending) whose trading day in `tz` is within `start..=end`
/// (either bound optional).
pub(crate) fn day_spans(tz: Tz, start: Option<NaiveDate>, end: Option<NaiveDate>) -> Vec<Span> {
    let after_start = start.map_or_else(|| vec![(None, None)], |day| from_day(tz, day));
    match end {
        None => after_start,
        Some(end) => {
            let until_end = end.succ_opt().map_or_else(
                || vec![(None, None)],
                |next| complement(&from_day(tz, next)),
            );
            intersect(&after_start, &until_end)
        }
    }
}

impl FillQuery {
    /// The conditions of the filters given, with their values: the days as their hull
    /// (`time >= .. AND time < ..`, which the `fill_time` index serves) less its holes.
    fn filter(&self) -> Filter {
        let mut filter = Filter::default();
        filter.when("symbol = {}", self.symbol.clone());
        match self.side {
            Some(FillSide::Buy) => {
                filter.fixed("side = 'buy'");
            }
            Some(FillSide::Sell) => {
                filter.fixed("side <> 'buy'");
            }
            None => {}
        }
        filter.when("strategy = {}", self.strategy.clone());
        if self.start_day.is_some() || self.end_day.is_some() {
            let spans = day_spans(self.timezone, self.start_day, self.end_day);
            match (spans.first(), spans.last()) {
                (Some(first), Some(last)) => {
                    filter.when("time >= {}", first.0);
                    filter.when("time < {}", last.1);
                    for pair in spans.windows(2) {
                        if let (Some(hole_start), Some(hole_end)) = (pair[0].1, pair[1].0) {
                            filter.params("NOT (time >= {} AND time < {})", [hole_start, hole_end]);
                        }
                    }
                }
                _ => {
                    filter.fixed("FALSE");
                }
            }
        }
        filter
    }
}

fn fill_from_row(row: &PgRow) -> Result<FillRecord, StoreError> {
    Ok(FillRecord {
        id: row.try_get("fill_id")?,
        symbol: row.try_get("symbol")?,
        side: row.try_get("side")?,
        quantity: row.try_get("quantity")?,
        price: row.try_get("price")?,
        fee: row.try_get("fee")?,
        time: row.try_get("time")?,
        order_id: row.try_get("order_id")?,
        strategy: row.try_get("strategy")?,
    })
}

impl Store {
    /// One page of the fills matching `query`, newest first (`time DESC, fill_id DESC`: the
    /// reverse of [`Store::fills`]), and the number of fills matching in all.
    pub async fn fill_page(&self, query: &FillQuery) -> Result<FillPage, StoreError> {
        let filter = query.filter();
        let page = Listing {
            columns: "fill_id, symbol, side, quantity, price, fee, time, order_id, strategy",
            table: "fill",
            filter: &filter.clause(),
            used: filter.used(),
            order: "ORDER BY time DESC, fill_id DESC",
            limit: query.limit.unwrap_or(i64::MAX),
            offset: query.offset,
        }
        .fetch(&self.pool, |q| filter.bind(q))
        .await?;
        Ok(FillPage {
            total: page.total,
            fills: page
                .rows
                .iter()
                .map(fill_from_row)
                .collect::<Result<_, _>>()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use exporter_trading::trading_day;

    fn within(day: NaiveDate, start: Option<NaiveDate>, end: Option<NaiveDate>) -> bool {
        start.is_none_or(|s| day >= s) && end.is_none_or(|e| day <= e)
    }

    fn contains(spans: &[Span], t: DateTime<Utc>) -> bool {
        spans
            .iter()
            .any(|&(s, e)| s.is_none_or(|s| t >= s) && e.is_none_or(|e| t < e))
    }

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    /// Every instant (each second, and a microsecond either side of each) from a day before
    /// `start` to a day after `end` is in the spans exactly when its trading day is in range.
    fn check(tz: Tz, start: Option<&str>, end: Option<&str>) {
        let (start, end) = (start.map(date), end.map(date));
        let spans = day_spans(tz, start, end);
        for pair in spans.windows(2) {
            assert!(pair[0].1.unwrap() < pair[1].0.unwrap(), "{tz} {spans:?}");
        }
        let around = start.or(end).unwrap();
        let last = end.or(start).unwrap();
        let mut t = around.and_time(NaiveTime::MIN).and_utc() - TimeDelta::days(2);
        let stop = last.and_time(NaiveTime::MIN).and_utc() + TimeDelta::days(3);
        while t < stop {
            for at in [
                t - TimeDelta::microseconds(1),
                t,
                t + TimeDelta::microseconds(1),
            ] {
                assert_eq!(
                    contains(&spans, at),
                    within(trading_day(at, tz), start, end),
                    "{tz} {start:?}..={end:?} at {at}: {spans:?}"
                );
            }
            t += TimeDelta::seconds(60);
        }
    }

    #[test]
    fn days_are_the_instants_of_their_trading_day() {
        use chrono_tz::{America, Asia, Pacific};
        // New York: spring forward (2026-03-08 02:00) and fall back (2026-11-01 02:00).
        check(America::New_York, Some("2026-03-08"), Some("2026-03-08"));
        check(America::New_York, Some("2026-11-01"), Some("2026-11-01"));
        check(America::New_York, Some("2026-03-07"), None);
        check(America::New_York, None, Some("2026-10-31"));
        // Santiago: back from 00:00 to 23:00 of the day before (2026-04-05) and forward from
        // 00:00 to 01:00 (2026-09-06).
        check(America::Santiago, Some("2026-04-05"), Some("2026-04-05"));
        check(America::Santiago, Some("2026-04-04"), Some("2026-04-04"));
        check(America::Santiago, None, Some("2026-04-04"));
        check(America::Santiago, Some("2026-04-05"), None);
        check(America::Santiago, Some("2026-09-06"), Some("2026-09-06"));
        check(America::Santiago, Some("2026-09-05"), Some("2026-09-07"));
        // St. John's turned back from 00:01 to 23:01 of the day before (2010-11-07 02:31 UTC).
        check(America::St_Johns, Some("2010-11-06"), Some("2010-11-06"));
        check(America::St_Johns, Some("2010-11-07"), Some("2010-11-07"));
        check(America::St_Johns, Some("2010-11-07"), None);
        check(America::St_Johns, None, Some("2010-11-06"));
        check(America::St_Johns, Some("2010-11-05"), Some("2010-11-08"));
        // Beirut turns back at midnight too; Apia skipped 2011-12-30.
        check(Asia::Beirut, Some("2026-10-25"), Some("2026-10-25"));
        check(Pacific::Apia, Some("2011-12-30"), Some("2011-12-30"));
        check(Pacific::Apia, Some("2011-12-29"), Some("2011-12-31"));
        check(Tz::UTC, Some("2026-01-01"), Some("2026-01-31"));
    }

    #[test]
    fn a_start_after_the_end_is_nothing() {
        let spans = day_spans(
            chrono_tz::America::New_York,
            Some(date("2026-03-09")),
            Some(date("2026-03-08")),
        );
        assert!(spans.is_empty(), "{spans:?}");
        let query = FillQuery {
            symbol: None,
            side: None,
            strategy: None,
            start_day: Some(date("2026-03-09")),
            end_day: Some(date("2026-03-08")),
            timezone: chrono_tz::America::New_York,
            limit: None,
            offset: 0,
        };
        assert_eq!(query.filter().clause(), "WHERE FALSE");
    }

    #[test]
    fn a_day_across_a_midnight_turned_back_has_a_hole() {
        let query = FillQuery {
            symbol: Some("AAPL".into()),
            side: Some(FillSide::Sell),
            strategy: Some("s".into()),
            start_day: Some(date("2010-11-07")),
            end_day: Some(date("2010-11-07")),
            timezone: chrono_tz::America::St_Johns,
            limit: Some(10),
            offset: 0,
        };
        let filter = query.filter();
        assert_eq!(
            filter.clause(),
            "WHERE symbol = $1 AND side <> 'buy' AND strategy = $2 AND time >= $3 \
             AND time < $4 AND NOT (time >= $5 AND time < $6)"
        );
        assert_eq!(filter.used(), 6);
        // 00:00 to 00:01 NDT, then 00:00 NST on.
        let utc = |text: &str| Some(text.parse::<DateTime<Utc>>().unwrap());
        assert_eq!(
            day_spans(
                chrono_tz::America::St_Johns,
                Some(date("2010-11-07")),
                Some(date("2010-11-07"))
            ),
            [
                (utc("2010-11-07T02:30:00Z"), utc("2010-11-07T02:31:00Z")),
                (utc("2010-11-07T03:30:00Z"), utc("2010-11-08T03:30:00Z")),
            ]
        );
    }
}

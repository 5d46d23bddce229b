//! Reads of the brokerage tables: every fill (to build trades), the non-trade (cash)
//! activities, a cheap version stamp of both (so the API recomputes only when something
//! changed), the equity history and the market calendar; and the aggregator's writes of cash
//! activities and of the calendar.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use exporter_protocol::brokerage::{CashActivity, EquityPoint, FillRecord};
use exporter_protocol::calendar::{MarketCalendar, MarketSession};
use rust_decimal::Decimal;

use crate::{Store, StoreError};

/// Changes whenever a fill or a cash activity is added or changed (trades carry the fees of
/// the activities that name their orders, so both are their inputs). Cheap: an index lookup for
/// the fills, a count of the (small) activity table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FillsVersion {
    /// The newest `change_seq` of the fill table (0 without fills): the order in which fills
    /// were stored or corrected.
    pub fill_seq: i64,
    pub cash_count: i64,
    pub cash_last_received: Option<DateTime<Utc>>,
}

/// The advisory lock a writer of fills holds until its commit, so `change_seq` numbers become
/// visible in order (a reader following them never skips a row committed late).
pub(crate) const FILL_WRITE_LOCK: i64 = 0x6669_6c6c; // "fill"

/// A fill row with its `change_seq`.
type ChangeRow = (
    i64,
    String,
    String,
    String,
    Decimal,
    Decimal,
    Decimal,
    DateTime<Utc>,
    Option<String>,
    Option<String>,
);

type CashRow = (
    String,
    String,
    Option<String>,
    NaiveDate,
    Decimal,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// time, equity, profit/loss, profit/loss percent.
type EquityRow = (DateTime<Utc>, Decimal, Option<Decimal>, Option<Decimal>);

impl Store {
    /// The version stamp of the fill and activity tables.
    pub async fn fills_version(&self) -> Result<FillsVersion, StoreError> {
        let (fill_seq, cash_count, cash_last_received): (i64, i64, Option<DateTime<Utc>>) =
            sqlx::query_as(
                "SELECT COALESCE((SELECT max(change_seq) FROM fill), 0), \
                        (SELECT count(*) FROM cash_activity), \
                        (SELECT max(received_at) FROM cash_activity)",
            )
            .fetch_one(&self.pool)
            .await?;
        Ok(FillsVersion {
            fill_seq,
            cash_count,
            cash_last_received,
        })
    }

    /// The fills stored or corrected after `change_seq` `after` (0: every fill), in that order,
    /// each with its `change_seq`.
    pub async fn fill_changes(&self, after: i64) -> Result<Vec<(i64, FillRecord)>, StoreError> {
        let rows: Vec<ChangeRow> = sqlx::query_as(
            "SELECT change_seq, fill_id, symbol, side, quantity, price, fee, time, order_id, \
                    strategy \
             FROM fill WHERE change_seq > $1 ORDER BY change_seq",
        )
        .bind(after)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(seq, id, symbol, side, quantity, price, fee, time, order_id, strategy)| {
                    let record = FillRecord {
                        id,
                        symbol,
                        side,
                        quantity,
                        price,
                        fee,
                        time,
                        order_id,
                        strategy,
                    };
                    (seq, record)
                },
            )
            .collect())
    }

    /// Every non-trade activity, oldest date first.
    pub async fn cash_activities(&self) -> Result<Vec<CashActivity>, StoreError> {
        let rows: Vec<CashRow> = sqlx::query_as(
            "SELECT activity_id, activity_type, activity_sub_type, date, net_amount, symbol, \
                    order_id, description, status \
             FROM cash_activity ORDER BY date, activity_id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(
                    id,
                    activity_type,
                    activity_sub_type,
                    date,
                    net_amount,
                    symbol,
                    order_id,
                    description,
                    status,
                )| CashActivity {
                    id,
                    activity_type,
                    activity_sub_type,
                    date,
                    net_amount,
                    symbol,
                    order_id,
                    description,
                    status,
                },
            )
            .collect())
    }

    /// The daily equity history, oldest first.
    pub async fn equity_points(&self) -> Result<Vec<EquityPoint>, StoreError> {
        let rows: Vec<EquityRow> = sqlx::query_as(
            "SELECT time, equity, profit_loss, profit_loss_percent FROM equity_point ORDER BY time",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(time, equity, profit_loss, profit_loss_percent)| EquityPoint {
                    time,
                    equity,
                    profit_loss,
                    profit_loss_percent,
                },
            )
            .collect())
    }
}

/// Stores non-trade activities, the newest answer per id winning (a row is rewritten only when
/// something in it changed, so `received_at` says when it last did).
pub(crate) async fn upsert_cash_activities(
    tx: &mut sqlx::PgConnection,
    activities: &[CashActivity],
) -> Result<(), StoreError> {
    // One row per id (PostgreSQL refuses an upsert that touches a row twice): the last wins.
    let mut by_id: std::collections::HashMap<&str, &CashActivity> = Default::default();
    for activity in activities {
        by_id.insert(activity.id.as_str(), activity);
    }
    if by_id.is_empty() {
        return Ok(());
    }
    let rows: Vec<&CashActivity> = by_id.into_values().collect();
    let texts =
        |f: fn(&CashActivity) -> Option<String>| rows.iter().map(|a| f(a)).collect::<Vec<_>>();
    sqlx::query(
        "INSERT INTO cash_activity (activity_id, activity_type, activity_sub_type, date, net_amount, \
                                    symbol, order_id, description, status) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::date[], $5::numeric[], \
                              $6::text[], $7::text[], $8::text[], $9::text[]) \
         ON CONFLICT (activity_id) DO UPDATE SET \
           activity_type = excluded.activity_type, activity_sub_type = excluded.activity_sub_type, \
           date = excluded.date, net_amount = excluded.net_amount, symbol = excluded.symbol, \
           order_id = excluded.order_id, description = excluded.description, \
           status = excluded.status, received_at = now() \
         WHERE (cash_activity.activity_type, cash_activity.activity_sub_type, cash_activity.date, \
                cash_activity.net_amount, cash_activity.symbol, cash_activity.order_id, \
                cash_activity.description, cash_activity.status) \
           IS DISTINCT FROM (excluded.activity_type, excluded.activity_sub_type, excluded.date, \
                excluded.net_amount, excluded.symbol, excluded.order_id, excluded.description, \
                excluded.status)",
    )
    .bind(rows.iter().map(|a| a.id.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|a| a.activity_type.clone()).collect::<Vec<_>>())
    .bind(texts(|a| a.activity_sub_type.clone()))
    .bind(rows.iter().map(|a| a.date).collect::<Vec<_>>())
    .bind(rows.iter().map(|a| a.net_amount).collect::<Vec<_>>())
    .bind(texts(|a| a.symbol.clone()))
    .bind(texts(|a| a.order_id.clone()))
    .bind(texts(|a| a.description.clone()))
    .bind(texts(|a| a.status.clone()))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Stores a fetched calendar: its range's days replace what was stored for those dates (a day
/// no longer listed becomes a holiday), and the known range grows to include it.
pub(crate) async fn replace_market_calendar(
    tx: &mut sqlx::PgConnection,
    calendar: &MarketCalendar,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM market_day WHERE date BETWEEN $1 AND $2")
        .bind(calendar.first_date)
        .bind(calendar.last_date)
        .execute(&mut *tx)
        .await?;
    let days = &calendar.days;
    sqlx::query(
        "INSERT INTO market_day (date, open_time, close_time, session_open, session_close) \
         SELECT * FROM UNNEST($1::date[], $2::time[], $3::time[], $4::time[], $5::time[]) \
         ON CONFLICT (date) DO UPDATE SET open_time = excluded.open_time, \
           close_time = excluded.close_time, session_open = excluded.session_open, \
           session_close = excluded.session_close, received_at = now()",
    )
    .bind(days.iter().map(|d| d.date).collect::<Vec<_>>())
    .bind(days.iter().map(|d| d.open).collect::<Vec<_>>())
    .bind(days.iter().map(|d| d.close).collect::<Vec<_>>())
    .bind(days.iter().map(|d| d.session_open).collect::<Vec<_>>())
    .bind(days.iter().map(|d| d.session_close).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO market_calendar_range (timezone, first_date, last_date) VALUES ($1, $2, $3) \
         ON CONFLICT (singleton) DO UPDATE SET timezone = excluded.timezone, \
           first_date = LEAST(market_calendar_range.first_date, excluded.first_date), \
           last_date = GREATEST(market_calendar_range.last_date, excluded.last_date), \
           updated_at = now()",
    )
    .bind(&calendar.timezone)
    .bind(calendar.first_date)
    .bind(calendar.last_date)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// date, open, close, session open, session close.
type MarketDayRow = (
    NaiveDate,
    NaiveTime,
    NaiveTime,
    Option<NaiveTime>,
    Option<NaiveTime>,
);

impl Store {
    /// The stored market calendar (its whole known range); `None` when none was ever fetched
    /// (no broker keys, or not yet).
    pub async fn market_calendar(&self) -> Result<Option<MarketCalendar>, StoreError> {
        let range: Option<(String, NaiveDate, NaiveDate)> =
            sqlx::query_as("SELECT timezone, first_date, last_date FROM market_calendar_range")
                .fetch_optional(&self.pool)
                .await?;
        let Some((timezone, first_date, last_date)) = range else {
            return Ok(None);
        };
        let rows: Vec<MarketDayRow> = sqlx::query_as(
            "SELECT date, open_time, close_time, session_open, session_close FROM market_day \
             WHERE date BETWEEN $1 AND $2 ORDER BY date",
        )
        .bind(first_date)
        .bind(last_date)
        .fetch_all(&self.pool)
        .await?;
        Ok(Some(MarketCalendar {
            timezone,
            first_date,
            last_date,
            days: rows
                .into_iter()
                .map(
                    |(date, open, close, session_open, session_close)| MarketSession {
                        date,
                        open,
                        close,
                        session_open,
                        session_close,
                    },
                )
                .collect(),
        }))
    }
}

impl Store {
    /// Time of the newest fill (`None` without any).
    pub async fn last_fill_time(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(sqlx::query_scalar("SELECT max(time) FROM fill")
            .fetch_one(&self.pool)
            .await?)
    }
}

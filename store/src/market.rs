//! Market data in the store: bars, the ranges already fetched, splits and dividends, symbol
//! metadata and quotes. Written by the aggregator from `market_bars` and `quote` samples; read by
//! the API's chart and quote endpoints.

use chrono::{DateTime, Utc};
use exporter_protocol::market::{BarBatch, BarRecord, CorporateEvent, Quote, SymbolMeta};

use crate::{Store, StoreError};

pub(crate) async fn insert_bars(
    tx: &mut sqlx::PgConnection,
    batch: &BarBatch,
) -> Result<(), StoreError> {
    let b = &batch.bars;
    if !b.is_empty() {
        sqlx::query(
            "INSERT INTO bar (symbol, interval, time, open, high, low, close, adj_close, volume) \
             SELECT $1, $2, * FROM UNNEST($3::timestamptz[], $4::float8[], $5::float8[], $6::float8[], \
                                          $7::float8[], $8::float8[], $9::int8[]) \
             ON CONFLICT (symbol, interval, time) DO UPDATE SET open = excluded.open, high = excluded.high, \
               low = excluded.low, close = excluded.close, adj_close = excluded.adj_close, volume = excluded.volume",
        )
        .bind(&batch.symbol)
        .bind(&batch.interval)
        .bind(b.iter().map(|x| x.time).collect::<Vec<_>>())
        .bind(b.iter().map(|x| x.open).collect::<Vec<_>>())
        .bind(b.iter().map(|x| x.high).collect::<Vec<_>>())
        .bind(b.iter().map(|x| x.low).collect::<Vec<_>>())
        .bind(b.iter().map(|x| x.close).collect::<Vec<_>>())
        .bind(b.iter().map(|x| x.adj_close).collect::<Vec<_>>())
        .bind(b.iter().map(|x| x.volume.map(|v| v as i64)).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(
        "INSERT INTO bar_coverage (symbol, interval, range_start, range_end) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (symbol, interval, range_start, range_end) DO UPDATE SET fetched_at = now()",
    )
    .bind(&batch.symbol)
    .bind(&batch.interval)
    .bind(batch.range_start)
    .bind(batch.range_end)
    .execute(&mut *tx)
    .await?;
    for e in &batch.events {
        sqlx::query(
            "INSERT INTO corporate_event (symbol, time, kind, amount, numerator, denominator) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (symbol, kind, time) DO UPDATE SET \
             amount = excluded.amount, numerator = excluded.numerator, denominator = excluded.denominator",
        )
        .bind(&batch.symbol)
        .bind(e.time)
        .bind(&e.kind)
        .bind(e.amount)
        .bind(e.numerator)
        .bind(e.denominator)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(
        "INSERT INTO symbol_meta (symbol, meta) VALUES ($1, $2) \
         ON CONFLICT (symbol) DO UPDATE SET meta = excluded.meta, updated_at = now()",
    )
    .bind(&batch.symbol)
    .bind(serde_json::to_value(&batch.meta).unwrap_or_default())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

pub(crate) async fn upsert_quote(
    tx: &mut sqlx::PgConnection,
    quote: &Quote,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO quote (symbol, quote, quote_time) VALUES ($1, $2, $3) \
         ON CONFLICT (symbol) DO UPDATE SET quote = excluded.quote, quote_time = excluded.quote_time, \
           received_at = now() WHERE excluded.quote_time >= quote.quote_time",
    )
    .bind(&quote.symbol)
    .bind(serde_json::to_value(quote).unwrap_or_default())
    .bind(quote.time)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

type EventRow = (DateTime<Utc>, String, Option<f64>, Option<f64>, Option<f64>);
type BarRow = (
    DateTime<Utc>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    f64,
    Option<f64>,
    Option<i64>,
);

impl Store {
    /// True when a stored fetch of `symbol`/`interval` started at or before `from` and reached
    /// at least `recent_enough` (so the bars since are at most that old).
    pub async fn bars_covered(
        &self,
        symbol: &str,
        interval: &str,
        from: DateTime<Utc>,
        recent_enough: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let covered: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM bar_coverage WHERE symbol = $1 AND interval = $2 \
             AND range_start <= $3 AND range_end >= $4)",
        )
        .bind(symbol)
        .bind(interval)
        .bind(from)
        .bind(recent_enough)
        .fetch_one(&self.pool)
        .await?;
        Ok(covered)
    }

    /// Bars in `[from, to]`, oldest first.
    pub async fn bars(
        &self,
        symbol: &str,
        interval: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<BarRecord>, StoreError> {
        let rows: Vec<BarRow> = sqlx::query_as(
            "SELECT time, open, high, low, close, adj_close, volume FROM bar \
             WHERE symbol = $1 AND interval = $2 AND time >= $3 AND time <= $4 ORDER BY time",
        )
        .bind(symbol)
        .bind(interval)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(time, open, high, low, close, adj_close, volume)| BarRecord {
                    time,
                    open,
                    high,
                    low,
                    close,
                    adj_close,
                    volume: volume.map(|v| v as u64),
                },
            )
            .collect())
    }

    /// Splits and dividends in `[from, to]`.
    pub async fn corporate_events(
        &self,
        symbol: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<CorporateEvent>, StoreError> {
        let rows: Vec<EventRow> = sqlx::query_as(
            "SELECT time, kind, amount, numerator, denominator FROM corporate_event \
             WHERE symbol = $1 AND time >= $2 AND time <= $3 ORDER BY time",
        )
        .bind(symbol)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(time, kind, amount, numerator, denominator)| CorporateEvent {
                    time,
                    kind,
                    amount,
                    numerator,
                    denominator,
                },
            )
            .collect())
    }

    /// The symbol's metadata, if ever fetched.
    pub async fn symbol_meta(&self, symbol: &str) -> Result<Option<SymbolMeta>, StoreError> {
        let meta: Option<serde_json::Value> =
            sqlx::query_scalar("SELECT meta FROM symbol_meta WHERE symbol = $1")
                .bind(symbol)
                .fetch_optional(&self.pool)
                .await?;
        Ok(meta.and_then(|m| serde_json::from_value(m).ok()))
    }

    /// The latest stored quote of every symbol, and when each was stored.
    pub async fn quotes(&self) -> Result<Vec<(Quote, DateTime<Utc>)>, StoreError> {
        let rows: Vec<(serde_json::Value, DateTime<Utc>)> =
            sqlx::query_as("SELECT quote, received_at FROM quote ORDER BY symbol")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(q, at)| serde_json::from_value(q).ok().map(|q| (q, at)))
            .collect())
    }

    /// The latest stored quote and when it was stored.
    pub async fn quote(&self, symbol: &str) -> Result<Option<(Quote, DateTime<Utc>)>, StoreError> {
        let row: Option<(serde_json::Value, DateTime<Utc>)> =
            sqlx::query_as("SELECT quote, received_at FROM quote WHERE symbol = $1")
                .bind(symbol)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.and_then(|(q, at)| serde_json::from_value(q).ok().map(|q| (q, at))))
    }
}

//! The aggregator's batch write: one transaction per batch, bulk statements over `UNNEST`
//! arrays (never row by row), idempotent on the message id. The roll-ups (`rollup.rs`) are kept
//! in the same transaction, from the same newly inserted points.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Mutex;

use chrono::{DateTime, NaiveDate, Utc};
use exporter_protocol::alert::Notification;
use exporter_protocol::brokerage::{CashActivity, EquityPoint, FillRecord};
use exporter_protocol::logs::LogLine;
use exporter_protocol::market::{BarBatch, Quote};
use exporter_protocol::{Labels, SeriesPoint};
use uuid::Uuid;

use crate::logs::IncomingNotification;
use crate::sample_body::SampleBody;

use crate::{Resolution, Store, StoreError};

/// A parsed sample ready to store.
#[derive(Debug, Clone)]
pub struct IncomingSample {
    pub message_id: Uuid,
    pub subject: String,
    pub source: String,
    pub host: String,
    /// The collector's sequence number.
    pub seq: u64,
    pub time: DateTime<Utc>,
    /// The whole payload, kept as the latest snapshot.
    pub body: SampleBody,
    /// Its numeric series.
    pub points: Vec<SeriesPoint>,
    /// Rows of a domain table the sample also feeds.
    pub domain: Domain,
}

/// Domain tables a sample feeds besides the generic ones.
#[derive(Debug, Clone, Default)]
pub enum Domain {
    #[default]
    None,
    /// New executions (`fill`, keyed by id: a repeated fill is a no-op).
    Fills(Vec<FillRecord>),
    /// Non-trade activities (`cash_activity`, keyed by id: the newest answer wins).
    CashActivities(Vec<CashActivity>),
    /// The exchange calendar of a range (`market_day`, `market_calendar_range`).
    MarketCalendar(Box<exporter_protocol::calendar::MarketCalendar>),
    /// Daily equity (`equity_point`, keyed by time: the newest answer wins).
    Equity(Vec<EquityPoint>),
    /// Bars of a fetched range, with events and metadata (`bar`, `bar_coverage`, ...).
    Bars(Box<BarBatch>),
    /// The latest quote of a symbol (`quote`, the newest wins).
    Quote(Box<Quote>),
    /// Log lines (`log_line`).
    Logs(Vec<LogLine>),
    /// Notifications read from the trading system's file (`notification`).
    Notifications(Vec<Notification>),
}

/// The most bytes of a dead letter's `reason` (and of its subject) kept: a reason quoting a
/// 900 KB body is cut in the middle, so its start and end (where the category is) survive.
pub const DEAD_LETTER_TEXT_MAX_BYTES: usize = 400;

/// The most bytes of a dead letter's raw message kept; the original size is stored beside it.
pub const DEAD_LETTER_RAW_MAX_BYTES: usize = 64 * 1024;

/// A message that could not be read, kept aside with the reason.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// `Nats-Msg-Id` if present, else `<stream>:<sequence>`: a redelivery is stored once.
    pub dedupe_key: String,
    pub subject: String,
    /// At most [`DEAD_LETTER_TEXT_MAX_BYTES`] when built with [`DeadLetter::new`].
    pub reason: String,
    /// The first [`DEAD_LETTER_RAW_MAX_BYTES`] bytes of the message.
    pub raw: Vec<u8>,
    /// The message's size before `raw` was cut.
    pub raw_size_bytes: usize,
    pub headers: Option<serde_json::Value>,
}

impl DeadLetter {
    /// A dead letter with its texts cut to [`DEAD_LETTER_TEXT_MAX_BYTES`] and its raw bytes to
    /// [`DEAD_LETTER_RAW_MAX_BYTES`]. Control characters in the texts are escaped: NUL as `\0`
    /// (PostgreSQL cannot store it), the others as `\n`, `\u{1b}`..., so a reason quoting the
    /// body is one log line and cannot forge others.
    pub fn new(
        dedupe_key: &str,
        subject: &str,
        reason: &str,
        raw: &[u8],
        headers: Option<serde_json::Value>,
    ) -> Self {
        let text = |t: &str| cut_text(&escape_controls(t), DEAD_LETTER_TEXT_MAX_BYTES).into_owned();
        Self {
            dedupe_key: text(dedupe_key),
            subject: text(subject),
            reason: text(reason),
            raw: raw[..raw.len().min(DEAD_LETTER_RAW_MAX_BYTES)].to_vec(),
            raw_size_bytes: raw.len(),
            headers,
        }
    }

    /// How many bytes of the message were not kept in `raw`.
    pub fn raw_cut_bytes(&self) -> usize {
        self.raw_size_bytes.saturating_sub(self.raw.len())
    }
}

/// `text` with its control characters escaped (NUL as `\0`, as stored before).
fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return text.into();
    }
    let mut escaped = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '\0' => escaped.push_str("\\0"),
            c if c.is_control() => escaped.extend(c.escape_default()),
            c => escaped.push(c),
        }
    }
    escaped.into()
}

/// `text` if it fits in `max_bytes`, else its start and end around a marker saying how many
/// bytes were cut (`… (cut, N bytes) …`), at most `max_bytes` long and cut on char boundaries.
pub fn cut_text(text: &str, max_bytes: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= max_bytes {
        return text.into();
    }
    // The marker is at its longest when N is the whole length.
    let longest_marker = format!(" … (cut, {} bytes) … ", text.len()).len();
    let keep = max_bytes.saturating_sub(longest_marker);
    let mut head = keep * 3 / 4;
    while !text.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = text.len() - (keep - keep * 3 / 4);
    while !text.is_char_boundary(tail) {
        tail += 1;
    }
    format!(
        "{} … (cut, {} bytes) … {}",
        &text[..head],
        tail - head,
        &text[tail..]
    )
    .into()
}

/// What one batch holds.
#[derive(Debug, Default, Clone)]
pub struct Batch {
    pub samples: Vec<IncomingSample>,
    pub dead_letters: Vec<DeadLetter>,
    /// Fills the trading system published itself (`exporter.v1.ingest.fill`).
    pub ingest_fills: Vec<FillRecord>,
    /// Notifications the trading system published itself (`exporter.v1.ingest.notification`).
    pub ingest_notifications: Vec<IncomingNotification>,
}

/// What one batch changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Samples stored for the first time.
    pub new_samples: usize,
    /// Samples whose id was already stored (redeliveries, duplicates).
    pub duplicate_samples: usize,
    pub points: usize,
    pub dead_letters: usize,
}

type SeriesKey = (String, String, &'static str, String);

/// In-memory caches of what exists in the database; entries are only added after the rows were
/// committed, so a rolled-back batch never leaves a wrong entry.
#[derive(Debug, Default)]
pub(crate) struct Caches {
    /// (table, first day) of each partition known to exist.
    pub(crate) partitions: Mutex<HashSet<(&'static str, NaiveDate)>>,
    series: Mutex<SeriesCache>,
}

impl Store {
    /// Writes a batch in one transaction. Returns once committed; the caller acks after that.
    pub async fn write_batch(&self, batch: &Batch) -> Result<BatchOutcome, StoreError> {
        let result = self.write_batch_once(batch).await;
        if result
            .as_ref()
            .err()
            .is_some_and(StoreError::is_missing_partition)
        {
            // Forget what we believed exists; the caller's retry creates what is missing.
            self.caches
                .partitions
                .lock()
                .expect("partition cache")
                .clear();
        }
        result
    }

    async fn write_batch_once(&self, batch: &Batch) -> Result<BatchOutcome, StoreError> {
        let mut seen = HashSet::new();
        let samples: Vec<&IncomingSample> = batch
            .samples
            .iter()
            .filter(|s| seen.insert(s.message_id))
            .collect();

        let days: BTreeSet<NaiveDate> = samples.iter().map(|s| s.time.date_naive()).collect();
        self.ensure_partitions(&days).await?;
        let series_ids = self.resolve_series(&samples).await?;

        let mut tx = self.pool.begin().await?;
        let new_ids: HashSet<Uuid> = sqlx::query_scalar(
            "INSERT INTO ingested_message (message_id, subject, source, host, seq, sample_time) \
             SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::int8[], $6::timestamptz[]) \
             ON CONFLICT (message_id) DO NOTHING RETURNING message_id",
        )
        .bind(samples.iter().map(|s| s.message_id).collect::<Vec<_>>())
        .bind(samples.iter().map(|s| s.subject.clone()).collect::<Vec<_>>())
        .bind(samples.iter().map(|s| s.source.clone()).collect::<Vec<_>>())
        .bind(samples.iter().map(|s| s.host.clone()).collect::<Vec<_>>())
        .bind(samples.iter().map(|s| s.seq as i64).collect::<Vec<_>>())
        .bind(samples.iter().map(|s| s.time).collect::<Vec<_>>())
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();

        let fresh: Vec<&IncomingSample> = samples
            .into_iter()
            .filter(|s| new_ids.contains(&s.message_id))
            .collect();

        let capacity = fresh.iter().map(|s| s.points.len()).sum();
        let mut times = Vec::with_capacity(capacity);
        let mut ids = Vec::with_capacity(capacity);
        let mut values = Vec::with_capacity(capacity);
        for sample in &fresh {
            let Some(sample_ids) = series_ids.get(&sample.message_id) else {
                continue;
            };
            for (point, id) in sample.points.iter().zip(sample_ids) {
                if let Some(id) = *id {
                    times.push(sample.time);
                    ids.push(id);
                    values.push(point.value);
                }
            }
        }
        if !times.is_empty() {
            // A point older than the raw tier goes only into the roll-ups that still keep it.
            let (mut raw_times, mut raw_ids, mut raw_values) = (Vec::new(), Vec::new(), Vec::new());
            // Checked per sample (all its points share its time), not per point.
            let all_raw = fresh
                .iter()
                .all(|s| s.points.is_empty() || self.tier_takes(Resolution::Raw, s.time));
            if !all_raw {
                for ((time, id), value) in times.iter().zip(&ids).zip(&values) {
                    if self.tier_takes(Resolution::Raw, *time) {
                        raw_times.push(*time);
                        raw_ids.push(*id);
                        raw_values.push(*value);
                    }
                }
            }
            let (raw_times, raw_ids, raw_values) = if all_raw {
                (&times, &ids, &values)
            } else {
                (&raw_times, &raw_ids, &raw_values)
            };
            if !raw_times.is_empty() {
                crate::copy_points::copy_points(&mut tx, raw_times, raw_ids, raw_values).await?;
            }
            crate::rollup::upsert(&mut tx, &times, &ids, &values, |resolution, time| {
                self.tier_takes(resolution, time)
            })
            .await?;
        }

        let mut newest: HashMap<(&str, &str, String), &IncomingSample> = HashMap::new();
        for sample in &fresh {
            let entry = newest
                .entry((
                    sample.source.as_str(),
                    sample.host.as_str(),
                    latest_process(sample),
                ))
                .or_insert(sample);
            if sample.time > entry.time {
                *entry = sample;
            }
        }
        if !newest.is_empty() {
            let latest: Vec<&IncomingSample> = newest.into_values().collect();
            sqlx::query(
                "INSERT INTO latest_sample (source, host, message_id, sample_time, body, process) \
                 SELECT s, h, m, t, b::jsonb, p \
                 FROM UNNEST($1::text[], $2::text[], $3::uuid[], $4::timestamptz[], $5::text[], $6::text[]) \
                   AS u(s, h, m, t, b, p) \
                 ON CONFLICT (source, host, process) DO UPDATE SET message_id = excluded.message_id, \
                   sample_time = excluded.sample_time, received_at = now(), body = excluded.body \
                 WHERE excluded.sample_time >= latest_sample.sample_time",
            )
            .bind(latest.iter().map(|s| s.source.clone()).collect::<Vec<_>>())
            .bind(latest.iter().map(|s| s.host.clone()).collect::<Vec<_>>())
            .bind(latest.iter().map(|s| s.message_id).collect::<Vec<_>>())
            .bind(latest.iter().map(|s| s.time).collect::<Vec<_>>())
            .bind(latest.iter().map(|s| latest_body(s)).collect::<Vec<_>>())
            .bind(
                latest
                    .iter()
                    .map(|s| latest_process(s))
                    .collect::<Vec<_>>(),
            )
            .execute(&mut *tx)
            .await?;
        }

        let mut notifications = batch.ingest_notifications.clone();
        let mut fills: Vec<(&FillRecord, &str)> =
            batch.ingest_fills.iter().map(|f| (f, "ingest")).collect();
        for sample in &fresh {
            match &sample.domain {
                Domain::Fills(list) => fills.extend(list.iter().map(|f| (f, "broker"))),
                Domain::Equity(points) => insert_equity(&mut tx, points).await?,
                Domain::MarketCalendar(calendar) => {
                    crate::brokerage::replace_market_calendar(&mut tx, calendar).await?
                }
                Domain::CashActivities(list) => {
                    crate::brokerage::upsert_cash_activities(&mut tx, list).await?
                }
                Domain::Bars(batch) => crate::market::insert_bars(&mut tx, batch).await?,
                Domain::Quote(quote) => crate::market::upsert_quote(&mut tx, quote).await?,
                Domain::Logs(lines) => {
                    crate::logs::insert_log_lines(&mut tx, sample.message_id, &sample.host, lines)
                        .await?
                }
                Domain::Notifications(list) => {
                    notifications.extend(list.iter().enumerate().map(|(i, n)| {
                        IncomingNotification {
                            dedupe_key: format!("{}:{i}", sample.message_id),
                            host: Some(sample.host.clone()),
                            time: n.time.unwrap_or(sample.time),
                            notification: n.clone(),
                        }
                    }))
                }
                Domain::None => {}
            }
        }
        insert_fills(&mut tx, &fills).await?;
        crate::logs::insert_notifications(&mut tx, &notifications).await?;

        let mut dead_letters = 0;
        if !batch.dead_letters.is_empty() {
            let d = &batch.dead_letters;
            dead_letters = sqlx::query(
                "INSERT INTO dead_letter \
                 (dedupe_key, subject, reason, raw, headers, raw_size_bytes, raw_cut_bytes) \
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bytea[], \
                 $5::jsonb[], $6::int8[], $7::int8[]) \
                 ON CONFLICT (dedupe_key) DO NOTHING",
            )
            .bind(d.iter().map(|l| l.dedupe_key.clone()).collect::<Vec<_>>())
            .bind(d.iter().map(|l| l.subject.clone()).collect::<Vec<_>>())
            .bind(d.iter().map(|l| l.reason.clone()).collect::<Vec<_>>())
            .bind(d.iter().map(|l| l.raw.clone()).collect::<Vec<_>>())
            .bind(d.iter().map(|l| l.headers.clone()).collect::<Vec<_>>())
            .bind(
                d.iter()
                    .map(|l| l.raw_size_bytes as i64)
                    .collect::<Vec<_>>(),
            )
            .bind(
                d.iter()
                    .map(|l| l.raw_cut_bytes() as i64)
                    .collect::<Vec<_>>(),
            )
            .execute(&mut *tx)
            .await?
            .rows_affected() as usize;
        }
        tx.commit().await?;

        Ok(BatchOutcome {
            new_samples: fresh.len(),
            duplicate_samples: batch.samples.len() - fresh.len(),
            points: times.len(),
            dead_letters,
        })
    }

    /// Looks up (creating where missing) the series id of every point of each sample (by
    /// message id, in the order of its points); committed on its own, so the ids are real even if
    /// the batch transaction then fails. A known series is found in the cache without building
    /// its key (no allocation per point).
    async fn resolve_series(
        &self,
        samples: &[&IncomingSample],
    ) -> Result<HashMap<Uuid, Vec<Option<i32>>>, StoreError> {
        let mut resolved: HashMap<Uuid, Vec<Option<i32>>> = HashMap::with_capacity(samples.len());
        let mut missing: Vec<SeriesKey> = Vec::new();
        {
            let mut cache = self.caches.series.lock().expect("series cache");
            let mut queued = HashSet::new();
            for sample in samples {
                let shape = cache.shape(&sample.source, &sample.host);
                let mut same_shape = shape.is_some_and(|s| s.len() == sample.points.len());
                let ids: Vec<Option<i32>> = sample
                    .points
                    .iter()
                    .enumerate()
                    .map(|(i, point)| {
                        let known = shape
                            .and_then(|s| s.get(i))
                            .filter(|(name, labels, _)| {
                                *name == point.name && *labels == point.labels
                            })
                            .map(|(_, _, id)| *id);
                        same_shape &= known.is_some();
                        let id = known.or_else(|| cache.get(&sample.source, &sample.host, point));
                        if id.is_none() {
                            let key = series_key(sample, point);
                            if queued.insert(key.clone()) {
                                missing.push(key);
                            }
                        }
                        id
                    })
                    .collect();
                if !same_shape && ids.iter().all(Option::is_some) {
                    cache.set_shape(sample, &ids);
                }
                resolved.insert(sample.message_id, ids);
            }
        }
        if missing.is_empty() {
            return Ok(resolved);
        }
        let sources: Vec<String> = missing.iter().map(|k| k.0.clone()).collect();
        let hosts: Vec<String> = missing.iter().map(|k| k.1.clone()).collect();
        let names: Vec<String> = missing.iter().map(|k| k.2.to_owned()).collect();
        let labels: Vec<String> = missing.iter().map(|k| k.3.clone()).collect();
        sqlx::query(
            "INSERT INTO series (source, host, name, labels) \
             SELECT s, h, n, l::jsonb FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[]) AS u(s, h, n, l) \
             ON CONFLICT (source, host, name, labels) DO NOTHING",
        )
        .bind(&sources)
        .bind(&hosts)
        .bind(&names)
        .bind(&labels)
        .execute(&self.pool)
        .await?;
        let rows: Vec<(i32, i64)> = sqlx::query_as(
            "SELECT s.series_id, u.ord FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[]) \
               WITH ORDINALITY AS u(src, h, n, l, ord) \
             JOIN series s ON s.source = u.src AND s.host = u.h AND s.name = u.n AND s.labels = u.l::jsonb",
        )
        .bind(&sources)
        .bind(&hosts)
        .bind(&names)
        .bind(&labels)
        .fetch_all(&self.pool)
        .await?;
        let mut cache = self.caches.series.lock().expect("series cache");
        let mut created = HashMap::new();
        for (id, ord) in rows {
            let key = &missing[(ord - 1) as usize];
            created.insert(key.clone(), id);
        }
        for sample in samples {
            let Some(ids) = resolved.get_mut(&sample.message_id) else {
                continue;
            };
            for (point, slot) in sample.points.iter().zip(ids.iter_mut()) {
                if slot.is_none() {
                    *slot = created.get(&series_key(sample, point)).copied();
                    if let Some(id) = *slot {
                        cache.insert(sample, point, id);
                    }
                }
            }
        }
        Ok(resolved)
    }
}

/// The series of one sample, in the order of its points: (name, labels, id).
type Shape = Vec<(&'static str, Labels, i32)>;

/// Series ids of one source and host, by name and labels.
type HostSeries = HashMap<&'static str, HashMap<Labels, i32>>;

/// Series ids by source, host, name and labels, nested so that a lookup borrows the sample's
/// own strings (no key is built for a series already known). Besides, the shape of the last
/// sample of each source and host: a collector sends the same series in the same order every
/// time, so the next sample's ids are found by comparing names and labels in order, without
/// hashing each point.
#[derive(Debug, Default)]
pub(crate) struct SeriesCache {
    ids: HashMap<String, HashMap<String, HostSeries>>,
    shapes: HashMap<String, HashMap<String, Shape>>,
}

impl SeriesCache {
    fn shape(&self, source: &str, host: &str) -> Option<&Shape> {
        self.shapes.get(source)?.get(host)
    }

    /// Remembers `ids` (all known) as the shape of `sample`'s source and host.
    fn set_shape(&mut self, sample: &IncomingSample, ids: &[Option<i32>]) {
        let shape = sample
            .points
            .iter()
            .zip(ids)
            .filter_map(|(point, id)| Some((point.name, point.labels.clone(), (*id)?)))
            .collect();
        self.shapes
            .entry(sample.source.clone())
            .or_default()
            .insert(sample.host.clone(), shape);
    }

    fn get(&self, source: &str, host: &str, point: &SeriesPoint) -> Option<i32> {
        self.ids
            .get(source)?
            .get(host)?
            .get(point.name)?
            .get(&point.labels)
            .copied()
    }

    fn insert(&mut self, sample: &IncomingSample, point: &SeriesPoint, id: i32) {
        self.ids
            .entry(sample.source.clone())
            .or_default()
            .entry(sample.host.clone())
            .or_default()
            .entry(point.name)
            .or_default()
            .insert(point.labels.clone(), id);
    }
}

async fn insert_fills(
    tx: &mut sqlx::PgConnection,
    fills: &[(&FillRecord, &str)],
) -> Result<(), StoreError> {
    if fills.is_empty() {
        return Ok(());
    }
    // One row per id: PostgreSQL refuses an upsert that touches a row twice, and a batch can hold
    // the same fill more than once (a re-publish after a restart, the broker and the trading
    // system both reporting it). Merge: the first strategy tag, the larger fee.
    let mut merged: Vec<(FillRecord, &str)> = Vec::with_capacity(fills.len());
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (fill, origin) in fills {
        match index.get(fill.id.as_str()) {
            Some(&i) => {
                let kept = &mut merged[i].0;
                if kept.strategy.is_none() {
                    kept.strategy.clone_from(&fill.strategy);
                }
                kept.fee = kept.fee.max(fill.fee);
            }
            None => {
                index.insert(fill.id.as_str(), merged.len());
                merged.push(((*fill).clone(), origin));
            }
        }
    }
    let fills: Vec<(&FillRecord, &str)> = merged.iter().map(|(f, o)| (f, *o)).collect();
    let side = |s: &str| if s == "buy" { "buy" } else { "sell" }.to_owned();
    // Fills are numbered (`change_seq`) in commit order: one writer at a time until commit.
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(crate::brokerage::FILL_WRITE_LOCK)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO fill (fill_id, symbol, side, quantity, price, fee, time, order_id, strategy, origin) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::numeric[], $5::numeric[], \
                              $6::numeric[], $7::timestamptz[], $8::text[], $9::text[], $10::text[]) \
         ON CONFLICT (fill_id) DO UPDATE SET \
           strategy = COALESCE(fill.strategy, excluded.strategy), \
           fee = GREATEST(fill.fee, excluded.fee), received_at = now(), \
           change_seq = nextval('fill_change_seq') \
         WHERE fill.strategy IS DISTINCT FROM COALESCE(fill.strategy, excluded.strategy) \
            OR fill.fee < excluded.fee",
    )
    .bind(fills.iter().map(|(f, _)| f.id.clone()).collect::<Vec<_>>())
    .bind(fills.iter().map(|(f, _)| f.symbol.clone()).collect::<Vec<_>>())
    .bind(fills.iter().map(|(f, _)| side(&f.side)).collect::<Vec<_>>())
    .bind(fills.iter().map(|(f, _)| f.quantity).collect::<Vec<_>>())
    .bind(fills.iter().map(|(f, _)| f.price).collect::<Vec<_>>())
    .bind(fills.iter().map(|(f, _)| f.fee).collect::<Vec<_>>())
    .bind(fills.iter().map(|(f, _)| f.time).collect::<Vec<_>>())
    .bind(fills.iter().map(|(f, _)| f.order_id.clone()).collect::<Vec<_>>())
    .bind(fills.iter().map(|(f, _)| f.strategy.clone()).collect::<Vec<_>>())
    .bind(fills.iter().map(|(_, origin)| (*origin).to_owned()).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn insert_equity(
    tx: &mut sqlx::PgConnection,
    points: &[EquityPoint],
) -> Result<(), StoreError> {
    if points.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO equity_point (time, equity, profit_loss, profit_loss_percent) \
         SELECT * FROM UNNEST($1::timestamptz[], $2::numeric[], $3::numeric[], $4::numeric[]) \
         ON CONFLICT (time) DO UPDATE SET equity = excluded.equity, profit_loss = excluded.profit_loss, \
           profit_loss_percent = excluded.profit_loss_percent, received_at = now()",
    )
    .bind(points.iter().map(|p| p.time).collect::<Vec<_>>())
    .bind(points.iter().map(|p| p.equity).collect::<Vec<_>>())
    .bind(points.iter().map(|p| p.profit_loss).collect::<Vec<_>>())
    .bind(points.iter().map(|p| p.profit_loss_percent).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

fn series_key(sample: &IncomingSample, point: &SeriesPoint) -> SeriesKey {
    let labels = serde_json::to_string(&point.labels).unwrap_or_else(|_| "{}".to_owned());
    (
        sample.source.clone(),
        sample.host.clone(),
        point.name,
        labels,
    )
}

/// The publishing process a latest sample is kept per: the `process` of a self-metrics
/// snapshot (every process on a host sends one), '' for every other source.
fn latest_process(sample: &IncomingSample) -> String {
    if sample.source == exporter_protocol::self_metrics::KIND {
        sample.body.top_level_str("process").unwrap_or_default()
    } else {
        String::new()
    }
}

/// What `latest_sample` keeps of a sample: the whole body, except for log lines and
/// notifications (their own tables hold them; a batch can be half a MiB), of which only the
/// count is kept.
fn latest_body(sample: &IncomingSample) -> String {
    match &sample.domain {
        Domain::Logs(lines) => serde_json::json!({ "lines": lines.len() }).to_string(),
        Domain::Notifications(list) => {
            serde_json::json!({ "notifications": list.len() }).to_string()
        }
        _ => sample.body.stored_text(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_kept_whole_and_long_text_is_cut_on_char_boundaries() {
        assert_eq!(cut_text("short", 400), "short");
        // Multi-byte characters everywhere: 2, 3 and 4 bytes, at every offset.
        for filler in ["é", "€", "𝄞", "a€"] {
            for pad in 0..4 {
                let text = format!("{}{}end", "x".repeat(pad), filler.repeat(300_000));
                let cut = cut_text(&text, 400);
                assert!(cut.len() <= 400, "{} bytes", cut.len());
                assert!(cut.len() > 300, "too much cut: {} bytes", cut.len());
                assert!(cut.ends_with("end"), "the end survives: {cut}");
                let removed: usize = cut
                    .split("(cut, ")
                    .nth(1)
                    .and_then(|rest| rest.split(' ').next())
                    .and_then(|n| n.parse().ok())
                    .expect("the marker says how much was cut");
                let marker = format!(" … (cut, {removed} bytes) … ");
                assert_eq!(cut.len() + removed, text.len() + marker.len());
            }
        }
    }

    #[test]
    fn a_dead_letter_caps_its_reason_and_raw_and_records_the_size() {
        let raw = vec![b'{'; 900_000];
        let reason = format!("envelope source `{}` does not match", "s\0".repeat(300_000));
        let dead = DeadLetter::new("id", "subject", &reason, &raw, None);
        assert!(dead.reason.len() <= DEAD_LETTER_TEXT_MAX_BYTES);
        assert!(!dead.reason.contains('\0'));
        assert!(dead.reason.ends_with("does not match"));
        assert_eq!(dead.raw.len(), DEAD_LETTER_RAW_MAX_BYTES);
        assert_eq!(dead.raw_size_bytes, 900_000);
        assert_eq!(dead.raw_cut_bytes(), 900_000 - DEAD_LETTER_RAW_MAX_BYTES);
        let forged = DeadLetter::new("id", "subject", "bad `a\nFORGED\tb\u{1b}`", b"{x", None);
        assert_eq!(forged.reason, "bad `a\\nFORGED\\tb\\u{1b}`");
        let small = DeadLetter::new("id", "subject", "bad", b"{x", None);
        assert_eq!(
            (small.raw.as_slice(), small.raw_cut_bytes()),
            (&b"{x"[..], 0)
        );
    }
}

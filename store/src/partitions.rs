//! Time partitions of the three tiers: `point` and `rollup_1m` by UTC day, `rollup_1h` by UTC
//! month (migration 0009). Created before a batch needs them, and dropped whole once past their
//! tier's age (dropping a partition is instant; deleting rows is not). [`Tiers`] decides both:
//! a batch writes a point into a tier only where that tier keeps its partition, so a sample
//! older than the raw tier goes straight into the roll-ups, and nothing is written that the
//! next retention pass would drop.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, Utc};
use exporter_settings::TierRetentionSettings;
use sqlx::AssertSqlSafe;

use crate::rollup::Resolution;
use crate::{Store, StoreError};

/// Days kept per tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tiers {
    pub raw_days: u32,
    pub minute_days: u32,
    pub hour_days: u32,
}

impl From<&TierRetentionSettings> for Tiers {
    fn from(settings: &TierRetentionSettings) -> Self {
        Self {
            raw_days: settings.raw_days,
            minute_days: settings.minute_days,
            hour_days: settings.hour_days,
        }
    }
}

impl Default for Tiers {
    fn default() -> Self {
        Self::from(&TierRetentionSettings::default())
    }
}

impl Tiers {
    /// Days `resolution` is kept.
    pub fn days(&self, resolution: Resolution) -> u32 {
        match resolution {
            Resolution::Raw => self.raw_days,
            Resolution::Minute => self.minute_days,
            Resolution::Hour => self.hour_days,
        }
    }

    /// The longest any tier is kept: the decoder's age limit.
    pub fn longest_days(&self) -> u32 {
        self.raw_days.max(self.minute_days).max(self.hour_days)
    }

    /// On `today`, a partition of `resolution` is kept while it ends after this day.
    fn cutoff(&self, resolution: Resolution, today: NaiveDate) -> NaiveDate {
        today
            .checked_sub_days(Days::new(u64::from(self.days(resolution))))
            .unwrap_or(NaiveDate::MIN)
    }

    /// Whether, on `today`, `resolution` keeps the partition holding `day`.
    pub fn keeps(&self, resolution: Resolution, day: NaiveDate, today: NaiveDate) -> bool {
        partition_end(resolution, day) > self.cutoff(resolution, today)
    }

    /// The oldest time `resolution` holds on `today`: the start of its oldest kept partition.
    pub fn holds_from(&self, resolution: Resolution, today: NaiveDate) -> DateTime<Utc> {
        midnight(partition_start(resolution, self.cutoff(resolution, today)))
    }
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

/// The tables a tier's partitions belong to: its open rows and its compacted chunks,
/// partitioned alike.
pub(crate) fn tables(resolution: Resolution) -> &'static [&'static str] {
    match resolution {
        Resolution::Raw => &["point", "point_chunk"],
        Resolution::Minute => &["rollup_1m", "rollup_1m_chunk"],
        Resolution::Hour => &["rollup_1h", "rollup_1h_chunk"],
    }
}

/// The first day of the partition of `resolution` holding `day`.
fn partition_start(resolution: Resolution, day: NaiveDate) -> NaiveDate {
    match resolution {
        Resolution::Raw | Resolution::Minute => day,
        Resolution::Hour => day.with_day(1).unwrap_or(day),
    }
}

/// The day after the partition of `resolution` holding `day`.
pub(crate) fn partition_end(resolution: Resolution, day: NaiveDate) -> NaiveDate {
    let start = partition_start(resolution, day);
    match resolution {
        Resolution::Raw | Resolution::Minute => start.checked_add_days(Days::new(1)),
        Resolution::Hour => start.checked_add_months(Months::new(1)),
    }
    .unwrap_or(NaiveDate::MAX)
}

/// `point_p20260105`, `point_chunk_p20260105`, `rollup_1m_p20260105`, `rollup_1h_p202601`.
pub(crate) fn partition_name(table: &str, resolution: Resolution, day: NaiveDate) -> String {
    let start = partition_start(resolution, day);
    match resolution {
        Resolution::Raw | Resolution::Minute => format!("{table}_p{}", start.format("%Y%m%d")),
        Resolution::Hour => format!("{table}_p{}", start.format("%Y%m")),
    }
}

/// The first day of a partition of `table` named by [`partition_name`]; `None` for any other.
fn parse_partition_name(table: &str, resolution: Resolution, name: &str) -> Option<NaiveDate> {
    let digits = name.strip_prefix(table)?.strip_prefix("_p")?;
    match resolution {
        Resolution::Raw | Resolution::Minute if digits.len() == 8 => {
            NaiveDate::parse_from_str(digits, "%Y%m%d").ok()
        }
        Resolution::Hour if digits.len() == 6 => {
            NaiveDate::parse_from_str(&format!("{digits}01"), "%Y%m%d").ok()
        }
        _ => None,
    }
}

/// Disk used by one tier: its partitions with their indexes and TOAST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierDisk {
    pub resolution: Resolution,
    pub used_bytes: i64,
    pub partitions: i64,
    /// The first day of its oldest partition.
    pub oldest_day: Option<NaiveDate>,
}

impl Store {
    /// Keeps only the points of the tiers `tiers` keeps (the aggregator sets this from
    /// `aggregator.retention`); without it every tier takes every point.
    pub fn with_tiers(mut self, tiers: Tiers) -> Self {
        self.tiers = Some(tiers);
        self
    }

    /// Whether a batch written now stores a point of `time` in `resolution`.
    pub(crate) fn tier_takes(&self, resolution: Resolution, time: DateTime<Utc>) -> bool {
        self.tiers
            .is_none_or(|tiers| tiers.keeps(resolution, time.date_naive(), Utc::now().date_naive()))
    }

    /// Makes sure each tier that keeps a day has the partition holding it; remembers what it
    /// created.
    pub async fn ensure_partitions(&self, days: &BTreeSet<NaiveDate>) -> Result<(), StoreError> {
        let today = Utc::now().date_naive();
        for resolution in Resolution::ALL {
            let kept: BTreeSet<NaiveDate> = days
                .iter()
                .filter(|day| {
                    self.tiers
                        .is_none_or(|tiers| tiers.keeps(resolution, **day, today))
                })
                .map(|day| partition_start(resolution, *day))
                .collect();
            self.ensure_tier_partitions(resolution, tables(resolution), &kept)
                .await?;
        }
        Ok(())
    }

    /// Makes sure `point` has a partition for each day (the chunks and roll-ups left alone: for
    /// a schema from before them).
    pub async fn ensure_raw_partitions(
        &self,
        days: &BTreeSet<NaiveDate>,
    ) -> Result<(), StoreError> {
        self.ensure_tier_partitions(Resolution::Raw, &["point"], days)
            .await
    }

    async fn ensure_tier_partitions(
        &self,
        resolution: Resolution,
        tables: &[&'static str],
        days: &BTreeSet<NaiveDate>,
    ) -> Result<(), StoreError> {
        for &day in days {
            let start = partition_start(resolution, day);
            for &table in tables {
                if self
                    .caches
                    .partitions
                    .lock()
                    .expect("partition cache")
                    .contains(&(table, start))
                {
                    continue;
                }
                let name = partition_name(table, resolution, start);
                let ddl = format!(
                    "CREATE TABLE IF NOT EXISTS {name} PARTITION OF {table} \
                     FOR VALUES FROM ('{} 00:00:00+00') TO ('{} 00:00:00+00')",
                    start.format("%Y-%m-%d"),
                    partition_end(resolution, start).format("%Y-%m-%d"),
                );
                if let Err(err) = sqlx::query(AssertSqlSafe(ddl.clone()))
                    .execute(&self.pool)
                    .await
                {
                    // Another aggregator may have created it between our check and our DDL.
                    if !self.table_exists(&name).await? {
                        return Err(err.into());
                    }
                }
                self.caches
                    .partitions
                    .lock()
                    .expect("partition cache")
                    .insert((table, start));
            }
        }
        Ok(())
    }

    pub(crate) async fn table_exists(&self, name: &str) -> Result<bool, StoreError> {
        let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
            .bind(name)
            .fetch_one(&self.pool)
            .await?;
        Ok(exists)
    }

    /// The partitions of `table` (of tier `resolution`), with their first days, oldest first.
    pub(crate) async fn table_partitions(
        &self,
        table: &str,
        resolution: Resolution,
    ) -> Result<Vec<(String, NaiveDate)>, StoreError> {
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT c.relname::text FROM pg_inherits i \
             JOIN pg_class c ON c.oid = i.inhrelid \
             JOIN pg_class p ON p.oid = i.inhparent \
             WHERE p.relname = $1 AND pg_table_is_visible(p.oid) ORDER BY 1",
        )
        .bind(table)
        .fetch_all(&self.pool)
        .await?;
        Ok(names
            .into_iter()
            .filter_map(|name| {
                parse_partition_name(table, resolution, &name).map(|day| (name, day))
            })
            .collect())
    }

    /// Drops, in every tier, the partitions `tiers` no longer keeps on `today` (those that end
    /// on or before `today` minus the tier's days); returns their names.
    pub async fn drop_expired_partitions(
        &self,
        tiers: &Tiers,
        today: NaiveDate,
    ) -> Result<Vec<String>, StoreError> {
        let mut dropped = Vec::new();
        for resolution in Resolution::ALL {
            for &table in tables(resolution) {
                for (name, start) in self.table_partitions(table, resolution).await? {
                    if tiers.keeps(resolution, start, today) {
                        continue;
                    }
                    let ddl = format!("DROP TABLE IF EXISTS {name}");
                    sqlx::query(AssertSqlSafe(ddl)).execute(&self.pool).await?;
                    self.caches
                        .partitions
                        .lock()
                        .expect("partition cache")
                        .remove(&(table, start));
                    dropped.push(name);
                }
            }
        }
        Ok(dropped)
    }

    /// Deletes the ids of messages ingested before `before`: long past the stream's own
    /// retention, they can no longer be redelivered. Returns how many went.
    pub async fn prune_ingested_ids(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(
            sqlx::query("DELETE FROM ingested_message WHERE ingested_at < $1")
                .bind(before)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }

    /// Disk used by each tier (partitions, their indexes and TOAST), finest first.
    pub async fn tier_disk_usage(&self) -> Result<Vec<TierDisk>, StoreError> {
        let mut out = Vec::new();
        for resolution in Resolution::ALL {
            let mut days = BTreeSet::new();
            let mut used_bytes = 0;
            for &table in tables(resolution) {
                days.extend(
                    self.table_partitions(table, resolution)
                        .await?
                        .into_iter()
                        .map(|(_, day)| day),
                );
                let bytes: i64 = sqlx::query_scalar(
                    "SELECT COALESCE(sum(pg_total_relation_size(c.oid)), 0)::int8 FROM pg_inherits i \
                     JOIN pg_class c ON c.oid = i.inhrelid \
                     JOIN pg_class p ON p.oid = i.inhparent \
                     WHERE p.relname = $1 AND pg_table_is_visible(p.oid)",
                )
                .bind(table)
                .fetch_one(&self.pool)
                .await?;
                used_bytes += bytes;
            }
            out.push(TierDisk {
                resolution,
                used_bytes,
                partitions: days.len() as i64,
                oldest_day: days.first().copied(),
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().expect("a date")
    }

    #[test]
    fn a_partition_is_kept_while_it_ends_after_the_cutoff() {
        let tiers = Tiers::default();
        let today = day("2026-06-15");
        // Raw, 7 days: the 8th is the oldest kept day.
        assert!(tiers.keeps(Resolution::Raw, day("2026-06-08"), today));
        assert!(!tiers.keeps(Resolution::Raw, day("2026-06-07"), today));
        assert_eq!(
            tiers.holds_from(Resolution::Raw, today),
            midnight(day("2026-06-08"))
        );
        // Hour, 730 days: the month holding 2024-06-15 ends after it, so it is kept whole.
        assert!(tiers.keeps(Resolution::Hour, day("2024-06-01"), today));
        assert!(!tiers.keeps(Resolution::Hour, day("2024-05-31"), today));
        assert_eq!(
            tiers.holds_from(Resolution::Hour, today),
            midnight(day("2024-06-01"))
        );
        assert_eq!(tiers.longest_days(), 730);
    }

    #[test]
    fn partition_names_round_trip() {
        for (table, resolution, name) in [
            ("point", Resolution::Raw, "point_p20260105"),
            ("point_chunk", Resolution::Raw, "point_chunk_p20260105"),
            ("rollup_1m", Resolution::Minute, "rollup_1m_p20260105"),
            ("rollup_1h", Resolution::Hour, "rollup_1h_p202601"),
        ] {
            assert_eq!(partition_name(table, resolution, day("2026-01-05")), name);
            assert_eq!(
                parse_partition_name(table, resolution, name),
                Some(partition_start(resolution, day("2026-01-05")))
            );
        }
        assert_eq!(
            parse_partition_name("point", Resolution::Raw, "point_old"),
            None
        );
        assert_eq!(
            parse_partition_name("point", Resolution::Raw, "point_chunk_p20260105"),
            None
        );
        assert_eq!(
            partition_end(Resolution::Hour, day("2026-12-09")),
            day("2027-01-01")
        );
    }
}

//! An account's [`Ledger`] kept in step with the store: built once from every fill and
//! activity, then advanced with only the fills stored or corrected since (by `change_seq`, so a
//! late fill, older than the newest, is applied like any other) and the activities when they
//! changed. The API's `/trades/*` and the alert engine's trading numbers read it.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use exporter_trading::{CostBasis, Ledger};

use crate::{Store, StoreError};

/// A [`Ledger`] and how far into the store it has read.
#[derive(Debug, Clone)]
pub struct LiveLedger {
    ledger: Ledger,
    /// The newest `change_seq` applied.
    fills_seen: i64,
    /// Count and newest receipt of the activities applied.
    cash_seen: (i64, Option<DateTime<Utc>>),
}

impl LiveLedger {
    /// Builds the ledger from every stored fill and activity (the one full read; the build runs
    /// off the async threads).
    pub async fn load(store: &Store, method: CostBasis, tz: Tz) -> Result<Self, StoreError> {
        let version = store.fills_version().await?;
        let changes = store.fill_changes(0).await?;
        let activities = store.cash_activities().await?;
        let fills_seen = changes.iter().map(|(seq, _)| *seq).max().unwrap_or(0);
        let records = changes.into_iter().map(|(_, record)| record).collect();
        let started = std::time::Instant::now();
        let ledger = tokio::task::spawn_blocking(move || {
            Ledger::from_records(records, &activities, method, tz)
        })
        .await
        .map_err(|err| StoreError::Ledger(err.to_string()))?;
        tracing::info!(
            fills = ledger.fill_count(),
            trades = ledger.trade_count(),
            build_ms = started.elapsed().as_millis() as u64,
            "trading ledger built from the store"
        );
        Ok(Self {
            ledger,
            fills_seen,
            cash_seen: (version.cash_count, version.cash_last_received),
        })
    }

    /// Applies what changed in the store since the last look: the fills with a newer
    /// `change_seq`, the activities when their count or newest receipt moved. Returns whether
    /// anything was applied.
    pub async fn refresh(&mut self, store: &Store) -> Result<bool, StoreError> {
        let version = store.fills_version().await?;
        if version.fill_seq < self.fills_seen {
            // The table went back (restored from a dump, emptied): build again.
            let method = self.ledger.method();
            let tz = self.ledger.timezone();
            *self = Self::load(store, method, tz).await?;
            return Ok(true);
        }
        let mut changed = false;
        if version.fill_seq > self.fills_seen {
            for (seq, record) in store.fill_changes(self.fills_seen).await? {
                self.fills_seen = self.fills_seen.max(seq);
                self.ledger.apply(record);
                changed = true;
            }
        }
        let cash = (version.cash_count, version.cash_last_received);
        if cash != self.cash_seen {
            let activities = store.cash_activities().await?;
            self.ledger.set_activities(&activities);
            self.cash_seen = cash;
            changed = true;
        }
        Ok(changed)
    }

    /// The ledger as of the last [`load`](Self::load) or [`refresh`](Self::refresh).
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }
}

//! What the runner reads besides the live subscriptions: notifications stored by the
//! aggregator, acknowledgements and silences written by the API, the sources the store has
//! seen, today's realised P&L (recomputed from the fills in a task of its own), and the market
//! calendar that rules' `active_during` is judged by.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use exporter_protocol::alert::Alert;
use exporter_runtime::Shutdown;
use exporter_store::Store;

use super::{AlertRunner, NOTIFICATION_CURSOR, NOTIFICATION_LOOKBACK, RETIRED_AFTER};
use crate::engine::Engine;

/// How often today's realised P&L is recomputed (when fills changed).
const PNL_EVERY: Duration = Duration::from_secs(60);

impl AlertRunner {
    /// Feeds notifications stored since the cursor. Row ids are handed out when a batch is
    /// written, so with several aggregators ingesting, a lower id can commit after a higher one
    /// was read: the last [`NOTIFICATION_LOOKBACK`] ids are read again and those already seen
    /// skipped. A first start ever (no saved cursor) skips notifications received longer ago
    /// than the resolve period: they would be over already.
    pub(super) async fn read_notifications(&mut self, now: DateTime<Utc>) {
        let first_start = self.notification_cursor.is_none();
        let cursor = match self.notification_cursor {
            Some(cursor) => cursor,
            None => match self.store.engine_state(NOTIFICATION_CURSOR).await {
                Ok(Some(value)) => {
                    let cursor = value.as_i64().unwrap_or(0);
                    // Everything up to the saved cursor was handled before the restart.
                    self.notifications_seen =
                        (cursor.saturating_sub(NOTIFICATION_LOOKBACK)..=cursor).collect();
                    self.notification_cursor = Some(cursor);
                    cursor
                }
                Ok(None) => 0,
                Err(_) => return,
            },
        };
        let oldest = now
            - chrono::Duration::seconds(
                self.settings.alerts.notification_resolve_after_seconds as i64,
            );
        let mut after = cursor.saturating_sub(NOTIFICATION_LOOKBACK);
        let mut highest = cursor;
        loop {
            let rows = match self.store.notifications_after(after, cursor, 1000).await {
                Ok(rows) => rows,
                Err(err) => {
                    tracing::debug!(error = %err, "notifications not read this time");
                    break;
                }
            };
            let done = rows.len() < 1000;
            for row in rows {
                after = row.notification_id;
                highest = highest.max(row.notification_id);
                if !self.notifications_seen.insert(row.notification_id) {
                    continue;
                }
                let stale = first_start && row.received_at < oldest && !row.notification.resolved;
                if !stale {
                    self.engine
                        .observe_notification(&row.notification, row.host.as_deref(), now);
                }
            }
            if done {
                break;
            }
        }
        let floor = highest.saturating_sub(NOTIFICATION_LOOKBACK);
        self.notifications_seen.retain(|id| *id > floor);
        if self.notification_cursor != Some(highest) {
            if let Err(err) = self
                .store
                .set_engine_state(NOTIFICATION_CURSOR, &serde_json::json!(highest))
                .await
            {
                tracing::warn!(error = %err, "notification cursor not saved");
            }
            self.notification_cursor = Some(highest);
        }
    }

    /// Acknowledgements written by the API since the last tick: the alerts that changed.
    pub(super) async fn read_acknowledgements(&mut self) -> Vec<Alert> {
        let Ok(stored) = self.store.open_alerts().await else {
            return Vec::new();
        };
        stored
            .into_iter()
            .filter_map(|a| {
                self.engine
                    .set_acknowledged(a.id, a.acknowledged_at, a.acknowledged_by)
            })
            .collect()
    }

    /// Recomputes which open alerts are silenced; returns those whose silence changed.
    pub(super) async fn read_silences(&mut self, now: DateTime<Utc>) -> Vec<Alert> {
        let Ok(silences) = self.store.current_silences(now).await else {
            return Vec::new();
        };
        let mut changed = Vec::new();
        let mut silenced = HashSet::new();
        for alert in self.engine.open_alerts() {
            let is = silences.iter().any(|s| s.silences(&alert.labels, now));
            if is {
                silenced.insert(alert.id);
            }
            if is != self.silenced.contains(&alert.id) {
                changed.push(alert.clone());
            }
        }
        // Keep resolved alerts' last known silence for their resolution notice.
        for id in &self.silenced {
            if !self.engine.open_alerts().any(|a| a.id == *id) {
                silenced.insert(*id);
            }
        }
        if silenced.len() > 10_000 {
            silenced.retain(|id| self.engine.open_alerts().any(|a| a.id == *id));
        }
        self.silenced = silenced;
        changed
    }
}

/// Today's realised P&L, for the series [`crate::engine::REALISED_PNL_TODAY_SERIES`]:
/// recomputed in its own task (it reads every fill) when the fills or the trading day changed,
/// so evaluation never waits for it.
pub(super) async fn follow_realised_pnl(
    store: Store,
    timezone: String,
    cost_basis: exporter_trading::CostBasis,
    sender: tokio::sync::watch::Sender<Option<f64>>,
    shutdown: Shutdown,
) {
    let Ok(tz) = timezone.parse::<chrono_tz::Tz>() else {
        return;
    };
    let mut seen: Option<(i64, Option<DateTime<Utc>>, chrono::NaiveDate)> = None;
    let mut ticker = tokio::time::interval(PNL_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = ticker.tick() => {}
        }
        let today = exporter_trading::trading_day(Utc::now(), tz);
        let Ok(version) = store.fills_version().await else {
            continue;
        };
        let stamp = (version.count, version.last_received, today);
        if version.count == 0 || seen == Some(stamp) {
            continue;
        }
        let Ok(fills) = store.fills().await else {
            continue;
        };
        let pnl = tokio::task::spawn_blocking(move || {
            let trades = exporter_trading::trades_from_records(fills, cost_basis);
            exporter_trading::realised_pnl_on(&trades, tz, today)
        })
        .await;
        if let Ok(pnl) = pnl {
            use rust_decimal::prelude::ToPrimitive;
            if let Some(value) = pnl.to_f64() {
                let _ = sender.send(Some(value));
            }
            seen = Some(stamp);
        }
    }
}

/// How often the stored market calendar is read again (it changes once a day).
const CALENDAR_EVERY: Duration = Duration::from_secs(10);

/// The stored market calendar, for `active_during`: read in its own task, sent when it changed
/// (`None` while none is stored: no broker keys, or not fetched yet).
pub(super) async fn follow_market_calendar(
    store: Store,
    sender: tokio::sync::watch::Sender<Option<exporter_trading::MarketCalendar>>,
    shutdown: Shutdown,
) {
    let mut ticker = tokio::time::interval(CALENDAR_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = ticker.tick() => {}
        }
        let calendar = match store.market_calendar().await {
            Ok(Some(message)) => match exporter_trading::MarketCalendar::from_message(&message) {
                Ok(calendar) => Some(calendar),
                Err(err) => {
                    tracing::warn!(error = %err, "the stored market calendar cannot be used; active_during rules behave as always");
                    None
                }
            },
            Ok(None) => None,
            Err(err) => {
                tracing::debug!(error = %err, "market calendar not read this time");
                continue;
            }
        };
        sender.send_if_modified(|current| {
            let changed = *current != calendar;
            if changed {
                *current = calendar;
            }
            changed
        });
    }
}

/// Makes every source with a stored sample known to absence detection (a source the live
/// subscription has not heard from yet, e.g. one that stopped before this aggregator started).
pub(super) async fn seed_sources(engine: &mut Engine, store: &Store, now: DateTime<Utc>) {
    match store.last_seen_sources().await {
        Ok(rows) => {
            for (source, host, at) in rows {
                if now - at < RETIRED_AFTER {
                    engine.seed_source(&source, &host, at);
                }
            }
        }
        Err(err) => tracing::debug!(error = %err, "latest samples not read this time"),
    }
}

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
const PNL_EVERY: Duration = Duration::from_secs(10);

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

/// Today's realised P&L, for the series [`crate::engine::REALISED_PNL_TODAY_SERIES`]: from a
/// [`exporter_store::LiveLedger`] built in this task at the first fill, then advanced with only
/// the fills and activities changed since, so a tick costs what changed, not the account's
/// history; sent when the fills or the trading day changed. Evaluation never waits for it.
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
    let mut live: Option<exporter_store::LiveLedger> = None;
    let mut seen: Option<chrono::NaiveDate> = None;
    let mut ticker = tokio::time::interval(PNL_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = ticker.tick() => {}
        }
        let today = exporter_trading::trading_day(Utc::now(), tz);
        let changed = match live.as_mut() {
            Some(ledger) => match ledger.refresh(&store).await {
                Ok(changed) => changed,
                Err(err) => {
                    tracing::warn!(error = %err, "the trading ledger could not be brought up to date");
                    continue;
                }
            },
            None => {
                match store.fills_version().await {
                    Ok(version) if version.fill_seq > 0 => {}
                    _ => continue,
                }
                match exporter_store::LiveLedger::load(&store, cost_basis, tz).await {
                    Ok(ledger) => live = Some(ledger),
                    Err(err) => {
                        tracing::warn!(error = %err, "building the trading ledger failed");
                        continue;
                    }
                }
                true
            }
        };
        if !changed && seen == Some(today) {
            continue;
        }
        let Some(ledger) = live.as_ref() else {
            continue;
        };
        // With the fees that name an order charged to its trade, as the API books them.
        let pnl = ledger.ledger().realised_pnl_on(today);
        use rust_decimal::prelude::ToPrimitive;
        if let Some(value) = pnl.to_f64() {
            let _ = sender.send(Some(value));
        }
        seen = Some(today);
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

/// How often the trading system's positions, the broker's and the last fill are read again.
const HEALTH_EVERY: Duration = Duration::from_secs(5);
/// The trading system counts as up while its last positions report is younger than this.
pub(super) const ENGINE_UP_WITHIN: chrono::Duration = chrono::Duration::seconds(120);

/// What the trading-health series are derived from, read from the store.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct TradingHealth {
    /// When the trading system's latest positions report was made.
    pub engine_reported_at: Option<DateTime<Utc>>,
    /// Symbols whose quantity differs between that report and the broker's latest snapshot.
    pub mismatched: Option<usize>,
    /// The newest fill.
    pub last_fill: Option<DateTime<Utc>>,
    /// Equity at the previous close (the broker's `last_equity`).
    pub last_equity: Option<f64>,
}

/// Symbols whose signed quantity differs between the trading system's report and the broker's
/// positions (a symbol missing on one side counts as flat there).
pub(super) fn mismatched_positions(
    engine: &serde_json::Value,
    broker: &serde_json::Value,
) -> Option<usize> {
    use rust_decimal::Decimal;
    use std::collections::BTreeMap;
    let quantities = |list: &serde_json::Value| -> Option<BTreeMap<String, Decimal>> {
        let mut map = BTreeMap::new();
        for p in list.as_array()? {
            let symbol = p["symbol"].as_str()?.to_owned();
            let quantity: Decimal = match &p["quantity"] {
                serde_json::Value::String(s) => s.parse().ok()?,
                serde_json::Value::Number(n) => n.to_string().parse().ok()?,
                _ => return None,
            };
            *map.entry(symbol).or_default() += quantity;
        }
        Some(map)
    };
    let engine = quantities(&engine["positions"])?;
    let broker = quantities(&broker["positions"])?;
    let symbols: std::collections::BTreeSet<&String> = engine.keys().chain(broker.keys()).collect();
    Some(
        symbols
            .into_iter()
            .filter(|s| {
                engine.get(*s).copied().unwrap_or_default()
                    != broker.get(*s).copied().unwrap_or_default()
            })
            .count(),
    )
}

/// Reads what [`TradingHealth`] needs every [`HEALTH_EVERY`] and sends it when it changed.
pub(super) async fn follow_trading_health(
    store: Store,
    sender: tokio::sync::watch::Sender<TradingHealth>,
    shutdown: Shutdown,
) {
    let mut ticker = tokio::time::interval(HEALTH_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = ticker.tick() => {}
        }
        let newest = |rows: Vec<exporter_store::LatestSample>| {
            rows.into_iter().max_by_key(|row| row.sample_time)
        };
        let (Ok(engine), Ok(broker), Ok(last_fill)) = (
            store
                .latest(
                    Some(exporter_protocol::brokerage::ENGINE_POSITIONS_KIND),
                    None,
                )
                .await,
            store
                .latest(Some(exporter_protocol::brokerage::PORTFOLIO_KIND), None)
                .await,
            store.last_fill_time().await,
        ) else {
            continue;
        };
        let (engine, broker) = (newest(engine), newest(broker));
        let mismatched = match (&engine, &broker) {
            (Some(engine), Some(broker)) => mismatched_positions(&engine.body, &broker.body),
            _ => None,
        };
        let last_equity = broker.as_ref().and_then(|b| {
            b.body["account"]["last_equity"]
                .as_str()
                .and_then(|s| s.parse::<f64>().ok())
        });
        let health = TradingHealth {
            engine_reported_at: engine.map(|e| e.sample_time),
            mismatched,
            last_fill,
            last_equity,
        };
        sender.send_if_modified(|current| {
            let changed = *current != health;
            if changed {
                *current = health;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_differing_or_missing_on_one_side_count_once_each() {
        let engine = serde_json::json!({"positions": [
            {"symbol": "AAPL", "quantity": "5"}, {"symbol": "TSLA", "quantity": "-2"},
            {"symbol": "NVDA", "quantity": "1"}
        ]});
        let broker = serde_json::json!({"positions": [
            {"symbol": "AAPL", "quantity": "5.0"}, {"symbol": "TSLA", "quantity": "-3"},
            {"symbol": "MSFT", "quantity": "4"}
        ]});
        // TSLA differs, NVDA is missing at the broker, MSFT in the report; 5 and 5.0 agree.
        assert_eq!(mismatched_positions(&engine, &broker), Some(3));
        assert_eq!(mismatched_positions(&engine, &engine), Some(0));
        assert_eq!(mismatched_positions(&serde_json::json!({}), &broker), None);
    }
}

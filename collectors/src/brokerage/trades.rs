//! `exporter-collector trades`: new fills since the last one published, the open orders, and
//! the non-trade activities (fees, dividends, interest, deposits, withdrawals: cash that moved
//! for another reason than a fill).
//!
//! Fills are never dropped: they are published directly to JetStream, in chunks that fit a NATS
//! message, and the cursor (`state_dir/trades-cursor.json`, the newest acked fill time) moves
//! only after JetStream acked a chunk. Each poll asks for fills since the cursor minus an overlap
//! window, because a fill can show up in the API after a later one (ids sort by fill time, not
//! by arrival); fills already published by this process are skipped, and anything re-sent (after
//! a restart) is a no-op in the store, which keys fills by their broker id.
//!
//! Non-trade activities carry a date, not a time, and Alpaca may correct one (a new status or
//! amount under the same id): each poll asks again for those dated from the newest date
//! published minus [`CASH_OVERLAP_DAYS`], and publishes (acked, like the fills) those that are
//! new or changed since this process last published them; the store keeps the newest answer
//! per id.

use std::path::{Path, PathBuf};

use exporter_alpaca::{
    ActivitiesQuery, Activity, Client, DEFAULT_ACTIVITY_TYPES, Direction, NonTradeActivity,
    TradeSide,
};
use exporter_protocol::SourceKind;
use exporter_protocol::brokerage::{
    CashActivity, CashActivityBatch, FillBatch, FillRecord, OpenOrder, OpenOrders,
};
use serde::{Deserialize, Serialize};

use crate::{CollectorContext, CollectorError};

/// Fills published per message: well under NATS's 1 MiB default payload (~250 bytes a fill).
const FILLS_PER_MESSAGE: usize = 500;
/// How far back each poll looks again for fills that appeared late.
const OVERLAP: chrono::Duration = chrono::Duration::minutes(15);
/// How many days before the newest published date each poll asks again for non-trade
/// activities (they are booked, and corrected, after the day they apply to).
pub const CASH_OVERLAP_DAYS: i64 = 7;
/// Non-trade activities published per message.
const CASH_PER_MESSAGE: usize = 500;

/// Where the collector stands in the broker's activity list.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    /// Fill time of the newest fill JetStream acknowledged.
    #[serde(default)]
    pub last_fill_time: Option<chrono::DateTime<chrono::Utc>>,
    /// Date of the newest non-trade activity JetStream acknowledged.
    #[serde(default)]
    pub last_cash_date: Option<chrono::NaiveDate>,
}

impl Cursor {
    fn path(state_dir: &Path) -> PathBuf {
        state_dir.join("trades-cursor.json")
    }

    /// The saved cursor (none on first start).
    pub fn load(state_dir: &Path) -> Self {
        std::fs::read(Self::path(state_dir))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    /// Saves atomically (write, then rename).
    pub fn save(&self, state_dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(state_dir)?;
        let tmp = Self::path(state_dir).with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec(self).unwrap_or_default())?;
        std::fs::rename(tmp, Self::path(state_dir))
    }
}

/// Polls until shutdown.
pub async fn run(ctx: &CollectorContext) -> Result<(), CollectorError> {
    let settings = &ctx.settings;
    let client = super::client(ctx)?;
    let mut cursor = Cursor::load(&settings.state_dir);
    let mut published: std::collections::HashMap<String, chrono::DateTime<chrono::Utc>> =
        std::collections::HashMap::new();
    let mut published_cash: std::collections::HashMap<String, CashActivity> =
        std::collections::HashMap::new();
    let mut ticker = crate::every(settings.alpaca.trades_interval_seconds);
    tracing::info!(last_fill_time = ?cursor.last_fill_time, "trades collector started");
    loop {
        tokio::select! {
            _ = ctx.shutdown.wait() => return Ok(()),
            _ = ticker.tick() => {}
        }
        let _cycle = ctx.cycle();
        let since = cursor.last_fill_time.map(|t| t - OVERLAP);
        // Forget what is older than the window: it will not be fetched again.
        published.retain(|_, time| since.is_none_or(|s| *time >= s));
        match fetch_fills(&client, since).await {
            Ok(fills) => {
                let fresh: Vec<FillRecord> = fills
                    .into_iter()
                    .filter(|f| !published.contains_key(&f.id))
                    .collect();
                for chunk in fresh.chunks(FILLS_PER_MESSAGE) {
                    let envelope = ctx.envelope(
                        SourceKind::Fills,
                        FillBatch {
                            fills: chunk.to_vec(),
                        },
                    );
                    if let Err(err) = ctx.publish_acked(SourceKind::Fills, &envelope).await {
                        tracing::warn!(error = %err, "publishing fills failed; the cursor stays, they are fetched and sent again next interval");
                        break;
                    }
                    for fill in chunk {
                        published.insert(fill.id.clone(), fill.time);
                        cursor.last_fill_time = cursor.last_fill_time.max(Some(fill.time));
                    }
                    if let Err(err) = cursor.save(&settings.state_dir) {
                        tracing::error!(error = %err, "cannot save the trades cursor; fills may be re-published (harmless) after a restart");
                    }
                    tracing::info!(fills = chunk.len(), last_fill_time = ?cursor.last_fill_time, "new fills published");
                }
            }
            Err(err) => super::on_error(ctx, "fills", "reading account activities", err)?,
        }
        publish_cash(ctx, &client, &mut cursor, &mut published_cash).await?;
        match client.open_orders().await {
            Ok(orders) => {
                let now = chrono::Utc::now();
                let recent = match client
                    .closed_orders_since(now - chrono::Duration::days(1))
                    .await
                {
                    Ok(closed) => Some(recent_ends(&closed, now)),
                    Err(err) => {
                        super::on_error(ctx, "orders", "reading closed orders", err)?;
                        None
                    }
                };
                let body = OpenOrders {
                    orders: orders.iter().map(open_order).collect(),
                    recent_rejected: recent.map(|(rejected, _)| rejected),
                    recent_canceled: recent.map(|(_, canceled)| canceled),
                    recent_window_seconds: recent
                        .map(|_| RECENT_ORDERS_WINDOW.num_seconds() as u64),
                };
                ctx.publish(SourceKind::Orders, body);
            }
            Err(err) => super::on_error(ctx, "orders", "reading open orders", err)?,
        }
    }
}

/// Fills since `since` (all when none), oldest first; invalid ones are logged and left out.
async fn fetch_fills(
    client: &Client,
    since: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<Vec<FillRecord>, exporter_alpaca::AlpacaError> {
    let query = ActivitiesQuery {
        activity_types: vec!["FILL".to_owned()],
        direction: Direction::Asc,
        after: since,
        ..ActivitiesQuery::default()
    };
    let activities = client.all_activities_since(&query).await?;
    let mut fills: Vec<FillRecord> = activities
        .iter()
        .filter_map(Activity::as_trade)
        .filter_map(|t| {
            let side = match t.side {
                TradeSide::Buy => "buy",
                TradeSide::Sell | TradeSide::SellShort => "sell",
                _ => return None,
            };
            Some(FillRecord {
                id: t.id.clone(),
                symbol: t.symbol.clone(),
                side: side.to_owned(),
                quantity: t.qty,
                price: t.price,
                // Alpaca reports fees as separate FEE activities, not per fill.
                fee: rust_decimal::Decimal::ZERO,
                time: t.transaction_time,
                order_id: Some(t.order_id.clone()),
                strategy: None,
            })
        })
        // The server filters by `after` too; this keeps the window exact whatever it does.
        .filter(|fill| since.is_none_or(|s| fill.time >= s))
        .filter(|fill| match fill.validate() {
            Ok(()) => true,
            Err(reason) => {
                tracing::error!(%reason, "the broker sent a fill that cannot be stored; left out");
                false
            }
        })
        .collect();
    fills.sort_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
    Ok(fills)
}

/// Fetches the non-trade activities from the cursor's date (minus the overlap) and publishes,
/// acked, those new or changed; the cursor's date moves only past what JetStream acked.
async fn publish_cash(
    ctx: &CollectorContext,
    client: &Client,
    cursor: &mut Cursor,
    published: &mut std::collections::HashMap<String, CashActivity>,
) -> Result<(), CollectorError> {
    let since_date = cursor
        .last_cash_date
        .map(|d| d - chrono::Duration::days(CASH_OVERLAP_DAYS));
    // What is older than the window will not be fetched again.
    published.retain(|_, a| since_date.is_none_or(|s| a.date >= s));
    let query = ActivitiesQuery {
        activity_types: DEFAULT_ACTIVITY_TYPES
            .iter()
            .filter(|t| !exporter_alpaca::activity::is_trade_activity_type(t))
            .map(|&t| t.to_owned())
            .collect(),
        direction: Direction::Asc,
        after: since_date
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc()),
        ..ActivitiesQuery::default()
    };
    let activities = match client.all_activities_since(&query).await {
        Ok(activities) => activities,
        Err(err) => {
            return super::on_error(ctx, "cash_activities", "reading non-trade activities", err);
        }
    };
    let mut fresh: Vec<CashActivity> = activities
        .iter()
        .filter_map(Activity::as_non_trade)
        .map(cash_activity)
        .filter(|a| since_date.is_none_or(|s| a.date >= s))
        .filter(|a| match a.validate() {
            Ok(()) => true,
            Err(reason) => {
                tracing::error!(%reason, "the broker sent an activity that cannot be stored; left out");
                false
            }
        })
        .filter(|a| published.get(&a.id) != Some(a))
        .collect();
    fresh.sort_by(|a, b| (a.date, &a.id).cmp(&(b.date, &b.id)));
    for chunk in fresh.chunks(CASH_PER_MESSAGE) {
        let envelope = ctx.envelope(
            SourceKind::CashActivities,
            CashActivityBatch {
                activities: chunk.to_vec(),
            },
        );
        if let Err(err) = ctx
            .publish_acked(SourceKind::CashActivities, &envelope)
            .await
        {
            tracing::warn!(error = %err, "publishing cash activities failed; they are fetched and sent again next interval");
            break;
        }
        for activity in chunk {
            published.insert(activity.id.clone(), activity.clone());
            cursor.last_cash_date = cursor.last_cash_date.max(Some(activity.date));
        }
        if let Err(err) = cursor.save(&ctx.settings.state_dir) {
            tracing::error!(error = %err, "cannot save the trades cursor; activities may be re-published (harmless) after a restart");
        }
        tracing::info!(activities = chunk.len(), last_cash_date = ?cursor.last_cash_date, "cash activities published");
    }
    Ok(())
}

/// A non-trade activity as the exporter stores it.
pub fn cash_activity(a: &NonTradeActivity) -> CashActivity {
    let text = |s: &Option<String>| {
        s.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    CashActivity {
        id: a.id.clone(),
        activity_type: a.activity_type.clone(),
        activity_sub_type: text(&a.activity_sub_type),
        date: a.date,
        net_amount: a.net_amount,
        symbol: text(&a.symbol),
        order_id: a.named_order_id(),
        description: text(&a.description),
        status: text(&a.status),
    }
}

/// How far back rejected and canceled orders are counted (`trades.orders_rejected_recent`).
pub const RECENT_ORDERS_WINDOW: chrono::Duration = chrono::Duration::minutes(15);

/// Orders that ended rejected, and canceled or expired, within [`RECENT_ORDERS_WINDOW`] of
/// `now` (by the time they ended, else their last update).
pub fn recent_ends(
    closed: &[exporter_alpaca::Order],
    now: chrono::DateTime<chrono::Utc>,
) -> (u32, u32) {
    let since = now - RECENT_ORDERS_WINDOW;
    let mut rejected = 0;
    let mut canceled = 0;
    for order in closed {
        let ended = order
            .failed_at
            .or(order.canceled_at)
            .or(order.expired_at)
            .or(order.updated_at)
            .unwrap_or(order.created_at);
        if ended < since {
            continue;
        }
        match order.status.as_str() {
            "rejected" => rejected += 1,
            "canceled" | "expired" => canceled += 1,
            _ => {}
        }
    }
    (rejected, canceled)
}

fn open_order(o: &exporter_alpaca::Order) -> OpenOrder {
    OpenOrder {
        id: o.id.clone(),
        symbol: o.symbol.clone(),
        side: o.side.clone(),
        order_type: o.order_type.clone(),
        quantity: o.qty,
        notional: o.notional,
        filled_quantity: o.filled_qty,
        limit_price: o.limit_price,
        stop_price: o.stop_price,
        time_in_force: o.time_in_force.clone(),
        status: o.status.clone(),
        created_at: o.created_at,
    }
}

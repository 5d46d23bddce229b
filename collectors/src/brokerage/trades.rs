//! `exporter-collector trades`: new fills since the last one published, and the open orders.
//!
//! Fills are never dropped: they are published directly to JetStream, in chunks that fit a NATS
//! message, and the cursor (`state_dir/trades-cursor.json`, the newest acked fill time) moves
//! only after JetStream acked a chunk. Each poll asks for fills since the cursor minus an overlap
//! window, because a fill can show up in the API after a later one (ids sort by fill time, not
//! by arrival); fills already published by this process are skipped, and anything re-sent (after
//! a restart) is a no-op in the store, which keys fills by their broker id.

use std::path::{Path, PathBuf};

use exporter_alpaca::{ActivitiesQuery, Activity, Client, Direction, TradeSide};
use exporter_protocol::SourceKind;
use exporter_protocol::brokerage::{FillBatch, FillRecord, OpenOrder, OpenOrders};
use serde::{Deserialize, Serialize};

use crate::{CollectorContext, CollectorError};

/// Fills published per message: well under NATS's 1 MiB default payload (~250 bytes a fill).
const FILLS_PER_MESSAGE: usize = 500;
/// How far back each poll looks again for fills that appeared late.
const OVERLAP: chrono::Duration = chrono::Duration::minutes(15);

/// Where the collector stands in the broker's activity list.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    /// Fill time of the newest fill JetStream acknowledged.
    #[serde(default)]
    pub last_fill_time: Option<chrono::DateTime<chrono::Utc>>,
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
        match client.open_orders().await {
            Ok(orders) => {
                let body = OpenOrders {
                    orders: orders.iter().map(open_order).collect(),
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

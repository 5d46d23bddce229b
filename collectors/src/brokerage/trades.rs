//! `exporter-collector trades`: new fills since the last one published, and the open orders.
//!
//! Fills are never dropped and never repeated across restarts: they are published directly to
//! JetStream and the cursor (`state_dir/trades-cursor.json`, the last fill id) is written only
//! after JetStream acked them. A crash between the ack and the write re-publishes those fills on
//! restart; the store keys fills by their broker id, so that is a no-op.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_nats::jetstream::{self, message::PublishMessage};
use exporter_alpaca::{ActivitiesQuery, Activity, Client, Direction, TradeSide};
use exporter_protocol::brokerage::{
    FILLS_KIND, FillBatch, FillRecord, ORDERS_KIND, OpenOrder, OpenOrders,
};
use exporter_protocol::{Envelope, Subjects};
use exporter_runtime::Shutdown;
use exporter_settings::Settings;
use serde::{Deserialize, Serialize};

use crate::CollectorError;
use crate::publisher::PublishHandle;

/// Collector kind name.
pub const KIND: &str = "trades";

/// Where the collector stands in the broker's activity list.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    /// Id of the newest fill JetStream acknowledged (Alpaca ids sort by time).
    pub last_fill_id: Option<String>,
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

/// Polls until `shutdown`.
pub async fn run(
    settings: &Settings,
    subjects: &Subjects,
    js: &jetstream::Context,
    publisher: &PublishHandle,
    shutdown: &Shutdown,
) -> Result<(), CollectorError> {
    let client = super::client(settings, KIND)?;
    let host = settings.host_name().to_owned();
    let mut cursor = Cursor::load(&settings.state_dir);
    let mut ticker =
        tokio::time::interval(Duration::from_secs(settings.alpaca.trades_interval_seconds));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let (mut seq, mut orders_seq) = (0u64, 0u64);
    tracing::info!(last_fill_id = ?cursor.last_fill_id, "trades collector started");
    loop {
        tokio::select! {
            _ = shutdown.wait() => return Ok(()),
            _ = ticker.tick() => {}
        }
        match new_fills(&client, &cursor).await {
            Ok(fills) if !fills.is_empty() => {
                let last = fills.last().map(|f| f.id.clone());
                seq += 1;
                let envelope = Envelope::new(&host, FILLS_KIND, seq, FillBatch { fills });
                match publish_acked(js, subjects.sample(FILLS_KIND, &host), &envelope).await {
                    Ok(()) => {
                        cursor.last_fill_id = last;
                        if let Err(err) = cursor.save(&settings.state_dir) {
                            tracing::error!(error = %err, "cannot save the trades cursor; fills may be re-published (harmless) after a restart");
                        }
                        tracing::info!(fills = envelope.body.fills.len(), last_fill_id = ?cursor.last_fill_id, "new fills published");
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "publishing fills failed; the cursor stays, they are fetched and sent again next interval")
                    }
                }
            }
            Ok(_) => {}
            Err(err) => super::on_error(KIND, "reading account activities", err)?,
        }
        match client.open_orders().await {
            Ok(orders) => {
                orders_seq += 1;
                let body = OpenOrders {
                    orders: orders.iter().map(open_order).collect(),
                };
                publisher.publish(
                    subjects.sample(ORDERS_KIND, &host),
                    &Envelope::new(&host, ORDERS_KIND, orders_seq, body),
                );
            }
            Err(err) => super::on_error(KIND, "reading open orders", err)?,
        }
    }
}

/// Fills after the cursor, oldest first.
async fn new_fills(
    client: &Client,
    cursor: &Cursor,
) -> Result<Vec<FillRecord>, exporter_alpaca::AlpacaError> {
    let query = ActivitiesQuery {
        activity_types: vec!["FILL".to_owned()],
        direction: Direction::Asc,
        page_token: cursor.last_fill_id.clone(),
        ..ActivitiesQuery::default()
    };
    let activities = client.all_activities_since(&query).await?;
    let mut fills: Vec<FillRecord> = activities
        .iter()
        .filter_map(Activity::as_trade)
        .filter(|t| cursor.last_fill_id.as_ref().is_none_or(|last| &t.id > last))
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
        .collect();
    fills.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(fills)
}

/// Publishes one envelope and waits for JetStream's ack.
async fn publish_acked<T: Serialize>(
    js: &jetstream::Context,
    subject: String,
    envelope: &Envelope<T>,
) -> Result<(), String> {
    let payload = serde_json::to_vec(envelope).map_err(|err| err.to_string())?;
    let publish = PublishMessage::build()
        .payload(payload.into())
        .message_id(envelope.id.to_string());
    js.send_publish(subject, publish)
        .await
        .map_err(|err| err.to_string())?
        .await
        .map(|_| ())
        .map_err(|err| err.to_string())
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

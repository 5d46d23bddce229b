//! `exporter-collector portfolio`: the account and its positions, and the daily equity history.

use exporter_alpaca::{Account, Client, Position, PositionSide};
use exporter_protocol::SourceKind;
use exporter_protocol::brokerage::{
    AccountSnapshot, EquityHistory, EquityPoint, PortfolioSnapshot, PositionSnapshot,
};
use rust_decimal::Decimal;

use crate::{CollectorContext, CollectorError};

/// Polls until shutdown.
pub async fn run(ctx: &CollectorContext) -> Result<(), CollectorError> {
    let settings = &ctx.settings;
    let client = super::client(ctx)?;
    let mut snapshot_tick = crate::every(settings.alpaca.portfolio_interval_seconds);
    let mut history_tick = crate::every(settings.alpaca.history_interval_seconds);
    tracing::info!(base_url = %settings.alpaca.base_url, "portfolio collector started");
    loop {
        tokio::select! {
            _ = ctx.shutdown.wait() => return Ok(()),
            _ = snapshot_tick.tick() => {
                // One cycle: the account and its positions (the history has its own schedule).
                let _cycle = ctx.cycle();
                match snapshot(&client).await {
                    Ok(snapshot) => ctx.publish(SourceKind::Portfolio, snapshot),
                    Err(err) => super::on_error(ctx, "account", "reading the account and positions", err)?,
                }
            }
            _ = history_tick.tick() => match client
                .portfolio_history(&settings.alpaca.history_period, &settings.alpaca.history_timeframe)
                .await
            {
                Ok(history) => {
                    let body = EquityHistory {
                        timeframe: history.timeframe.clone(),
                        points: history.points.iter().map(|p| EquityPoint {
                            time: p.time,
                            equity: p.equity,
                            profit_loss: p.profit_loss,
                            // Alpaca sends a ratio; the field is a percentage.
                            profit_loss_percent: p.profit_loss_pct.map(|r| r * Decimal::ONE_HUNDRED),
                        }).collect(),
                    };
                    ctx.publish(SourceKind::EquityHistory, body);
                }
                Err(err) => super::on_error(ctx, "equity_history", "reading the portfolio history", err)?,
            },
        }
    }
}

async fn snapshot(client: &Client) -> Result<PortfolioSnapshot, exporter_alpaca::AlpacaError> {
    let account = client.account().await?;
    let positions = client.positions().await?;
    Ok(PortfolioSnapshot {
        account: account_snapshot(&account),
        positions: positions.iter().map(position_snapshot).collect(),
    })
}

/// The account fields the API shows.
pub fn account_snapshot(a: &Account) -> AccountSnapshot {
    AccountSnapshot {
        currency: a.currency.clone(),
        status: a.status.clone(),
        cash: a.cash,
        equity: a.equity,
        last_equity: a.last_equity,
        buying_power: a.buying_power,
        portfolio_value: a.portfolio_value,
        long_market_value: a.long_market_value,
        short_market_value: a.short_market_value,
        initial_margin: a.initial_margin,
        maintenance_margin: a.maintenance_margin,
        daytrade_count: a.daytrade_count,
        pattern_day_trader: a.pattern_day_trader,
    }
}

/// A position as the API shows it; Alpaca's P&L ratios become percentages.
pub fn position_snapshot(p: &Position) -> PositionSnapshot {
    let percent = |ratio: Option<Decimal>| ratio.map(|r| r * Decimal::ONE_HUNDRED);
    PositionSnapshot {
        symbol: p.symbol.clone(),
        quantity: p.qty,
        side: match p.side {
            PositionSide::Long => "long",
            PositionSide::Short => "short",
            _ => "unknown",
        }
        .to_owned(),
        average_entry_price: p.avg_entry_price,
        current_price: p.current_price,
        market_value: p.market_value,
        cost_basis: p.cost_basis,
        unrealized_pnl: p.unrealized_pl,
        unrealized_pnl_percent: percent(p.unrealized_plpc),
        intraday_pnl: p.unrealized_intraday_pl,
        intraday_pnl_percent: percent(p.unrealized_intraday_plpc),
    }
}

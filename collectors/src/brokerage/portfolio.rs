//! `exporter-collector portfolio`: the account and its positions, the daily equity history,
//! and the market calendar (Alpaca's `/v2/calendar` over [`CALENDAR_PAST_DAYS`] back and
//! [`CALENDAR_FUTURE_DAYS`] ahead, checked against `/v2/clock`), at start and then daily.

use exporter_alpaca::{Account, Client, Position, PositionSide};
use exporter_protocol::SourceKind;
use exporter_protocol::brokerage::{
    AccountSnapshot, EquityHistory, EquityPoint, PortfolioSnapshot, PositionSnapshot,
};
use exporter_protocol::calendar::{MarketCalendar, MarketSession};
use rust_decimal::Decimal;

use crate::{CollectorContext, CollectorError};

/// Days of calendar asked for before today (labels a year of fills and P&L days).
pub const CALENDAR_PAST_DAYS: i64 = 400;
/// Days of calendar asked for after today.
pub const CALENDAR_FUTURE_DAYS: i64 = 60;
/// How often the calendar is fetched again.
pub const CALENDAR_REFRESH_SECONDS: u64 = 24 * 3600;
/// The exchange time zone of Alpaca's calendar hours.
const CALENDAR_TIMEZONE: chrono_tz::Tz = chrono_tz::America::New_York;

/// Polls until shutdown.
pub async fn run(ctx: &CollectorContext) -> Result<(), CollectorError> {
    let settings = &ctx.settings;
    let client = super::client(ctx)?;
    let mut snapshot_tick = crate::every(settings.alpaca.portfolio_interval_seconds);
    let mut history_tick = crate::every(settings.alpaca.history_interval_seconds);
    let mut calendar_tick = crate::every(CALENDAR_REFRESH_SECONDS);
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
            _ = calendar_tick.tick() => match calendar(&client).await {
                Ok(calendar) => {
                    tracing::info!(first_date = %calendar.first_date, last_date = %calendar.last_date, days = calendar.days.len(), "market calendar fetched");
                    ctx.publish(SourceKind::MarketCalendar, calendar);
                }
                Err(err) => super::on_error(ctx, "market_calendar", "reading the market calendar", err)?,
            },
        }
    }
}

/// The calendar around today (New York date), checked against the clock: a clock that says
/// open when the calendar says closed is logged (the calendar is still published: the clock
/// is one instant, the calendar a range).
async fn calendar(client: &Client) -> Result<MarketCalendar, exporter_alpaca::AlpacaError> {
    let today = chrono::Utc::now()
        .with_timezone(&CALENDAR_TIMEZONE)
        .date_naive();
    let first_date = today - chrono::Duration::days(CALENDAR_PAST_DAYS);
    let last_date = today + chrono::Duration::days(CALENDAR_FUTURE_DAYS);
    let days = client.calendar(first_date, last_date).await?;
    let calendar = MarketCalendar {
        timezone: CALENDAR_TIMEZONE.name().to_owned(),
        first_date,
        last_date,
        days: days
            .into_iter()
            .filter(|d| d.open < d.close && d.date >= first_date && d.date <= last_date)
            .map(|d| MarketSession {
                date: d.date,
                open: d.open,
                close: d.close,
                session_open: d.session_open,
                session_close: d.session_close,
            })
            .collect(),
    };
    match client.clock().await {
        Ok(clock) => {
            let now = clock.timestamp.naive_local();
            let listed = calendar
                .days
                .iter()
                .find(|d| d.date == now.date())
                .is_some_and(|d| now.time() >= d.open && now.time() < d.close);
            if listed != clock.is_open {
                tracing::warn!(
                    clock_is_open = clock.is_open,
                    calendar_is_open = listed,
                    "Alpaca's clock and calendar disagree about the market now"
                );
            }
        }
        Err(err) => {
            tracing::warn!(error = %err, "reading the market clock failed; the calendar alone is used")
        }
    }
    Ok(calendar)
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

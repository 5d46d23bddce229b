//! `/trades/statistics`, `/trades/daily-pnl`, `/trades/pnl-calendar` and `/trades/cash-flows`:
//! the figures over time, from the account's [`super::ledger`].

use super::*;

/// Query of `GET /trades/statistics`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatisticsParams {
    /// Trades closed on or after this day (trading time zone).
    #[serde(default, deserialize_with = "de::date")]
    pub start_date: Option<NaiveDate>,
    /// Trades closed on or before this day.
    #[serde(default, deserialize_with = "de::date")]
    pub end_date: Option<NaiveDate>,
    /// Only this symbol (the equity-based figures are then null).
    #[serde(default, deserialize_with = "de::text")]
    #[param(min_length = 1, max_length = 256, pattern = "^[^\\u0000]+$")]
    pub symbol: Option<String>,
}

#[utoipa::path(
    get, path = "/trades/statistics", operation_id = "trade_statistics", tag = "trading",
    params(StatisticsParams),
    responses(
        (status = 200, description = "Every statistic of docs/trading.md, over the closed trades in range", body = crate::schema::Statistics),
        (status = 400, description = "A parameter is invalid; `parameter` names it", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong API key", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn stats(
    State(state): State<AppState>,
    AppQuery(params): AppQuery<StatisticsParams>,
) -> Result<Json<Statistics>, ApiError> {
    let (start, end) = (params.start_date, params.end_date);
    let symbol = params.symbol;
    let unfiltered = symbol.is_none() && start.is_none() && end.is_none();
    // The equity history is the whole account's: with a symbol filter the equity-based figures
    // (Sharpe, Sortino, equity drawdown) would describe something else, so they stay null.
    let account_equity = if symbol.is_some() {
        Vec::new()
    } else {
        equity(&state).await?
    };
    let equity: Vec<_> = account_equity
        .into_iter()
        .filter(|p| {
            (start.is_none() && end.is_none())
                || within(Some(trading_day(p.time, state.timezone)), start, end)
        })
        .collect();
    let live = ledger(&state).await?;
    if unfiltered {
        // From the ledger's block sums: no pass over the trades.
        return Ok(Json(live.ledger().statistics(&equity)));
    }
    let selected: Vec<Trade> = live
        .ledger()
        .trades()
        .into_iter()
        .filter(|t| symbol.as_ref().is_none_or(|s| &t.symbol == s))
        .filter(|t| match t.status {
            TradeStatus::Open => true,
            TradeStatus::Closed => {
                within(closed_day(&state, t), start, end) || (start.is_none() && end.is_none())
            }
        })
        .cloned()
        .collect();
    drop(live);
    let result = tokio::task::spawn_blocking(move || statistics(&selected, &equity))
        .await
        .map_err(|err| ApiError::Internal(format!("statistics failed: {err}")))?;
    Ok(Json(result))
}

/// Query of `GET /trades/daily-pnl`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DailyParams {
    /// First day (trading time zone).
    #[serde(default, deserialize_with = "de::date")]
    pub start_date: Option<NaiveDate>,
    /// Last day.
    #[serde(default, deserialize_with = "de::date")]
    pub end_date: Option<NaiveDate>,
    /// `json` (default) or `csv`; `Accept: text/csv` also asks for CSV.
    #[serde(default)]
    #[param(inline)]
    pub format: Option<FormatParam>,
}

/// One day of `GET /trades/daily-pnl`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DailyRow<'a> {
    #[serde(flatten)]
    #[schema(value_type = crate::schema::DailyPnl)]
    pub day: &'a DailyPnl,
    /// That day's last equity minus the previous day's; null without equity on both.
    pub equity_change: Option<Decimal>,
    /// The day's P&L by the equity: `equity_change − net_deposits` (what moved the equity other
    /// than deposits and withdrawals); null with `equity_change`.
    pub equity_pnl: Option<Decimal>,
    /// What the day was on the exchange; null while the market calendar is unknown.
    #[schema(value_type = Option<crate::schema::MarketDayKind>)]
    pub market_day: Option<MarketDayKind>,
}

/// `GET /trades/daily-pnl` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct DailyPnlPage<'a> {
    /// The trading time zone (IANA name) the days are in.
    pub timezone: &'static str,
    pub days: Vec<DailyRow<'a>>,
}

#[utoipa::path(
    get, path = "/trades/daily-pnl", operation_id = "daily_pnl", tag = "trading",
    params(DailyParams),
    responses(
        (status = 200, description = "One row per day with realised P&L, fees, trades closed, wins, losses, account fees, income, net deposits, net P&L, the equity change, the equity P&L (equity change − net deposits) and the market day; or a CSV attachment, one day a row", content(
            (DailyPnlPage = "application/json"),
            (String = "text/csv"),
        )),
        (status = 400, description = "A parameter is invalid; `parameter` names it", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong API key", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn daily(
    State(state): State<AppState>,
    headers: HeaderMap,
    AppQuery(params): AppQuery<DailyParams>,
) -> Result<Response, ApiError> {
    let format = Format::of(params.format, &headers);
    let (start, end) = (params.start_date, params.end_date);
    let points = equity(&state).await?;
    let market = market_calendar(&state).await;
    let rows = ledger(&state).await?.ledger().daily_pnl(start, end);
    // Equity change per day: that day's last equity minus the previous day's.
    let mut by_day = std::collections::BTreeMap::new();
    for point in points {
        by_day.insert(trading_day(point.time, state.timezone), point.equity);
    }
    let change = |row: &DailyPnl| {
        by_day.get(&row.date).and_then(|today| {
            by_day
                .range(..row.date)
                .next_back()
                .map(|(_, previous)| cents(today - previous))
        })
    };
    let mark = |row: &DailyPnl| market.as_ref().and_then(|m| m.day_kind(row.date));
    let equity_pnl = |row: &DailyPnl| change(row).map(|c| c - row.net_deposits);
    if format == Format::Csv {
        let columns = [
            "date",
            "realised_pnl",
            "fees",
            "trades_closed",
            "wins",
            "losses",
            "account_fees",
            "income",
            "net_deposits",
            "net_pnl",
            "equity_change",
            "equity_pnl",
            "market_day",
        ];
        let lines = rows.iter().map(|row| {
            vec![
                row.date.to_string(),
                row.realised_pnl.to_string(),
                row.fees.to_string(),
                row.trades_closed.to_string(),
                row.wins.to_string(),
                row.losses.to_string(),
                row.account_fees.to_string(),
                row.income.to_string(),
                row.net_deposits.to_string(),
                row.net_pnl.to_string(),
                csv::optional(change(row)),
                csv::optional(equity_pnl(row)),
                mark(row).map(snake_name).unwrap_or_default(),
            ]
        });
        return Ok(csv::attachment(
            "daily-pnl.csv",
            csv::table(&columns, lines),
        ));
    }
    let days = rows
        .iter()
        .map(|day| DailyRow {
            day,
            equity_change: change(day),
            equity_pnl: equity_pnl(day),
            market_day: mark(day),
        })
        .collect();
    Ok(Json(DailyPnlPage {
        timezone: state.timezone.name(),
        days,
    })
    .into_response())
}

/// Query of `GET /trades/pnl-calendar`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CalendarParams {
    /// Default: the current year.
    #[serde(default, deserialize_with = "de::ranged::<1970, 9999, _>")]
    #[param(minimum = 1970, maximum = 9999)]
    pub year: Option<i64>,
    /// 1 to 12; without it, the year's 12 months.
    #[serde(default, deserialize_with = "de::ranged::<1, 12, _>")]
    #[param(minimum = 1, maximum = 12)]
    pub month: Option<i64>,
}

/// A date of the month grid, with what it was on the exchange.
#[derive(Debug, Serialize, ToSchema)]
pub struct CalendarCell {
    #[serde(flatten)]
    #[schema(value_type = crate::schema::CalendarDay)]
    pub day: CalendarDay,
    /// Null while the market calendar is unknown.
    #[schema(value_type = Option<crate::schema::MarketDayKind>)]
    pub market_day: Option<MarketDayKind>,
}

/// A month laid out as Monday-first weeks, its cells marked by the market calendar.
#[derive(Debug, Serialize, ToSchema)]
pub struct MonthGrid {
    pub year: i32,
    /// 1 = January.
    #[schema(minimum = 1, maximum = 12)]
    pub month: u32,
    /// Rows of seven cells, Monday first; cells outside the month are null.
    pub weeks: Vec<Vec<Option<CalendarCell>>>,
    /// Sum of each row's P&L, one per entry of `weeks`.
    pub week_totals: Vec<Decimal>,
    pub month_total: Decimal,
    /// Null when the month has no trading day.
    #[schema(value_type = Option<crate::schema::CalendarDay>)]
    pub best_day: Option<CalendarDay>,
    /// Null when the month has no trading day.
    #[schema(value_type = Option<crate::schema::CalendarDay>)]
    pub worst_day: Option<CalendarDay>,
    /// Dates in the month with trading.
    pub trading_days: u32,
    /// The month's exchange holidays (weekdays without a session); empty while the market
    /// calendar is unknown.
    pub holidays: Vec<NaiveDate>,
    /// The month's sessions closing early; empty while the market calendar is unknown.
    pub early_closes: Vec<NaiveDate>,
}

impl MonthGrid {
    fn new(
        calendar: MonthCalendar,
        market: Option<&MarketCalendar>,
        (holidays, early_closes): (Vec<NaiveDate>, Vec<NaiveDate>),
    ) -> Self {
        let weeks = calendar
            .weeks
            .into_iter()
            .map(|week| {
                week.into_iter()
                    .map(|cell| {
                        cell.map(|day| CalendarCell {
                            market_day: market.and_then(|m| m.day_kind(day.date)),
                            day,
                        })
                    })
                    .collect()
            })
            .collect();
        Self {
            year: calendar.year,
            month: calendar.month,
            weeks,
            week_totals: calendar.week_totals,
            month_total: calendar.month_total,
            best_day: calendar.best_day,
            worst_day: calendar.worst_day,
            trading_days: calendar.trading_days,
            holidays,
            early_closes,
        }
    }
}

/// One month of a year's summary, with its holidays and early closes.
#[derive(Debug, Serialize, ToSchema)]
pub struct MonthSummaryView {
    #[serde(flatten)]
    #[schema(value_type = crate::schema::MonthSummary)]
    pub summary: MonthSummary,
    /// The month's exchange holidays; empty while the market calendar is unknown.
    pub holidays: Vec<NaiveDate>,
    /// The month's sessions closing early; empty while the market calendar is unknown.
    pub early_closes: Vec<NaiveDate>,
}

/// A month of the P&L calendar.
#[derive(Debug, Serialize, ToSchema)]
pub struct MonthAnswer {
    /// The trading time zone (IANA name).
    pub timezone: &'static str,
    /// Monday-first weeks, week totals, month total, best and worst day, holidays and early
    /// closes.
    pub calendar: MonthGrid,
}

/// A year of the P&L calendar.
#[derive(Debug, Serialize, ToSchema)]
pub struct YearAnswer {
    /// The trading time zone (IANA name).
    pub timezone: &'static str,
    pub year: i32,
    /// The 12 months.
    pub months: Vec<MonthSummaryView>,
    /// Whether the market calendar is known (else no holiday or early close is listed).
    pub market_calendar_known: bool,
}

/// `GET /trades/pnl-calendar` answer: a month with `month`, else the year.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum CalendarAnswer {
    Month(MonthAnswer),
    Year(YearAnswer),
}

#[utoipa::path(
    get, path = "/trades/pnl-calendar", operation_id = "pnl_calendar", tag = "trading",
    params(CalendarParams),
    responses(
        (status = 200, description = "With `month`: the month grid. Without: 12 month summaries", body = CalendarAnswer),
        (status = 400, description = "A parameter is invalid; `parameter` names it", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong API key", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn calendar(
    State(state): State<AppState>,
    AppQuery(params): AppQuery<CalendarParams>,
) -> Result<Json<CalendarAnswer>, ApiError> {
    let today = trading_day(Utc::now(), state.timezone);
    let year = params.year.map_or(today.year(), |y| y as i32);
    let month = params.month.map(|m| m as u32);
    let market = market_calendar(&state).await;
    let rows: Vec<DailyPnl> = ledger(&state).await?.ledger().trade_days(
        NaiveDate::from_ymd_opt(year, 1, 1),
        NaiveDate::from_ymd_opt(year, 12, 31),
    );
    let market = market.as_ref();
    let holidays_and_early_closes = |month: u32| {
        let marked = || {
            let first = NaiveDate::from_ymd_opt(year, month, 1)?;
            let last = first
                .checked_add_months(chrono::Months::new(1))?
                .pred_opt()?;
            Some((
                dates_of_kind(market, first, last, MarketDayKind::Holiday),
                dates_of_kind(market, first, last, MarketDayKind::EarlyClose),
            ))
        };
        marked().unwrap_or_default()
    };
    match month {
        Some(month) => {
            let calendar = month_calendar(&rows, year, month)
                .map_err(|err| ApiError::bad("month", err.to_string()))?;
            Ok(Json(CalendarAnswer::Month(MonthAnswer {
                timezone: state.timezone.name(),
                calendar: MonthGrid::new(calendar, market, holidays_and_early_closes(month)),
            })))
        }
        None => Ok(Json(CalendarAnswer::Year(YearAnswer {
            timezone: state.timezone.name(),
            year,
            months: year_calendar(&rows, year)
                .into_iter()
                .map(|summary| {
                    let (holidays, early_closes) = holidays_and_early_closes(summary.month);
                    MonthSummaryView {
                        summary,
                        holidays,
                        early_closes,
                    }
                })
                .collect(),
            market_calendar_known: market.is_some(),
        }))),
    }
}

/// Query of `GET /trades/cash-flows`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CashFlowParams {
    /// First day (the day the activity applies to).
    #[serde(default, deserialize_with = "de::date")]
    pub start_date: Option<NaiveDate>,
    /// Last day.
    #[serde(default, deserialize_with = "de::date")]
    pub end_date: Option<NaiveDate>,
}

/// `GET /trades/cash-flows` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct CashFlowPage<'a> {
    /// Oldest first (by date, then id).
    #[schema(value_type = Vec<crate::schema::CashFlow>)]
    pub cash_flows: Vec<&'a CashFlow>,
}

#[utoipa::path(
    get, path = "/trades/cash-flows", operation_id = "cash_flows", tag = "trading",
    params(CashFlowParams),
    responses(
        (status = 200, description = "The account's non-trade activities as booked, oldest first: `kind` (fee, income, deposit, withdrawal, other), signed `amount` in cents, the `trade_id` a fee was charged to", body = CashFlowPage),
        (status = 400, description = "A parameter is invalid; `parameter` names it", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong API key", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn cash_flows(
    State(state): State<AppState>,
    AppQuery(params): AppQuery<CashFlowParams>,
) -> Result<Response, ApiError> {
    let (start, end) = (params.start_date, params.end_date);
    let live = ledger(&state).await?;
    let cash_flows = live
        .ledger()
        .cash_flows()
        .iter()
        .filter(|f| within(Some(f.date), start, end))
        .collect();
    Ok(Json(CashFlowPage { cash_flows }).into_response())
}

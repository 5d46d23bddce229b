//! `/trades/active`, `/trades/history` and `/trades/fills`: the lists, paged, as JSON or CSV.

use super::*;

/// `GET /trades/active` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActiveTrades {
    /// Open trades, built from the fills.
    #[schema(value_type = Vec<crate::schema::Trade>)]
    pub open_trades: Vec<Trade>,
    /// The open orders of the latest snapshot.
    pub open_orders: Vec<OpenOrder>,
    /// When that snapshot was taken; null before the first.
    pub orders_time: Option<DateTime<Utc>>,
}

#[utoipa::path(
    get, path = "/trades/active", operation_id = "active_trades", tag = "trading",
    params(NoParams),
    responses(
        (status = 200, description = "Open trades and open orders", body = ActiveTrades),
        (status = 400, description = "A parameter was given; this route takes none", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong API key", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn active(
    State(state): State<AppState>,
    AppQuery(NoParams {}): AppQuery<NoParams>,
) -> Result<Json<ActiveTrades>, ApiError> {
    let open_trades = ledger(&state)
        .await?
        .ledger()
        .open_trades()
        .into_iter()
        .cloned()
        .collect();
    let orders = latest_typed::<OpenOrders>(&state, None, ORDERS_KIND).await?;
    let latest_orders = orders.into_iter().max_by_key(|o| o.time);
    Ok(Json(ActiveTrades {
        open_trades,
        orders_time: latest_orders.as_ref().map(|o| o.time),
        open_orders: latest_orders.map(|o| o.sample.orders).unwrap_or_default(),
    }))
}

/// Side of a trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TradeSideParam {
    Long,
    Short,
}

/// Side of a fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FillSideParam {
    Buy,
    Sell,
}

/// Query of `GET /trades/history`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TradeListParams {
    /// Page size, default 100 (a CSV export without `limit` or `offset` holds every row).
    #[serde(default, deserialize_with = "de::ranged::<1, 1000, _>")]
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// Rows to skip, default 0.
    #[serde(default, deserialize_with = "de::ranged::<0, { i64::MAX }, _>")]
    #[param(minimum = 0)]
    pub offset: Option<i64>,
    /// Only this symbol.
    #[serde(default, deserialize_with = "de::text")]
    #[param(min_length = 1, max_length = 256, pattern = "^[^\\u0000]+$")]
    pub symbol: Option<String>,
    /// Closed on or after this day (trading time zone).
    #[serde(default, deserialize_with = "de::date")]
    pub start_date: Option<NaiveDate>,
    /// Closed on or before this day.
    #[serde(default, deserialize_with = "de::date")]
    pub end_date: Option<NaiveDate>,
    #[serde(default)]
    #[param(inline)]
    pub side: Option<TradeSideParam>,
    /// Strategy tag.
    #[serde(default, deserialize_with = "de::text")]
    #[param(min_length = 1, max_length = 256, pattern = "^[^\\u0000]+$")]
    pub strategy: Option<String>,
    /// `json` (default) or `csv`; `Accept: text/csv` also asks for CSV.
    #[serde(default)]
    #[param(inline)]
    pub format: Option<FormatParam>,
}

/// Query of `GET /trades/fills`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FillListParams {
    /// Page size, default 100 (a CSV export without `limit` or `offset` holds every row).
    #[serde(default, deserialize_with = "de::ranged::<1, 1000, _>")]
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// Rows to skip, default 0.
    #[serde(default, deserialize_with = "de::ranged::<0, { i64::MAX }, _>")]
    #[param(minimum = 0)]
    pub offset: Option<i64>,
    /// Only this symbol.
    #[serde(default, deserialize_with = "de::text")]
    #[param(min_length = 1, max_length = 256, pattern = "^[^\\u0000]+$")]
    pub symbol: Option<String>,
    /// Filled on or after this day (trading time zone).
    #[serde(default, deserialize_with = "de::date")]
    pub start_date: Option<NaiveDate>,
    /// Filled on or before this day.
    #[serde(default, deserialize_with = "de::date")]
    pub end_date: Option<NaiveDate>,
    #[serde(default)]
    #[param(inline)]
    pub side: Option<FillSideParam>,
    /// Strategy tag.
    #[serde(default, deserialize_with = "de::text")]
    #[param(min_length = 1, max_length = 256, pattern = "^[^\\u0000]+$")]
    pub strategy: Option<String>,
    /// `json` (default) or `csv`; `Accept: text/csv` also asks for CSV.
    #[serde(default)]
    #[param(inline)]
    pub format: Option<FormatParam>,
}

/// `GET /trades/history` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct TradePage<'a> {
    /// Trades matching, in all.
    pub total: u64,
    pub limit: u64,
    pub offset: u64,
    /// Newest first.
    #[schema(value_type = Vec<crate::schema::Trade>)]
    pub trades: Vec<&'a Trade>,
}

#[utoipa::path(
    get, path = "/trades/history", operation_id = "trade_history", tag = "trading",
    params(TradeListParams),
    responses(
        (status = 200, description = "Closed trades, newest first; or a CSV attachment, one trade a row", content(
            (TradePage = "application/json"),
            (String = "text/csv"),
        )),
        (status = 400, description = "A parameter is invalid; `parameter` names it", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong API key", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn history(
    State(state): State<AppState>,
    headers: HeaderMap,
    AppQuery(params): AppQuery<TradeListParams>,
) -> Result<Response, ApiError> {
    let format = Format::of(params.format, &headers);
    let (limit, offset) = page(params.limit, params.offset, format);
    let (start, end) = (params.start_date, params.end_date);
    let (symbol, side, strategy) = (params.symbol, params.side, params.strategy);
    let live = ledger(&state).await?;
    let book = live.ledger();
    let unfiltered = symbol.is_none()
        && side.is_none()
        && strategy.is_none()
        && start.is_none()
        && end.is_none();
    // Newest first from the ledger's close order: a page costs its own trades (and a step per
    // block skipped), not a copy of the history.
    let (total, page): (usize, Vec<&Trade>) = if unfiltered {
        let page = book.closed_newest_first(offset).take(limit).collect();
        (book.closed_count(), page)
    } else {
        let matching = book
            .closed_newest_first(0)
            .filter(|t| symbol.as_ref().is_none_or(|s| &t.symbol == s))
            .filter(|t| {
                side.is_none_or(|s| {
                    (s == TradeSideParam::Long) == (t.side == exporter_trading::TradeSide::Long)
                })
            })
            .filter(|t| strategy.is_none() || t.strategy == strategy)
            .filter(|t| {
                (start.is_none() && end.is_none()) || within(closed_day(&state, t), start, end)
            });
        let (mut total, mut page) = (0_usize, Vec::new());
        for trade in matching {
            if total >= offset && page.len() < limit {
                page.push(trade);
            }
            total += 1;
        }
        (total, page)
    };
    if format == Format::Csv {
        let rows = page.iter().map(|trade| trade_row(trade));
        return Ok(csv::attachment(
            "trades.csv",
            csv::table(&TRADE_COLUMNS, rows),
        ));
    }
    Ok(Json(TradePage {
        total: total as u64,
        limit: limit as u64,
        offset: offset as u64,
        trades: page,
    })
    .into_response())
}

/// `limit` (1 to 1000, default 100) and `offset` (default 0); a CSV export without either holds
/// every row.
fn page(limit: Option<i64>, offset: Option<i64>, format: Format) -> (usize, usize) {
    let everything = format == Format::Csv && limit.is_none() && offset.is_none();
    let limit = if everything {
        usize::MAX
    } else {
        limit.unwrap_or(100) as usize
    };
    (
        limit,
        usize::try_from(offset.unwrap_or(0)).unwrap_or(usize::MAX),
    )
}

/// The columns of a trade in CSV.
const TRADE_COLUMNS: [&str; 16] = [
    "id",
    "symbol",
    "side",
    "status",
    "opened_at",
    "closed_at",
    "entry_quantity",
    "exit_quantity",
    "entry_price",
    "exit_price",
    "fees",
    "gross_pnl",
    "realised_pnl",
    "return_percent",
    "duration_seconds",
    "strategy",
];

fn trade_row(trade: &Trade) -> Vec<String> {
    vec![
        trade.id.clone(),
        trade.symbol.clone(),
        match trade.side {
            exporter_trading::TradeSide::Long => "long".into(),
            exporter_trading::TradeSide::Short => "short".into(),
        },
        match trade.status {
            TradeStatus::Open => "open".into(),
            TradeStatus::Closed => "closed".into(),
        },
        csv::time(trade.opened_at),
        csv::optional(trade.closed_at.map(csv::time)),
        trade.entry_quantity.to_string(),
        trade.exit_quantity.to_string(),
        trade.entry_price.to_string(),
        csv::optional(trade.exit_price),
        trade.fees.to_string(),
        trade.gross_pnl.to_string(),
        trade.realised_pnl.to_string(),
        csv::optional(trade.return_percent),
        csv::optional(trade.duration_seconds),
        trade.strategy.clone().unwrap_or_default(),
    ]
}

/// A fill of `GET /trades/fills`: the stored fill (the fields of `FillRecord`; a
/// `sell_short` listed as a sell, the fee in cents) with its session.
#[derive(Debug, Serialize, ToSchema)]
pub struct FillView {
    /// The broker's (or the trading system's) unique execution id.
    pub id: String,
    pub symbol: String,
    /// `buy` or `sell`.
    pub side: String,
    /// Positive quantity.
    pub quantity: Decimal,
    pub price: Decimal,
    /// Commission and fees of this execution, in cents as booked.
    pub fee: Decimal,
    pub time: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    /// Strategy tag, when the trading system knows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
    /// The exchange session it executed in; null while the market calendar is unknown.
    #[schema(value_type = Option<crate::schema::Session>)]
    pub session: Option<Session>,
}

impl FillView {
    fn new(fill: FillRecord, session: Option<Session>) -> Self {
        Self {
            id: fill.id,
            symbol: fill.symbol,
            side: fill.side,
            quantity: fill.quantity,
            price: fill.price,
            fee: fill.fee,
            time: fill.time,
            order_id: fill.order_id,
            strategy: fill.strategy,
            session,
        }
    }
}

/// `GET /trades/fills` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct FillPage {
    /// Fills matching, in all.
    pub total: u64,
    pub limit: u64,
    pub offset: u64,
    /// Newest first; fees in cents as booked.
    pub fills: Vec<FillView>,
}

#[utoipa::path(
    get, path = "/trades/fills", operation_id = "list_fills", tag = "trading",
    params(FillListParams),
    responses(
        (status = 200, description = "Stored fills, newest first, each with its session; or a CSV attachment, one fill a row", content(
            (FillPage = "application/json"),
            (String = "text/csv"),
        )),
        (status = 400, description = "A parameter is invalid; `parameter` names it", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong API key", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn fills(
    State(state): State<AppState>,
    headers: HeaderMap,
    AppQuery(params): AppQuery<FillListParams>,
) -> Result<Response, ApiError> {
    let format = Format::of(params.format, &headers);
    let (limit, offset) = page(params.limit, params.offset, format);
    // Filtered, newest first and paged in SQL (the days as the instants of those trading days in
    // the trading time zone): a page reads its own rows and a count, not every fill.
    let query = exporter_store::FillQuery {
        symbol: params.symbol,
        side: params.side.map(|side| match side {
            FillSideParam::Buy => exporter_store::FillSide::Buy,
            FillSideParam::Sell => exporter_store::FillSide::Sell,
        }),
        strategy: params.strategy,
        start_day: params.start_date,
        end_day: params.end_date,
        timezone: state.timezone,
        limit: (limit != usize::MAX).then(|| i64::try_from(limit).unwrap_or(i64::MAX)),
        offset: i64::try_from(offset).unwrap_or(i64::MAX),
    };
    let found = state.store.fill_page(&query).await?;
    let total = usize::try_from(found.total).unwrap_or(0);
    let page: Vec<FillRecord> = found
        .fills
        .into_iter()
        .map(|f| FillRecord {
            side: if f.side == "buy" { "buy" } else { "sell" }.to_owned(),
            fee: cents(f.fee),
            ..f
        })
        .collect();
    let market = market_calendar(&state).await;
    let session = |f: &FillRecord| market.as_ref().and_then(|m| m.session_at(f.time));
    if format == Format::Csv {
        let rows = page.iter().map(|f| {
            vec![
                f.id.clone(),
                csv::time(f.time),
                f.symbol.clone(),
                f.side.clone(),
                f.quantity.to_string(),
                f.price.to_string(),
                f.fee.to_string(),
                f.order_id.clone().unwrap_or_default(),
                f.strategy.clone().unwrap_or_default(),
                session(f).map(snake_name).unwrap_or_default(),
            ]
        });
        let columns = [
            "id", "time", "symbol", "side", "quantity", "price", "fee", "order_id", "strategy",
            "session",
        ];
        return Ok(csv::attachment("fills.csv", csv::table(&columns, rows)));
    }
    let fills = page
        .into_iter()
        .map(|fill| {
            let session = session(&fill);
            FillView::new(fill, session)
        })
        .collect();
    Ok(Json(FillPage {
        total: total as u64,
        limit: limit as u64,
        offset: offset as u64,
        fills,
    })
    .into_response())
}

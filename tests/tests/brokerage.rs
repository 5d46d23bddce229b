//! The brokerage path end to end: the portfolio and trades collectors read a local Alpaca
//! stand-in (the recorded account, positions and orders of shared/fixtures/alpaca, plus fills
//! constructed here), the trading system publishes a fill of its own on the ingest subject, and
//! every endpoint returns the hand-computed numbers through the real bus and store, as JSON
//! (money strings of at most 2 decimals, ratios numbers) and as CSV; a second API with
//! `trading.cost_basis: average` splits the same trade differently between days. Restarting
//! the trades collector and the aggregator mid-stream changes nothing.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::routing::get;
use exporter_tests::{StandIn, TestEnv, eventually, publish_json, shared_fixture};
use nix::sys::signal::Signal;
use serde_json::{Value, json};

/// The recorded Alpaca answer `name` (shared/fixtures/alpaca), its body.
fn fixture(name: &str) -> Value {
    let value = shared_fixture(&format!("alpaca/{name}"));
    value.get("body").cloned().unwrap_or(value)
}

fn fill(id: &str, time: &str, side: &str, symbol: &str, qty: &str, price: &str) -> Value {
    json!({
        "id": id, "activity_type": "FILL", "transaction_time": time, "type": "fill",
        "price": price, "qty": qty, "side": side, "symbol": symbol, "leaves_qty": "0",
        "order_id": format!("order-{id}"), "cum_qty": qty, "order_status": "filled"
    })
}

type Activities = Arc<Mutex<Vec<Value>>>;

/// Money as the API books it: a JSON string of at most 2 decimals.
fn assert_money(value: &Value, what: &str) {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("{what}: {value} is not a string"));
    let (whole, cents) = text.split_once('.').unwrap_or((text, ""));
    let digits = whole.strip_prefix('-').unwrap_or(whole);
    assert!(
        !digits.is_empty()
            && digits.chars().all(|c| c.is_ascii_digit())
            && cents.len() <= 2
            && cents.chars().all(|c| c.is_ascii_digit()),
        "{what}: {text} is not money to the cent"
    );
}

/// A ratio or percentage: a JSON number (or null where undefined).
fn assert_ratio(value: &Value, what: &str) {
    assert!(
        value.is_number() || value.is_null(),
        "{what}: {value} is not a number"
    );
}

/// An RFC 4180 table read back: rows of fields (quoted fields may hold commas, doubled quotes
/// and line breaks); every record ends in CRLF.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    assert!(text.ends_with("\r\n"), "records end in CRLF: {text:?}");
    let (mut rows, mut row, mut field) = (Vec::new(), Vec::new(), String::new());
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => assert_eq!(chars.next(), Some('\n'), "CR only before LF"),
            (false, '\n') => panic!("a bare LF ends a record: {text:?}"),
            (false, c) => field.push(c),
        }
        if !quoted && c == '\r' {
            row.push(std::mem::take(&mut field));
            rows.push(std::mem::take(&mut row));
        }
    }
    rows
}

/// A GET returning text: status, `Content-Type`, `Content-Disposition` and the body.
async fn get_text(url: &str, key: &str, accept: Option<&str>) -> (u16, String, String, String) {
    let mut request = reqwest::Client::new()
        .get(url)
        .timeout(Duration::from_secs(10))
        .header("X-API-Key", key);
    if let Some(accept) = accept {
        request = request.header("Accept", accept);
    }
    let response = request.send().await.unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (content_type, disposition) = (header("content-type"), header("content-disposition"));
    let status = response.status().as_u16();
    (
        status,
        content_type,
        disposition,
        response.text().await.unwrap(),
    )
}

/// The docs/trading.md example, from the trading system: AMD buy 100 @ 10, sell 50 @ 12,
/// buy 50 @ 14, sell 50 @ 15 on Monday 26 January 2026, sell 50 @ 13 on Tuesday; 1.00 a fill.
fn amd_fills() -> Vec<Value> {
    [
        ("amd-1", "buy", "100", "10", "2026-01-26T15:00:00Z"),
        ("amd-2", "sell", "50", "12", "2026-01-26T16:00:00Z"),
        ("amd-3", "buy", "50", "14", "2026-01-26T17:00:00Z"),
        ("amd-4", "sell", "50", "15", "2026-01-26T18:00:00Z"),
        ("amd-5", "sell", "50", "13", "2026-01-27T15:00:00Z"),
    ]
    .into_iter()
    .map(|(id, side, quantity, price, time)| {
        json!({"id": id, "symbol": "AMD", "side": side, "quantity": quantity, "price": price,
            "fee": "1.00", "time": time, "strategy": "mean, \"reversion\""})
    })
    .collect()
}

/// The Alpaca stand-in: fixtures for the account, positions and orders; `activities` for fills,
/// paged by `page_token` (the last id) like the real API.
async fn alpaca_stand_in(activities: Activities) -> StandIn {
    async fn page(
        State(all): State<Activities>,
        Query(q): Query<Vec<(String, String)>>,
    ) -> Json<Value> {
        let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let token = get("page_token");
        let size: usize = get("page_size").and_then(|s| s.parse().ok()).unwrap_or(100);
        let all = all.lock().unwrap().clone();
        let page: Vec<Value> = all
            .into_iter()
            .filter(|a| {
                token
                    .as_deref()
                    .is_none_or(|t| a["id"].as_str().unwrap() > t)
            })
            .take(size)
            .collect();
        Json(Value::Array(page))
    }
    let app = axum::Router::new()
        .route(
            "/v2/account",
            get(|| async { Json(fixture("account.json")) }),
        )
        .route(
            "/v2/positions",
            get(|| async { Json(fixture("positions.json")) }),
        )
        .route("/v2/orders", get(|| async { Json(fixture("orders.json")) }))
        .route("/v2/account/activities", get(page))
        .route(
            "/v2/account/portfolio/history",
            get(|| async {
                Json(json!({
                    "timestamp": [1769666400, 1769752800, 1769839200, 1769925600],
                    "equity": [null, "100000", "100300", "100250"],
                    "profit_loss": [null, "0", "300", "-50"],
                    "profit_loss_pct": [null, "0", "0.003", "-0.0005"],
                    "base_value": "100000", "timeframe": "1D"
                }))
            }),
        )
        .with_state(activities);
    StandIn::serve(app).await
}

async fn fill_count(env: &TestEnv) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM fill")
        .fetch_one(&env.pool)
        .await
        .unwrap_or(-1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brokerage_endpoints_return_the_hand_computed_numbers() {
    // AAPL: buy 10 @ 100, buy 10 @ 110 (average 105), sell 20 @ 120 at 23:30 New York on
    // 31 January (04:30 UTC on 1 February): +300 on 2026-01-31.
    // TSLA: short 5 @ 200, cover @ 210: -50 on 2026-02-03. MSFT (ingest): open long.
    // AMD (ingest, amd_fills): FIFO books 98.50 + 248.50 = 347.00 on 26 January and -52.00 on
    // the 27th (docs/trading.md works it out); 295.00 in all, a win.
    let activities: Activities = Arc::new(Mutex::new(vec![
        fill(
            "20260130150000000::a1",
            "2026-01-30T15:00:00Z",
            "buy",
            "AAPL",
            "10",
            "100",
        ),
        fill(
            "20260130160000000::a2",
            "2026-01-30T16:00:00Z",
            "buy",
            "AAPL",
            "10",
            "110",
        ),
        fill(
            "20260201043000000::a3",
            "2026-02-01T04:30:00Z",
            "sell",
            "AAPL",
            "20",
            "120",
        ),
    ]));
    let alpaca = alpaca_stand_in(activities.clone()).await;
    let env = TestEnv::new(&format!(
        "alpaca:\n  base_url: {}\n  portfolio_interval_seconds: 1\n  trades_interval_seconds: 1\n  history_interval_seconds: 10\n",
        alpaca.url()
    ))
    .await;
    let keys = exporter_tests::recorded::alpaca_credentials(&env);
    let mut aggregator = env.spawn("exporter-aggregator", &[]);
    let mut trades = env.spawn_with("exporter-collector", &["trades"], &keys);
    let _portfolio = env.spawn_with("exporter-collector", &["portfolio"], &keys);
    let _api = env.spawn("exporter-api", &[]);

    eventually("three fills stored", Duration::from_secs(30), || async {
        (fill_count(&env).await == 3).then_some(())
    })
    .await;
    // Kill the trades collector and the aggregator, add fills, restart: nothing lost or doubled.
    trades.signal(Signal::SIGKILL);
    aggregator.signal(Signal::SIGKILL);
    trades.wait_exit(Duration::from_secs(5));
    aggregator.wait_exit(Duration::from_secs(5));
    activities.lock().unwrap().extend([
        fill(
            "20260202150000000::t1",
            "2026-02-02T15:00:00Z",
            "sell_short",
            "TSLA",
            "5",
            "200",
        ),
        fill(
            "20260203150000000::t2",
            "2026-02-03T15:00:00Z",
            "buy",
            "TSLA",
            "5",
            "210",
        ),
    ]);
    let _aggregator = env.spawn("exporter-aggregator", &[]);
    let _trades = env.spawn_with("exporter-collector", &["trades"], &keys);
    // The trading system's own fill, on the ingest subject, published twice: stored once.
    let js = env.jetstream().await;
    let ingest = json!({"id": "ing-1", "symbol": "MSFT", "side": "buy", "quantity": "1",
        "price": "300", "fee": "1", "time": "2026-02-04T15:00:00Z", "strategy": "momentum"});
    for _ in 0..2 {
        publish_json(&js, "exporter.v1.ingest.fill", &ingest).await;
    }
    for amd in amd_fills() {
        publish_json(&js, "exporter.v1.ingest.fill", &amd).await;
    }
    eventually(
        "all eleven fills stored",
        Duration::from_secs(30),
        || async { (fill_count(&env).await == 11).then_some(()) },
    )
    .await;
    // A quiet period, the check itself: a fill stored twice would show up now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(fill_count(&env).await, 11, "no fill counted twice");

    let portfolio = eventually("a portfolio snapshot", Duration::from_secs(30), || async {
        let (status, body) = env.get("/metrics/portfolio").await;
        (status == 200).then_some(body)
    })
    .await;
    assert_eq!(portfolio["balance"], "-23140.2");
    assert_eq!(portfolio["equity"], "103820.56");
    assert_eq!(portfolio["buying_power"], "262113.632");
    assert_eq!(portfolio["day_change"], "291.32");
    assert_eq!(portfolio["day_change_percent"], "0.2814");
    assert_eq!(portfolio["positions"][0]["symbol"], "AAPL");
    assert_eq!(portfolio["positions"][0]["quantity"], "5");

    // The equity history's leading null is skipped, the rest stored exactly.
    // (A separate sample from the snapshot: wait for it rather than race it.)
    let equity: Vec<(String,)> =
        eventually("the equity history", Duration::from_secs(30), || async {
            let rows: Vec<(String,)> =
                sqlx::query_as("SELECT equity::text FROM equity_point ORDER BY time")
                    .fetch_all(&env.pool)
                    .await
                    .unwrap();
            (!rows.is_empty()).then_some(rows)
        })
        .await;
    assert_eq!(
        equity,
        [("100000".into(),), ("100300".into(),), ("100250".into(),)]
    );

    // Closed: AAPL +300, AMD +295.00, TSLA -50.
    let (status, stats) = env.get("/trades/statistics").await;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(stats["closed_trades"], 3, "{stats}");
    assert_eq!(stats["open_trades"], 1, "{stats}");
    assert_eq!(stats["wins"], 2);
    assert_eq!(stats["losses"], 1);
    assert_eq!(stats["net_pnl"], "545.00");
    assert_eq!(stats["gross_profit"], "595.00");
    assert_eq!(stats["average_win"], "297.50"); // 595 / 2
    assert_eq!(stats["expectancy"], "181.67"); // 545 / 3 = 181.666..
    assert_eq!(stats["total_fees"], "5.00");
    assert_eq!(stats["profit_factor"], 11.9); // 595 / 50
    assert_eq!(stats["win_rate"], 0.666667); // 2 / 3
    assert_eq!(stats["payoff_ratio"], 5.95); // 297.5 / 50
    for key in [
        "gross_profit",
        "gross_loss",
        "net_pnl",
        "average_win",
        "average_loss",
        "expectancy",
        "largest_win",
        "largest_loss",
        "total_fees",
    ] {
        assert_money(&stats[key], key);
    }
    for key in [
        "win_rate",
        "profit_factor",
        "payoff_ratio",
        "sharpe_ratio",
        "sortino_ratio",
        "max_equity_drawdown_percent",
    ] {
        assert_ratio(&stats[key], key);
    }
    for symbol in stats["per_symbol"].as_array().unwrap() {
        assert_money(&symbol["net_pnl"], "per_symbol net_pnl");
        assert_ratio(&symbol["win_rate"], "per_symbol win_rate");
    }
    let drawdown = &stats["max_drawdown"];
    for key in ["amount", "peak_cumulative_pnl", "trough_cumulative_pnl"] {
        assert_money(&drawdown[key], key);
    }

    // Per symbol: that symbol's trades; the account-wide equity figures stay null.
    let (_, aapl_stats) = env.get("/trades/statistics?symbol=AAPL").await;
    assert_eq!(aapl_stats["closed_trades"], 1, "{aapl_stats}");
    assert_eq!(aapl_stats["net_pnl"], "300");
    assert!(aapl_stats["sharpe_ratio"].is_null(), "{aapl_stats}");

    let (_, history) = env.get("/trades/history?limit=1").await;
    assert_eq!(history["total"], 3);
    assert_eq!(
        history["trades"][0]["symbol"], "TSLA",
        "newest first: {history}"
    );
    assert_eq!(history["trades"][0]["side"], "short");
    assert_eq!(history["trades"][0]["realised_pnl"], "-50");
    let (_, aapl) = env.get("/trades/history?symbol=AAPL").await;
    assert_eq!(aapl["trades"][0]["entry_price"], "105");
    assert_eq!(aapl["trades"][0]["exit_price"], "120");
    let (_, everything) = env.get("/trades/history").await;
    for trade in everything["trades"].as_array().unwrap() {
        for key in [
            "fees",
            "gross_pnl",
            "realised_pnl",
            "open_cost_basis",
            "open_entry_fees",
        ] {
            assert_money(&trade[key], key);
        }
        assert!(trade["return_percent"].is_number(), "{trade}");
        for realisation in trade["realisations"].as_array().unwrap() {
            for key in ["gross_pnl", "fees", "pnl"] {
                assert_money(&realisation[key], key);
            }
        }
    }
    let (_, amd) = env.get("/trades/history?symbol=AMD").await;
    assert_eq!(amd["trades"][0]["realised_pnl"], "295.00");
    assert_eq!(amd["trades"][0]["return_percent"], 17.352941); // 295 / 1700 * 100
    let (_, january) = env
        .get("/trades/history?start_date=2026-01-31&end_date=2026-01-31")
        .await;
    assert_eq!(
        january["total"], 1,
        "closed on 31 January in New York: {january}"
    );

    let (_, daily) = env
        .get("/trades/daily-pnl?start_date=2026-01-01&end_date=2026-02-28")
        .await;
    let days = daily["days"].as_array().unwrap();
    let by_day: Vec<(&str, &str)> = days
        .iter()
        .map(|d| {
            (
                d["date"].as_str().unwrap(),
                d["realised_pnl"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        by_day,
        [
            ("2026-01-26", "347.00"),
            ("2026-01-27", "-52.00"),
            ("2026-01-31", "300"),
            ("2026-02-03", "-50"),
        ],
        "{daily}"
    );
    // Equity 100000 on the 30th, 100300 on the 31st.
    assert_eq!(days[2]["equity_change"], "300");
    for day in days {
        for key in ["realised_pnl", "fees"] {
            assert_money(&day[key], key);
        }
        assert!(day["equity_change"].is_null() || day["equity_change"].is_string());
    }

    // Day, month and year totals reconcile to the cent: January 347.00 - 52.00 + 300 = 595.00.
    let cents = |value: &Value| -> i64 {
        let text = value.as_str().unwrap();
        let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
        let sign = if whole.starts_with('-') { -1 } else { 1 };
        let frac: i64 = format!("{frac:0<2}").parse().unwrap();
        sign * (whole.trim_start_matches('-').parse::<i64>().unwrap() * 100 + frac)
    };
    let (_, year) = env.get("/trades/pnl-calendar?year=2026").await;
    assert_eq!(year["months"][0]["pnl"], "595.00");
    assert_eq!(year["months"][1]["pnl"], "-50");
    let day_total: i64 = days.iter().map(|d| cents(&d["realised_pnl"])).sum();
    let year_total: i64 = year["months"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| cents(&m["pnl"]))
        .sum();
    assert_eq!((day_total, year_total), (54_500, 54_500));
    let (_, month) = env.get("/trades/pnl-calendar?year=2026&month=1").await;
    let calendar = &month["calendar"];
    assert_eq!(calendar["month_total"], "595.00", "{month}");
    assert_eq!(calendar["best_day"]["date"], "2026-01-26");
    let week_total: i64 = calendar["week_totals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            assert_money(w, "week total");
            cents(w)
        })
        .sum();
    let cell_total: i64 = calendar["weeks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|week| week.as_array().unwrap())
        .filter(|cell| !cell.is_null())
        .map(|cell| cents(&cell["pnl"]))
        .sum();
    assert_eq!((week_total, cell_total), (59_500, 59_500));

    // CSV: daily P&L through `?format=csv`, trades through `Accept: text/csv`, fills.
    let (status, content_type, disposition, text) = get_text(
        &env.api_url("/trades/daily-pnl?start_date=2026-01-01&end_date=2026-02-28&format=csv"),
        &env.api_key,
        None,
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert!(content_type.starts_with("text/csv"), "{content_type}");
    assert_eq!(disposition, "attachment; filename=\"daily-pnl.csv\"");
    let table = parse_csv(&text);
    assert_eq!(
        table[0],
        [
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
            "market_day"
        ]
    );
    assert_eq!(
        table[1],
        [
            "2026-01-26",
            "347.00",
            "3.00",
            "0",
            "0",
            "0",
            "0",
            "0",
            "0",
            "347.00",
            "",
            "",
            ""
        ]
    );
    assert_eq!(
        table[2],
        [
            "2026-01-27",
            "-52.00",
            "2.00",
            "1",
            "1",
            "0",
            "0",
            "0",
            "0",
            "-52.00",
            "",
            "",
            ""
        ]
    );
    assert_eq!(
        table[3],
        [
            "2026-01-31",
            "300",
            "0",
            "1",
            "1",
            "0",
            "0",
            "0",
            "0",
            "300",
            "300",
            "300",
            ""
        ]
    );
    assert_eq!(table.len(), 5);
    let (status, content_type, disposition, text) = get_text(
        &env.api_url("/trades/history"),
        &env.api_key,
        Some("text/csv"),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert!(content_type.starts_with("text/csv"), "{content_type}");
    assert_eq!(disposition, "attachment; filename=\"trades.csv\"");
    let table = parse_csv(&text);
    assert_eq!(table.len(), 4, "the header and every closed trade: {text}");
    let column = |name: &str| table[0].iter().position(|c| c == name).unwrap();
    let amd = table
        .iter()
        .find(|row| row[column("symbol")] == "AMD")
        .unwrap();
    assert_eq!(amd[column("realised_pnl")], "295.00");
    assert_eq!(amd[column("opened_at")], "2026-01-26T15:00:00Z");
    assert_eq!(amd[column("closed_at")], "2026-01-27T15:00:00Z");
    assert_eq!(amd[column("strategy")], "mean, \"reversion\"");
    assert_eq!(amd[column("return_percent")], "17.352941");
    let (status, _, disposition, text) = get_text(
        &env.api_url("/trades/fills?symbol=AMD&format=csv"),
        &env.api_key,
        None,
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(disposition, "attachment; filename=\"fills.csv\"");
    let table = parse_csv(&text);
    assert_eq!(
        table[0],
        [
            "id", "time", "symbol", "side", "quantity", "price", "fee", "order_id", "strategy",
            "session"
        ]
    );
    assert_eq!(table.len(), 6);
    assert_eq!(
        table[1],
        [
            "amd-5",
            "2026-01-27T15:00:00Z",
            "AMD",
            "sell",
            "50",
            "13",
            "1.00",
            "",
            "mean, \"reversion\"",
            ""
        ],
        "newest first"
    );
    let (status, fills) = env.get("/trades/fills?limit=2&offset=1").await;
    assert_eq!(status, 200, "{fills}");
    assert_eq!(fills["total"], 11);
    assert_eq!(fills["fills"].as_array().unwrap().len(), 2);
    // Newest first: MSFT (4 February) is skipped by the offset, then the TSLA cover and short.
    assert_eq!(fills["fills"][0]["id"], "20260203150000000::t2", "{fills}");
    assert_eq!(fills["fills"][1]["id"], "20260202150000000::t1", "{fills}");
    let (_, doc) = env.get("/openapi.json").await;
    let fills_doc = &doc["paths"]["/trades/fills"]["get"];
    assert!(
        fills_doc["parameters"]
            .as_array()
            .is_some_and(|p| p.len() == 8),
        "{fills_doc}"
    );
    let (_, tsla) = env.get("/trades/fills?symbol=TSLA&side=sell").await;
    assert_eq!(
        tsla["fills"][0]["side"], "sell",
        "sell_short lists as a sell"
    );

    // The same fills under the moving average cost: the trade total is FIFO's, the days not.
    let average_settings = env.settings_path.with_file_name("average.yaml");
    let yaml = std::fs::read_to_string(&env.settings_path).unwrap();
    std::fs::write(
        &average_settings,
        format!("{yaml}\ntrading:\n  cost_basis: average\n"),
    )
    .unwrap();
    let average_port = exporter_tests::free_port().to_string();
    let _average_api = env.spawn_with(
        "exporter-api",
        &[],
        &[
            ("EXPORTER_API_KEY", env.api_key.as_str()),
            ("EXPORTER_SETTINGS", average_settings.to_str().unwrap()),
            ("EXPORTER_API_PORT", average_port.as_str()),
        ],
    );
    let average_url = |path: &str| format!("http://127.0.0.1:{average_port}{path}");
    let average_days = eventually("the average-cost API", Duration::from_secs(30), || async {
        let (status, body) = exporter_tests::get_json(
            &average_url("/trades/daily-pnl?start_date=2026-01-26&end_date=2026-01-27"),
            Some(&env.api_key),
        )
        .await;
        (status == 200).then_some(body)
    })
    .await;
    let by_day: Vec<&str> = average_days["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["realised_pnl"].as_str().unwrap())
        .collect();
    assert_eq!(by_day, ["246.75", "48.25"], "{average_days}");
    let (_, average_stats) =
        exporter_tests::get_json(&average_url("/trades/statistics"), Some(&env.api_key)).await;
    assert_eq!(average_stats["net_pnl"], "545.00", "{average_stats}");

    let (_, active) = env.get("/trades/active").await;
    assert_eq!(active["open_trades"][0]["symbol"], "MSFT");
    assert_eq!(active["open_trades"][0]["strategy"], "momentum");
    assert!(active["open_orders"].as_array().is_some());

    // A start after the end is an empty range: no day, no trade.
    let (status, inverted) = env
        .get("/trades/daily-pnl?start_date=2026-02-01&end_date=2026-01-01")
        .await;
    assert_eq!(status, 200, "{inverted}");
    assert_eq!(inverted["days"], json!([]), "{inverted}");
    let (_, inverted) = env
        .get("/trades/history?start_date=2026-02-01&end_date=2026-01-01")
        .await;
    assert_eq!(inverted["total"], 0, "{inverted}");
    for (path, parameter) in [
        ("/trades/history?limit=5000", "limit"),
        ("/trades/history?side=sideways", "side"),
        ("/trades/statistics?start_date=31-01-2026", "start_date"),
        ("/trades/pnl-calendar?month=13", "month"),
        ("/trades/history?format=xlsx", "format"),
        ("/trades/daily-pnl?format=csv2", "format"),
        ("/trades/fills?side=short", "side"),
    ] {
        let (status, body) = env.get(path).await;
        assert_eq!(status, 400, "{path}");
        assert_eq!(body["parameter"], parameter, "{path}: {body}");
    }
    env.finish().await;
}

//! The market calendar end to end: the portfolio collector reads `/v2/calendar` and
//! `/v2/clock` from an Alpaca stand-in (Alpaca's documented format), the aggregator stores the
//! calendar, and
//! - a holiday and an early close are marked in the daily P&L, the P&L calendar and the fills'
//!   sessions;
//! - an alert rule with `active_during: regular_session` stays quiet on a holiday (today is one
//!   in the stand-in's calendar) while the same rule without it fires.
//!
//! The dates are relative to today, so the test means the same whenever it runs.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::routing::get;
use chrono::{Datelike, NaiveDate, TimeZone, Utc, Weekday};
use exporter_tests::{StandIn, TestEnv, eventually, shared_fixture};
use nix::sys::signal::Signal;
use serde_json::{Value, json};

/// The dates the stand-in's calendar makes special.
#[derive(Clone, Copy)]
struct Special {
    today: NaiveDate,
    holiday: NaiveDate,
    early_close: NaiveDate,
}

fn weekday(date: NaiveDate) -> bool {
    !matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

impl Special {
    /// Today (New York) is a holiday; the last Monday to Thursday at least 8 days back is a
    /// holiday too and the weekday after it closes at 13:00.
    fn around_now() -> Self {
        let today = Utc::now()
            .with_timezone(&chrono_tz::America::New_York)
            .date_naive();
        let mut holiday = today - chrono::Duration::days(8);
        while matches!(
            holiday.weekday(),
            Weekday::Fri | Weekday::Sat | Weekday::Sun
        ) {
            holiday = holiday.pred_opt().unwrap();
        }
        Self {
            today,
            holiday,
            early_close: holiday.succ_opt().unwrap(),
        }
    }
}

type Activities = Arc<Mutex<Vec<Value>>>;

async fn alpaca_stand_in(special: Special, activities: Activities) -> StandIn {
    async fn calendar(
        State((special, _)): State<(Special, Activities)>,
        Query(q): Query<Vec<(String, String)>>,
    ) -> Json<Value> {
        let get = |k: &str| -> NaiveDate {
            q.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.parse().unwrap())
                .unwrap()
        };
        let (start, end) = (get("start"), get("end"));
        let days: Vec<Value> = start
            .iter_days()
            .take_while(|d| *d <= end)
            .filter(|d| weekday(*d) && *d != special.today && *d != special.holiday)
            .map(|d| {
                let early = d == special.early_close;
                json!({
                    "date": d.to_string(), "open": "09:30",
                    "close": if early { "13:00" } else { "16:00" },
                    "session_open": "0400", "session_close": if early { "1700" } else { "2000" },
                    "settlement_date": d.succ_opt().unwrap().to_string()
                })
            })
            .collect();
        Json(Value::Array(days))
    }
    async fn activities_page(
        State((_, all)): State<(Special, Activities)>,
        Query(q): Query<Vec<(String, String)>>,
    ) -> Json<Value> {
        let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let types: Vec<String> = get("activity_types")
            .map(|t| t.split(',').map(str::to_owned).collect())
            .unwrap_or_default();
        let token = get("page_token");
        let all = all.lock().unwrap().clone();
        Json(Value::Array(
            all.into_iter()
                .filter(|a| {
                    types.is_empty() || types.iter().any(|t| a["activity_type"] == t.as_str())
                })
                .filter(|a| {
                    token
                        .as_deref()
                        .is_none_or(|t| a["id"].as_str().unwrap() > t)
                })
                .collect(),
        ))
    }
    let app = axum::Router::new()
        .route(
            "/v2/account",
            get(|| async {
                let value = shared_fixture("alpaca/account.json");
                Json(value["body"].clone())
            }),
        )
        .route("/v2/positions", get(|| async { Json(json!([])) }))
        .route("/v2/orders", get(|| async { Json(json!([])) }))
        .route("/v2/calendar", get(calendar))
        .route(
            "/v2/clock",
            get(|| async {
                let now = Utc::now().with_timezone(&chrono_tz::America::New_York);
                Json(json!({
                    "timestamp": now.to_rfc3339(), "is_open": false,
                    "next_open": (now + chrono::Duration::days(1)).to_rfc3339(),
                    "next_close": (now + chrono::Duration::days(1)).to_rfc3339()
                }))
            }),
        )
        .route("/v2/account/activities", get(activities_page))
        .route(
            "/v2/account/portfolio/history",
            get(|| async { Json(json!({"timestamp": [], "equity": [], "profit_loss": [], "profit_loss_pct": [], "base_value": "0", "timeframe": "1D"})) }),
        )
        .with_state((special, activities));
    StandIn::serve(app).await
}

/// 10:00 and 14:30 New York time on `date`, in UTC, RFC 3339.
fn new_york(date: NaiveDate, hour: u32, minute: u32) -> String {
    chrono_tz::America::New_York
        .from_local_datetime(&date.and_hms_opt(hour, minute, 0).unwrap())
        .unwrap()
        .with_timezone(&Utc)
        .to_rfc3339()
}

fn fill(id: &str, time: &str, side: &str, price: &str) -> Value {
    json!({
        "id": id, "activity_type": "FILL", "transaction_time": time, "type": "fill",
        "price": price, "qty": "10", "side": side, "symbol": "AAPL", "leaves_qty": "0",
        "order_id": format!("order-{id}"), "cum_qty": "10", "order_status": "filled"
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holidays_and_early_closes_are_marked_and_gated_rules_stay_quiet_on_a_holiday() {
    let special = Special::around_now();
    let early = special.early_close;
    // On the early close: bought at 10:00, sold at 14:30 (after its 13:00 close): +20.
    // On the holiday: a dividend (a cash day).
    let activities: Activities = Arc::new(Mutex::new(vec![
        fill(
            "20000000000000001::b",
            &new_york(early, 10, 0),
            "buy",
            "100",
        ),
        fill(
            "20000000000000002::s",
            &new_york(early, 14, 30),
            "sell",
            "102",
        ),
        json!({"id": "20000000000000000::div", "activity_type": "DIV", "date": special.holiday.to_string(),
               "net_amount": "3.10", "symbol": "AAPL", "status": "executed"}),
    ]));
    let alpaca = alpaca_stand_in(special, activities).await;
    let env = TestEnv::new(&format!(
        "alpaca:\n  base_url: {}\n  portfolio_interval_seconds: 1\n  trades_interval_seconds: 1\n\
         alerts:\n  evaluation_interval_seconds: 1\n  watch_interval_seconds: 0\n",
        alpaca.url()
    ))
    .await;
    let keys = exporter_tests::recorded::alpaca_credentials(&env);
    let mut aggregator = env.spawn("exporter-aggregator", &[]);
    let _portfolio = env.spawn_with("exporter-collector", &["portfolio"], &keys);
    let _trades = env.spawn_with("exporter-collector", &["trades"], &keys);
    let _api = env.spawn("exporter-api", &[]);
    let stored = |sql: &'static str| {
        let pool = env.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .unwrap_or(-1)
        }
    };
    eventually(
        "the calendar, the fills and the dividend stored",
        Duration::from_secs(30),
        || async {
            (stored("SELECT count(*) FROM market_day").await > 250
                && stored("SELECT count(*) FROM fill").await == 2
                && stored("SELECT count(*) FROM cash_activity").await == 1)
                .then_some(())
        },
    )
    .await;

    // Daily P&L: the early close and the holiday are marked.
    let (status, daily) = env
        .get(&format!(
            "/trades/daily-pnl?start_date={}&end_date={}",
            special.holiday, early
        ))
        .await;
    assert_eq!(status, 200, "{daily}");
    let marks: Vec<(&str, &str, &str)> = daily["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["date"].as_str().unwrap(),
                d["market_day"].as_str().unwrap_or("unknown"),
                d["net_pnl"].as_str().unwrap(),
            )
        })
        .collect();
    let (holiday, early_text) = (special.holiday.to_string(), early.to_string());
    assert_eq!(
        marks,
        [
            (holiday.as_str(), "holiday", "3.10"),
            (early_text.as_str(), "early_close", "20")
        ],
        "{daily}"
    );

    // The P&L calendar of the holiday's month: its cells and its lists.
    let (status, month) = env
        .get(&format!(
            "/trades/pnl-calendar?year={}&month={}",
            special.holiday.year(),
            special.holiday.month()
        ))
        .await;
    assert_eq!(status, 200, "{month}");
    let grid = &month["calendar"];
    let cell = |date: &str| {
        grid["weeks"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|w| w.as_array().unwrap())
            .find(|c| c["date"] == date)
            .cloned()
            .unwrap()
    };
    assert_eq!(cell(&holiday)["market_day"], "holiday", "{grid}");
    assert!(
        grid["holidays"]
            .as_array()
            .unwrap()
            .contains(&json!(holiday)),
        "{grid}"
    );
    if early.month() == special.holiday.month() {
        assert_eq!(cell(&early_text)["market_day"], "early_close", "{grid}");
        assert_eq!(grid["early_closes"], json!([early_text]), "{grid}");
    }

    // The fills' sessions: 10:00 regular, 14:30 after the early close.
    let (_, fills) = env.get("/trades/fills").await;
    let sessions: Vec<&str> = fills["fills"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["session"].as_str().unwrap())
        .collect();
    assert_eq!(
        sessions,
        ["after_hours", "regular"],
        "newest first: {fills}"
    );

    // The alert rules, read by an aggregator that starts with the stored calendar: on today's
    // holiday the regular-session rule stays quiet, the same rule without it fires.
    std::fs::write(
        env.dir.path().join("alerts.yaml"),
        "rules:\n\
         - {name: EquityWatchRegular, severity: info, category: trading, expr: 'portfolio.equity > 0', active_during: regular_session}\n\
         - {name: EquityWatchExtended, severity: info, category: trading, expr: 'portfolio.equity > 0', active_during: extended_hours}\n\
         - {name: EquityWatchAlways, severity: info, category: trading, expr: 'portfolio.equity > 0'}\n",
    )
    .unwrap();
    aggregator.signal(Signal::SIGTERM);
    aggregator.wait_exit(Duration::from_secs(10));
    let _aggregator = env.spawn("exporter-aggregator", &[]);
    let rules_of = |body: &Value| -> Vec<String> {
        body["alerts"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|a| a["rule"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    eventually(
        "the ungated rule firing",
        Duration::from_secs(30),
        || async {
            let (_, body) = env.get("/alerts?state=firing").await;
            rules_of(&body)
                .contains(&"EquityWatchAlways".to_owned())
                .then_some(())
        },
    )
    .await;
    // A few more evaluations: still nothing from the gated rules, in any state.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, body) = env.get("/alerts").await;
    let rules = rules_of(&body);
    assert!(
        !rules
            .iter()
            .any(|r| r.starts_with("EquityWatchRegular") || r == "EquityWatchExtended"),
        "gated rules stay quiet on a holiday: {body}"
    );
    env.finish().await;
}

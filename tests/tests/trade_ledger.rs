//! The API keeps its trades in a ledger built once and advanced with the fills stored since.
//! Fills stored after it was built (a new one, a late one older than the newest, a corrected
//! fee) and a fee activity naming an order show in the statistics, the history, the daily P&L,
//! the calendar, the open trades and the cash flows exactly as a fresh API process (which
//! builds from every fill) answers them, byte for byte, with the numbers worked out here.
//! The fill list (`/trades/fills`), paged in SQL, is compared with the stored fills filtered and
//! ordered here, across trading-day boundaries and DST changes of the trading zone.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use exporter_protocol::brokerage::FillRecord;
use exporter_store::{Batch, Store};
use exporter_tests::{TestEnv, eventually};
use serde_json::Value;

fn fill(
    id: &str,
    symbol: &str,
    side: &str,
    qty: &str,
    price: &str,
    fee: &str,
    time: &str,
) -> FillRecord {
    FillRecord {
        id: id.into(),
        symbol: symbol.into(),
        side: side.into(),
        quantity: qty.parse().unwrap(),
        price: price.parse().unwrap(),
        fee: fee.parse().unwrap(),
        time: time.parse().unwrap(),
        order_id: Some(format!("o-{id}")),
        strategy: None,
    }
}

/// A money string as a number (its scale is the fills' own: "50" and "50.00" are both money).
fn money(value: &Value) -> rust_decimal::Decimal {
    value.as_str().unwrap().parse().unwrap()
}

fn d(text: &str) -> rust_decimal::Decimal {
    text.parse().unwrap()
}

async fn store_fills(store: &Store, fills: Vec<FillRecord>) {
    store
        .write_batch(&Batch {
            ingest_fills: fills,
            ..Batch::default()
        })
        .await
        .unwrap();
}

const PATHS: [&str; 11] = [
    "/trades/statistics",
    "/trades/statistics?symbol=AAPL",
    "/trades/history",
    "/trades/history?limit=1&offset=1",
    "/trades/history?symbol=AAPL&side=short",
    "/trades/daily-pnl",
    "/trades/daily-pnl?start_date=2026-03-03&end_date=2026-03-05",
    "/trades/pnl-calendar?year=2026",
    "/trades/pnl-calendar?year=2026&month=3",
    "/trades/active",
    "/trades/cash-flows",
];

/// The body of every path from the API on `port`.
async fn answers(port: &str, key: &str) -> Vec<String> {
    let client = reqwest::Client::new();
    let mut bodies = Vec::new();
    for path in PATHS {
        let response = client
            .get(format!("http://127.0.0.1:{port}{path}"))
            .header("X-API-Key", key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        bodies.push(response.text().await.unwrap());
    }
    bodies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fills_stored_after_the_ledger_was_built_answer_as_a_fresh_build() {
    let env = TestEnv::new("").await;
    env.migrate().await;
    let store = Store::from_pool(env.pool.clone());
    store_fills(
        &store,
        vec![
            fill(
                "a1",
                "AAPL",
                "buy",
                "10",
                "100",
                "0",
                "2026-03-02T15:00:00Z",
            ),
            fill(
                "a2",
                "AAPL",
                "sell",
                "10",
                "110",
                "0",
                "2026-03-02T16:00:00Z",
            ),
            fill("m1", "MSFT", "buy", "2", "400", "0", "2026-03-03T15:00:00Z"),
            fill("a3", "AAPL", "buy", "5", "200", "0", "2026-03-04T15:00:00Z"),
            fill(
                "a4",
                "AAPL",
                "sell",
                "5",
                "190",
                "0",
                "2026-03-04T16:00:00Z",
            ),
        ],
    )
    .await;
    let _api = env.spawn("exporter-api", &[]);
    let stats = eventually("the API", Duration::from_secs(30), || async {
        let (status, body) = env.get("/trades/statistics").await;
        (status == 200).then_some(body)
    })
    .await;
    // The ledger is built: AAPL +100 and -50 closed, MSFT open.
    assert_eq!(stats["closed_trades"], 2, "{stats}");
    assert_eq!(money(&stats["net_pnl"]), d("50"), "{stats}");

    store_fills(
        &store,
        vec![
            // New: the newest fill, closing MSFT (+20).
            fill(
                "m2",
                "MSFT",
                "sell",
                "2",
                "410",
                "0",
                "2026-03-05T15:00:00Z",
            ),
            // Late: older than the newest, inside the first AAPL trade.
            fill(
                "a5",
                "AAPL",
                "sell",
                "5",
                "120",
                "0",
                "2026-03-02T15:30:00Z",
            ),
            // Corrected: a2's fee as the broker booked it afterwards.
            fill(
                "a2",
                "AAPL",
                "sell",
                "10",
                "110",
                "1",
                "2026-03-02T16:00:00Z",
            ),
        ],
    )
    .await;
    sqlx::query(
        "INSERT INTO cash_activity (activity_id, activity_type, date, net_amount, order_id, status) \
         VALUES ('fee-m2', 'FEE', '2026-03-05', -0.05, 'o-m2', 'executed')",
    )
    .execute(&env.pool)
    .await
    .unwrap();

    let port = env.api_port.to_string();
    let kept = answers(&port, &env.api_key).await;
    // Worked out by hand. AAPL: buy 10 @ 100, sell 5 @ 120 (+100), sell 10 @ 110 (fee 1.00,
    // half to each part): closes 5 (+50 − 0.50 = trade +149.50) and opens a short 5 @ 110
    // (fee 0.50), covered at 200 on 03-04 (−450 − 0.50 = −450.50); the sale at 190 opens a
    // short still open. MSFT: +20 − the 0.05 fee naming its closing order = +19.95.
    let stats: Value = serde_json::from_str(&kept[0]).unwrap();
    assert_eq!(stats["closed_trades"], 3, "{stats}");
    assert_eq!(stats["open_trades"], 1, "{stats}");
    assert_eq!(money(&stats["net_pnl"]), d("-281.05"), "{stats}");
    let history: Value = serde_json::from_str(&kept[2]).unwrap();
    assert_eq!(history["total"], 3, "{history}");
    assert_eq!(history["trades"][0]["id"], "m1", "{history}");
    assert_eq!(
        money(&history["trades"][0]["realised_pnl"]),
        d("19.95"),
        "{history}"
    );
    let days: Value = serde_json::from_str(&kept[5]).unwrap();
    let by_day: Vec<(&str, rust_decimal::Decimal)> = days["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|day| (day["date"].as_str().unwrap(), money(&day["realised_pnl"])))
        .collect();
    assert_eq!(
        by_day,
        [
            ("2026-03-02", d("149.50")),
            ("2026-03-04", d("-450.50")),
            ("2026-03-05", d("19.95"))
        ],
        "{days}"
    );

    // A fresh process builds from every fill: the same answers, byte for byte.
    let fresh_port = exporter_tests::free_port().to_string();
    let _fresh = env.spawn_with(
        "exporter-api",
        &[],
        &[
            ("EXPORTER_API_KEY", env.api_key.as_str()),
            ("EXPORTER_API_PORT", fresh_port.as_str()),
        ],
    );
    exporter_tests::wait_for_port(fresh_port.parse().unwrap(), Duration::from_secs(30));
    let fresh = answers(&fresh_port, &env.api_key).await;
    for ((path, kept), fresh) in PATHS.iter().zip(&kept).zip(&fresh) {
        assert_eq!(
            kept, fresh,
            "{path}: the kept ledger and a fresh build differ"
        );
    }
    env.finish().await;
}

/// A deterministic mix of fills: four symbols, both sides (a `sell_short` among the sells),
/// three strategy tags (one none), fees with parts of a cent, and times around the midnights
/// and DST changes of New York (2026-03-08, 2026-11-01, at 02:00), Santiago (2026-04-05 and
/// 2026-09-06, at midnight) and St. John's (2010-11-07, back from 00:01 to 23:01 of the day
/// before, so a minute of the 7th comes before the last hour of the 6th): a millisecond, a second and an hour either side, the instant itself
/// (twice: a tie ordered by id) and others within a day and a half. Ids are numbered in a
/// shuffled order, so the newest-first order is not the order stored.
fn fill_mix() -> Vec<FillRecord> {
    let anchors = [
        "2026-03-07T05:00:00Z", // New York midnight (EST)
        "2026-03-08T05:00:00Z", // New York midnight before the spring change
        "2026-03-08T07:00:00Z", // New York 02:00 EST -> 03:00 EDT
        "2026-03-09T04:00:00Z", // New York midnight (EDT)
        "2026-11-01T04:00:00Z", // New York midnight before the autumn change
        "2026-11-01T06:00:00Z", // New York 02:00 EDT -> 01:00 EST
        "2026-11-02T05:00:00Z", // New York midnight (EST)
        "2026-04-04T03:00:00Z", // Santiago midnight (-03)
        "2026-04-05T03:00:00Z", // Santiago 24:00 -03 -> 23:00 -04
        "2026-04-06T04:00:00Z", // Santiago midnight (-04)
        "2026-09-06T04:00:00Z", // Santiago 24:00 -04 -> 01:00 -03
        "2026-09-07T03:00:00Z", // Santiago midnight (-03)
        "2010-11-07T02:30:00Z", // St. John's midnight (NDT)
        "2010-11-07T02:31:00Z", // St. John's 00:01 NDT -> 23:01 NST of the day before
        "2010-11-07T03:30:00Z", // St. John's midnight (NST)
    ];
    let mut seed: u64 = 0x5eed;
    let mut next = move |below: u64| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % below
    };
    let mut times = Vec::new();
    for anchor in anchors {
        let at: chrono::DateTime<chrono::Utc> = anchor.parse().unwrap();
        for ms in [-3_600_000, -1_000, -1, 0, 0, 1, 1_000, 3_599_999, 3_600_000] {
            times.push(at + chrono::TimeDelta::milliseconds(ms));
        }
        for _ in 0..24 {
            let ms = i64::try_from(next(2 * 36 * 3_600_000)).unwrap() - 36 * 3_600_000;
            times.push(at + chrono::TimeDelta::milliseconds(ms));
        }
    }
    // Ids in a shuffled order: 0..n without repeats, stepping by a number prime to n.
    let count = times.len() as u64;
    let step = (1..count)
        .rev()
        .find(|s| gcd(*s, count) == 1 && *s < count / 2)
        .unwrap();
    times
        .into_iter()
        .enumerate()
        .map(|(i, time)| {
            let number = (i as u64 * step) % count;
            let side = ["buy", "sell", "buy", "sell_short"][next(4) as usize];
            FillRecord {
                id: format!("f{number:04}"),
                symbol: ["AAPL", "MSFT", "TSLA", "BRK.B"][next(4) as usize].into(),
                side: side.into(),
                quantity: rust_decimal::Decimal::new(i64::try_from(1 + next(500)).unwrap(), 1),
                price: rust_decimal::Decimal::new(i64::try_from(1_000 + next(90_000)).unwrap(), 2),
                fee: rust_decimal::Decimal::new(i64::try_from(next(3_000)).unwrap(), 3),
                time,
                order_id: (next(3) > 0).then(|| format!("o{}", next(50))),
                strategy: [None, Some("alpha"), Some("beta")][next(3) as usize].map(Into::into),
            }
        })
        .collect()
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// The value of `name` in a query string.
fn query_value<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// What `GET /trades/fills?{query}` must answer, worked out from the fills stored: filtered in
/// Rust (the trading day of each with `exporter_trading::trading_day`), newest first (time,
/// then id), paged; fees in cents, a `sell_short` as a sell, no session (no market calendar).
fn expected_fills(
    stored: &[FillRecord],
    tz: chrono_tz::Tz,
    query: &str,
) -> (usize, Vec<serde_json::Value>) {
    let day =
        |name: &str| query_value(query, name).map(|d| d.parse::<chrono::NaiveDate>().unwrap());
    let (start, end) = (day("start_date"), day("end_date"));
    let mut matching: Vec<&FillRecord> = stored
        .iter()
        .filter(|f| query_value(query, "symbol").is_none_or(|s| f.symbol == s))
        .filter(|f| query_value(query, "side").is_none_or(|s| (s == "buy") == (f.side == "buy")))
        .filter(|f| query_value(query, "strategy").is_none_or(|s| f.strategy.as_deref() == Some(s)))
        .filter(|f| {
            let day = exporter_trading::trading_day(f.time, tz);
            start.is_none_or(|s| day >= s) && end.is_none_or(|e| day <= e)
        })
        .collect();
    matching.sort_by(|a, b| (b.time, &b.id).cmp(&(a.time, &a.id)));
    let csv_all = query_value(query, "format") == Some("csv")
        && query_value(query, "limit").is_none()
        && query_value(query, "offset").is_none();
    let limit = if csv_all {
        usize::MAX
    } else {
        query_value(query, "limit").map_or(100, |l| l.parse().unwrap())
    };
    let offset = query_value(query, "offset").map_or(0, |o| o.parse().unwrap());
    let page = matching
        .iter()
        .skip(offset)
        .take(limit)
        .map(|f| {
            let mut value = serde_json::to_value(FillRecord {
                side: if f.side == "buy" { "buy" } else { "sell" }.into(),
                fee: exporter_trading::cents(f.fee),
                ..(*f).clone()
            })
            .unwrap();
            value["session"] = Value::Null;
            value
        })
        .collect();
    (matching.len(), page)
}

const FILL_QUERIES: &[&str] = &[
    "",
    "limit=1000",
    "limit=7&offset=13",
    "offset=1000",
    "symbol=AAPL",
    "symbol=BRK.B&limit=5&offset=3",
    "side=buy&limit=50&offset=5",
    "side=sell&strategy=alpha",
    "strategy=beta&symbol=TSLA",
    "strategy=none-such",
    "start_date=2026-03-08&end_date=2026-03-08",
    "start_date=2026-03-08&end_date=2026-03-08&symbol=MSFT&limit=3&offset=2",
    "start_date=2026-11-01&end_date=2026-11-01&limit=1000",
    "end_date=2026-03-07&limit=1000",
    "start_date=2026-04-04&end_date=2026-04-04&limit=1000",
    "start_date=2026-04-05&end_date=2026-04-05&side=sell",
    "start_date=2026-09-06&limit=1000",
    "start_date=2026-09-05&end_date=2026-09-06&side=buy&strategy=alpha",
    "start_date=2026-09-07&end_date=2026-09-05",
    "start_date=2026-03-01&end_date=2026-11-30&limit=1000&offset=17",
    "start_date=2010-11-06&end_date=2010-11-06&limit=1000",
    "start_date=2010-11-07&end_date=2010-11-07&limit=1000",
    "start_date=2010-11-07&limit=1000&offset=1",
    "end_date=2010-11-06&symbol=AAPL",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fill_pages_are_the_stored_fills_filtered_newest_first() {
    let env = TestEnv::new("").await;
    env.migrate().await;
    let store = Store::from_pool(env.pool.clone());
    let stored = fill_mix();
    assert!(stored.len() > 300);
    store_fills(&store, stored.clone()).await;
    // The default zone (New York) on the environment's API, the others on one API each.
    let _api = env.spawn("exporter-api", &[]);
    let yaml = std::fs::read_to_string(&env.settings_path).unwrap();
    let mut apis = vec![(env.api_port.to_string(), chrono_tz::America::New_York, None)];
    for tz in [chrono_tz::America::Santiago, chrono_tz::America::St_Johns] {
        let settings = env
            .settings_path
            .with_file_name(format!("{}.yaml", tz.name().replace('/', "-")));
        std::fs::write(
            &settings,
            format!("{yaml}\ntrading:\n  timezone: {}\n", tz.name()),
        )
        .unwrap();
        let port = exporter_tests::free_port().to_string();
        let api = env.spawn_with(
            "exporter-api",
            &[],
            &[
                ("EXPORTER_API_KEY", env.api_key.as_str()),
                ("EXPORTER_SETTINGS", settings.to_str().unwrap()),
                ("EXPORTER_API_PORT", port.as_str()),
            ],
        );
        apis.push((port, tz, Some(api)));
    }
    for (port, tz, _api) in &apis {
        let tz = *tz;
        let url = |query: &str| format!("http://127.0.0.1:{port}/trades/fills?{query}");
        eventually("the API", Duration::from_secs(30), || async {
            let (status, _) = exporter_tests::get_json(&url("limit=1"), Some(&env.api_key)).await;
            (status == 200).then_some(())
        })
        .await;
        for &query in FILL_QUERIES {
            let (status, body) = exporter_tests::get_json(&url(query), Some(&env.api_key)).await;
            assert_eq!(status, 200, "{tz} {query}: {body}");
            let (total, fills) = expected_fills(&stored, tz, query);
            let limit: u64 = query_value(query, "limit").map_or(100, |l| l.parse().unwrap());
            let offset: u64 = query_value(query, "offset").map_or(0, |o| o.parse().unwrap());
            let expected = serde_json::json!({
                "total": total,
                "limit": limit,
                "offset": offset,
                "fills": fills,
            });
            assert!(
                body == expected,
                "{tz} {query}: got {body}\nexpected {expected}"
            );
        }
        // A CSV export without a page holds every matching fill, newest first; with one, the page.
        for query in [
            "symbol=TSLA&format=csv",
            "start_date=2026-04-04&end_date=2026-04-05&format=csv",
            "format=csv&limit=5&offset=2",
        ] {
            let response = reqwest::Client::new()
                .get(url(query))
                .header("X-API-Key", &env.api_key)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{tz} {query}");
            let text = response.text().await.unwrap();
            let ids: Vec<&str> = text
                .lines()
                .skip(1)
                .map(|line| line.split(',').next().unwrap())
                .collect();
            let (_, fills) = expected_fills(&stored, tz, query);
            let expected: Vec<&str> = fills.iter().map(|f| f["id"].as_str().unwrap()).collect();
            assert_eq!(ids, expected, "{tz} {query}");
        }
    }
    env.finish().await;
}

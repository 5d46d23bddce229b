//! The client against the stand-in serving Alpaca's recorded answers: every fixture parses
//! with exact decimals, activities and orders page completely, portfolio history skips the
//! nulls, the keys travel in the headers and never in `Debug`.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use common::{StandIn, client_for, fixture_activities, fixture_body};
use exporter_alpaca::{
    ActivitiesQuery, Activity, Direction, FillType, KEY_ID_HEADER, PositionSide, RateLimiter,
    SECRET_KEY_HEADER, TradeSide,
};
use rust_decimal::Decimal;
use serde_json::{Value, json};

/// Asserts `actual` is exactly the decimal written `expected`, scale included.
#[track_caller]
fn assert_dec(actual: Decimal, expected: &str) {
    let expected_value = Decimal::from_str_exact(expected).unwrap();
    assert_eq!(actual, expected_value, "value");
    assert_eq!(actual.to_string(), expected, "digits and scale");
}

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

#[tokio::test]
async fn account_fixture_parses_exactly() {
    let stand_in = StandIn::start().await;
    let account = stand_in.client().account().await.unwrap();
    assert_eq!(account.id, "e6fe16f3-64a4-4921-8928-cadf02f92f98");
    assert_eq!(account.account_number, "010203ABCD");
    assert_eq!(account.status, "ACTIVE");
    assert_eq!(account.currency, "USD");
    assert_dec(account.cash, "-23140.2");
    assert_dec(account.equity, "103820.56");
    assert_dec(account.last_equity, "103529.24");
    assert_dec(account.buying_power, "262113.632");
    assert_dec(account.regt_buying_power.unwrap(), "80680.36");
    assert_dec(account.daytrading_buying_power.unwrap(), "262113.632");
    assert_dec(account.non_marginable_buying_power.unwrap(), "98945.02");
    assert_dec(account.long_market_value, "126960.76");
    assert_dec(account.short_market_value, "0");
    assert_dec(account.initial_margin, "63480.38");
    assert_dec(account.maintenance_margin, "38088.228");
    assert_dec(account.last_maintenance_margin.unwrap(), "38000.832");
    assert_dec(account.multiplier, "4");
    assert_dec(account.accrued_fees.unwrap(), "0");
    assert_eq!(account.daytrade_count, 0);
    assert!(!account.pattern_day_trader);
    assert!(account.shorting_enabled);
    assert!(!account.trading_blocked && !account.account_blocked && !account.transfers_blocked);
    assert_eq!(account.options_approved_level, Some(1));
    assert_eq!(account.options_trading_level, Some(1));
    assert_eq!(account.created_at, utc("2019-06-12T22:47:07.99658Z"));

    let request = &stand_in.requests()[0];
    assert_eq!(request.method, "GET");
    assert_eq!(request.path, "/v2/account");
}

#[tokio::test]
async fn decimals_serialise_as_json_strings() {
    let stand_in = StandIn::start().await;
    let account = stand_in.client().account().await.unwrap();
    let json = serde_json::to_value(&account).unwrap();
    assert_eq!(json["cash"], json!("-23140.2"));
    assert_eq!(json["buying_power"], json!("262113.632"));
}

#[tokio::test]
async fn positions_fixture_parses_exactly() {
    let stand_in = StandIn::start().await;
    let positions = stand_in.client().positions().await.unwrap();
    assert_eq!(positions.len(), 1);
    let aapl = &positions[0];
    assert_eq!(aapl.symbol, "AAPL");
    assert_eq!(aapl.asset_id, "904837e3-3b76-47ec-b432-046db621571b");
    assert_eq!(aapl.exchange.as_deref(), Some("NASDAQ"));
    assert_eq!(aapl.side, PositionSide::Long);
    assert_dec(aapl.qty, "5");
    assert_dec(aapl.avg_entry_price, "100.0");
    assert_dec(aapl.market_value.unwrap(), "600.0");
    assert_dec(aapl.cost_basis, "500.0");
    assert_dec(aapl.unrealized_pl.unwrap(), "100.0");
    assert_dec(aapl.unrealized_plpc.unwrap(), "0.20");
    assert_dec(aapl.unrealized_intraday_plpc.unwrap(), "0.0084");
    assert_dec(aapl.current_price.unwrap(), "120.0");
    assert_dec(aapl.lastday_price.unwrap(), "119.0");
}

#[tokio::test]
async fn orders_fixture_parses_with_numbers_and_nulls() {
    let stand_in = StandIn::start().await;
    let orders = stand_in.client().open_orders().await.unwrap();
    assert_eq!(orders.len(), 1);
    let order = &orders[0];
    assert_eq!(order.id, "0b11f089-722d-4ced-9beb-e2eeed3637dc");
    assert_eq!(order.symbol, "SPY");
    assert_eq!(order.status, "new");
    assert_eq!(order.side, "buy");
    assert_eq!(order.order_type.as_deref(), Some("market"));
    assert_eq!(order.kind.as_deref(), Some("stop"));
    assert_eq!(order.time_in_force, "day");
    // qty, filled_qty and filled_avg_price arrive as JSON numbers here.
    assert_dec(order.qty.unwrap(), "1");
    assert_dec(order.filled_qty, "0");
    assert_dec(order.filled_avg_price.unwrap(), "0");
    assert_eq!(order.notional, None);
    assert_eq!(order.limit_price, None);
    assert_eq!(order.stop_price, None);
    assert_eq!(order.trail_percent, None);
    // The recording has the placeholder "string" as the high-water mark.
    assert_eq!(order.hwm, None);
    assert!(order.extended_hours);
    assert_eq!(order.submitted_at, Some(utc("2019-08-24T14:15:22Z")));

    let requests = stand_in.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/v2/orders");
    assert_eq!(requests[0].query["status"], "open");
    assert_eq!(requests[0].query["limit"], "500");
}

#[tokio::test]
async fn open_orders_pages_through_more_than_one_full_page() {
    let stand_in = StandIn::start().await;
    let template = match fixture_body("orders.json") {
        Value::Array(items) => items[0].clone(),
        other => panic!("orders.json: {other}"),
    };
    let start = Utc.with_ymd_and_hms(2024, 5, 1, 13, 30, 0).unwrap();
    // Three orders per timestamp, so pages end in the middle of a group.
    let orders: Vec<Value> = (0..1203)
        .map(|i| {
            let mut order = template.clone();
            let at = (start + chrono::Duration::seconds(i / 3)).to_rfc3339();
            order["id"] = json!(format!("order-{i:05}"));
            order["submitted_at"] = json!(at);
            order["created_at"] = json!(at);
            order
        })
        .collect();
    stand_in.set_orders(orders);
    let got = stand_in.client().open_orders().await.unwrap();
    let ids: Vec<String> = got.iter().map(|o| o.id.clone()).collect();
    let expected: Vec<String> = (0..1203).map(|i| format!("order-{i:05}")).collect();
    assert_eq!(ids, expected);
    assert_eq!(stand_in.requests().len(), 3);
}

#[tokio::test]
async fn activities_fixture_parses_trades_and_cash() {
    let stand_in = StandIn::start().await;
    let query = ActivitiesQuery::default();
    let activities = stand_in.client().activities(&query).await.unwrap();
    assert_eq!(activities.len(), 13);
    assert_eq!(
        activities.iter().filter(|a| a.as_trade().is_some()).count(),
        6
    );
    assert_eq!(
        activities
            .iter()
            .filter(|a| a.as_non_trade().is_some())
            .count(),
        7
    );

    let deposit = activities[0].as_non_trade().unwrap();
    assert_eq!(
        deposit.id,
        "20220419000000000::fd84741b-59c5-4ddd-a303-69f70eb7753f"
    );
    assert_eq!(deposit.activity_type, "CSD");
    assert_eq!(deposit.date, NaiveDate::from_ymd_opt(2022, 4, 19).unwrap());
    assert_dec(deposit.net_amount, "33324.35");
    assert_eq!(deposit.status.as_deref(), Some("executed"));
    assert_eq!(deposit.description.as_deref(), Some(""));
    assert_eq!(deposit.symbol, None);

    let amzn_partial = activities[8].as_trade().unwrap();
    assert_eq!(amzn_partial.symbol, "AMZN");
    assert_eq!(amzn_partial.activity_type, "FILL");
    assert_eq!(amzn_partial.fill_type, FillType::PartialFill);
    assert_eq!(amzn_partial.side, TradeSide::Buy);
    assert_dec(amzn_partial.price, "2907.15");
    assert_dec(amzn_partial.qty, "1.792161878");
    assert_dec(amzn_partial.cum_qty, "1.792161878");
    assert_dec(amzn_partial.leaves_qty, "1");
    assert_eq!(amzn_partial.order_status, "partially_filled");
    assert_eq!(
        amzn_partial.transaction_time,
        utc("2022-03-04T18:54:20.903569Z")
    );

    let tsla_partial = activities[11].as_trade().unwrap();
    assert_eq!(tsla_partial.side, TradeSide::Sell);
    assert_eq!(tsla_partial.fill_type, FillType::PartialFill);
    assert_dec(tsla_partial.qty, "1.998065556");
    assert_dec(tsla_partial.price, "837.45");
    assert_dec(tsla_partial.leaves_qty, "4");

    let googl = activities[2].as_trade().unwrap();
    assert_eq!(googl.fill_type, FillType::Fill);
    assert_dec(googl.price, "2630.95");
    assert_dec(googl.cum_qty, "10.177047834");

    let request = &stand_in.requests()[0];
    assert_eq!(request.path, "/v2/account/activities");
    assert_eq!(request.query["direction"], "desc");
    assert_eq!(request.query["page_size"], "100");
    assert!(request.query["activity_types"].starts_with("FILL,CSD,CSW"));
    assert!(!request.query.contains_key("page_token"));
}

#[tokio::test]
async fn all_activities_pages_by_last_id_and_returns_each_once_in_order() {
    let expected: Vec<String> = fixture_activities()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(expected.len(), 13);

    for (page_size, pages) in [(5, 3), (4, 4), (13, 2), (1, 14), (100, 1)] {
        let stand_in = StandIn::start().await;
        let query = ActivitiesQuery {
            page_size,
            after: Some(utc("2022-01-01T00:00:00Z")),
            activity_types: vec!["FILL".into(), "CSD".into()],
            ..ActivitiesQuery::default()
        };
        let all = stand_in
            .client()
            .all_activities_since(&query)
            .await
            .unwrap();
        let ids: Vec<&str> = all.iter().map(Activity::id).collect();
        assert_eq!(ids, expected, "page_size {page_size}");

        let requests = stand_in.requests();
        assert_eq!(requests.len(), pages, "page_size {page_size}");
        assert!(!requests[0].query.contains_key("page_token"));
        for (i, request) in requests.iter().enumerate().skip(1) {
            let last_of_previous = &expected[i * page_size as usize - 1];
            assert_eq!(&request.query["page_token"], last_of_previous);
            assert_eq!(request.query["page_size"], page_size.to_string());
            assert_eq!(request.query["activity_types"], "FILL,CSD");
            assert_eq!(request.query["after"], "2022-01-01T00:00:00.000000Z");
        }
    }
}

#[tokio::test]
async fn all_activities_ascending_and_page_size_clamped() {
    let stand_in = StandIn::start().await;
    let query = ActivitiesQuery {
        page_size: 1000,
        direction: Direction::Asc,
        ..ActivitiesQuery::default()
    };
    let all = stand_in
        .client()
        .all_activities_since(&query)
        .await
        .unwrap();
    let mut expected: Vec<String> = fixture_activities()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect();
    expected.reverse();
    assert_eq!(all.iter().map(Activity::id).collect::<Vec<_>>(), expected);
    assert_eq!(stand_in.requests()[0].query["page_size"], "100");
    assert_eq!(stand_in.requests()[0].query["direction"], "asc");
}

#[tokio::test]
async fn unknown_activity_types_do_not_fail_the_page() {
    let stand_in = StandIn::start().await;
    stand_in.set_activities(vec![
        json!({
            "id": "20240102000000000::div", "activity_type": "DIV", "date": "2024-01-02",
            "net_amount": "1.23", "symbol": "AAPL", "qty": "5", "per_share_amount": "0.246",
            "status": "executed"
        }),
        json!({ "id": "20240103000000000::new", "activity_type": "BRAND_NEW", "whatever": [1, 2] }),
        json!({
            "id": "20240104000000000::fee", "activity_type": "FEE",
            "date": "2024-01-04T05:00:00Z", "net_amount": -0.01
        }),
    ]);
    let activities = stand_in
        .client()
        .activities(&ActivitiesQuery::default())
        .await
        .unwrap();
    assert_eq!(activities.len(), 3);
    let dividend = activities[0].as_non_trade().unwrap();
    assert_dec(dividend.net_amount, "1.23");
    assert_dec(dividend.qty.unwrap(), "5");
    assert_dec(dividend.per_share_amount.unwrap(), "0.246");
    assert_eq!(dividend.symbol.as_deref(), Some("AAPL"));
    match &activities[1] {
        Activity::Other(other) => {
            assert_eq!(other.activity_type, "BRAND_NEW");
            assert_eq!(other.raw["whatever"], json!([1, 2]));
        }
        other => panic!("expected Other, got {other:?}"),
    }
    let fee = activities[2].as_non_trade().unwrap();
    assert_dec(fee.net_amount, "-0.01");
    assert_eq!(fee.date, NaiveDate::from_ymd_opt(2024, 1, 4).unwrap());
    assert_eq!(fee.description, None);
}

#[tokio::test]
async fn portfolio_history_skips_leading_nulls_and_keeps_exact_decimals() {
    let stand_in = StandIn::start().await;
    // JSON numbers, as Alpaca sends them; more digits than an f64 keeps.
    stand_in.set_body(
        "/v2/account/portfolio/history",
        r#"{"timestamp":[1700006400,1700092800,1700179200,1700265600,1700352000],
            "equity":[null,null,100000.10,100123.456789012345,99999.99],
            "profit_loss":[null,null,0,123.356789012345,null],
            "profit_loss_pct":[null,null,0,0.00123356789012345,-1.5e-5],
            "base_value":100000.10,"timeframe":"1D"}"#,
    );
    let history = stand_in
        .client()
        .portfolio_history("1W", "1D")
        .await
        .unwrap();
    assert_eq!(history.timeframe, "1D");
    assert_dec(history.base_value.unwrap(), "100000.10");
    assert_eq!(history.points.len(), 3);

    let first = &history.points[0];
    assert_eq!(
        first.time,
        DateTime::from_timestamp(1_700_179_200, 0).unwrap()
    );
    assert_dec(first.equity, "100000.10");
    assert_dec(first.profit_loss.unwrap(), "0");
    assert_dec(first.profit_loss_pct.unwrap(), "0");

    let second = &history.points[1];
    assert_eq!(
        second.time,
        DateTime::from_timestamp(1_700_265_600, 0).unwrap()
    );
    assert_dec(second.equity, "100123.456789012345");
    assert_dec(second.profit_loss.unwrap(), "123.356789012345");
    assert_dec(second.profit_loss_pct.unwrap(), "0.00123356789012345");

    let third = &history.points[2];
    assert_dec(third.equity, "99999.99");
    assert_eq!(third.profit_loss, None);
    assert_eq!(
        third.profit_loss_pct,
        Some(Decimal::from_str_exact("-0.000015").unwrap())
    );

    let request = &stand_in.requests()[0];
    assert_eq!(request.path, "/v2/account/portfolio/history");
    assert_eq!(request.query["period"], "1W");
    assert_eq!(request.query["timeframe"], "1D");
}

#[tokio::test]
async fn requests_carry_the_key_id_and_secret_headers() {
    let stand_in = StandIn::start().await;
    let config = stand_in.config();
    let key_id = config.key_id.clone();
    let secret = config.secret_key.expose().to_owned();
    let client = client_for(config);
    client.account().await.unwrap();
    client.positions().await.unwrap();
    let requests = stand_in.requests();
    assert_eq!(requests.len(), 2);
    for request in requests {
        assert_eq!(request.headers[KEY_ID_HEADER], key_id.as_str());
        assert_eq!(request.headers[SECRET_KEY_HEADER], secret.as_str());
    }
}

#[tokio::test]
async fn the_secret_never_appears_in_debug_output() {
    let stand_in = StandIn::start().await;
    let config = stand_in.config();
    let secret = config.secret_key.expose().to_owned();
    let config_debug = format!("{config:?}");
    assert!(!config_debug.contains(&secret), "{config_debug}");
    assert!(config_debug.contains("[redacted]"));
    let client = client_for(config);
    let client_debug = format!("{client:?} {client:#?}");
    assert!(!client_debug.contains(&secret), "{client_debug}");
    assert!(client_debug.contains(&stand_in.base_url));
}

#[tokio::test]
async fn the_client_side_limiter_spaces_requests() {
    let stand_in = StandIn::start().await;
    let client = stand_in
        .client()
        .with_rate_limiter(RateLimiter::new(2, Duration::from_millis(300)));
    let started = Instant::now();
    for _ in 0..3 {
        client.account().await.unwrap();
    }
    assert!(started.elapsed() >= Duration::from_millis(290));
    assert_eq!(stand_in.requests().len(), 3);
}

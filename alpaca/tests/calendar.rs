//! The market calendar and clock against the stand-in, in Alpaca's documented format: the
//! days the market opens (an early close's 13:00, the extended session as `HHMM`), the clock
//! with New York's offset, and a clear error for an answer that is not a calendar.

#![allow(clippy::unwrap_used)]

mod common;

use chrono::{NaiveDate, NaiveTime};
use common::StandIn;

fn date(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

#[tokio::test]
async fn calendar_and_clock_parse_alpacas_format() {
    let stand_in = StandIn::start().await;
    // Thanksgiving week 2026: Thursday 26 November closed, Friday closes at 13:00.
    stand_in.set_body(
        "/v2/calendar",
        r#"[
          {"date":"2026-11-25","open":"09:30","close":"16:00","session_open":"0400","session_close":"2000","settlement_date":"2026-11-27"},
          {"date":"2026-11-27","open":"09:30","close":"13:00","session_open":"0400","session_close":"1700","settlement_date":"2026-11-30"}
        ]"#,
    );
    stand_in.set_body(
        "/v2/clock",
        r#"{"timestamp":"2026-11-27T12:59:30.412345678-05:00","is_open":true,"next_open":"2026-11-30T09:30:00-05:00","next_close":"2026-11-27T13:00:00-05:00"}"#,
    );
    let client = stand_in.client();
    let days = client
        .calendar(date("2026-11-25"), date("2026-11-27"))
        .await
        .unwrap();
    assert_eq!(days.len(), 2, "the holiday is not listed");
    assert_eq!(days[1].date, date("2026-11-27"));
    assert_eq!(days[1].close, NaiveTime::from_hms_opt(13, 0, 0).unwrap());
    assert_eq!(days[1].session_close, NaiveTime::from_hms_opt(17, 0, 0));
    assert_eq!(days[0].settlement_date, Some(date("2026-11-27")));
    let request = &stand_in.requests()[0];
    assert_eq!(request.path, "/v2/calendar");
    assert_eq!(request.query["start"], "2026-11-25");
    assert_eq!(request.query["end"], "2026-11-27");

    let clock = client.clock().await.unwrap();
    assert!(clock.is_open);
    assert_eq!(clock.next_close.to_rfc3339(), "2026-11-27T13:00:00-05:00");

    stand_in.set_body(
        "/v2/calendar",
        r#"[{"date":"2026-11-25","open":"half past nine"}]"#,
    );
    let err = client
        .calendar(date("2026-11-25"), date("2026-11-25"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("/v2/calendar"), "{err}");
}

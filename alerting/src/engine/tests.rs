//! The engine driven through whole lifecycles with an explicit clock.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use exporter_protocol::SeriesPoint;
use exporter_protocol::alert::{Notification, Severity};
use exporter_protocol::logs::{LogLevel, LogLine};
use uuid::Uuid;

use super::*;
use crate::rules::compile;
use crate::schema::AlertRules;

fn engine(yaml: &str) -> (Engine, DateTime<Utc>) {
    let rules = compile(&AlertRules::parse(yaml).unwrap()).unwrap();
    let t0 = "2026-11-25T03:00:00Z".parse().unwrap();
    (Engine::new(rules, t0, Duration::hours(1)), t0)
}

fn cpu(value: f64) -> Vec<SeriesPoint> {
    vec![SeriesPoint::plain("cpu.usage_percent", value)]
}

fn kinds(changes: &[Change]) -> Vec<&'static str> {
    changes.iter().map(|c| c.kind.as_str()).collect()
}

const CPU: &str = "rules:\n- name: HostCpuHigh\n  severity: warning\n  category: system\n  expr: cpu.usage_percent > 90\n  for: 5m\n  keep_firing_for: 2m\n  summary: 'CPU {{ value }}% on {{ labels.host }}'\n";

#[test]
fn for_holds_the_alert_back_until_the_condition_held_long_enough() {
    let (mut e, t0) = engine(CPU);
    let s = |m: i64| t0 + Duration::minutes(m);
    e.observe_sample("system", "gh200", &cpu(95.0), s(0));
    assert_eq!(kinds(&e.evaluate(s(0))), ["pending"]);
    for m in 1..5 {
        e.observe_sample("system", "gh200", &cpu(95.0), s(m));
        assert!(e.evaluate(s(m)).is_empty(), "minute {m}");
    }
    e.observe_sample("system", "gh200", &cpu(96.0), s(5));
    let changes = e.evaluate(s(5));
    assert_eq!(kinds(&changes), ["firing"]);
    let alert = &changes[0].alert;
    assert_eq!(alert.labels["host"], "gh200");
    assert_eq!(alert.labels["alertname"], "HostCpuHigh");
    assert_eq!(alert.annotations["summary"], "CPU 96% on gh200");
    assert_eq!(alert.started_at, s(0));
}

#[test]
fn a_short_spike_goes_pending_then_inactive_and_is_never_firing() {
    let (mut e, t0) = engine(CPU);
    e.observe_sample("system", "gh200", &cpu(99.0), t0);
    assert_eq!(kinds(&e.evaluate(t0)), ["pending"]);
    let t1 = t0 + Duration::minutes(1);
    e.observe_sample("system", "gh200", &cpu(20.0), t1);
    assert_eq!(kinds(&e.evaluate(t1)), ["inactive"]);
    assert_eq!(e.open_alerts().count(), 0);
}

#[test]
fn flapping_values_do_not_flap_the_alert() {
    let (mut e, t0) = engine(CPU);
    let mut all = Vec::new();
    // 10 minutes above, then 20 minutes alternating every 30 s above and below.
    for step in 0..60 {
        let now = t0 + Duration::seconds(30 * step);
        let value = if step < 20 || step % 2 == 0 {
            95.0
        } else {
            50.0
        };
        e.observe_sample("system", "gh200", &cpu(value), now);
        all.extend(e.evaluate(now));
    }
    assert_eq!(kinds(&all), ["pending", "firing"]);
    // Then it settles below: resolved once keep_firing_for passed.
    let mut later = Vec::new();
    for step in 60..70 {
        let now = t0 + Duration::seconds(30 * step);
        e.observe_sample("system", "gh200", &cpu(50.0), now);
        later.extend(e.evaluate(now));
    }
    assert_eq!(kinds(&later), ["resolved"]);
    assert_eq!(
        later[0].alert.id, all[1].alert.id,
        "same alert from pending to resolved"
    );
}

#[test]
fn hysteresis_needs_the_value_back_below_the_resolve_threshold() {
    let yaml = "rules:\n- {name: Hot, severity: warning, category: hardware, expr: 'gpu.temperature_celsius > 85', resolve_threshold: 80}\n";
    let (mut e, t0) = engine(yaml);
    let temp = |v: f64| {
        vec![SeriesPoint::labelled(
            "gpu.temperature_celsius",
            "gpu",
            "0",
            v,
        )]
    };
    let mut all = Vec::new();
    for (i, v) in [86.0, 84.0, 82.0, 86.0, 81.0, 79.0].into_iter().enumerate() {
        let now = t0 + Duration::seconds(10 * i as i64);
        e.observe_sample("hardware", "gh200", &temp(v), now);
        all.extend(e.evaluate(now));
    }
    assert_eq!(kinds(&all), ["firing", "resolved"]);
    assert_eq!(all[1].alert.value, Some(79.0));
    assert_eq!(all[0].alert.labels["gpu"], "0");
}

#[test]
fn firing_again_after_resolution_is_a_new_alert() {
    let yaml = "rules:\n- {name: Low, severity: info, category: system, expr: 'memory.used_percent > 90'}\n";
    let (mut e, t0) = engine(yaml);
    let mem = |v: f64| vec![SeriesPoint::plain("memory.used_percent", v)];
    let mut all = Vec::new();
    for (i, v) in [95.0, 50.0, 95.0].into_iter().enumerate() {
        let now = t0 + Duration::seconds(i as i64);
        e.observe_sample("system", "h", &mem(v), now);
        all.extend(e.evaluate(now));
    }
    assert_eq!(kinds(&all), ["firing", "resolved", "firing"]);
    assert_ne!(all[0].alert.id, all[2].alert.id);
    assert_eq!(all[0].alert.fingerprint, all[2].alert.fingerprint);
}

#[test]
fn a_stale_series_stops_matching_and_its_alert_resolves() {
    let yaml = "rules:\n- {name: Xid, severity: critical, category: hardware, expr: 'gpu.xid > 0', stale_after: 1m, keep_firing_for: 5m}\n";
    let (mut e, t0) = engine(yaml);
    e.observe_sample(
        "hardware-event",
        "h",
        &[SeriesPoint::labelled("gpu.xid", "gpu", "0", 79.0)],
        t0,
    );
    assert_eq!(kinds(&e.evaluate(t0)), ["firing"]);
    assert!(
        e.evaluate(t0 + Duration::minutes(3)).is_empty(),
        "kept firing"
    );
    assert_eq!(kinds(&e.evaluate(t0 + Duration::minutes(6))), ["resolved"]);
}

#[test]
fn absence_fires_when_a_source_goes_quiet_and_resolves_when_it_is_back() {
    let yaml = "rules:\n- {name: SystemAbsent, severity: critical, category: system, absent: {source: system, after: 30s}, summary: 'quiet {{ value }}s'}\n";
    let (mut e, t0) = engine(yaml);
    let s = |sec: i64| t0 + Duration::seconds(sec);
    for sec in (0..=20).step_by(5) {
        e.observe_sample("system", "gh200", &cpu(10.0), s(sec));
        assert!(e.evaluate(s(sec)).is_empty());
    }
    assert!(
        e.evaluate(s(45)).is_empty(),
        "25 s of silence is not absence yet"
    );
    let fired = e.evaluate(s(55));
    assert_eq!(kinds(&fired), ["firing"]);
    assert_eq!(fired[0].alert.labels["source"], "system");
    assert_eq!(fired[0].alert.annotations["summary"], "quiet 35s");
    assert!(e.evaluate(s(120)).is_empty());
    e.observe_sample("system", "gh200", &cpu(10.0), s(125));
    let back = e.evaluate(s(125));
    assert_eq!(kinds(&back), ["resolved"]);
    assert_eq!(back[0].alert.id, fired[0].alert.id);
}

#[test]
fn heartbeat_absence_and_configured_hosts_never_seen() {
    let yaml = "rules:\n- {name: ApiAbsent, severity: critical, category: system, absent: {process: api, after: 10s, hosts: [gh200]}}\n";
    let (mut e, t0) = engine(yaml);
    assert!(e.evaluate(t0 + Duration::seconds(5)).is_empty());
    assert_eq!(kinds(&e.evaluate(t0 + Duration::seconds(11))), ["firing"]);
    e.observe_heartbeat("api", "gh200", t0 + Duration::seconds(12));
    assert_eq!(kinds(&e.evaluate(t0 + Duration::seconds(12))), ["resolved"]);
}

fn line(level: LogLevel, component: &str, message: &str) -> LogLine {
    LogLine {
        time: Utc::now(),
        level,
        component: Some(component.into()),
        message: message.into(),
        fields: Default::default(),
        source: "/var/log/x.log".into(),
        offset: None,
        truncated: false,
    }
}

#[test]
fn log_rules_count_lines_per_component_within_the_window() {
    let yaml = "rules:\n- {name: Errors, severity: warning, category: logs, logs: {min_level: error, count: 3, window: 1m}}\n- {name: Halt, severity: critical, category: logs, logs: {min_level: info, pattern: 'strategy .* halted', count: 1, window: 5m}}\n";
    let (mut e, t0) = engine(yaml);
    let lines = [
        line(LogLevel::Error, "engine", "order failed"),
        line(LogLevel::Warning, "engine", "slow"),
        line(LogLevel::Critical, "engine", "broker down"),
        line(LogLevel::Error, "risk", "limit"),
    ];
    e.observe_logs("gh200", &lines, t0);
    assert!(e.evaluate(t0).is_empty(), "2 engine errors < 3");
    e.observe_logs(
        "gh200",
        &[line(LogLevel::Error, "engine", "again")],
        t0 + Duration::seconds(10),
    );
    let fired = e.evaluate(t0 + Duration::seconds(10));
    assert_eq!(kinds(&fired), ["firing"]);
    assert_eq!(fired[0].alert.labels["component"], "engine");
    assert_eq!(fired[0].alert.value, Some(3.0));
    e.observe_logs(
        "gh200",
        &[line(
            LogLevel::Info,
            "strategy",
            "strategy momo halted by risk",
        )],
        t0 + Duration::seconds(20),
    );
    assert_eq!(kinds(&e.evaluate(t0 + Duration::seconds(20))), ["firing"]);
    // The window slides past the first errors: resolved.
    let later = e.evaluate(t0 + Duration::seconds(75));
    assert_eq!(kinds(&later), ["resolved"]);
    assert_eq!(later[0].alert.rule, "Errors");
}

#[test]
fn notifications_fire_at_once_repeat_into_one_alert_and_resolve() {
    let (mut e, t0) = engine("rules: []\n");
    let n = Notification {
        time: None,
        severity: "error".into(),
        category: "order_rejected".into(),
        title: "AAPL buy rejected".into(),
        message: "insufficient buying power".into(),
        labels: BTreeMap::from([("strategy".into(), "momo".into())]),
        resolved: false,
    };
    e.observe_notification(&n, Some("gh200"), t0);
    e.observe_notification(&n, Some("gh200"), t0 + Duration::seconds(1));
    let fired = e.evaluate(t0 + Duration::seconds(1));
    assert_eq!(kinds(&fired), ["firing"]);
    let alert = &fired[0].alert;
    assert_eq!(alert.category, "order_rejected");
    assert_eq!(alert.severity, Severity::Critical);
    assert_eq!(alert.labels["strategy"], "momo");
    assert_eq!(e.open_alerts().next().unwrap().value, Some(2.0));
    let done = Notification {
        resolved: true,
        ..n.clone()
    };
    e.observe_notification(&done, Some("gh200"), t0 + Duration::seconds(2));
    assert_eq!(kinds(&e.evaluate(t0 + Duration::seconds(2))), ["resolved"]);
    // Unresolved ones resolve after the quiet period.
    e.observe_notification(&n, Some("gh200"), t0 + Duration::seconds(3));
    assert_eq!(kinds(&e.evaluate(t0 + Duration::seconds(3))), ["firing"]);
    assert!(e.evaluate(t0 + Duration::minutes(30)).is_empty());
    assert_eq!(kinds(&e.evaluate(t0 + Duration::minutes(61))), ["resolved"]);
}

#[test]
fn drawdown_is_derived_from_the_equity_peak() {
    let yaml = "rules:\n- {name: Drawdown, severity: critical, category: trading, expr: 'portfolio.drawdown_percent > 10'}\n";
    let (mut e, t0) = engine(yaml);
    e.seed_equity_peak("h", 100_000.0);
    let eq = |v: f64| vec![SeriesPoint::plain("portfolio.equity", v)];
    e.observe_sample("portfolio", "h", &eq(95_000.0), t0);
    assert!(e.evaluate(t0).is_empty());
    e.observe_sample("portfolio", "h", &eq(89_000.0), t0 + Duration::seconds(1));
    let fired = e.evaluate(t0 + Duration::seconds(1));
    assert_eq!(kinds(&fired), ["firing"]);
    assert!((fired[0].alert.value.unwrap() - 11.0).abs() < 1e-9);
}

#[test]
fn a_restart_neither_resolves_nor_refires_what_still_holds() {
    let yaml = "rules:\n- {name: ApiAbsent, severity: critical, category: system, absent: {process: api, after: 10s}}\n- {name: Full, severity: critical, category: system, expr: 'filesystem.used_percent > 97', stale_after: 2m}\n";
    let (mut before, t0) = engine(yaml);
    before.observe_heartbeat("api", "h", t0);
    let disk = vec![SeriesPoint::labelled(
        "filesystem.used_percent",
        "mount_point",
        "/",
        99.0,
    )];
    before.observe_sample("system", "h", &disk, t0);
    let fired = before.evaluate(t0 + Duration::seconds(20));
    assert_eq!(kinds(&fired), ["firing", "firing"]);

    // The aggregator restarts 30 s later with the stored open alerts.
    let restart = t0 + Duration::seconds(50);
    let rules = compile(&AlertRules::parse(yaml).unwrap()).unwrap();
    let mut after = Engine::new(rules, restart, Duration::hours(1));
    after.restore(before.open_alerts().cloned().collect());
    assert!(
        after.evaluate(restart).is_empty(),
        "nothing resolves at the first evaluation"
    );
    after.observe_sample("system", "h", &disk, restart + Duration::seconds(5));
    assert!(after.evaluate(restart + Duration::seconds(5)).is_empty());
    // The API is still silent and the disk still full: both keep firing, same ids.
    after.observe_sample("system", "h", &disk, restart + Duration::minutes(5));
    assert!(after.evaluate(restart + Duration::minutes(5)).is_empty());
    let open: Vec<Uuid> = after.open_alerts().map(|a| a.id).collect();
    assert_eq!(open.len(), 2);
    assert!(fired.iter().all(|c| open.contains(&c.alert.id)));
    // The API comes back: resolved.
    after.observe_heartbeat("api", "h", restart + Duration::minutes(6));
    let back = after.evaluate(restart + Duration::minutes(6));
    assert_eq!(kinds(&back), ["resolved"]);
    assert_eq!(back[0].alert.rule, "ApiAbsent");
}

#[test]
fn restored_alerts_keep_their_ids_and_removed_rules_resolve() {
    let (mut e, t0) = engine(CPU);
    e.observe_sample("system", "gh200", &cpu(99.0), t0);
    let first = e.evaluate(t0);
    let mut again = engine(CPU).0;
    again.restore(e.open_alerts().cloned().collect());
    again.observe_sample("system", "gh200", &cpu(99.0), t0 + Duration::minutes(6));
    let fired = again.evaluate(t0 + Duration::minutes(6));
    assert_eq!(kinds(&fired), ["firing"]);
    assert_eq!(fired[0].alert.id, first[0].alert.id);
    again.set_rules(Vec::new());
    let gone = again.evaluate(t0 + Duration::minutes(7));
    assert_eq!(kinds(&gone), ["resolved"]);
}

#[test]
fn a_regular_session_rule_stays_quiet_on_a_holiday_and_fires_in_the_session() {
    use exporter_protocol::calendar::MarketSession;
    let yaml = "rules:\n- name: QuoteLow\n  severity: warning\n  category: market\n  expr: market.price{symbol=\"AAPL\"} < 100\n  active_during: regular_session\n- name: QuoteLowAlways\n  severity: info\n  category: market\n  expr: market.price{symbol=\"AAPL\"} < 100\n";
    let (mut e, _) = engine(yaml);
    let hm = |h, m| chrono::NaiveTime::from_hms_opt(h, m, 0).unwrap();
    let day = |d: &str| MarketSession {
        date: d.parse().unwrap(),
        open: hm(9, 30),
        close: hm(16, 0),
        session_open: Some(hm(4, 0)),
        session_close: Some(hm(20, 0)),
    };
    // Thanksgiving (26 November 2026) is missing from the calendar: a holiday.
    e.set_market_calendar(Some(exporter_trading::MarketCalendar::new(
        exporter_trading::DEFAULT_TIMEZONE,
        "2026-11-23".parse().unwrap(),
        "2026-11-30".parse().unwrap(),
        [day("2026-11-25"), day("2026-11-27")],
    )));
    let price = |v: f64| vec![SeriesPoint::labelled("market.price", "symbol", "AAPL", v)];
    let holiday: DateTime<Utc> = "2026-11-26T15:00:00Z".parse().unwrap();
    e.observe_sample("quote", "gh200", &price(90.0), holiday);
    let changes = e.evaluate(holiday);
    let rules: Vec<&str> = changes.iter().map(|c| c.alert.rule.as_str()).collect();
    assert_eq!(
        rules,
        ["QuoteLowAlways"],
        "only the always rule fires on the holiday"
    );
    // Friday 10:00 New York: the regular session, it fires.
    let friday: DateTime<Utc> = "2026-11-27T15:00:00Z".parse().unwrap();
    e.observe_sample("quote", "gh200", &price(90.0), friday);
    let changes = e.evaluate(friday);
    assert_eq!(kinds(&changes), ["firing"]);
    assert_eq!(changes[0].alert.rule, "QuoteLow");
    // After the close it resolves, as when its condition clears.
    let evening: DateTime<Utc> = "2026-11-27T22:00:00Z".parse().unwrap();
    e.observe_sample("quote", "gh200", &price(90.0), evening);
    let changes = e.evaluate(evening);
    assert_eq!(kinds(&changes), ["resolved"]);
    // Unknown calendar: as `always`.
    e.set_market_calendar(None);
    e.observe_sample("quote", "gh200", &price(90.0), evening);
    assert_eq!(kinds(&e.evaluate(evening)), ["firing"]);
}

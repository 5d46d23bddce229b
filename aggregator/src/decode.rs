//! Turns one bus message into a sample to store, or into a dead letter with the reason.
//!
//! Nothing here fails the aggregator: whatever does not parse is kept aside, raw, and counted.

use chrono::{Duration, Utc};
use exporter_protocol::alert::{self, Notification, NotificationBatch};
use exporter_protocol::brokerage::{self, CashActivityBatch, EquityHistory, FillBatch, FillRecord};
use exporter_protocol::logs::LogBatch;
use exporter_protocol::market::{BarBatch, Quote};
use exporter_protocol::{Envelope, HasSeries, JsonBody, SeriesPoint, SourceKind, Subjects};
use exporter_store::{DeadLetter, Domain, IncomingNotification, IncomingSample, SampleBody};
use serde_json::value::RawValue;

/// How far in the future a sample's time may be before it is refused (clock skew guard).
const MAX_FUTURE: Duration = Duration::hours(1);

/// Knows the subject layout and every payload kind.
#[derive(Debug, Clone)]
pub struct Decoder {
    sample_prefix: String,
    ingest_fill_subject: String,
    ingest_notification_subject: String,
    ingest_positions_subject: String,
    /// Samples older than this are refused: no tier keeps them (one older than the raw tier but
    /// within a roll-up's goes straight into the roll-ups).
    max_age: Duration,
}

/// The raw parts of a message the decoder needs.
#[derive(Debug, Clone)]
pub struct RawMessage<'a> {
    pub subject: &'a str,
    pub payload: &'a [u8],
    /// `Nats-Msg-Id` header, if any.
    pub message_id: Option<&'a str>,
    /// `<stream>:<sequence>`, the fallback dedupe key of a dead letter.
    pub stream_position: &'a str,
    pub headers: Option<serde_json::Value>,
}

/// The decoder's verdict.
#[derive(Debug)]
pub enum Decoded {
    Sample(IncomingSample),
    /// A fill the trading system published itself.
    IngestFill(FillRecord),
    /// A notification the trading system published itself.
    IngestNotification(IncomingNotification),
    Dead(DeadLetter),
}

impl Decoder {
    /// `max_age_days`: how old a sample may be, the longest any tier keeps
    /// ([`exporter_store::Tiers::longest_days`]).
    pub fn new(subjects: &Subjects, max_age_days: u32) -> Self {
        let all = subjects.all_samples();
        Self {
            sample_prefix: all.trim_end_matches('>').to_owned(),
            ingest_fill_subject: subjects.ingest(brokerage::INGEST_FILL),
            ingest_notification_subject: subjects.ingest(alert::INGEST_NOTIFICATION),
            ingest_positions_subject: subjects.ingest(brokerage::INGEST_POSITIONS),
            max_age: Duration::days(i64::from(max_age_days)),
        }
    }

    pub fn decode(&self, raw: RawMessage<'_>) -> Decoded {
        let decoded = if raw.subject == self.ingest_fill_subject {
            ingest_fill(raw.payload).map(Decoded::IngestFill)
        } else if raw.subject == self.ingest_notification_subject {
            ingest_notification(&raw).map(Decoded::IngestNotification)
        } else if raw.subject == self.ingest_positions_subject {
            ingest_positions(&raw).map(Decoded::Sample)
        } else {
            self.sample(&raw).map(Decoded::Sample)
        };
        match decoded {
            Ok(decoded) => decoded,
            // Cut: a reason can quote the body (a 900 KB string value), the raw bytes are capped.
            Err(reason) => Decoded::Dead(DeadLetter::new(
                raw.message_id.unwrap_or(raw.stream_position),
                raw.subject,
                &reason,
                raw.payload,
                raw.headers.map(|h| strip_nul(&h)),
            )),
        }
    }

    /// A sample message: read straight into its typed payload, keeping the body's text, when
    /// that is sure to give what [`Self::sample_tree`] gives; else (and for every refusal, so the
    /// reasons stay the same) through a parsed tree.
    fn sample(&self, raw: &RawMessage<'_>) -> Result<IncomingSample, String> {
        match self.sample_text(raw) {
            Some(sample) => Ok(sample),
            None => self.sample_tree(raw),
        }
    }

    /// [`Self::sample_tree`] without the tree: `None` where it would refuse the message, or
    /// where the body holds what a tree reads differently from its text (see [`plain_json`]).
    fn sample_text(&self, raw: &RawMessage<'_>) -> Option<IncomingSample> {
        let rest = raw.subject.strip_prefix(&self.sample_prefix)?;
        let subject_kind = rest.split('.').next().unwrap_or_default();
        let envelope: Envelope<Box<RawValue>> = Envelope::from_slice(raw.payload).ok()?;
        let now = Utc::now();
        let usable = exporter_protocol::subjects::token(&envelope.source) == subject_kind
            && plain_json(envelope.body.get())
            && !envelope.host.contains('\0')
            && !envelope.source.contains('\0')
            && envelope.time >= now - self.max_age
            && envelope.time <= now + MAX_FUTURE;
        if !usable {
            return None;
        }
        let (points, domain) = points_of(&envelope.source, &*envelope.body).ok()?;
        Some(IncomingSample {
            message_id: envelope.id,
            subject: raw.subject.to_owned(),
            source: envelope.source,
            host: envelope.host,
            seq: envelope.seq,
            time: envelope.time,
            body: SampleBody::Raw(envelope.body),
            points,
            domain,
        })
    }

    fn sample_tree(&self, raw: &RawMessage<'_>) -> Result<IncomingSample, String> {
        let Some(rest) = raw.subject.strip_prefix(&self.sample_prefix) else {
            return Err(format!("no handler for subject {}", raw.subject));
        };
        let subject_kind = rest.split('.').next().unwrap_or_default();
        let envelope: Envelope<serde_json::Value> =
            Envelope::from_slice(raw.payload).map_err(|err| err.to_string())?;
        if exporter_protocol::subjects::token(&envelope.source) != subject_kind {
            return Err(format!(
                "envelope source `{}` does not match the subject's kind `{subject_kind}`",
                envelope.source
            ));
        }
        if has_nul(&envelope.body) || envelope.host.contains('\0') || envelope.source.contains('\0')
        {
            return Err("a string contains a NUL character, which PostgreSQL cannot store".into());
        }
        if envelope.time < Utc::now() - self.max_age {
            return Err(format!(
                "sample time {} is older than the retention period of every tier",
                envelope.time
            ));
        }
        if envelope.time > Utc::now() + MAX_FUTURE {
            return Err(format!(
                "sample time {} is more than an hour in the future (clock skew on {}?)",
                envelope.time, envelope.host
            ));
        }
        let (points, domain) = points_of(&envelope.source, &envelope.body)?;
        Ok(IncomingSample {
            message_id: envelope.id,
            subject: raw.subject.to_owned(),
            source: envelope.source,
            host: envelope.host,
            seq: envelope.seq,
            time: envelope.time,
            body: envelope.body.into(),
            points,
            domain,
        })
    }
}

/// The short, fixed category of a dead letter's reason, the `reason` label of
/// `exporter.dead_letters_total` (the reason itself is free text, one series each would never
/// end).
pub fn reason_category(reason: &str) -> &'static str {
    REASON_CATEGORIES
        .iter()
        .find(|(needle, _)| reason.contains(needle))
        .map_or(OTHER_REASON, |(_, category)| category)
}

/// Every category [`reason_category`] can give (so their counters can start at zero).
pub fn reason_categories() -> impl Iterator<Item = &'static str> {
    let mut categories: Vec<&'static str> = REASON_CATEGORIES
        .iter()
        .map(|(_, category)| *category)
        .collect();
    categories.push(OTHER_REASON);
    categories.sort_unstable();
    categories.dedup();
    categories.into_iter()
}

/// A text in a reason, and its category.
const REASON_CATEGORIES: &[(&str, &str)] = &[
    ("refused by PostgreSQL", "refused"),
    ("NUL character", "nul"),
    ("not a JSON envelope", "envelope"),
    ("envelope schema", "envelope"),
    ("envelope field", "envelope"),
    ("does not match the subject's kind", "source_mismatch"),
    ("no handler for subject", "subject"),
    ("unknown sample kind", "unknown_kind"),
    ("older than the retention", "too_old"),
    ("in the future", "future"),
];

/// The category of a reason none of [`REASON_CATEGORIES`] names: a body that does not parse.
const OTHER_REASON: &str = "invalid_body";

/// Deepest nesting of a body read as text: a tree refuses what is deeper than 128, the text
/// does not look.
const PLAIN_MAX_DEPTH: usize = 100;

/// Longest run of digits in a body read as text: a tree refuses a number out of `f64`'s range.
const PLAIN_MAX_DIGITS: usize = 100;

/// True when a tree of `text` (valid JSON) would read it as its text does: no `\u` escape (a
/// tree refuses a lone surrogate, and `\u0000` is a NUL that PostgreSQL refuses), no number
/// with an exponent or a very long run of digits (a tree refuses one out of `f64`'s range), no
/// nesting deeper than [`PLAIN_MAX_DEPTH`]. What collectors publish is plain; what is not goes
/// through the tree, as every body did before.
fn plain_json(text: &str) -> bool {
    let (mut depth, mut digits, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    let mut previous = b' ';
    for &byte in text.as_bytes() {
        if in_string {
            match byte {
                b'u' if escaped => return false,
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > PLAIN_MAX_DEPTH {
                    return false;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            b'e' | b'E' if previous.is_ascii_digit() || previous == b'.' => return false,
            _ => {}
        }
        if byte.is_ascii_digit() {
            digits += 1;
            if digits > PLAIN_MAX_DIGITS {
                return false;
            }
        } else if byte != b'.' {
            digits = 0;
        }
        previous = byte;
    }
    true
}

/// True when any string (or object key) in `value` holds a NUL character.
fn has_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(has_nul),
        serde_json::Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

fn without_nul(text: &str) -> String {
    text.replace('\0', "\\0")
}

/// `value` with NUL characters escaped in every string, so it can be stored as jsonb.
fn strip_nul(value: &serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::String(s) => serde_json::Value::String(without_nul(s)),
        serde_json::Value::Array(items) => items.iter().map(strip_nul).collect(),
        serde_json::Value::Object(map) => map
            .iter()
            .map(|(k, v)| (without_nul(k), strip_nul(v)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
        other => other.clone(),
    }
}

/// A fill published on the ingest subject: the documented plain JSON, no envelope.
fn ingest_fill(payload: &[u8]) -> Result<FillRecord, String> {
    let fill: FillRecord =
        serde_json::from_slice(payload).map_err(|err| format!("not a fill record: {err}"))?;
    fill.validate()?;
    let strings = [
        Some(&fill.id),
        Some(&fill.symbol),
        fill.order_id.as_ref(),
        fill.strategy.as_ref(),
    ];
    if strings.into_iter().flatten().any(|s| s.contains('\0')) {
        return Err("a string contains a NUL character".into());
    }
    Ok(fill)
}

/// The trading system's positions report on the ingest subject (documented plain JSON, no
/// envelope), kept as the latest sample of source `engine_positions` so the alert engine can
/// compare it with the broker's. Its id is the `Nats-Msg-Id` when that is a UUID, else derived
/// from the stream position, so a redelivery is stored once.
fn ingest_positions(raw: &RawMessage<'_>) -> Result<IncomingSample, String> {
    let report: brokerage::EnginePositions = serde_json::from_slice(raw.payload)
        .map_err(|err| format!("not a positions report: {err}"))?;
    report.validate()?;
    let message_id = raw
        .message_id
        .and_then(|id| uuid::Uuid::parse_str(id).ok())
        .unwrap_or_else(|| {
            use std::hash::{Hash, Hasher};
            let half = |salt: &str| {
                let mut hasher = std::hash::DefaultHasher::new();
                (salt, raw.stream_position, raw.message_id).hash(&mut hasher);
                hasher.finish()
            };
            uuid::Uuid::from_u64_pair(half("positions-a"), half("positions-b"))
        });
    let time = report.time.unwrap_or_else(Utc::now);
    if time > Utc::now() + MAX_FUTURE {
        return Err(format!(
            "positions report time {time} is more than an hour in the future"
        ));
    }
    Ok(IncomingSample {
        message_id,
        subject: raw.subject.to_owned(),
        source: brokerage::ENGINE_POSITIONS_KIND.to_owned(),
        host: report
            .host
            .clone()
            .unwrap_or_else(|| "trading-engine".to_owned()),
        seq: 0,
        time,
        body: serde_json::to_value(&report)
            .map_err(|err| err.to_string())?
            .into(),
        points: Vec::new(),
        domain: Domain::None,
    })
}

/// A notification published on the ingest subject: the documented plain JSON, no envelope.
fn ingest_notification(raw: &RawMessage<'_>) -> Result<IncomingNotification, String> {
    let notification: Notification =
        serde_json::from_slice(raw.payload).map_err(|err| format!("not a notification: {err}"))?;
    notification.validate()?;
    Ok(IncomingNotification {
        dedupe_key: raw
            .message_id
            .unwrap_or(raw.stream_position)
            .replace('\0', "\\0"),
        host: None,
        time: notification.time.unwrap_or_else(Utc::now),
        notification,
    })
}

/// The numeric series of a payload of kind `source`, and the domain rows it feeds (fills,
/// equity points, bars, quotes, log lines and notifications have tables of their own). `body`
/// is a tree or the body's text.
fn points_of<B: JsonBody + ?Sized>(
    source: &str,
    body: &B,
) -> Result<(Vec<SeriesPoint>, Domain), String> {
    fn typed<T: serde::de::DeserializeOwned + HasSeries, B: JsonBody + ?Sized>(
        source: &str,
        body: &B,
    ) -> Result<T, String> {
        body.parse::<T>()
            .map_err(|err| format!("{source} body does not parse: {err}"))
    }
    let kind: SourceKind = source
        .parse()
        .map_err(|_| format!("unknown sample kind `{source}`"))?;
    match kind {
        SourceKind::EquityHistory => {
            let history = typed::<EquityHistory, B>(source, body)?;
            Ok((history.series(), Domain::Equity(history.points)))
        }
        SourceKind::Fills => {
            let batch = typed::<FillBatch, B>(source, body)?;
            for fill in &batch.fills {
                fill.validate()?;
            }
            Ok((batch.series(), Domain::Fills(batch.fills)))
        }
        SourceKind::MarketCalendar => {
            let calendar = typed::<exporter_protocol::calendar::MarketCalendar, B>(source, body)?;
            calendar.validate()?;
            Ok((Vec::new(), Domain::MarketCalendar(Box::new(calendar))))
        }
        SourceKind::CashActivities => {
            let batch = typed::<CashActivityBatch, B>(source, body)?;
            for activity in &batch.activities {
                activity.validate()?;
            }
            Ok((batch.series(), Domain::CashActivities(batch.activities)))
        }
        SourceKind::MarketBars => {
            let batch = typed::<BarBatch, B>(source, body)?;
            if batch.bars.iter().any(|b| !b.close.is_finite()) {
                return Err("a bar has a non-finite close".into());
            }
            Ok((batch.series(), Domain::Bars(Box::new(batch))))
        }
        SourceKind::Logs => {
            let batch = typed::<LogBatch, B>(source, body)?;
            Ok((Vec::new(), Domain::Logs(batch.lines)))
        }
        SourceKind::Notifications => {
            let batch = typed::<NotificationBatch, B>(source, body)?;
            for notification in &batch.notifications {
                notification.validate()?;
            }
            Ok((Vec::new(), Domain::Notifications(batch.notifications)))
        }
        SourceKind::Quote => {
            let quote = typed::<Quote, B>(source, body)?;
            Ok((quote.series(), Domain::Quote(Box::new(quote))))
        }
        // Numeric series only (the latest sample is kept as it came). A new kind goes in this
        // list, or gets an arm of its own when it has a table of its own.
        SourceKind::System
        | SourceKind::Hardware
        | SourceKind::GpuInventory
        | SourceKind::GpuEvent
        | SourceKind::Portfolio
        | SourceKind::Orders
        | SourceKind::Pressure
        | SourceKind::EnginePositions
        | SourceKind::Exporter => kind.series_of(body).map(|points| (points, Domain::None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use exporter_protocol::system::SystemSample;

    fn raw<'a>(subject: &'a str, payload: &'a [u8]) -> RawMessage<'a> {
        RawMessage {
            subject,
            payload,
            message_id: Some("id-1"),
            stream_position: "S:1",
            headers: None,
        }
    }

    #[test]
    fn every_category_is_known_up_front() {
        let categories: Vec<&str> = reason_categories().collect();
        for reason in [
            "not a JSON envelope: x",
            "a string contains a NUL character",
            "system body does not parse: y",
        ] {
            assert!(categories.contains(&reason_category(reason)), "{reason}");
        }
        assert_eq!(
            categories.len(),
            categories
                .iter()
                .collect::<std::collections::BTreeSet<_>>()
                .len()
        );
    }

    #[test]
    fn a_good_system_sample_decodes_with_points() {
        let decoder = Decoder::new(&Subjects::new("exporter"), 30);
        let envelope = Envelope::new("h", "system", 1, SystemSample::default());
        let payload = serde_json::to_vec(&envelope).unwrap();
        match decoder.decode(raw("exporter.v1.sample.system.h", &payload)) {
            Decoded::Sample(sample) => {
                assert_eq!(sample.message_id, envelope.id);
                assert_eq!(sample.host, "h");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_body_read_as_text_gives_what_its_tree_gives() {
        let decoder = Decoder::new(&Subjects::new("exporter"), 30);
        let mut body = serde_json::to_value(SystemSample::default()).unwrap();
        body["extra"] = serde_json::json!({"note": "caf\u{e9}", "n": [1, 2.5, -3]});
        let payload = serde_json::to_vec(&Envelope::new("h", "system", 1, body)).unwrap();
        let subject = "exporter.v1.sample.system.h";
        let text = decoder
            .sample_text(&raw(subject, &payload))
            .expect("plain JSON");
        assert!(matches!(text.body, SampleBody::Raw(_)));
        let tree = decoder.sample_tree(&raw(subject, &payload)).unwrap();
        assert_eq!(text.points, tree.points);
        assert_eq!(text.body.to_value(), tree.body.to_value());
        assert_eq!(
            serde_json::to_string(&text.body).unwrap(),
            serde_json::to_string(&tree.body).unwrap()
        );
    }

    #[test]
    fn only_plain_json_is_read_as_text() {
        for plain in [
            r#"{"a":[1,2.5,-3,true,false,null],"b":"x\\n\"y e1"}"#,
            "{}",
            "0",
        ] {
            assert!(plain_json(plain), "{plain}");
        }
        let deep = format!("{}{}", "[".repeat(101), "]".repeat(101));
        let long = format!("[{}]", "9".repeat(101));
        for odd in [
            r#"{"a":"\u0000"}"#,
            r#"{"a":1e400}"#,
            r#"[1.5E3]"#,
            &deep,
            &long,
        ] {
            assert!(!plain_json(odd), "{odd}");
        }
        // What is not plain is still decoded, through the tree, with its usual reasons.
        let decoder = Decoder::new(&Subjects::new("exporter"), 30);
        let subject = "exporter.v1.sample.system.h";
        let payload = serde_json::to_vec(&Envelope::new(
            "h",
            "system",
            1,
            serde_json::json!({"extra": "a\0"}),
        ))
        .unwrap();
        match decoder.decode(raw(subject, &payload)) {
            Decoded::Dead(dead) => assert_eq!(reason_category(&dead.reason), "nul"),
            other => panic!("{other:?}"),
        }
        let mut body = serde_json::to_value(SystemSample::default()).unwrap();
        body["extra"] = serde_json::json!(1.0e-7);
        let payload = serde_json::to_vec(&Envelope::new("h", "system", 1, body)).unwrap();
        match decoder.decode(raw(subject, &payload)) {
            Decoded::Sample(sample) => assert!(matches!(sample.body, SampleBody::Value(_))),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_sample_as_old_as_the_oldest_tier_is_accepted_and_an_older_one_refused() {
        let tiers = exporter_store::Tiers::default();
        let decoder = Decoder::new(&Subjects::new("exporter"), tiers.longest_days());
        let mut envelope = Envelope::new("h", "system", 1, SystemSample::default());
        // Older than the raw tier (7 days) and the minute tier (90): the hour tier keeps it.
        envelope.time = Utc::now() - Duration::days(300);
        let payload = serde_json::to_vec(&envelope).unwrap();
        assert!(matches!(
            decoder.decode(raw("exporter.v1.sample.system.h", &payload)),
            Decoded::Sample(_)
        ));
        envelope.time = Utc::now() - Duration::days(i64::from(tiers.hour_days) + 1);
        let payload = serde_json::to_vec(&envelope).unwrap();
        match decoder.decode(raw("exporter.v1.sample.system.h", &payload)) {
            Decoded::Dead(dead) => assert_eq!(reason_category(&dead.reason), "too_old"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn self_metrics_decode_and_a_shape_from_another_build_is_a_dead_letter() {
        let decoder = Decoder::new(&Subjects::new("exporter"), 30);
        let registry = exporter_runtime::self_metrics::Registry::new();
        registry
            .counter(&exporter_protocol::self_metrics::INGESTED_MESSAGES, &[])
            .add(3);
        let envelope = Envelope::new("h", "exporter", 1, registry.snapshot("aggregator"));
        let payload = serde_json::to_vec(&envelope).unwrap();
        match decoder.decode(raw("exporter.v1.sample.exporter.h", &payload)) {
            Decoded::Sample(sample) => {
                assert_eq!(sample.points.len(), 1);
                assert_eq!(sample.points[0].labels["process"], "aggregator");
            }
            other => panic!("{other:?}"),
        }
        let odd = Envelope::new("h", "exporter", 2, serde_json::json!({"counters": 5}));
        let payload = serde_json::to_vec(&odd).unwrap();
        match decoder.decode(raw("exporter.v1.sample.exporter.h", &payload)) {
            Decoded::Dead(dead) => {
                assert!(
                    dead.reason.contains("exporter body does not parse"),
                    "{}",
                    dead.reason
                );
                assert_eq!(reason_category(&dead.reason), "invalid_body");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ingest_fills_are_checked_like_samples() {
        let decoder = Decoder::new(&Subjects::new("exporter"), 30);
        let good = br#"{"id":"f1","symbol":"AAPL","side":"buy","quantity":"2","price":"10.5","time":"2026-01-02T15:00:00Z"}"#;
        assert!(
            matches!(decoder.decode(raw("exporter.v1.ingest.fill", good)), Decoded::IngestFill(f) if f.id == "f1")
        );
        let zero = br#"{"id":"f1","symbol":"AAPL","side":"buy","quantity":"0","price":"10.5","time":"2026-01-02T15:00:00Z"}"#;
        match decoder.decode(raw("exporter.v1.ingest.fill", zero)) {
            Decoded::Dead(dead) => assert!(dead.reason.contains("quantity"), "{}", dead.reason),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_positions_report_is_the_latest_engine_positions_sample_once() {
        let decoder = Decoder::new(&Subjects::new("exporter"), 30);
        let good = br#"{"positions":[{"symbol":"AAPL","quantity":"5"}]}"#;
        let first = match decoder.decode(raw("exporter.v1.ingest.positions", good)) {
            Decoded::Sample(sample) => sample,
            other => panic!("{other:?}"),
        };
        assert_eq!(first.source, "engine_positions");
        assert_eq!(first.host, "trading-engine");
        assert_eq!(first.body.to_value()["positions"][0]["quantity"], "5");
        let Decoded::Sample(again) = decoder.decode(raw("exporter.v1.ingest.positions", good))
        else {
            panic!("a redelivery decodes the same");
        };
        assert_eq!(again.message_id, first.message_id, "stored once");
        let twice =
            br#"{"positions":[{"symbol":"AAPL","quantity":"5"},{"symbol":"AAPL","quantity":"1"}]}"#;
        match decoder.decode(raw("exporter.v1.ingest.positions", twice)) {
            Decoded::Dead(dead) => assert!(dead.reason.contains("twice"), "{}", dead.reason),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn garbage_and_mismatches_become_dead_letters_with_reasons() {
        let decoder = Decoder::new(&Subjects::new("exporter"), 30);
        let mut old = Envelope::new("h", "system", 1, SystemSample::default());
        old.time = Utc::now() - Duration::days(31);
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            (
                "exporter.v1.sample.system.h",
                b"{not json".to_vec(),
                "not a JSON envelope",
            ),
            (
                "exporter.v1.sample.hardware.h",
                serde_json::to_vec(&Envelope::new("h", "system", 1, SystemSample::default()))
                    .unwrap(),
                "does not match",
            ),
            (
                "exporter.v1.sample.system.h",
                serde_json::to_vec(&Envelope::new(
                    "h",
                    "system",
                    1,
                    serde_json::json!({"cpu": 5}),
                ))
                .unwrap(),
                "system body does not parse",
            ),
            (
                "exporter.v1.sample.weird.h",
                serde_json::to_vec(&Envelope::new("h", "weird", 1, 0)).unwrap(),
                "unknown sample kind",
            ),
            (
                "exporter.v1.sample.system.h",
                serde_json::to_vec(&Envelope::new(
                    "ev\0il",
                    "system",
                    1,
                    SystemSample::default(),
                ))
                .unwrap(),
                "NUL",
            ),
            (
                "exporter.v1.sample.system.h",
                serde_json::to_vec(&Envelope::new(
                    "h",
                    "system",
                    1,
                    serde_json::json!({"x": "a\0"}),
                ))
                .unwrap(),
                "NUL",
            ),
            (
                "exporter.v1.sample.system.h",
                serde_json::to_vec(&old).unwrap(),
                "older than the retention",
            ),
        ];
        let categories = [
            "envelope",
            "source_mismatch",
            "invalid_body",
            "unknown_kind",
            "nul",
            "nul",
            "too_old",
        ];
        for ((subject, payload, reason), category) in cases.into_iter().zip(categories) {
            match decoder.decode(raw(subject, &payload)) {
                Decoded::Dead(dead) => {
                    assert_eq!(reason_category(&dead.reason), category, "{}", dead.reason);
                    assert!(dead.reason.contains(reason), "{} vs {reason}", dead.reason);
                    assert_eq!(dead.raw, payload);
                    assert_eq!(dead.raw_size_bytes, payload.len());
                    assert_eq!(dead.dedupe_key, "id-1");
                }
                other => panic!("{subject} should be dead: {other:?}"),
            }
        }
    }

    #[test]
    fn a_huge_malformed_body_gives_a_short_reason_in_its_category() {
        let decoder = Decoder::new(&Subjects::new("exporter"), 30);
        let huge = "€".repeat(300_000);
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            (
                "exporter.v1.sample.system.h",
                serde_json::to_vec(&Envelope::new("h", &huge, 1, 0)).unwrap(),
                "source_mismatch",
            ),
            (
                "exporter.v1.ingest.fill",
                format!(r#"{{"id":"f1","symbol":"AAPL","side":"{huge}","quantity":"2","price":"1","time":"2026-01-02T15:00:00Z"}}"#).into_bytes(),
                "invalid_body",
            ),
        ];
        for (subject, payload, category) in cases {
            match decoder.decode(raw(subject, &payload)) {
                Decoded::Dead(dead) => {
                    assert!(dead.reason.len() <= 400, "{} bytes", dead.reason.len());
                    assert!(dead.reason.contains("(cut, "), "{}", dead.reason);
                    assert_eq!(reason_category(&dead.reason), category, "{}", dead.reason);
                    assert_eq!(dead.raw, &payload[..64 * 1024]);
                    assert_eq!(dead.raw_size_bytes, payload.len());
                }
                other => panic!("{subject} should be dead: {other:?}"),
            }
        }
    }
}

//! Turns one log line into time, normalised level, component, message and extra fields.
//!
//! Pure functions, no I/O: JSON object lines, logfmt (`key=value`, quoted values), the layouts of
//! Python's `logging` (`2026-11-25 10:00:00,123 - trading.engine - ERROR - message`, the
//! `[LEVEL]` variant and basicConfig's `ERROR:name:message`), and plain text. A line that is none
//! of them is kept whole as the message with level `unknown`: nothing is ever dropped for not
//! parsing. Times without a zone are the machine's local time.

use std::sync::LazyLock;

use chrono::{DateTime, Local, NaiveDateTime, TimeZone, Utc};
use exporter_protocol::logs::LogLevel;
use exporter_settings::LogFileFormat;
use serde_json::{Map, Value};

/// Keys read as the line's time, first present wins.
const TIME_KEYS: &[&str] = &[
    "time",
    "timestamp",
    "ts",
    "@timestamp",
    "asctime",
    "datetime",
];
/// Keys read as the level.
const LEVEL_KEYS: &[&str] = &[
    "level",
    "levelname",
    "severity",
    "lvl",
    "loglevel",
    "log.level",
];
/// Keys read as the component.
const COMPONENT_KEYS: &[&str] = &[
    "logger",
    "logger_name",
    "name",
    "component",
    "target",
    "module",
];
/// Keys read as the message.
const MESSAGE_KEYS: &[&str] = &["message", "msg", "event"];

/// What a line says about itself; `None` where it says nothing.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Parsed {
    pub time: Option<DateTime<Utc>>,
    pub level: LogLevel,
    pub component: Option<String>,
    pub message: String,
    pub fields: Map<String, Value>,
}

/// Parses `line` (no trailing newline) as `format`; a line that does not fit is [`plain`].
pub fn parse(line: &str, format: LogFileFormat) -> Parsed {
    let parsed = match format {
        LogFileFormat::Auto => parse_json(line)
            .or_else(|| parse_python(line))
            .or_else(|| parse_logfmt(line)),
        LogFileFormat::Json => parse_json(line),
        LogFileFormat::Logfmt => parse_logfmt(line),
        LogFileFormat::Python => parse_python(line),
        LogFileFormat::Plain => None,
    };
    parsed.unwrap_or_else(|| plain(line))
}

/// The whole line as the message, level unknown.
pub fn plain(line: &str) -> Parsed {
    Parsed {
        message: line.to_owned(),
        ..Parsed::default()
    }
}

/// A JSON object line; `None` when the line is not one.
pub fn parse_json(line: &str) -> Option<Parsed> {
    let trimmed = line.trim();
    if !trimmed.starts_with('{') {
        return None;
    }
    let map: Map<String, Value> = serde_json::from_str(trimmed).ok()?;
    Some(from_map(map, line))
}

/// A logfmt line (`time=... level=error msg="..." key=value`); `None` unless every token is a
/// `key=value` pair and a level or message key is among them.
pub fn parse_logfmt(line: &str) -> Option<Parsed> {
    let pairs = logfmt_pairs(line)?;
    if !pairs
        .iter()
        .any(|(k, _)| LEVEL_KEYS.contains(&k.as_str()) || MESSAGE_KEYS.contains(&k.as_str()))
    {
        return None;
    }
    let map: Map<String, Value> = pairs
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    Some(from_map(map, line))
}

/// The time prefix of Python's `%(asctime)s` (and ISO 8601 times), then the rest.
static PYTHON_TIME: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(
        r"^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d{1,9})?(?: ?(?:Z|[+-]\d{2}:?\d{2}))?)\s+(.*)$",
    )
    .expect("valid regex")
});
/// basicConfig's default layout: `LEVEL:name:message`.
static PYTHON_BASIC: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"^(DEBUG|INFO|WARNING|ERROR|CRITICAL):([^:\s]*):(.*)$").expect("valid regex")
});
/// A logger name (`trading.engine`, `uvicorn.error`, `__main__`).
static LOGGER_NAME: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"^[A-Za-z_][\w.\-]*$").expect("valid regex"));

/// A logger name or a Rust target (`exporter_collectors::logs`).
static TARGET: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"^[A-Za-z_][\w.\-]*(?:::[A-Za-z_][\w]*)*$").expect("valid regex")
});

/// Python `logging` layouts, and the like:
/// - `TIME - NAME - LEVEL - MESSAGE` (the common one), and `TIME - LEVEL - MESSAGE`;
/// - `TIME [LEVEL] NAME: MESSAGE` and `TIME [LEVEL] MESSAGE`;
/// - `LEVEL:NAME:MESSAGE` (basicConfig's default, no time);
/// - `TIME LEVEL NAME: MESSAGE` and `TIME LEVEL MESSAGE` (an upper-case level: tracing, Go).
pub fn parse_python(line: &str) -> Option<Parsed> {
    if let Some(caps) = PYTHON_BASIC.captures(line) {
        let level = LogLevel::normalise(&caps[1])?;
        return Some(Parsed {
            level,
            component: non_empty(&caps[2]),
            message: caps[3].to_owned(),
            ..Parsed::default()
        });
    }
    let caps = PYTHON_TIME.captures(line)?;
    let time = parse_time_text(&caps[1]);
    let rest = caps.get(2).map_or("", |m| m.as_str());
    let (level, component, message) = if let Some(rest) = rest.strip_prefix("- ") {
        let mut parts = rest.splitn(3, " - ");
        let first = parts.next().unwrap_or_default();
        let second = parts.next();
        let third = parts.next();
        match (
            second.and_then(LogLevel::normalise),
            LogLevel::normalise(first),
        ) {
            (Some(level), _) => (level, non_empty(first), third.unwrap_or_default()),
            (None, Some(level)) => (level, None, rest.split_once(" - ")?.1),
            (None, None) => return None,
        }
    } else if let Some(rest) = rest.strip_prefix('[') {
        let (level, after) = rest.split_once(']')?;
        let level = LogLevel::normalise(level)?;
        let after = after.trim_start();
        match after.split_once(": ") {
            Some((name, message)) if LOGGER_NAME.is_match(name) => {
                (level, Some(name.to_owned()), message)
            }
            _ => (level, None, after),
        }
    } else {
        // `TIME LEVEL target: message` (tracing-subscriber's text layout, which this system's
        // own processes write, and many others): an upper-case level word.
        let (word, after) = rest.split_once(char::is_whitespace)?;
        if !word.chars().all(|c| c.is_ascii_uppercase()) {
            return None;
        }
        let level = LogLevel::normalise(word)?;
        let after = after.trim_start();
        match after.split_once(": ") {
            Some((name, message)) if TARGET.is_match(name) => {
                (level, Some(name.to_owned()), message)
            }
            _ => (level, None, after),
        }
    };
    Some(Parsed {
        time,
        level,
        component,
        message: message.to_owned(),
        fields: Map::new(),
    })
}

/// Reads a time written as text: RFC 3339 / ISO 8601 (`T` or space, `,` or `.` fractions,
/// `Z`, `+01:00` or `+0100`), or epoch seconds/milliseconds/microseconds/nanoseconds. A time
/// without a zone is local time. A time before 2000 or more than a day ahead is not taken
/// (`"time": 1.5` is no timestamp): the caller falls back to the read time.
pub fn parse_time_text(text: &str) -> Option<DateTime<Utc>> {
    parse_time_text_any(text).filter(plausible)
}

/// Whether `time` can be a log line's time: from 2000-01-01 to a day from now.
fn plausible(time: &DateTime<Utc>) -> bool {
    let earliest = DateTime::from_timestamp(946_684_800, 0).unwrap_or_default();
    *time >= earliest && *time <= Utc::now() + chrono::Duration::days(1)
}

fn parse_time_text_any(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(number) = text.parse::<i64>() {
        return epoch_integer(number);
    }
    if let Ok(number) = text.parse::<f64>() {
        return epoch(number);
    }
    let mut normalised = text.replacen(',', ".", 1);
    if normalised.ends_with(['Z', 'z']) {
        normalised.pop();
        normalised.push_str("+00:00");
    }
    const ZONED: &[&str] = &[
        "%Y-%m-%dT%H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S%.f %:z",
        "%Y-%m-%d %H:%M:%S%.f %z",
    ];
    for format in ZONED {
        if let Ok(time) = DateTime::parse_from_str(&normalised, format) {
            return Some(time.with_timezone(&Utc));
        }
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(&normalised, format) {
            return Some(local_to_utc(naive));
        }
    }
    None
}

/// A zone-less time as the machine's local time (the earlier one in a DST fold; in a DST gap,
/// an hour later).
pub fn local_to_utc(naive: NaiveDateTime) -> DateTime<Utc> {
    Local
        .from_local_datetime(&naive)
        .earliest()
        .or_else(|| {
            Local
                .from_local_datetime(&(naive + chrono::Duration::hours(1)))
                .earliest()
        })
        .map_or_else(|| naive.and_utc(), |t| t.with_timezone(&Utc))
}

/// Whole epoch seconds, or milli/micro/nanoseconds judged by magnitude.
fn epoch_integer(number: i64) -> Option<DateTime<Utc>> {
    match number {
        ..=0 => None,
        100_000_000_000_000_000.. => Some(DateTime::from_timestamp_nanos(number)),
        100_000_000_000_000.. => DateTime::from_timestamp_micros(number),
        100_000_000_000.. => DateTime::from_timestamp_millis(number),
        _ => DateTime::from_timestamp(number, 0),
    }
}

/// Fractional epoch seconds (or milliseconds, judged by magnitude), to the microsecond.
fn epoch(number: f64) -> Option<DateTime<Utc>> {
    if !number.is_finite() || number <= 0.0 {
        return None;
    }
    let micros = if number >= 1e14 {
        return epoch_integer(number as i64);
    } else if number >= 1e11 {
        number * 1e3
    } else {
        number * 1e6
    };
    DateTime::from_timestamp_micros(micros.round() as i64)
}

fn time_of_value(value: &Value) -> Option<DateTime<Utc>> {
    match value {
        Value::String(s) => parse_time_text(s),
        Value::Number(n) => match n.as_i64() {
            Some(whole) => epoch_integer(whole),
            None => n.as_f64().and_then(epoch),
        }
        .filter(plausible),
        _ => None,
    }
}

/// A level written as text, a syslog priority (0-7) or a Python level number (10 debug ...
/// 50 critical).
fn level_of_value(value: &Value) -> Option<LogLevel> {
    match value {
        Value::String(s) => LogLevel::normalise(s),
        Value::Number(n) => {
            let n = n.as_i64()?;
            Some(match n {
                0..=7 => LogLevel::normalise(&n.to_string())?,
                8..=10 => LogLevel::Debug,
                11..=20 => LogLevel::Info,
                21..=30 => LogLevel::Warning,
                31..=40 => LogLevel::Error,
                41.. => LogLevel::Critical,
                _ => return None,
            })
        }
        _ => None,
    }
}

/// Moves the first of `keys` that `read` accepts out of `map`.
fn take<T>(
    map: &mut Map<String, Value>,
    keys: &[&str],
    read: impl Fn(&Value) -> Option<T>,
) -> Option<T> {
    for key in keys {
        if let Some(found) = map.get(*key).and_then(&read) {
            map.remove(*key);
            return Some(found);
        }
    }
    None
}

/// The known keys of a JSON or logfmt line taken out; the rest are `fields`.
fn from_map(mut map: Map<String, Value>, line: &str) -> Parsed {
    let time = take(&mut map, TIME_KEYS, time_of_value);
    let level = take(&mut map, LEVEL_KEYS, level_of_value).unwrap_or_default();
    let component = take(&mut map, COMPONENT_KEYS, |v| {
        v.as_str()
            .filter(|s| !s.trim().is_empty())
            .map(str::to_owned)
    });
    let message = take(&mut map, MESSAGE_KEYS, |v| match v {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    })
    .unwrap_or_else(|| line.to_owned());
    Parsed {
        time,
        level,
        component,
        message,
        fields: map,
    }
}

fn non_empty(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// Splits a logfmt line into pairs; `None` when a token is not `key=value` or a quote is not
/// closed.
fn logfmt_pairs(line: &str) -> Option<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| !c.is_whitespace() && *c != '=' && *c != '"') {
            key.push(c);
        }
        if key.is_empty() || chars.next() != Some('=') {
            return None;
        }
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => match chars.next()? {
                        'n' => value.push('\n'),
                        't' => value.push('\t'),
                        'r' => value.push('\r'),
                        other => value.push(other),
                    },
                    c => value.push(c),
                }
            }
            if chars.peek().is_some_and(|c| !c.is_whitespace()) {
                return None;
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                value.push(c);
            }
        }
        pairs.push((key, value));
    }
    (!pairs.is_empty()).then_some(pairs)
}

/// Removes NUL characters (PostgreSQL text and jsonb cannot hold them) from `text`.
pub fn strip_nul(text: &mut String) {
    if text.contains('\0') {
        text.retain(|c| c != '\0');
    }
}

/// Removes NUL characters from every key and string of `fields`.
pub fn strip_nul_fields(fields: &mut Map<String, Value>) {
    fn value(v: &mut Value) {
        match v {
            Value::String(s) => strip_nul(s),
            Value::Array(items) => items.iter_mut().for_each(value),
            Value::Object(map) => strip_nul_fields(map),
            _ => {}
        }
    }
    if fields.keys().any(|k| k.contains('\0')) {
        let old = std::mem::take(fields);
        *fields = old
            .into_iter()
            .map(|(mut k, v)| {
                strip_nul(&mut k);
                (k, v)
            })
            .collect();
    }
    fields.values_mut().for_each(value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use serde_json::json;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn local(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, ms: u32) -> DateTime<Utc> {
        let naive = NaiveDate::from_ymd_opt(y, mo, d)
            .unwrap()
            .and_hms_milli_opt(h, mi, s, ms)
            .unwrap();
        local_to_utc(naive)
    }

    #[test]
    fn json_lines_split_into_known_keys_and_fields() {
        let line = r#"{"ts":"2026-11-25T10:00:00.250Z","levelname":"WARNING","logger":"trading.risk","msg":"limit near","symbol":"AAPL","used":0.93}"#;
        let p = parse(line, LogFileFormat::Auto);
        assert_eq!(p.time, Some(utc("2026-11-25T10:00:00.250Z")));
        assert_eq!(p.level, LogLevel::Warning);
        assert_eq!(p.component.as_deref(), Some("trading.risk"));
        assert_eq!(p.message, "limit near");
        assert_eq!(
            Value::Object(p.fields),
            json!({"symbol": "AAPL", "used": 0.93})
        );
    }

    #[test]
    fn json_numbers_and_odd_values() {
        let p = parse_json(r#"{"timestamp":1764064800123,"level":40,"event":{"a":1},"name":""}"#)
            .unwrap();
        assert_eq!(p.time, Some(utc("2025-11-25T10:00:00.123Z")));
        assert_eq!(p.level, LogLevel::Error);
        assert_eq!(p.message, r#"{"a":1}"#);
        // An empty name is not a component: it stays a field.
        assert_eq!(p.component, None);
        assert_eq!(p.fields["name"], json!(""));
        // A syslog priority and an epoch in seconds.
        let p = parse_json(r#"{"time":1764064800.5,"severity":2,"message":"x"}"#).unwrap();
        assert_eq!(p.level, LogLevel::Critical);
        assert_eq!(p.time, Some(utc("2025-11-25T10:00:00.5Z")));
        // A time that does not parse stays a field; no message key: the line is the message.
        let line = r#"{"time":"yesterday","level":"loud"}"#;
        let p = parse_json(line).unwrap();
        assert_eq!(p.time, None);
        assert_eq!(p.level, LogLevel::Unknown);
        assert_eq!(p.message, line);
        assert_eq!(
            Value::Object(p.fields),
            json!({"time": "yesterday", "level": "loud"})
        );
        assert_eq!(parse_json("[1,2]"), None);
        assert_eq!(parse_json("{broken"), None);
    }

    #[test]
    fn logfmt_lines() {
        let line = r#"time=2026-11-25T10:00:01+01:00 level=err component=broker msg="order \"42\" rejected" symbol=TSLA qty="""#;
        let p = parse(line, LogFileFormat::Auto);
        assert_eq!(p.time, Some(utc("2026-11-25T09:00:01Z")));
        assert_eq!(p.level, LogLevel::Error);
        assert_eq!(p.component.as_deref(), Some("broker"));
        assert_eq!(p.message, r#"order "42" rejected"#);
        assert_eq!(
            Value::Object(p.fields),
            json!({"symbol": "TSLA", "qty": ""})
        );
        // Key=value text without a level or message key is not logfmt.
        assert_eq!(parse_logfmt("user=bob host=a"), None);
        // A bare word or an unclosed quote is not logfmt either.
        assert_eq!(parse_logfmt("level=info hello"), None);
        assert_eq!(parse_logfmt(r#"level=info msg="open"#), None);
        assert_eq!(
            parse("user=bob host=a", LogFileFormat::Auto),
            plain("user=bob host=a")
        );
    }

    #[test]
    fn python_logging_layouts() {
        let p = parse(
            "2026-11-25 10:00:00,123 - trading.engine - ERROR - order 7 failed - retrying",
            LogFileFormat::Auto,
        );
        assert_eq!(p.time, Some(local(2026, 11, 25, 10, 0, 0, 123)));
        assert_eq!(p.level, LogLevel::Error);
        assert_eq!(p.component.as_deref(), Some("trading.engine"));
        assert_eq!(p.message, "order 7 failed - retrying");
        assert!(p.fields.is_empty());

        let p = parse_python("2026-11-25 10:00:00.5 - WARNING - disk a=b").unwrap();
        assert_eq!(p.time, Some(local(2026, 11, 25, 10, 0, 0, 500)));
        assert_eq!(p.level, LogLevel::Warning);
        assert_eq!(p.component, None);
        assert_eq!(p.message, "disk a=b");

        let p = parse_python("2026-11-25T10:00:00Z [CRITICAL] feed.alpaca: socket closed").unwrap();
        assert_eq!(p.time, Some(utc("2026-11-25T10:00:00Z")));
        assert_eq!(p.level, LogLevel::Critical);
        assert_eq!(p.component.as_deref(), Some("feed.alpaca"));
        assert_eq!(p.message, "socket closed");

        let p = parse_python("2026-11-25 10:00:00 [info] started in 2 s").unwrap();
        assert_eq!(p.level, LogLevel::Info);
        assert_eq!(p.component, None);
        assert_eq!(p.message, "started in 2 s");

        let p = parse_python("DEBUG:asyncio:Using selector: EpollSelector").unwrap();
        assert_eq!(p.level, LogLevel::Debug);
        assert_eq!(p.component.as_deref(), Some("asyncio"));
        assert_eq!(p.message, "Using selector: EpollSelector");
        assert_eq!(p.time, None);

        // tracing-subscriber's text layout (this system's own logs).
        let p = parse(
            "2026-11-25T10:00:00.123456Z  WARN exporter_collectors::logs: publishing failed error=x",
            LogFileFormat::Auto,
        );
        assert_eq!(p.time, Some(utc("2026-11-25T10:00:00.123456Z")));
        assert_eq!(p.level, LogLevel::Warning);
        assert_eq!(p.component.as_deref(), Some("exporter_collectors::logs"));
        assert_eq!(p.message, "publishing failed error=x");
        let p = parse_python("2026-11-25 10:00:00 ERROR boom: it broke").unwrap();
        assert_eq!(p.component.as_deref(), Some("boom"));
        let p = parse_python("2026-11-25 10:00:00 INFO the thing: done").unwrap();
        assert_eq!(p.component, None);
        assert_eq!(p.message, "the thing: done");

        // A time then something else is not Python's layout.
        assert_eq!(parse_python("2026-11-25 10:00:00 - a - loud - x"), None);
        assert_eq!(parse_python("2026-11-25 10:00:00 hello"), None);
        assert_eq!(parse_python("2026-11-25 10:00:00 LOUD hello"), None);
    }

    #[test]
    fn anything_else_is_plain_with_unknown_level() {
        for line in [
            "Traceback (most recent call last):",
            "  File \"x.py\"",
            "{",
            "=",
        ] {
            let p = parse(line, LogFileFormat::Auto);
            assert_eq!(p, plain(line), "{line}");
            assert_eq!(p.level, LogLevel::Unknown);
        }
        // A forced format that does not fit falls back to plain too.
        let line = "2026-11-25 10:00:00,123 - a - INFO - m";
        assert_eq!(parse(line, LogFileFormat::Json), plain(line));
        assert_eq!(parse(line, LogFileFormat::Plain), plain(line));
        assert_eq!(parse(line, LogFileFormat::Python).level, LogLevel::Info);
        assert_eq!(
            parse(r#"{"level":"info"}"#, LogFileFormat::Logfmt).level,
            LogLevel::Unknown
        );
    }

    #[test]
    fn times_in_many_spellings() {
        let want = utc("2026-11-25T10:00:00.123Z");
        for text in [
            "2026-11-25T10:00:00.123Z",
            "2026-11-25 10:00:00,123Z",
            "2026-11-25T10:00:00.123+00:00",
            "2026-11-25T11:00:00.123+0100",
            "2026-11-25 11:00:00.123 +01:00",
        ] {
            let got = parse_time_text(text).unwrap_or_else(|| panic!("{text}"));
            assert!((got - want).num_microseconds().unwrap().abs() < 2, "{text}");
        }
        let want = utc("2025-11-25T10:00:00.123Z");
        for text in [
            "1764064800.123",
            "1764064800123",
            "1764064800123.0",
            "1764064800123000",
            "1764064800123000000",
        ] {
            assert_eq!(parse_time_text(text), Some(want), "{text}");
        }
        assert_eq!(
            parse_time_text("2026-11-25 10:00:00"),
            Some(local(2026, 11, 25, 10, 0, 0, 0))
        );
        assert_eq!(parse_time_text("soon"), None);
        assert_eq!(parse_time_text("-5"), None);
        // Numbers that are no epoch time, and times far ahead, are not taken.
        assert_eq!(parse_time_text("1.5"), None);
        assert_eq!(parse_time_text("1999-12-31T23:59:59Z"), None);
        assert_eq!(parse_time_text("2999-01-01T00:00:00Z"), None);
        let parsed = parse_json(r#"{"time":1.5,"msg":"m"}"#).unwrap();
        assert_eq!(parsed.time, None);
        assert_eq!(parsed.fields["time"], 1.5);
        let parsed = parse_json(r#"{"time":42,"msg":"m"}"#).unwrap();
        assert_eq!(parsed.time, None);
    }

    #[test]
    fn nul_is_removed_everywhere() {
        let mut p =
            parse_json(r#"{"msg":"a\u0000b","k\u0000":["x\u0000",{"y":"\u0000"}]}"#).unwrap();
        strip_nul(&mut p.message);
        strip_nul_fields(&mut p.fields);
        assert_eq!(p.message, "ab");
        assert_eq!(Value::Object(p.fields), json!({"k": ["x", {"y": ""}]}));
    }
}

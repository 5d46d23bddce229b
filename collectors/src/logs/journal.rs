//! The systemd journal of the configured units, through `journalctl --follow --output=json` as a
//! child process (no libsystemd binding needed).
//!
//! Each entry becomes a [`LogLine`] with its `__CURSOR`; the cursor of the last acknowledged
//! entry is saved with the file positions, and the next start passes it as `--after-cursor`, so
//! entries are neither lost nor repeated across restarts. Without `journalctl` (no systemd), a
//! warning says so once and the files are still followed. If `journalctl` exits it is started
//! again from the last entry read, with backoff.

use std::process::Stdio;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use exporter_protocol::logs::{LogLevel, LogLine};
use exporter_runtime::{RetryPolicy, Shutdown};
use exporter_settings::LogFileFormat;
use serde_json::{Map, Value};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

use super::parse;

/// Longest `journalctl` JSON line read; a longer one is skipped with a warning.
const MAX_JSON_LINE_BYTES: usize = 8 * 1024 * 1024;
/// Entries read ahead of the batches (backpressure on `journalctl` beyond this).
const CHANNEL_CAPACITY: usize = 1024;
/// Starting `journalctl` again after it could not start or exited (1 s doubling to 60 s, jittered).
const JOURNALCTL_RETRY: RetryPolicy = RetryPolicy::RESTART;

/// Where `journalctl` starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JournalStart {
    /// After the last acknowledged entry.
    AfterCursor(String),
    /// Every stored entry of the units.
    Beginning,
    /// Only entries from now on.
    End,
}

/// One journal entry, parsed, with its cursor.
pub type JournalEntry = (LogLine, String);

/// Starts following `units`; entries arrive on the returned channel, which closes when
/// `journalctl` is missing or at shutdown.
pub fn spawn(
    units: Vec<String>,
    start: JournalStart,
    max_line_bytes: usize,
    shutdown: Shutdown,
) -> mpsc::Receiver<JournalEntry> {
    let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
    tokio::spawn(follow(units, start, max_line_bytes, tx, shutdown));
    rx
}

/// The `journalctl` arguments for `units` from `start`.
pub fn arguments(units: &[String], start: &JournalStart) -> Vec<String> {
    let mut args = vec![
        "--follow".to_owned(),
        "--output=json".to_owned(),
        "--no-pager".to_owned(),
        "--quiet".to_owned(),
    ];
    args.extend(units.iter().map(|u| format!("--unit={u}")));
    match start {
        JournalStart::AfterCursor(cursor) => {
            args.push(format!("--after-cursor={cursor}"));
            args.push("--no-tail".to_owned());
        }
        JournalStart::Beginning => args.push("--no-tail".to_owned()),
        JournalStart::End => args.push("--lines=0".to_owned()),
    }
    args
}

async fn follow(
    units: Vec<String>,
    mut start: JournalStart,
    max_line_bytes: usize,
    tx: mpsc::Sender<JournalEntry>,
    shutdown: Shutdown,
) {
    let mut backoff = JOURNALCTL_RETRY.backoff();
    // Runs in a row that ended at once, before any entry, after starting from a cursor.
    let mut cursor_failures = 0;
    loop {
        let mut command = tokio::process::Command::new("journalctl");
        command
            .args(arguments(&units, &start))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                tracing::warn!(units = ?units, "journalctl not found: collectors.logs.journal_units are not followed (log files still are). Install systemd's journalctl or empty journal_units");
                return;
            }
            Err(err) => {
                let delay = backoff.next_delay().unwrap_or(JOURNALCTL_RETRY.max);
                tracing::warn!(error = %err, retry_in_seconds = delay.as_secs(), "cannot start journalctl; retrying");
                if shutdown.sleep(delay).await {
                    return;
                }
                continue;
            }
        };
        tracing::info!(units = ?units, "following the journal");
        let started = Instant::now();
        let mut entries = 0u64;
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(async move {
                let mut lines = BufReader::new(stderr).lines();
                let mut logged = 0;
                while let Ok(Some(line)) = lines.next_line().await {
                    if logged < 5 && !line.trim().is_empty() {
                        logged += 1;
                        tracing::warn!(journalctl = %line, "journalctl says");
                    }
                }
            });
        }
        let Some(stdout) = child.stdout.take() else {
            return;
        };
        let mut reader = BufReader::with_capacity(64 * 1024, stdout);
        let mut line = Vec::new();
        loop {
            let read = tokio::select! {
                () = shutdown.wait() => return,
                read = read_line(&mut reader, &mut line, MAX_JSON_LINE_BYTES) => read,
            };
            match read {
                Ok(Some(true)) => {
                    match parse_entry(&line, max_line_bytes) {
                        Some(entry) => {
                            entries += 1;
                            start = JournalStart::AfterCursor(entry.1.clone());
                            tokio::select! {
                                () = shutdown.wait() => return,
                                sent = tx.send(entry) => if sent.is_err() { return },
                            }
                        }
                        None => tracing::debug!("journalctl printed a line that is not an entry"),
                    }
                    line.clear();
                }
                Ok(Some(false)) => {
                    tracing::warn!(
                        max_bytes = MAX_JSON_LINE_BYTES,
                        "a journal entry larger than the limit was skipped"
                    );
                    line.clear();
                }
                Ok(None) => break,
                Err(err) => {
                    tracing::warn!(error = %err, "reading journalctl's output failed");
                    break;
                }
            }
        }
        let status = child.wait().await;
        if started.elapsed() > JOURNALCTL_RETRY.max {
            backoff.reset();
        }
        let cursor_refused = matches!(start, JournalStart::AfterCursor(_))
            && entries == 0
            && started.elapsed() < Duration::from_secs(5);
        cursor_failures = if cursor_refused {
            cursor_failures + 1
        } else {
            0
        };
        if cursor_failures >= 2 {
            // journalctl refuses the cursor ("Failed to seek to cursor"): not starting again
            // from it forever.
            tracing::warn!(
                "journalctl does not accept the saved journal cursor; following the journal from now on (entries since the last acknowledged one may be missing)"
            );
            start = JournalStart::End;
            cursor_failures = 0;
        }
        let delay = backoff.next_delay().unwrap_or(JOURNALCTL_RETRY.max);
        tracing::warn!(status = ?status.ok(), retry_in_seconds = delay.as_secs(), "journalctl stopped; starting it again");
        if shutdown.sleep(delay).await {
            return;
        }
    }
}

/// Reads up to the next newline into `line` (at most `max` bytes kept). `Some(true)`: a whole
/// line; `Some(false)`: a line longer than `max` (its bytes are dropped); `None`: end of output.
/// Cancel-safe: what was read stays in `line` for the next call.
async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    line: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Option<bool>> {
    let mut overflow = line.len() > max;
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(None);
        }
        let (piece, found) = match memchr::memchr(b'\n', buf) {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        if !overflow {
            if line.len() + piece.len() > max {
                overflow = true;
                // Keep one byte past the limit: marks the overflow across cancellations.
                line.clear();
                line.resize(max + 1, 0);
            } else {
                line.extend_from_slice(piece);
            }
        }
        let used = found.unwrap_or(buf.len());
        reader.consume(used);
        if found.is_some() {
            return Ok(Some(!overflow));
        }
    }
}

/// A journal field as text: a string, the first of repeated values, or bytes (non-UTF-8 data
/// is written by journalctl as an array of numbers).
fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Array(items) if items.iter().all(Value::is_number) => {
            let bytes: Vec<u8> = items
                .iter()
                .filter_map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
                .collect();
            Some(String::from_utf8_lossy(&bytes).into_owned())
        }
        Value::Array(items) => items.first().and_then(text),
        _ => None,
    }
}

/// Parses one line of `journalctl --output=json`: MESSAGE parsed like a file line (an app
/// logging JSON or Python's layout to stderr keeps its level and logger), PRIORITY as the level
/// when the message has none, SYSLOG_IDENTIFIER (else the unit) as component,
/// `__REALTIME_TIMESTAMP` as time, `journal:<unit>` as source.
pub fn parse_entry(raw: &[u8], max_line_bytes: usize) -> Option<JournalEntry> {
    let entry: Map<String, Value> = serde_json::from_slice(raw).ok()?;
    let cursor = entry.get("__CURSOR")?.as_str()?.to_owned();
    let field = |name: &str| entry.get(name).and_then(text);
    let mut message = field("MESSAGE").unwrap_or_default();
    parse::strip_nul(&mut message);
    let mut truncated = false;
    if message.len() > max_line_bytes {
        let mut cut = max_line_bytes;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
        truncated = true;
    }
    let mut parsed = parse::parse(&message, LogFileFormat::Auto);
    let unit = field("_SYSTEMD_UNIT")
        .or_else(|| field("_SYSTEMD_USER_UNIT"))
        .or_else(|| field("UNIT"));
    let identifier = field("SYSLOG_IDENTIFIER");
    let level = match parsed.level {
        LogLevel::Unknown => field("PRIORITY")
            .and_then(|p| LogLevel::normalise(&p))
            .unwrap_or_default(),
        known => known,
    };
    let time = field("__REALTIME_TIMESTAMP")
        .and_then(|us| us.parse::<i64>().ok())
        .and_then(DateTime::<Utc>::from_timestamp_micros)
        .or(parsed.time)
        .unwrap_or_else(Utc::now);
    if let Some(pid) = field("_PID").and_then(|p| p.parse::<u64>().ok()) {
        parsed.fields.entry("pid").or_insert(pid.into());
    }
    let mut component = parsed.component.or(identifier).or_else(|| unit.clone());
    if let Some(c) = component.as_mut() {
        parse::strip_nul(c);
    }
    parse::strip_nul_fields(&mut parsed.fields);
    let mut source = format!(
        "journal:{}",
        unit.unwrap_or_else(|| component.clone().unwrap_or_default())
    );
    parse::strip_nul(&mut source);
    let mut message = parsed.message;
    parse::strip_nul(&mut message);
    Some((
        LogLine {
            time,
            level,
            component,
            message,
            fields: parsed.fields,
            source,
            offset: None,
            truncated,
        },
        cursor,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_entries_parse() {
        let raw = br#"{"__CURSOR":"s=abc;i=1f","__REALTIME_TIMESTAMP":"1764064800123456","PRIORITY":"3","_SYSTEMD_UNIT":"trading-engine.service","SYSLOG_IDENTIFIER":"python3","_PID":"4242","MESSAGE":"order 7 rejected"}"#;
        let (line, cursor) = parse_entry(raw, 1000).unwrap();
        assert_eq!(cursor, "s=abc;i=1f");
        assert_eq!(line.level, LogLevel::Error);
        assert_eq!(line.component.as_deref(), Some("python3"));
        assert_eq!(line.message, "order 7 rejected");
        assert_eq!(line.source, "journal:trading-engine.service");
        assert_eq!(
            line.time,
            DateTime::parse_from_rfc3339("2025-11-25T10:00:00.123456Z").unwrap()
        );
        assert_eq!(line.fields["pid"], 4242);
        assert_eq!(line.offset, None);
        assert!(!line.truncated);

        // A Python layout in the message wins over PRIORITY; bytes are read lossily; long
        // messages are cut.
        let raw = br#"{"__CURSOR":"c2","PRIORITY":"6","UNIT":"x.service","MESSAGE":"2026-11-25 10:00:00,1 - trading.engine - CRITICAL - halted"}"#;
        let (line, _) = parse_entry(raw, 1000).unwrap();
        assert_eq!(line.level, LogLevel::Critical);
        assert_eq!(line.component.as_deref(), Some("trading.engine"));
        assert_eq!(line.message, "halted");
        let raw = br#"{"__CURSOR":"c3","MESSAGE":[104,105,0,255,33,33,33,33]}"#;
        let (line, _) = parse_entry(raw, 6).unwrap();
        assert_eq!(line.message, "hi\u{fffd}!");
        assert!(line.truncated);
        assert_eq!(line.level, LogLevel::Unknown);

        assert!(parse_entry(b"not json", 10).is_none());
        assert!(parse_entry(br#"{"MESSAGE":"no cursor"}"#, 10).is_none());
    }

    #[test]
    fn journalctl_arguments() {
        let units = vec!["a.service".to_owned()];
        let args = arguments(&units, &JournalStart::AfterCursor("s=1".into()));
        assert!(args.contains(&"--unit=a.service".to_owned()));
        assert!(args.contains(&"--after-cursor=s=1".to_owned()));
        assert!(args.contains(&"--no-tail".to_owned()));
        assert!(arguments(&units, &JournalStart::End).contains(&"--lines=0".to_owned()));
    }

    #[tokio::test]
    async fn bounded_line_reader() {
        let data: &[u8] = b"short\nthis one is too long\nok\npartial";
        let mut reader = BufReader::with_capacity(4, data);
        let mut line = Vec::new();
        assert_eq!(
            read_line(&mut reader, &mut line, 8).await.unwrap(),
            Some(true)
        );
        assert_eq!(line, b"short");
        line.clear();
        assert_eq!(
            read_line(&mut reader, &mut line, 8).await.unwrap(),
            Some(false)
        );
        line.clear();
        assert_eq!(
            read_line(&mut reader, &mut line, 8).await.unwrap(),
            Some(true)
        );
        assert_eq!(line, b"ok");
        line.clear();
        assert_eq!(read_line(&mut reader, &mut line, 8).await.unwrap(), None);
    }
}

//! `exporter-collector logs`: follows the configured log files (glob patterns) and systemd
//! journal units, parses each line ([`parse`]) and publishes the lines in batches
//! ([`LogBatch`]) on `<prefix>.v1.sample.logs.<host>`.
//!
//! The following itself (acknowledged batches, saved positions, rotation) is the
//! [`crate::follow`] framework; this module says how a line becomes a [`LogLine`] and adds the
//! journal ([`journal`]).

pub mod journal;
pub mod parse;

use std::path::Path;
use std::time::Duration;

use chrono::Utc;
use exporter_protocol::SourceKind;
use exporter_protocol::logs::{LogBatch, LogLine};
use exporter_settings::{LogFileSettings, StartPosition};

use crate::follow::{FollowConfig, Follower, LineSource, RawLine, cut};
use crate::{CollectorContext, CollectorError};

/// Log lines from files: parsed by their pattern's format.
#[derive(Debug)]
pub(crate) struct LogFiles {
    pub(crate) specs: Vec<LogFileSettings>,
    pub(crate) max_line_bytes: usize,
}

impl LineSource for LogFiles {
    type Item = LogLine;
    type Body = LogBatch;

    fn item(&mut self, line: RawLine<'_>) -> Option<LogLine> {
        let spec = self.specs.get(line.spec)?;
        let mut text = String::from_utf8_lossy(line.bytes).into_owned();
        if text.ends_with('\r') {
            text.pop();
        }
        parse::strip_nul(&mut text);
        if text.trim().is_empty() {
            return None;
        }
        let mut truncated = line.truncated;
        if text.len() > self.max_line_bytes {
            // Invalid bytes became U+FFFD (3 bytes): cut back to the limit.
            cut(&mut text, self.max_line_bytes);
            truncated = true;
        }
        let parsed = parse::parse(&text, spec.format);
        let mut component = parsed
            .component
            .or_else(|| spec.component.clone())
            .or_else(|| file_component(line.source));
        if let Some(c) = component.as_mut() {
            parse::strip_nul(c);
        }
        // JSON escapes (`\u0000`) can bring NUL back.
        let mut message = parsed.message;
        parse::strip_nul(&mut message);
        let mut fields = parsed.fields;
        parse::strip_nul_fields(&mut fields);
        let mut source = line.source.to_owned();
        parse::strip_nul(&mut source);
        Some(LogLine {
            time: parsed.time.unwrap_or_else(Utc::now),
            level: parsed.level,
            component,
            message,
            fields,
            source,
            offset: Some(line.offset),
            truncated,
        })
    }

    fn shrink(&self, mut line: LogLine, max_bytes: usize) -> LogLine {
        line.fields.clear();
        cut(&mut line.message, max_bytes / 8);
        if let Some(component) = line.component.as_mut() {
            cut(component, max_bytes / 8);
        }
        line.truncated = true;
        line
    }

    fn origin(line: &LogLine) -> String {
        match line.offset {
            Some(offset) => format!("{} at offset {offset}", line.source),
            None => line.source.clone(),
        }
    }

    fn body(lines: Vec<LogLine>) -> LogBatch {
        LogBatch { lines }
    }
}

/// Component of a file's lines that name none: its name without `.log` and rotation suffixes
/// (`/var/log/trading/engine.log.1` → `engine`).
pub fn file_component(path: &str) -> Option<String> {
    let name = Path::new(path).file_name()?.to_string_lossy().into_owned();
    let mut name = name.as_str();
    while let Some((stem, suffix)) = name.rsplit_once('.') {
        if stem.is_empty() {
            break;
        }
        let rotation = !suffix.is_empty() && suffix.chars().all(|c| c.is_ascii_digit());
        if rotation
            || matches!(
                suffix,
                "log" | "gz" | "txt" | "jsonl" | "json" | "out" | "err"
            )
        {
            name = stem;
        } else {
            break;
        }
    }
    (!name.is_empty()).then(|| name.to_owned())
}

/// Raises the soft limit of open files to the hard limit: every followed file (and every
/// rotated one still being read) holds a descriptor.
fn raise_open_files_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => {
                tracing::info!(
                    previous_soft_limit = soft,
                    open_files_limit = hard,
                    "raised the open files limit"
                );
            }
            Err(err) => {
                tracing::warn!(error = %err, open_files_limit = soft, "cannot raise the open files limit");
            }
        },
        Ok((soft, _)) => tracing::info!(open_files_limit = soft, "open files limit"),
        Err(err) => tracing::warn!(error = %err, "cannot read the open files limit"),
    }
}

/// Follows the configured files and journal units until shutdown.
pub async fn run(ctx: &CollectorContext) -> Result<(), CollectorError> {
    let config = &ctx.settings.collectors.logs;
    raise_open_files_limit();
    let follow = FollowConfig {
        source: SourceKind::Logs,
        patterns: config.files.iter().map(|f| f.path.clone()).collect(),
        patterns_error: "collectors.logs.files: invalid glob pattern",
        start_position: config.start_position,
        max_line_bytes: config.max_line_bytes,
        partial_line_wait: Some(Duration::from_millis(config.partial_line_wait_ms)),
        batch_max_lines: config.batch_max_lines,
        batch_max_wait: Duration::from_millis(config.batch_max_wait_ms),
        poll_interval: Duration::from_millis(config.poll_interval_ms),
    };
    let Some(follower) = Follower::start(ctx, follow).await? else {
        return Ok(());
    };
    let journal = (!config.journal_units.is_empty()).then(|| {
        let start = match (follower.journal_cursor(), config.start_position) {
            (Some(cursor), _) => journal::JournalStart::AfterCursor(cursor.to_owned()),
            (None, StartPosition::Beginning) => journal::JournalStart::Beginning,
            (None, StartPosition::End) => journal::JournalStart::End,
        };
        journal::spawn(
            config.journal_units.clone(),
            start,
            config.max_line_bytes,
            ctx.shutdown.clone(),
        )
    });
    tracing::info!(
        files = follower.files().len(),
        patterns = ?follower.files().patterns(),
        journal_units = ?config.journal_units,
        "logs collector started"
    );
    let mut source = LogFiles {
        specs: config.files.clone(),
        max_line_bytes: config.max_line_bytes,
    };
    follower.run(&mut source, journal).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_from_file_names() {
        assert_eq!(
            file_component("/var/log/trading/engine.log.1").as_deref(),
            Some("engine")
        );
        assert_eq!(
            file_component("/x/trading.engine.log").as_deref(),
            Some("trading.engine")
        );
        assert_eq!(file_component("/x/.hidden").as_deref(), Some(".hidden"));
        assert_eq!(file_component("/x/syslog").as_deref(), Some("syslog"));
    }

    #[test]
    fn lines_become_log_lines() {
        let mut source = LogFiles {
            specs: vec![LogFileSettings {
                path: "*.log".into(),
                component: Some("engine".into()),
                format: exporter_settings::LogFileFormat::Auto,
            }],
            max_line_bytes: 64,
        };
        let raw = |bytes: &'static [u8], truncated| RawLine {
            spec: 0,
            source: "/x/a.log",
            offset: 7,
            bytes,
            truncated,
        };
        assert!(source.item(raw(b" \r", false)).is_none());
        let line = source.item(raw(br#"{"msg":"\u0000a"}"#, false)).unwrap();
        assert_eq!(line.message, "a", "no NUL from JSON escapes");
        source.max_line_bytes = 8;
        let line = source.item(raw(b"ab\0c\xff\xfe\xfd\r", false)).unwrap();
        // Invalid bytes become U+FFFD, NUL goes, and the 8-byte limit holds.
        assert_eq!(line.message, "abc\u{fffd}");
        assert!(line.truncated);
        assert_eq!(line.component.as_deref(), Some("engine"));
        assert_eq!(line.offset, Some(7));
        let small = source.shrink(line, 16);
        assert_eq!(small.message, "ab");
    }
}

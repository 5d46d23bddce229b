//! `collectors.logs:`: the log files (glob patterns) and journald units followed, and how their
//! lines are cut and batched.

use serde::Deserialize;

use super::StartPosition;
use crate::SettingsError;
use crate::model::key_path::{KeyPath, Validate, key};

/// How a followed file's lines are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFileFormat {
    /// Each line is tried as JSON, then logfmt, then Python logging's layout, then plain text.
    Auto,
    Json,
    Logfmt,
    Python,
    /// The whole line is the message; level unknown.
    Plain,
}

/// One followed set of files.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogFileSettings {
    /// Glob pattern (`/var/log/trading/*.log`); files that appear later are picked up.
    pub path: String,
    /// Component of lines that name none (default: the file's name without extension).
    #[serde(default)]
    pub component: Option<String>,
    #[serde(default = "auto_format")]
    pub format: LogFileFormat,
}

fn auto_format() -> LogFileFormat {
    LogFileFormat::Auto
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogsCollectorSettings {
    pub enabled: bool,
    /// Files to follow (glob patterns). Default: this system's own process logs.
    pub files: Vec<LogFileSettings>,
    /// systemd units followed through `journalctl --follow --output=json` (empty: none).
    pub journal_units: Vec<String>,
    /// Where a file seen for the first time starts (files that appear later always start at 0).
    pub start_position: StartPosition,
    /// Longer lines are cut to this many bytes and marked `truncated`.
    pub max_line_bytes: usize,
    /// Most lines in one published batch.
    pub batch_max_lines: usize,
    /// Longest a line waits for its batch to fill.
    pub batch_max_wait_ms: u64,
    /// How often files are checked for new data, rotation and new matches.
    pub poll_interval_ms: u64,
    /// A last line without its newline is handed out once its file was idle this long.
    pub partial_line_wait_ms: u64,
}

impl Default for LogsCollectorSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            files: vec![LogFileSettings {
                path: ".state/logs/*.log".into(),
                component: None,
                format: LogFileFormat::Auto,
            }],
            journal_units: Vec::new(),
            start_position: StartPosition::End,
            max_line_bytes: 65_536,
            batch_max_lines: 500,
            batch_max_wait_ms: 500,
            poll_interval_ms: 250,
            partial_line_wait_ms: 5_000,
        }
    }
}

impl Validate for LogsCollectorSettings {
    fn validate(&self, at: &KeyPath) -> Result<(), SettingsError> {
        key!(at, self.files).each(&self.files, |at, file| file.validate(at))?;
        key!(at, self.journal_units).each(&self.journal_units, |at, unit| {
            at.check(
                !unit.trim().is_empty() && !unit.starts_with('-'),
                "must be a systemd unit name",
            )
        })?;
        // A line, JSON-escaped, must fit in one NATS message (1 MiB by default).
        key!(at, self.max_line_bytes).in_range(self.max_line_bytes as u64, 256, 131_072)?;
        key!(at, self.batch_max_lines).in_range(self.batch_max_lines as u64, 1, 100_000)?;
        key!(at, self.batch_max_wait_ms).in_range(self.batch_max_wait_ms, 1, 60_000)?;
        key!(at, self.poll_interval_ms).in_range(self.poll_interval_ms, 10, 60_000)?;
        key!(at, self.partial_line_wait_ms).in_range(self.partial_line_wait_ms, 100, 3_600_000)
    }
}

impl Validate for LogFileSettings {
    fn validate(&self, at: &KeyPath) -> Result<(), SettingsError> {
        key!(at, self.path).check(!self.path.trim().is_empty(), "must not be empty")
    }
}

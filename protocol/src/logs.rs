//! Log lines on the bus: what `exporter-collector logs` reads from files and the journal, parsed
//! into time, normalised level, component, message and extra fields.
//!
//! A batch of lines travels in one envelope on `<prefix>.v1.sample.logs.<host>`; the aggregator
//! stores every line in `log_line` and feeds them to the log alert rules.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::series::{HasSeries, SeriesPoint};

/// Collector kind and sample subject kind.
pub const KIND: &str = "logs";

/// Normalised severity of a line, ordered: `Unknown` < `Trace` < ... < `Critical`.
///
/// `unknown` is a line whose level could not be read; it sorts lowest, so `level=info` (that
/// level and above) leaves it out and no filter shows it.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    Default,
    ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    #[default]
    Unknown,
    Trace,
    Debug,
    Info,
    Warning,
    Error,
    Critical,
}

impl LogLevel {
    pub const ALL: [LogLevel; 7] = [
        Self::Unknown,
        Self::Trace,
        Self::Debug,
        Self::Info,
        Self::Warning,
        Self::Error,
        Self::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Trace => "trace",
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Error => "error",
            Self::Critical => "critical",
        }
    }

    /// Numeric rank stored in the database (`unknown` = 0 ... `critical` = 6).
    pub fn rank(self) -> i16 {
        self as i16
    }

    /// Reads the many spellings found in the wild (`WARN`, `warning`, `E`, `fatal`, `panic`,
    /// syslog priorities `0`-`7`); `None` when it is none of them.
    pub fn normalise(text: &str) -> Option<Self> {
        let lower = text.trim().to_ascii_lowercase();
        Some(match lower.as_str() {
            "trace" | "trc" | "t" | "verbose" => Self::Trace,
            "debug" | "dbg" | "d" | "7" => Self::Debug,
            "info" | "inf" | "i" | "information" | "informational" | "notice" | "6" | "5" => {
                Self::Info
            }
            "warn" | "warning" | "wrn" | "w" | "4" => Self::Warning,
            "error" | "err" | "e" | "eror" | "3" => Self::Error,
            "critical" | "crit" | "fatal" | "panic" | "emerg" | "emergency" | "alert" | "c"
            | "f" | "0" | "1" | "2" => Self::Critical,
            "unknown" => Self::Unknown,
            _ => return None,
        })
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LogLevel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::normalise(s).ok_or_else(|| {
            format!("unknown level `{s}` (trace, debug, info, warning, error, critical)")
        })
    }
}

/// One parsed line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    /// The line's own time when it has one, else when it was read.
    pub time: DateTime<Utc>,
    pub level: LogLevel,
    /// Logger or component name (`trading.engine`, a journal unit), when the line says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    pub message: String,
    /// Every other field of a JSON or logfmt line (`{}` when none).
    #[serde(default)]
    pub fields: serde_json::Map<String, serde_json::Value>,
    /// Where it was read: a file path or `journal:<unit>`.
    pub source: String,
    /// Byte offset of the line's start in its file (absent for the journal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// True when the line was longer than the limit and was cut.
    #[serde(default)]
    pub truncated: bool,
}

/// The payload of one logs sample: lines in the order they were read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogBatch {
    pub lines: Vec<LogLine>,
}

impl HasSeries for LogBatch {
    /// Lines are not numeric series; they go to their own table.
    fn series(&self) -> Vec<SeriesPoint> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_normalise_and_order() {
        assert_eq!(LogLevel::normalise("WARN"), Some(LogLevel::Warning));
        assert_eq!(LogLevel::normalise("Fatal"), Some(LogLevel::Critical));
        assert_eq!(LogLevel::normalise("3"), Some(LogLevel::Error));
        assert_eq!(LogLevel::normalise("loud"), None);
        assert!(LogLevel::Error > LogLevel::Warning);
        assert!(LogLevel::Unknown < LogLevel::Trace);
        assert_eq!(
            serde_json::to_string(&LogLevel::Warning).unwrap(),
            "\"warning\""
        );
    }
}

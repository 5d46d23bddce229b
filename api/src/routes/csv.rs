//! CSV answers for the tabular trading endpoints, for reconciling with a broker's statement in
//! a spreadsheet: which format a request asked for (`?format=csv` or `Accept: text/csv`), and
//! an RFC 4180 table (a header row, CRLF line ends, fields quoted when they hold a comma, a
//! quote or a line break) sent as an attachment.

use axum::http::header::{ACCEPT, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};

use serde::Deserialize;
use utoipa::ToSchema;

/// The media type of a CSV answer.
pub const CSV_CONTENT_TYPE: &str = "text/csv; charset=utf-8";

/// The format a request asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The endpoint's JSON (the default).
    Json,
    /// A CSV table.
    Csv,
}

/// The `format` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FormatParam {
    Json,
    Csv,
}

impl Format {
    /// `?format=json|csv` when given, else CSV when the `Accept` header names `text/csv`, else
    /// JSON.
    pub fn of(asked: Option<FormatParam>, headers: &HeaderMap) -> Self {
        match asked {
            Some(FormatParam::Csv) => Self::Csv,
            Some(FormatParam::Json) => Self::Json,
            None => {
                let accepts_csv = headers
                    .get_all(ACCEPT)
                    .iter()
                    .filter_map(|value| value.to_str().ok())
                    .flat_map(|value| value.split(','))
                    .any(|media| media.split(';').next().unwrap_or("").trim() == "text/csv");
                if accepts_csv { Self::Csv } else { Self::Json }
            }
        }
    }
}

/// One field as RFC 4180 writes it: quoted (with quotes doubled) when it holds a comma, a
/// quote, a CR or an LF. A text that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`,
/// a tab or a CR first: a strategy tag is whatever the trading engine sent) gets a leading `'`,
/// as OWASP advises; numbers (`-12.50`) stay numbers.
fn field(text: &str) -> String {
    let formula =
        text.starts_with(['=', '+', '-', '@', '\t', '\r']) && text.parse::<f64>().is_err();
    let text = if formula {
        std::borrow::Cow::Owned(format!("'{text}"))
    } else {
        std::borrow::Cow::Borrowed(text)
    };
    if text.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.into_owned()
    }
}

/// A table: the header row, then one line per row, every line ending in CRLF.
pub fn table(header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> String {
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = String>| {
        let cells: Vec<String> = cells.map(|cell| field(&cell)).collect();
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    };
    line(&mut header.iter().map(|name| (*name).to_owned()));
    for row in rows {
        line(&mut row.into_iter());
    }
    out
}

/// A time as RFC 3339 in UTC (`2026-01-31T04:30:00Z`).
pub fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// An optional cell: empty when absent.
pub fn optional<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

/// `body` as a CSV attachment named `filename`.
pub fn attachment(filename: &str, body: String) -> Response {
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static(CSV_CONTENT_TYPE)),
            (CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_defused_and_numbers_kept() {
        assert_eq!(field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(field("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(field("+1-2"), "'+1-2");
        assert_eq!(field("-12.50"), "-12.50");
        assert_eq!(field("momentum"), "momentum");
    }

    #[test]
    fn fields_are_quoted_only_when_they_must_be() {
        let csv = table(
            &["id", "strategy"],
            [
                vec!["a1".into(), "plain".into()],
                vec!["a2".into(), "mean, reversion".into()],
                vec!["a3".into(), "the \"edge\"\nv2".into()],
            ],
        );
        assert_eq!(
            csv,
            "id,strategy\r\na1,plain\r\na2,\"mean, reversion\"\r\na3,\"the \"\"edge\"\"\nv2\"\r\n"
        );
    }

    #[test]
    fn times_are_utc_rfc3339() {
        let at = DateTime::parse_from_rfc3339("2026-01-30T23:30:00-05:00").unwrap();
        assert_eq!(time(at.with_timezone(&Utc)), "2026-01-31T04:30:00Z");
    }
}

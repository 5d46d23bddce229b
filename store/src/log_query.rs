//! The API's read of stored log lines (`GET /logs`): filtered, newest first, one page at a time,
//! with the total count of the filter.
//!
//! The SQL names only the filters a request gives (no `$n IS NULL OR ...`), so PostgreSQL can use
//! the `(time DESC, log_id DESC)`, `(level, time DESC)` and `(component, time DESC)` indexes of
//! migration 0004 whatever plan it caches for the statement.

use chrono::{DateTime, Utc};
use exporter_protocol::logs::LogLevel;
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::filter::Filter;
use crate::paging::Listing;
use crate::{Store, StoreError};

/// Which lines to read. Every filter given must hold.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    /// That level and above (`level >= rank`).
    pub min_level: Option<LogLevel>,
    /// Any of these components (exact match); empty: any component, `NULL` included.
    pub components: Vec<String>,
    pub host: Option<String>,
    /// `time >= start`.
    pub start: Option<DateTime<Utc>>,
    /// `time < end`.
    pub end: Option<DateTime<Utc>>,
    /// Case-insensitive substring of the message (`%` and `_` are literal).
    pub text: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

/// One stored line.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredLogLine {
    pub id: i64,
    pub time: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub host: String,
    pub source: String,
    pub level: LogLevel,
    pub component: Option<String>,
    pub message: String,
    pub fields: serde_json::Value,
    /// Byte offset of the line in its file (`None` for the journal).
    pub file_offset: Option<i64>,
    pub truncated: bool,
}

/// One page of lines, newest first, and how many lines the filter matches in all.
#[derive(Debug, Clone, Default)]
pub struct LogPage {
    pub total: i64,
    pub lines: Vec<StoredLogLine>,
}

/// `pattern` for `ILIKE ... ESCAPE '\'` matching `text` anywhere, literally.
pub fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

impl LogQuery {
    /// The conditions of the filters given, with their values.
    fn filter(&self) -> Filter {
        let mut filter = Filter::default();
        filter
            .when("level >= {}", self.min_level.map(LogLevel::rank))
            .any_of("component = ANY({}::text[])", self.components.clone())
            .when("host = {}", self.host.clone())
            .when("time >= {}", self.start)
            .when("time < {}", self.end)
            .when(
                "message ILIKE {} ESCAPE '\\'",
                self.text.as_deref().map(contains_pattern),
            );
        filter
    }

    /// The `WHERE` clause (empty when nothing filters), with `$1`... in the order they are
    /// bound, and how many placeholders it used.
    #[cfg(test)]
    fn where_clause(&self) -> (String, usize) {
        let filter = self.filter();
        (filter.clause(), filter.used())
    }
}

fn line_from_row(row: &PgRow) -> Result<StoredLogLine, StoreError> {
    let rank: i16 = row.try_get("level")?;
    Ok(StoredLogLine {
        id: row.try_get("log_id")?,
        time: row.try_get("time")?,
        received_at: row.try_get("received_at")?,
        host: row.try_get("host")?,
        source: row.try_get("source")?,
        level: LogLevel::ALL
            .into_iter()
            .find(|l| l.rank() == rank)
            .unwrap_or_default(),
        component: row.try_get("component")?,
        message: row.try_get("message")?,
        fields: row.try_get("fields")?,
        file_offset: row.try_get("file_offset")?,
        truncated: row.try_get("truncated")?,
    })
}

impl Store {
    /// One page of the lines matching `query`, newest first (`time`, then insertion order), and
    /// the number of lines matching in all (counted with the same filter).
    pub async fn log_lines(&self, query: &LogQuery) -> Result<LogPage, StoreError> {
        let filter = query.filter();
        let page = Listing {
            columns: "log_id, time, received_at, host, source, level, component, message, fields, \
                      file_offset, truncated",
            table: "log_line",
            filter: &filter.clause(),
            used: filter.used(),
            order: "ORDER BY time DESC, log_id DESC",
            limit: query.limit,
            offset: query.offset,
        }
        .fetch(&self.pool, |q| filter.bind(q))
        .await?;
        let (rows, count) = (page.rows, page.total);
        Ok(LogPage {
            total: count,
            lines: rows.iter().map(line_from_row).collect::<Result<_, _>>()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_escape_like_wildcards() {
        assert_eq!(contains_pattern("disk"), "%disk%");
        assert_eq!(contains_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
    }

    #[test]
    fn where_clause_names_only_given_filters_in_bind_order() {
        assert_eq!(LogQuery::default().where_clause(), (String::new(), 0));
        let query = LogQuery {
            min_level: Some(LogLevel::Warning),
            host: Some("gh200".into()),
            text: Some("x".into()),
            ..Default::default()
        };
        assert_eq!(
            query.where_clause(),
            (
                "WHERE level >= $1 AND host = $2 AND message ILIKE $3 ESCAPE '\\'".to_owned(),
                3
            )
        );
    }
}

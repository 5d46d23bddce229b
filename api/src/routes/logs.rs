//! `/logs`: the stored log lines of every host, filtered by level ("that level and above"),
//! component, host, time and message text, newest first, a page at a time with the total.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use exporter_protocol::logs::LogLevel;
use exporter_store::log_query::{LogQuery, StoredLogLine};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::Problem;
use crate::extract::{AppQuery, de};
use crate::{ApiError, AppState};

/// Deepest `offset` accepted: PostgreSQL walks every skipped line, so paging further back is
/// done with `end` instead.
pub const MAX_OFFSET: i64 = 1_000_000;
/// Longest `q` accepted, in characters.
pub const MAX_TEXT_CHARS: usize = 256;

/// One stored log line.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogLineView {
    pub id: i64,
    /// The line's own time when it has one, else when it was read.
    pub time: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub host: String,
    /// The file or journal it came from.
    pub source: String,
    pub level: LogLevel,
    pub component: Option<String>,
    pub message: String,
    /// The line's structured fields (free-form: whatever the logger wrote).
    #[schema(value_type = Object)]
    pub fields: serde_json::Value,
    /// Byte offset of the line in its file; null for the journal.
    pub offset: Option<i64>,
    /// The line was longer than the collector keeps.
    pub truncated: bool,
}

impl From<StoredLogLine> for LogLineView {
    fn from(line: StoredLogLine) -> Self {
        Self {
            id: line.id,
            time: line.time,
            received_at: line.received_at,
            host: line.host,
            source: line.source,
            level: line.level,
            component: line.component,
            message: line.message,
            fields: line.fields,
            offset: line.file_offset,
            truncated: line.truncated,
        }
    }
}

/// `GET /logs` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogPage {
    /// Lines matching, in all.
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
    /// Newest first.
    pub lines: Vec<LogLineView>,
}

/// Query of `GET /logs`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LogsParams {
    /// That level and above (`warn` is read as `warning`).
    #[serde(default)]
    #[param(inline)]
    pub level: Option<LevelParam>,
    /// Components (logger name, journal unit), separated by commas.
    #[serde(default, deserialize_with = "de::text_list")]
    #[param(value_type = Option<Vec<crate::extract::ListItem>>, style = Form, explode = false, min_items = 1, max_items = 100)]
    pub component: Vec<String>,
    /// Only this host.
    #[serde(default, deserialize_with = "de::text")]
    #[param(min_length = 1, max_length = 256, pattern = "^[^\\u0000]+$")]
    pub host: Option<String>,
    /// Lines at or after this time.
    #[serde(default, deserialize_with = "de::time")]
    pub start: Option<DateTime<Utc>>,
    /// Lines before this time (at or before `start`, no line matches).
    #[serde(default, deserialize_with = "de::time")]
    pub end: Option<DateTime<Utc>>,
    /// Case-insensitive text the message contains.
    #[serde(default, deserialize_with = "de::text_max::<256, _>")]
    #[param(min_length = 1, max_length = 256, pattern = "^[^\\u0000]+$")]
    pub q: Option<String>,
    /// Page size, default 100.
    #[serde(default, deserialize_with = "de::ranged::<1, 1000, _>")]
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// Lines to skip, default 0.
    #[serde(default, deserialize_with = "de::ranged::<0, 1_000_000, _>")]
    #[param(minimum = 0, maximum = 1_000_000)]
    pub offset: Option<i64>,
}

/// The levels `level` accepts (`warn` is `warning`).
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LevelParam {
    Trace,
    Debug,
    Info,
    Warning,
    Warn,
    Error,
    Critical,
}

impl From<LevelParam> for LogLevel {
    fn from(level: LevelParam) -> Self {
        match level {
            LevelParam::Trace => Self::Trace,
            LevelParam::Debug => Self::Debug,
            LevelParam::Info => Self::Info,
            LevelParam::Warning | LevelParam::Warn => Self::Warning,
            LevelParam::Error => Self::Error,
            LevelParam::Critical => Self::Critical,
        }
    }
}

#[utoipa::path(
    get, path = "/logs", operation_id = "list_logs", tag = "logs",
    params(LogsParams),
    responses(
        (status = 200, description = "Matching lines newest first, a page at a time", body = LogPage),
        (status = 400, description = "A parameter is invalid; `parameter` names it", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong API key", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn logs(
    State(state): State<AppState>,
    AppQuery(params): AppQuery<LogsParams>,
) -> Result<Json<LogPage>, ApiError> {
    let limit = params.limit.unwrap_or(100);
    let offset = params.offset.unwrap_or(0);
    let page = state
        .store
        .log_lines(&LogQuery {
            min_level: params.level.map(LogLevel::from),
            components: params.component,
            host: params.host,
            start: params.start,
            end: params.end,
            text: params.q,
            limit,
            offset,
        })
        .await?;
    Ok(Json(LogPage {
        total: page.total,
        limit,
        offset,
        lines: page.lines.into_iter().map(LogLineView::from).collect(),
    }))
}

//! `/logs`: the stored log lines of every host, filtered by level ("that level and above"),
//! component, host, time and message text, newest first, a page at a time with the total.

use axum::Json;
use axum::extract::State;
use exporter_protocol::logs::LogLevel;
use exporter_store::log_query::{LogQuery, StoredLogLine};
use serde_json::{Value, json};

use crate::params::Params;
use crate::{ApiError, AppState};

/// Deepest `offset` accepted: PostgreSQL walks every skipped line, so paging further back is
/// done with `end` instead.
pub const MAX_OFFSET: i64 = 1_000_000;
/// Longest `q` accepted, in characters.
pub const MAX_TEXT_CHARS: usize = 256;

fn line_json(line: StoredLogLine) -> Value {
    json!({
        "id": line.id,
        "time": line.time,
        "received_at": line.received_at,
        "host": line.host,
        "source": line.source,
        "level": line.level,
        "component": line.component,
        "message": line.message,
        "fields": line.fields,
        "offset": line.file_offset,
        "truncated": line.truncated,
    })
}

#[utoipa::path(
    get, path = "/logs", tag = "logs", security(("api_key" = [])),
    params(
        ("level" = Option<String>, Query, description = "that level and above: trace, debug, info, warning (or warn), error, critical"),
        ("component" = Option<String>, Query, description = "component (logger name, journal unit); several separated by commas"),
        ("host" = Option<String>, Query, description = "only this host"),
        ("start" = Option<String>, Query, description = "lines at or after this RFC 3339 time"),
        ("end" = Option<String>, Query, description = "lines before this RFC 3339 time"),
        ("q" = Option<String>, Query, description = "case-insensitive text the message contains (at most 256 characters)"),
        ("limit" = Option<u32>, Query, description = "1 to 1000, default 100"),
        ("offset" = Option<u32>, Query, description = "0 to 1000000, default 0"),
    ),
    responses(
        (status = 200, description = "`total` (lines matching), `limit`, `offset`, `lines` newest first: `id`, `time`, `received_at`, `host`, `source`, `level`, `component`, `message`, `fields`, `offset` (byte offset in the file, null for the journal), `truncated`"),
        (status = 400, body = crate::error::Problem),
        (status = 401, body = crate::error::Problem),
    )
)]
pub async fn logs(State(state): State<AppState>, params: Params) -> Result<Json<Value>, ApiError> {
    params.only(&[
        "level",
        "component",
        "host",
        "start",
        "end",
        "q",
        "limit",
        "offset",
    ])?;
    let limit = params.integer("limit", 1, 1000)?.unwrap_or(100);
    let offset = params.integer("offset", 0, MAX_OFFSET)?.unwrap_or(0);
    let min_level = params.parsed("level", |value| value.parse::<LogLevel>())?;
    let components = params.list("component", |value| Ok(value.to_owned()))?;
    let host = params.text("host")?;
    let start = params.time("start")?;
    let end = params.time("end")?;
    if let (Some(s), Some(e)) = (start, end)
        && s > e
    {
        return Err(ApiError::bad("start", "must not be after end"));
    }
    let text = params.text("q")?;
    if let Some(text) = &text
        && text.chars().count() > MAX_TEXT_CHARS
    {
        return Err(ApiError::bad(
            "q",
            format!("at most {MAX_TEXT_CHARS} characters"),
        ));
    }
    let page = state
        .store
        .log_lines(&LogQuery {
            min_level,
            components,
            host,
            start,
            end,
            text,
            limit,
            offset,
        })
        .await?;
    let lines: Vec<Value> = page.lines.into_iter().map(line_json).collect();
    Ok(Json(json!({
        "total": page.total,
        "limit": limit,
        "offset": offset,
        "lines": lines,
    })))
}

//! `api:`: where the HTTP API listens, its keys (the main one and narrower extra ones, each in
//! a 0600 file) and the bounds on what one request may ask.

use std::path::PathBuf;

use serde::Deserialize;

use super::key_path::{KeyPath, Validate, key};
use crate::SettingsError;

/// Access scope of an API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyScope {
    /// Every GET route.
    Read,
    /// Everything, including acknowledging alerts.
    Admin,
}

/// An extra API key, read from its own file (mode 0600).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtraKey {
    /// Who holds it (appears in the access log, never the key).
    pub name: String,
    pub scope: KeyScope,
    pub key_file: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiSettings {
    /// Bind address (env `EXPORTER_API_HOST`). The tunnel is how the outside reaches it.
    pub host: String,
    /// Bind port (env `EXPORTER_API_PORT`).
    pub port: u16,
    /// File of the main key, relative to `state_dir` unless absolute; `exporter up` creates it
    /// (mode 0600) when neither `EXPORTER_API_KEY` nor `EXPORTER_API_KEY_FILE` is set.
    pub key_file: PathBuf,
    /// Further keys with narrower scopes.
    pub extra_keys: Vec<ExtraKey>,
    /// Keys managed by `exporter key create|list|revoke`, relative to `state_dir` unless
    /// absolute; re-read by the API whenever the directory changes.
    pub keys_dir: PathBuf,
    /// Upper bound of points per series in a history answer.
    pub history_max_points: u32,
    /// Requests taking longer are answered 503.
    pub request_timeout_seconds: u64,
    /// A collector whose last sample is older than this is reported stale in `/health`.
    pub stale_after_seconds: u64,
    /// Connections served at once. Past it, the oldest connection that has not sent a request
    /// yet is closed to make room; when every one is busy, a new one gets 503.
    pub max_connections: u32,
    /// A connection that sends no complete request header within this time (a new one, or an
    /// idle keep-alive one between requests) is closed.
    pub header_read_timeout_seconds: u64,
    /// The tunnel's own listener: a Unix socket (0600), relative to `state_dir` unless
    /// absolute. Only requests through it may carry `X-Forwarded-For`/`-Proto` that count.
    pub tunnel_socket: PathBuf,
    /// Failed authentications one client address may make within
    /// `auth_failure_window_seconds` before its failed attempts get 429 (a valid key never
    /// does).
    pub auth_failure_limit: u32,
    pub auth_failure_window_seconds: u64,
    /// Server-sent event streams open at once, in total and per key; past either, 503.
    pub sse_max_streams: u32,
    pub sse_max_streams_per_key: u32,
    /// How long a browser session of the dashboard lasts after sign-in (`POST /session`); it
    /// also ends with its key (revoked, expired, removed) and at sign-out.
    pub session_ttl_seconds: u64,
    /// Sessions kept at once, in total (past it, sign-in gets 503) and per key (past it, the
    /// key's oldest session is ended to make room).
    pub session_max: u32,
    pub session_max_per_key: u32,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 8000,
            key_file: PathBuf::from("api-key"),
            extra_keys: Vec::new(),
            keys_dir: PathBuf::from("keys"),
            history_max_points: 1000,
            request_timeout_seconds: 15,
            stale_after_seconds: 60,
            max_connections: 512,
            tunnel_socket: PathBuf::from("api-tunnel.sock"),
            auth_failure_limit: 20,
            auth_failure_window_seconds: 300,
            header_read_timeout_seconds: 10,
            sse_max_streams: 64,
            sse_max_streams_per_key: 8,
            session_ttl_seconds: 12 * 3600,
            session_max: 1024,
            session_max_per_key: 16,
        }
    }
}

impl Validate for ApiSettings {
    fn validate(&self, at: &KeyPath) -> Result<(), SettingsError> {
        key!(at, self.host).check(!self.host.is_empty(), "must not be empty")?;
        key!(at, self.history_max_points).in_range(
            u64::from(self.history_max_points),
            10,
            100_000,
        )?;
        key!(at, self.request_timeout_seconds).in_range(self.request_timeout_seconds, 1, 600)?;
        key!(at, self.stale_after_seconds).in_range(self.stale_after_seconds, 1, 86_400)?;
        key!(at, self.max_connections).in_range(u64::from(self.max_connections), 8, 60_000)?;
        key!(at, self.header_read_timeout_seconds).in_range(
            self.header_read_timeout_seconds,
            1,
            300,
        )?;
        key!(at, self.auth_failure_limit).in_range(
            u64::from(self.auth_failure_limit),
            1,
            100_000,
        )?;
        key!(at, self.auth_failure_window_seconds).in_range(
            self.auth_failure_window_seconds,
            1,
            86_400,
        )?;
        key!(at, self.sse_max_streams).in_range(u64::from(self.sse_max_streams), 1, 10_000)?;
        key!(at, self.sse_max_streams_per_key).in_range(
            u64::from(self.sse_max_streams_per_key),
            1,
            u64::from(self.sse_max_streams),
        )?;
        key!(at, self.session_ttl_seconds).in_range(self.session_ttl_seconds, 5, 30 * 86_400)?;
        key!(at, self.session_max).in_range(u64::from(self.session_max), 1, 100_000)?;
        key!(at, self.session_max_per_key).in_range(
            u64::from(self.session_max_per_key),
            1,
            u64::from(self.session_max),
        )?;
        key!(at, self.extra_keys).each(&self.extra_keys, |at, key| key.validate(at))
    }
}

impl Validate for ExtraKey {
    fn validate(&self, at: &KeyPath) -> Result<(), SettingsError> {
        key!(at, self.name).check(!self.name.is_empty(), "must not be empty")
    }
}

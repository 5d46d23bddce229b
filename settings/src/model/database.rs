//! `database:`: where PostgreSQL is, and the connection pool. The URL may carry no password.

use serde::Deserialize;

use super::key_path::{KeyPath, Validate, key};
use super::url_has_password;
use crate::SettingsError;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// PostgreSQL URL (env `EXPORTER_DATABASE_URL`). Put no password here: use the Unix socket
    /// with peer authentication, or `PGPASSWORD`/`~/.pgpass`.
    pub url: String,
    pub max_connections: u32,
    /// Seconds to wait for a pooled connection before a query fails.
    pub acquire_timeout_seconds: u64,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: "postgres://localhost/exporter?host=/var/run/postgresql".into(),
            max_connections: 8,
            acquire_timeout_seconds: 5,
        }
    }
}

impl Validate for DatabaseSettings {
    fn validate(&self, at: &KeyPath) -> Result<(), SettingsError> {
        let url = key!(at, self.url);
        url.check(
            self.url.starts_with("postgres://") || self.url.starts_with("postgresql://"),
            "must start with postgres:// or postgresql://",
        )?;
        url.check(
            !self.url.contains(":@") && !url_has_password(&self.url),
            "must not contain a password: use peer authentication, PGPASSWORD or ~/.pgpass",
        )?;
        key!(at, self.max_connections).in_range(u64::from(self.max_connections), 1, 200)?;
        key!(at, self.acquire_timeout_seconds).in_range(self.acquire_timeout_seconds, 1, 300)
    }
}

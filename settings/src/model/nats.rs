//! `nats:`: the server, how each process authenticates to it, the JetStream stream that holds
//! samples until the aggregator committed them, and the durable consumer the aggregators share.
//! `managed:` makes `exporter up` run a nats-server of its own with one user per role (see
//! docs/operations.md, "The authenticated bus").

use std::path::PathBuf;

use serde::Deserialize;

use super::key_path::{KeyPath, Validate, key};
use crate::SettingsError;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NatsSettings {
    /// Server URL (env `EXPORTER_NATS_URL`).
    pub url: String,
    /// First token of every subject (`<prefix>.v1.sample...`).
    pub subject_prefix: String,
    /// JetStream stream holding samples until the aggregator committed them.
    pub stream: String,
    /// Oldest a message may get in the stream before the server deletes it.
    pub stream_max_age_hours: u64,
    /// Most messages the stream holds; when full, publishes are refused (collectors buffer and
    /// count), never an acknowledged message evicted. A count limit, because a byte limit is
    /// not airtight on nats-server 2.9 (docs/architecture.md, "Stream limits").
    pub stream_max_messages: i64,
    /// Largest message the stream accepts (headers and payload); with `stream_max_messages` it
    /// bounds the stream's bytes. At least NATS's `max_payload` (1 MiB by default), or a large
    /// log batch would be refused forever.
    pub stream_max_message_bytes: i32,
    /// No longer applied (a byte limit lets nats-server 2.9 evict an acknowledged message);
    /// accepted so older files load, with a warning at start.
    pub stream_max_bytes: Option<i64>,
    /// Durable consumer name shared by every aggregator instance.
    pub consumer: String,
    /// Seconds to wait for a JetStream ack before a publish counts as failed.
    pub publish_timeout_seconds: u64,
    /// User name on an authenticated server (env `EXPORTER_NATS_USER`); its password comes from
    /// `EXPORTER_NATS_PASSWORD` or the 0600 file `password_file` (`EXPORTER_NATS_PASSWORD_FILE`).
    pub user: Option<String>,
    pub password_file: Option<PathBuf>,
    /// A `.creds` file (JWT and nkey seed, 0600) for a server with decentralised auth.
    pub credentials_file: Option<PathBuf>,
    /// Prefix of this process's reply subjects (env `EXPORTER_NATS_INBOX_PREFIX`): on the
    /// managed bus each user may receive only on `_INBOX_<user>.>`, so nobody reads another's
    /// replies. `None`: the client's default `_INBOX`.
    pub inbox_prefix: Option<String>,
    pub tls: NatsTlsSettings,
    pub managed: ManagedNatsSettings,
}

/// `nats.tls`: TLS to the server (a remote NATS; the managed one listens on loopback only).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NatsTlsSettings {
    /// Refuse a server that does not offer TLS.
    pub required: bool,
    /// CA certificate(s) (PEM) to trust for the server.
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key (PEM) for mutual TLS.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

/// `nats.managed`: the nats-server `exporter up` runs itself, with users and permissions.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ManagedNatsSettings {
    /// Run it (the shipped settings do; an absent block means an external server at `url`).
    pub enabled: bool,
    /// Loopback port it listens on (not 4222, which a system nats-server may hold).
    pub port: u16,
    /// The nats-server executable (a name on `PATH` or a path).
    pub binary: String,
}

impl Default for ManagedNatsSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            port: 4223,
            binary: "nats-server".into(),
        }
    }
}

impl Default for NatsSettings {
    fn default() -> Self {
        Self {
            url: "nats://127.0.0.1:4222".into(),
            subject_prefix: "exporter".into(),
            stream: "EXPORTER_TELEMETRY".into(),
            stream_max_age_hours: 72,
            stream_max_messages: 200_000,
            stream_max_message_bytes: 1024 * 1024,
            stream_max_bytes: None,
            consumer: "aggregator".into(),
            publish_timeout_seconds: 5,
            user: None,
            password_file: None,
            credentials_file: None,
            inbox_prefix: None,
            tls: NatsTlsSettings::default(),
            managed: ManagedNatsSettings::default(),
        }
    }
}

/// One subject token (or stream or consumer name): letters, digits, `_` or `-`.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl Validate for NatsSettings {
    fn validate(&self, at: &KeyPath) -> Result<(), SettingsError> {
        key!(at, self.url).check(!self.url.is_empty(), "must not be empty")?;
        key!(at, self.subject_prefix).check(
            is_token(&self.subject_prefix),
            "must be one subject token of letters, digits, `_` or `-`",
        )?;
        key!(at, self.stream).check(
            is_token(&self.stream),
            "must be letters, digits, `_` or `-`",
        )?;
        key!(at, self.consumer).check(
            is_token(&self.consumer),
            "must be letters, digits, `_` or `-`",
        )?;
        key!(at, self.stream_max_age_hours).in_range(self.stream_max_age_hours, 1, 24 * 365)?;
        key!(at, self.stream_max_messages).check(
            (100..=1_000_000_000).contains(&self.stream_max_messages),
            "must be between 100 and 1000000000",
        )?;
        key!(at, self.stream_max_message_bytes).check(
            (1024 * 1024..=64 * 1024 * 1024).contains(&self.stream_max_message_bytes),
            "must be between 1048576 (1 MiB, NATS's default max_payload) and 67108864",
        )?;
        key!(at, self.publish_timeout_seconds).in_range(self.publish_timeout_seconds, 1, 300)?;
        if let Some(user) = &self.user {
            key!(at, self.user).check(is_token(user), "must be letters, digits, `_` or `-`")?;
        }
        if let Some(prefix) = &self.inbox_prefix {
            key!(at, self.inbox_prefix).check(
                is_token(prefix),
                "must be one subject token of letters, digits, `_` or `-`",
            )?;
        }
        at.key("tls").key("key_file").check(
            self.tls.cert_file.is_some() == self.tls.key_file.is_some(),
            "cert_file and key_file go together",
        )?;
        let managed = at.key("managed");
        managed
            .key("port")
            .check(self.managed.port != 0, "must be a port number")?;
        managed
            .key("binary")
            .check(!self.managed.binary.is_empty(), "must not be empty")
    }
}

//! The NATS side every process shares: connecting (and retrying while the server is away), and
//! creating the JetStream stream and the aggregator's durable consumer idempotently, so whichever
//! process starts first sets them up.
//!
//! The stream uses work-queue retention with `DiscardPolicy::New` (see docs/architecture.md): it
//! holds exactly what the aggregator has not committed yet, and when it is full new publishes are
//! refused (collectors buffer and count) instead of old, unwritten samples being deleted. It is
//! bounded by a message count and a largest message size, never by bytes: with a byte limit,
//! nats-server 2.9 acknowledges a publish that fits by payload and then deletes the oldest
//! message to make room for its stored size.

use std::future::Future;
use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use exporter_protocol::Subjects;
use exporter_settings::NatsSettings;

use crate::Shutdown;
use crate::retry::{RetryError, RetryPolicy};

/// JetStream's duplicate window: a re-published message id inside it is dropped by the server.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

/// Why the bus could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("invalid NATS URL {url}: {message}")]
    Url { url: String, message: String },
    #[error("NATS credentials: {0}")]
    Credentials(String),
    #[error("JetStream {what} failed: {message}")]
    JetStream { what: &'static str, message: String },
    #[error("shutdown requested while waiting for NATS")]
    Shutdown,
    #[error("{what} failed {failures} times; giving up: {message}")]
    GaveUp {
        what: String,
        failures: u32,
        message: String,
    },
}

/// Connects to NATS. The client keeps reconnecting by itself afterwards; connection changes
/// are logged with what to do about them. Authenticates with what `nats:` names (user and
/// password, or a `.creds` file) and uses TLS when `nats.tls` asks for it; without any
/// credentials it warns once that anyone who can reach the server can publish on the bus.
pub async fn connect(
    settings: &NatsSettings,
    process: &str,
) -> Result<async_nats::Client, BusError> {
    let url = settings.url.clone();
    let log_url = exporter_settings::redact_url(&url);
    let options = authenticate(async_nats::ConnectOptions::new(), settings, &|name| {
        std::env::var(name).ok()
    })
    .await?;
    options
        .name(process)
        .retry_on_initial_connect()
        .connection_timeout(Duration::from_secs(5))
        .event_callback(move |event| {
            let url = log_url.clone();
            async move {
                match event {
                    async_nats::Event::Disconnected => tracing::warn!(
                        nats_url = %url,
                        "NATS connection lost; retrying in the background. Check that nats-server is running (systemctl status nats-server)"
                    ),
                    async_nats::Event::Connected => tracing::info!(nats_url = %url, "NATS connected"),
                    async_nats::Event::ServerError(err) => tracing::warn!(
                        nats_url = %url,
                        error = %err,
                        "NATS refused an operation (a permissions violation means this process's user may not do it; see docs/operations.md, \"The authenticated bus\")"
                    ),
                    other => tracing::debug!(nats_url = %url, event = %other, "NATS event"),
                }
            }
        })
        .connect(&url)
        .await
        .map_err(|err| BusError::Url {
            url: exporter_settings::redact_url(&url),
            message: err.to_string(),
        })
}

/// Connection options with the authentication and TLS `nats:` asks for (the process
/// environment supplies `EXPORTER_NATS_PASSWORD`), for one-shot clients such as `exporter
/// status`.
pub async fn connect_options(
    settings: &NatsSettings,
) -> Result<async_nats::ConnectOptions, BusError> {
    authenticate(async_nats::ConnectOptions::new(), settings, &|name| {
        std::env::var(name).ok()
    })
    .await
}

/// The password of `nats.user`: the 0600 file `password_file` when one is named (the managed
/// bus names each process's own), else `EXPORTER_NATS_PASSWORD`.
pub fn nats_password(
    settings: &NatsSettings,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<exporter_settings::secrets::Secret>, BusError> {
    exporter_settings::secrets::read_secret_env_or_file(
        (settings.password_file.is_none() && env("EXPORTER_NATS_PASSWORD").is_some())
            .then_some("EXPORTER_NATS_PASSWORD"),
        settings.password_file.as_deref(),
        env,
    )
    .map_err(|err| BusError::Credentials(err.to_string()))
}

static UNAUTHENTICATED_WARNING: std::sync::Once = std::sync::Once::new();

async fn authenticate(
    mut options: async_nats::ConnectOptions,
    settings: &NatsSettings,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<async_nats::ConnectOptions, BusError> {
    let password = nats_password(settings, env)?;
    match (&settings.user, password, &settings.credentials_file) {
        (Some(user), Some(password), _) => {
            options = options.user_and_password(user.clone(), password.expose().to_owned());
        }
        (Some(user), None, _) => {
            return Err(BusError::Credentials(format!(
                "nats.user is `{user}` but no password: set EXPORTER_NATS_PASSWORD or nats.password_file"
            )));
        }
        (None, Some(_), _) => {
            return Err(BusError::Credentials(
                "a NATS password without nats.user".into(),
            ));
        }
        (None, None, Some(file)) => {
            options = options.credentials_file(file).await.map_err(|err| {
                BusError::Credentials(format!("cannot read {}: {err}", file.display()))
            })?;
        }
        (None, None, None) => {
            if exporter_settings::url_authority(&settings.url).is_none_or(|a| !a.contains('@')) {
                UNAUTHENTICATED_WARNING.call_once(|| {
                    tracing::warn!(
                        nats_url = %exporter_settings::redact_url(&settings.url),
                        "the NATS bus is unauthenticated: any local user can publish fills or alerts on it. Use the managed bus (nats.managed.enabled: true) or give nats.user and a password; see docs/operations.md, \"The authenticated bus\""
                    );
                });
            }
        }
    }
    if let Some(prefix) = &settings.inbox_prefix {
        options = options.custom_inbox_prefix(prefix);
    }
    let tls = &settings.tls;
    if tls.required {
        options = options.require_tls(true);
    }
    if let Some(ca) = &tls.ca_file {
        options = options.add_root_certificates(ca.clone());
    }
    if let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) {
        options = options.add_client_certificate(cert.clone(), key.clone());
    }
    Ok(options)
}

/// The stream configuration derived from the settings.
pub fn stream_config(settings: &NatsSettings, subjects: &Subjects) -> stream::Config {
    stream::Config {
        name: settings.stream.clone(),
        subjects: vec![subjects.all_samples(), subjects.all_ingest()],
        retention: stream::RetentionPolicy::WorkQueue,
        discard: stream::DiscardPolicy::New,
        storage: stream::StorageType::File,
        max_age: Duration::from_secs(settings.stream_max_age_hours * 3600),
        max_messages: settings.stream_max_messages,
        max_message_size: settings.stream_max_message_bytes,
        max_bytes: -1,
        duplicate_window: DUPLICATE_WINDOW,
        num_replicas: 1,
        ..Default::default()
    }
}

/// Creates the stream, or brings an existing one's limits in line with the settings (an
/// upgrade: a byte limit is removed, the count and size limits set). A count limit is never
/// lowered below what the stream holds, since the server would then delete the oldest messages.
pub async fn ensure_stream(
    js: &jetstream::Context,
    settings: &NatsSettings,
    subjects: &Subjects,
) -> Result<stream::Stream, BusError> {
    if let Some(bytes) = settings.stream_max_bytes {
        tracing::warn!(
            stream_max_bytes = bytes,
            stream_max_messages = settings.stream_max_messages,
            stream_max_message_bytes = settings.stream_max_message_bytes,
            "nats.stream_max_bytes is no longer applied: a byte limit lets nats-server 2.9 evict an acknowledged message. The stream is bounded by stream_max_messages and stream_max_message_bytes; remove the key"
        );
    }
    let mut wanted = stream_config(settings, subjects);
    let mut stream = js
        .get_or_create_stream(wanted.clone())
        .await
        .map_err(|err| BusError::JetStream {
            what: "stream creation",
            message: format!("{err}; is JetStream enabled (nats-server -js)?"),
        })?;
    let current = stream.info().await.map_err(|err| BusError::JetStream {
        what: "stream info",
        message: err.to_string(),
    })?;
    let held = i64::try_from(current.state.messages).unwrap_or(i64::MAX);
    if held > wanted.max_messages {
        tracing::warn!(
            stream_messages = held,
            stream_max_messages = wanted.max_messages,
            "the stream holds more messages than nats.stream_max_messages; its limit stays at what it holds until the aggregator drained it (restart then)"
        );
        wanted.max_messages = held;
    }
    let changes = stream_changes(&current.config, &wanted);
    if !changes.is_empty() {
        js.update_stream(wanted)
            .await
            .map_err(|err| BusError::JetStream {
                what: "stream update",
                message: format!("{err}; changing {}", changes.join(", ")),
            })?;
        tracing::info!(
            stream = %settings.stream,
            changes = %changes.join(", "),
            "stream limits updated from settings"
        );
    }
    Ok(stream)
}

/// What differs between the stream's `current` configuration and the `wanted` one, among the
/// fields the exporter sets and JetStream can change in place (`name: old -> new` each).
fn stream_changes(current: &stream::Config, wanted: &stream::Config) -> Vec<String> {
    let mut changes = Vec::new();
    let mut differs = |name: &str, old: String, new: String| {
        if old != new {
            changes.push(format!("{name}: {old} -> {new}"));
        }
    };
    differs(
        "max_age",
        format!("{:?}", current.max_age),
        format!("{:?}", wanted.max_age),
    );
    differs(
        "max_bytes",
        current.max_bytes.to_string(),
        wanted.max_bytes.to_string(),
    );
    differs(
        "max_msgs",
        current.max_messages.to_string(),
        wanted.max_messages.to_string(),
    );
    differs(
        "max_msg_size",
        current.max_message_size.to_string(),
        wanted.max_message_size.to_string(),
    );
    differs(
        "subjects",
        current.subjects.join(","),
        wanted.subjects.join(","),
    );
    changes
}

/// Creates (or opens) the durable pull consumer every aggregator instance shares; an existing one
/// whose settings differ (an upgrade, a changed `ack_wait_seconds`) is updated in place, keeping
/// its position and its pending messages.
pub async fn ensure_consumer(
    stream: &stream::Stream,
    settings: &NatsSettings,
    ack_wait: Duration,
    max_ack_pending: i64,
) -> Result<consumer::PullConsumer, BusError> {
    let wanted = consumer::pull::Config {
        durable_name: Some(settings.consumer.clone()),
        ack_policy: consumer::AckPolicy::Explicit,
        ack_wait,
        max_ack_pending,
        max_deliver: -1,
        ..Default::default()
    };
    let existing: consumer::PullConsumer = stream
        .get_or_create_consumer(&settings.consumer, wanted.clone())
        .await
        .map_err(|err| BusError::JetStream {
            what: "consumer creation",
            message: err.to_string(),
        })?;
    let changes = consumer_changes(&existing.cached_info().config, &wanted);
    if changes.is_empty() {
        return Ok(existing);
    }
    // A create with the same durable name and a new configuration updates it (nats-server 2.9+).
    let updated = stream
        .create_consumer(wanted)
        .await
        .map_err(|err| BusError::JetStream {
            what: "consumer update",
            message: format!("{err}; changing {}", changes.join(", ")),
        })?;
    tracing::info!(
        consumer = %settings.consumer,
        changes = %changes.join(", "),
        "consumer settings updated from settings"
    );
    Ok(updated)
}

/// What differs between the consumer's `current` configuration and the `wanted` one, among the
/// fields the exporter sets and JetStream can change in place (`name: old -> new` each).
fn consumer_changes(current: &consumer::Config, wanted: &consumer::pull::Config) -> Vec<String> {
    let mut changes = Vec::new();
    if current.ack_wait != wanted.ack_wait {
        changes.push(format!(
            "ack_wait: {:?} -> {:?}",
            current.ack_wait, wanted.ack_wait
        ));
    }
    if current.max_ack_pending != wanted.max_ack_pending {
        changes.push(format!(
            "max_ack_pending: {} -> {}",
            current.max_ack_pending, wanted.max_ack_pending
        ));
    }
    if current.max_deliver != wanted.max_deliver {
        changes.push(format!(
            "max_deliver: {} -> {}",
            current.max_deliver, wanted.max_deliver
        ));
    }
    changes
}

/// Runs `attempt` until it succeeds, following `policy`, with a log line per failure that says
/// what is being waited for and what to check (see [`crate::retry::retry`]).
pub async fn retry<T, E, F, Fut>(
    policy: RetryPolicy,
    what: &str,
    hint: &str,
    shutdown: &Shutdown,
    attempt: F,
) -> Result<T, BusError>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    crate::retry::retry(policy, what, hint, shutdown, attempt)
        .await
        .map_err(|err| match err {
            RetryError::Shutdown => BusError::Shutdown,
            RetryError::Deadline { failures, last } => BusError::GaveUp {
                what: what.to_owned(),
                failures,
                message: last.to_string(),
            },
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_changes_name_the_limits_an_older_install_had() {
        let settings = NatsSettings::default();
        let wanted = stream_config(&settings, &Subjects::new("exporter"));
        assert!(stream_changes(&wanted, &wanted).is_empty());
        let old = stream::Config {
            max_bytes: 1 << 30,
            max_messages: -1,
            max_message_size: -1,
            ..wanted.clone()
        };
        assert_eq!(
            stream_changes(&old, &wanted),
            [
                "max_bytes: 1073741824 -> -1",
                "max_msgs: -1 -> 200000",
                "max_msg_size: -1 -> 1048576"
            ]
        );
    }

    #[test]
    fn consumer_changes_name_each_differing_setting_with_old_and_new() {
        let wanted = consumer::pull::Config {
            ack_wait: Duration::from_secs(5),
            max_ack_pending: 2000,
            max_deliver: -1,
            ..Default::default()
        };
        let same = consumer::Config {
            ack_wait: Duration::from_secs(5),
            max_ack_pending: 2000,
            max_deliver: -1,
            ..Default::default()
        };
        assert!(consumer_changes(&same, &wanted).is_empty());
        let old = consumer::Config {
            ack_wait: Duration::from_secs(30),
            max_ack_pending: 100,
            ..same
        };
        assert_eq!(
            consumer_changes(&old, &wanted),
            ["ack_wait: 30s -> 5s", "max_ack_pending: 100 -> 2000"]
        );
    }
}

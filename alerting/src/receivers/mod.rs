//! Receivers: where alert notifications go, and what each service expects on the wire, one
//! module per service.
//!
//! A [`Receiver`] is a `receivers:` entry of `settings/alerts.yaml` with its secrets resolved
//! once, up front (a Slack URL, a bot token: from an environment variable or a 0600 file, never
//! from the rules file), so a missing secret is an error at start-up or reload rather than at
//! 3 a.m. when the first alert fires. It builds one HTTP request per [`Message`]:
//!
//! - [`webhook`]: Alertmanager's webhook JSON (version 4); bearer token when configured.
//! - [`slack`]: an incoming-webhook message (`text` plus one coloured attachment).
//! - [`ntfy`]: a JSON publish to the server root (`topic`, `title`, `message`, `priority`).
//! - [`telegram`]: the Bot API's `sendMessage` with HTML-escaped text.
//!
//! A new receiver type is a variant of [`ReceiverType`], a module here, and the match arms the
//! compiler then asks for in this file.
//!
//! Secrets never leave this module except inside the request itself: [`Receiver`]'s `Debug`
//! shows no URL or token, and [`Receiver::redact`] scrubs them from any error text.

pub mod ntfy;
pub mod slack;
pub mod telegram;
pub mod text;
pub mod webhook;

use std::collections::HashSet;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use exporter_protocol::alert::{Alert, Severity};
use exporter_settings::secrets::{Secret, SecretError, read_secret_env_or_file};
use serde_json::Value;

use crate::message::Message;
use crate::schema::{ReceiverSettings, ReceiverType};

/// Why a receiver cannot be used. Messages name the receiver and the variable or file, never a
/// secret's value.
#[derive(Debug, thiserror::Error)]
pub enum ReceiverError {
    /// A `*_env` variable unset or empty, or a `*_file` unreadable or readable by others.
    #[error("receiver `{receiver}`: {source}")]
    Secret {
        receiver: String,
        #[source]
        source: SecretError,
    },
    #[error("receiver `{receiver}`: {message}")]
    Invalid { receiver: String, message: String },
    #[error("receiver `{receiver}` is configured twice")]
    Duplicate { receiver: String },
}

/// A receiver with its secrets resolved.
pub struct Receiver {
    pub name: String,
    pub kind: ReceiverType,
    /// Where the request goes; may hold a secret (Slack path, Telegram bot token).
    endpoint: Secret,
    /// Bearer token (webhook, ntfy); the bot token for Telegram (already in `endpoint`).
    token: Option<Secret>,
    topic: Option<String>,
    chat_id: Option<String>,
    pub send_resolved: bool,
    pub min_severity: Severity,
    pub categories: Vec<String>,
    pub timeout: Duration,
    pub max_attempts: u32,
    /// Receives the always-firing `Watchdog` (see `crate::dispatch::watchdog`).
    pub watchdog: bool,
    /// Strings scrubbed from error text.
    secrets: Vec<String>,
}

impl fmt::Debug for Receiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("send_resolved", &self.send_resolved)
            .field("min_severity", &self.min_severity)
            .field("categories", &self.categories)
            .field("timeout", &self.timeout)
            .field("max_attempts", &self.max_attempts)
            .field("watchdog", &self.watchdog)
            .finish_non_exhaustive()
    }
}

impl Receiver {
    /// Resolves the secrets of `settings` (environment through `env`) and checks the URL.
    pub fn resolve(
        settings: &ReceiverSettings,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ReceiverError> {
        let name = settings.name.as_str();
        let invalid = |message: &str| ReceiverError::Invalid {
            receiver: name.to_owned(),
            message: message.to_owned(),
        };
        let secret = |variable: &Option<String>, file: &Option<PathBuf>| {
            read_secret_env_or_file(variable.as_deref(), file.as_deref(), env).map_err(|source| {
                ReceiverError::Secret {
                    receiver: name.to_owned(),
                    source,
                }
            })
        };
        let url_secret = secret(&settings.url_env, &settings.url_file)?;
        let token = secret(&settings.token_env, &settings.token_file)?;
        let base = match (&url_secret, &settings.url, settings.kind) {
            (Some(secret), _, _) => secret.expose().to_owned(),
            (None, Some(url), _) => url.clone(),
            (None, None, ReceiverType::Ntfy) => ntfy::NTFY_DEFAULT_URL.to_owned(),
            (None, None, ReceiverType::Telegram) => telegram::TELEGRAM_DEFAULT_URL.to_owned(),
            (None, None, _) => return Err(invalid("needs url, url_env or url_file")),
        };
        let parsed = reqwest::Url::parse(base.trim())
            .map_err(|err| invalid(&format!("the URL does not parse ({err})")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(invalid("the URL must start with http:// or https://"));
        }
        let mut secrets = Vec::new();
        let endpoint = match settings.kind {
            ReceiverType::Telegram => {
                let token = token
                    .as_ref()
                    .ok_or_else(|| invalid("a telegram receiver needs token_env or token_file"))?;
                if settings.chat_id.as_deref().is_none_or(str::is_empty) {
                    return Err(invalid("a telegram receiver needs chat_id"));
                }
                telegram::endpoint(base.trim(), token.expose())
            }
            ReceiverType::Ntfy => {
                if settings.topic.as_deref().is_none_or(str::is_empty) {
                    return Err(invalid("an ntfy receiver needs a topic"));
                }
                base.trim().to_owned()
            }
            ReceiverType::Webhook | ReceiverType::Slack => base.trim().to_owned(),
        };
        if url_secret.is_some() {
            // The whole URL is a secret; so is its path (a Slack hook's path is the credential).
            secrets.push(base.trim().to_owned());
            let path = parsed.path();
            if path.len() > 1 {
                secrets.push(path.to_owned());
            }
            if let Some(query) = parsed.query() {
                secrets.push(query.to_owned());
            }
        }
        if let Some(token) = &token {
            secrets.push(token.expose().to_owned());
        }
        if settings.kind == ReceiverType::Telegram {
            secrets.push(endpoint.clone());
        }
        // An ntfy topic on a public server is a password too.
        if let Some(topic) = &settings.topic {
            secrets.push(topic.clone());
        }
        secrets.retain(|s| s.len() >= 4);
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Ok(Self {
            name: settings.name.clone(),
            kind: settings.kind,
            endpoint: Secret::new(endpoint),
            token,
            topic: settings.topic.clone(),
            chat_id: settings.chat_id.clone(),
            send_resolved: settings.send_resolved,
            min_severity: settings.min_severity,
            categories: settings.categories.clone(),
            timeout: Duration::from_secs(settings.timeout_seconds.max(1)),
            max_attempts: settings.max_attempts.max(1),
            watchdog: settings.watchdog,
            secrets,
        })
    }

    /// Resolves with the process environment.
    pub fn from_settings(settings: &ReceiverSettings) -> Result<Self, ReceiverError> {
        Self::resolve(settings, &|name| std::env::var(name).ok())
    }

    /// True when `alert` passes this receiver's severity and category filters.
    pub fn accepts(&self, alert: &Alert) -> bool {
        alert.severity >= self.min_severity
            && (self.categories.is_empty() || self.categories.contains(&alert.category))
    }

    /// `text` with every secret of this receiver replaced by `[redacted]`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), "[redacted]");
            }
        }
        out
    }

    /// The JSON body this receiver sends for `message`.
    pub fn payload(&self, message: &Message, external_url: &str) -> Value {
        match self.kind {
            ReceiverType::Webhook => webhook::webhook_payload(message, external_url),
            ReceiverType::Slack => slack::slack_payload(message),
            ReceiverType::Ntfy => ntfy::ntfy_payload(message, self.topic.as_deref().unwrap_or("")),
            ReceiverType::Telegram => {
                telegram::telegram_payload(message, self.chat_id.as_deref().unwrap_or(""))
            }
        }
    }

    /// The HTTP request for `message` (not sent).
    pub fn request(
        &self,
        client: &reqwest::Client,
        message: &Message,
        external_url: &str,
    ) -> reqwest::RequestBuilder {
        let mut request = client
            .post(self.endpoint.expose())
            .timeout(self.timeout)
            .json(&self.payload(message, external_url));
        if let Some(token) = &self.token
            && matches!(self.kind, ReceiverType::Webhook | ReceiverType::Ntfy)
        {
            request = request.bearer_auth(token.expose());
        }
        request
    }
}

/// Resolves every receiver's secrets and URL (with the process environment), refusing a name
/// used twice.
pub fn resolve_all(settings: &[ReceiverSettings]) -> Result<Vec<Arc<Receiver>>, ReceiverError> {
    let mut names = HashSet::new();
    settings
        .iter()
        .map(|s| {
            if !names.insert(s.name.as_str()) {
                return Err(ReceiverError::Duplicate {
                    receiver: s.name.clone(),
                });
            }
            Receiver::from_settings(s).map(Arc::new)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::message::fixtures::alert;
    use exporter_protocol::alert::AlertState;
    use uuid::Uuid;

    /// Builds receiver settings through the real rules parser.
    fn settings(kind: &str, extra: &str) -> ReceiverSettings {
        let text = format!("receivers:\n- {{name: r1, type: {kind}{extra}}}\n");
        crate::schema::AlertRules::parse(&text)
            .unwrap()
            .receivers
            .remove(0)
    }

    #[test]
    fn an_unset_variable_names_the_receiver_and_variable() {
        let s = settings("slack", ", url_env: HOOK_URL_FOR_TEST");
        let err = Receiver::resolve(&s, &|_| None).unwrap_err().to_string();
        assert!(
            err.contains("r1") && err.contains("HOOK_URL_FOR_TEST"),
            "{err}"
        );
        let value = "https://hooks.example.com/services/T0/B0/abcdefgh";
        let receiver = Receiver::resolve(&s, &|_| Some(value.into())).unwrap();
        let shown = format!("{receiver:?}");
        assert!(!shown.contains("abcdefgh"), "{shown}");
        let scrubbed = receiver.redact(&format!("error sending to {value}: boom"));
        assert!(!scrubbed.contains("abcdefgh"), "{scrubbed}");
    }

    #[test]
    fn a_readable_secret_file_is_refused_and_a_0600_one_used() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        let token = format!("{}:{}", 123456, Uuid::new_v4().simple());
        std::fs::write(&path, format!("{token}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let s = settings(
            "telegram",
            &format!(", chat_id: '42', token_file: {}", path.display()),
        );
        let err = Receiver::resolve(&s, &|_| None).unwrap_err().to_string();
        assert!(err.contains("chmod 600") && err.contains("r1"), "{err}");
        assert!(!err.contains(&token), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let receiver = Receiver::resolve(&s, &|_| None).unwrap();
        assert_eq!(
            receiver.endpoint.expose(),
            format!("{}/bot{token}/sendMessage", telegram::TELEGRAM_DEFAULT_URL)
        );
        assert_eq!(
            receiver.redact(&format!("GET /bot{token}/x")),
            "GET /bot[redacted]/x"
        );
    }

    #[test]
    fn filters_apply_severity_and_categories() {
        let s = settings(
            "webhook",
            ", url: 'http://127.0.0.1:1/x', min_severity: warning, categories: [system]",
        );
        let r = Receiver::resolve(&s, &|_| None).unwrap();
        assert!(r.accepts(&alert("A", "h", Severity::Critical, AlertState::Firing)));
        assert!(!r.accepts(&alert("A", "h", Severity::Info, AlertState::Firing)));
        let mut trading = alert("A", "h", Severity::Critical, AlertState::Firing);
        trading.category = "trading".into();
        assert!(!r.accepts(&trading));
    }
}

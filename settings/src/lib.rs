//! Typed settings every binary loads: `settings/system.yaml` (or `EXPORTER_SETTINGS`), then the
//! per-machine environment overrides, then validation.
//!
//! A mistake in the file stops the process before it does anything, with a message that names the
//! key (`api.port`) and, where the YAML parser knows it, the line. No secret has a value here:
//! secrets come from the environment or from files with mode 0600 (see [`secrets`]).

pub mod duration;
pub mod keyring;
mod model;
pub mod secrets;

use std::path::{Path, PathBuf};

pub use model::*;

/// Default location of the settings file, relative to the working directory.
pub const DEFAULT_PATH: &str = "settings/system.yaml";

/// Why settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read settings file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid settings in {path}: key `{key}`: {message}")]
    Parse {
        path: PathBuf,
        key: String,
        message: String,
    },
    #[error("invalid settings: key `{key}`: {message}")]
    Invalid { key: String, message: String },
    #[error("invalid environment variable {var}: {message}")]
    Env { var: &'static str, message: String },
}

impl ApiKeySource {
    /// The secret itself: the environment's value, or the 0600 file's content.
    pub fn read(&self) -> Result<secrets::Secret, secrets::SecretError> {
        match self {
            Self::Env(secret) => Ok(secret.clone()),
            Self::File(path) => secrets::read_secret_file(path),
        }
    }
}

impl Settings {
    /// Loads the file named by `EXPORTER_SETTINGS` (default [`DEFAULT_PATH`]), applies the
    /// environment overrides and validates.
    pub fn load() -> Result<Self, SettingsError> {
        let path = std::env::var_os("EXPORTER_SETTINGS")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_PATH));
        Self::load_from(&path, &|name| std::env::var(name).ok())
    }

    /// Loads `path`, with `env` answering for environment variables (tests pass their own).
    pub fn load_from(
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, SettingsError> {
        let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut settings = Self::parse(&text).map_err(|(key, message)| SettingsError::Parse {
            path: path.to_owned(),
            key,
            message,
        })?;
        settings.settings_dir = path
            .parent()
            .filter(|dir| !dir.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        settings.apply_env(env)?;
        settings.validate()?;
        Ok(settings)
    }

    /// Parses YAML text, renamed keys accepted with a warning; the error names the key path and
    /// the parser's message (with line).
    fn parse(text: &str) -> Result<Self, (String, String)> {
        model::parse(text, model::RENAMES)
    }

    /// Applies the per-machine environment overrides.
    fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), SettingsError> {
        if let Some(url) = env("EXPORTER_NATS_URL") {
            self.nats.url = url;
        }
        if let Some(user) = env("EXPORTER_NATS_USER") {
            self.nats.user = Some(user);
        }
        if let Some(file) = env("EXPORTER_NATS_PASSWORD_FILE") {
            self.nats.password_file = Some(PathBuf::from(file));
        }
        if let Some(prefix) = env("EXPORTER_NATS_INBOX_PREFIX") {
            self.nats.inbox_prefix = Some(prefix);
        }
        if let Some(url) = env("EXPORTER_DATABASE_URL") {
            self.database.url = url;
        }
        if let Some(host) = env("EXPORTER_API_HOST") {
            self.api.host = host;
        }
        if let Some(port) = env("EXPORTER_API_PORT") {
            self.api.port = port.parse().map_err(|_| SettingsError::Env {
                var: "EXPORTER_API_PORT",
                message: format!("`{port}` is not a port number (0-65535)"),
            })?;
        }
        if let Some(name) = env("EXPORTER_HOST_NAME") {
            self.host_name = Some(name);
        }
        if let Some(dir) = env("EXPORTER_STATE_DIR") {
            self.state_dir = PathBuf::from(dir);
        }
        if let Some(prefix) = env("EXPORTER_SUBJECT_PREFIX") {
            self.nats.subject_prefix = prefix;
        }
        if let Some(stream) = env("EXPORTER_STREAM") {
            self.nats.stream = stream;
        }
        self.api_key_source = if let Some(key) = env("EXPORTER_API_KEY") {
            ApiKeySource::Env(secrets::Secret::new(key))
        } else if let Some(file) = env("EXPORTER_API_KEY_FILE") {
            ApiKeySource::File(PathBuf::from(file))
        } else {
            ApiKeySource::File(self.state_dir.join(&self.api.key_file))
        };
        self.tunnel_token_source = if let Some(token) = env("NGROK_AUTHTOKEN") {
            Some(ApiKeySource::Env(secrets::Secret::new(token)))
        } else {
            env("EXPORTER_NGROK_AUTHTOKEN_FILE").map(|file| ApiKeySource::File(PathBuf::from(file)))
        };
        if let Some(path) = env("EXPORTER_ALERTS") {
            let path = PathBuf::from(path);
            self.alerts.rules_file = if path.is_absolute() {
                path
            } else {
                std::env::current_dir().unwrap_or_default().join(path)
            };
        }
        if let Some(url) = env("EXPORTER_YAHOO_BASE_URL") {
            self.market.yahoo_base_url = url;
        }
        if let Some(url) = env("EXPORTER_ALPACA_BASE_URL") {
            self.alpaca.base_url = url;
        }
        let secret = |value: &str, file: &str| {
            env(value)
                .map(|v| ApiKeySource::Env(secrets::Secret::new(v)))
                .or_else(|| env(file).map(|f| ApiKeySource::File(PathBuf::from(f))))
        };
        self.alpaca_keys =
            secret("EXPORTER_ALPACA_KEY_ID", "EXPORTER_ALPACA_KEY_ID_FILE").zip(secret(
                "EXPORTER_ALPACA_SECRET_KEY",
                "EXPORTER_ALPACA_SECRET_KEY_FILE",
            ));
        if self.host_name.as_deref().is_none_or(str::is_empty) {
            self.host_name = Some(machine_hostname());
        }
        Ok(())
    }

    /// The managed keys' directory: `api.keys_dir`, relative to `state_dir` unless absolute.
    pub fn api_keys_dir(&self) -> PathBuf {
        self.state_dir.join(&self.api.keys_dir)
    }

    /// The API's tunnel socket: `api.tunnel_socket`, relative to `state_dir` unless absolute.
    pub fn api_tunnel_socket(&self) -> PathBuf {
        self.state_dir.join(&self.api.tunnel_socket)
    }

    /// Where the alert rules file is: `alerts.rules_file`, relative to the settings file's
    /// directory unless absolute.
    pub fn alert_rules_path(&self) -> PathBuf {
        self.settings_dir.join(&self.alerts.rules_file)
    }

    /// The host label samples carry.
    pub fn host_name(&self) -> &str {
        self.host_name.as_deref().unwrap_or("localhost")
    }
}

/// The authority of `url` (`user:password@host:port`): what follows `scheme://` up to the first
/// `/` or `?`; `None` when the URL has no `scheme://`. Every check for credentials in a URL
/// (an `@` in its authority) goes through this.
pub fn url_authority(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("://")?;
    Some(rest.split(['/', '?']).next().unwrap_or(""))
}

/// `url` with any credentials (`user:password@`, `token@`) replaced by `***`, for logs and
/// messages.
pub fn redact_url(url: &str) -> String {
    let (Some(authority), Some((scheme, rest))) = (url_authority(url), url.split_once("://"))
    else {
        return url.to_owned();
    };
    match authority.rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://***@{host}{}", &rest[authority.len()..]),
        None => url.to_owned(),
    }
}

/// This machine's hostname, from the kernel.
pub fn machine_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

#[cfg(test)]
mod tests;

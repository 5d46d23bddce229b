//! First-start API key: when no key is configured, `exporter up` creates one in a 0600 file and
//! says where it is. The key itself is never printed or logged.

use exporter_settings::secrets::{self, Secret, SecretError};
use exporter_settings::{ApiKeySource, Settings};
use rand::RngCore;

/// What happened to the key file.
#[derive(Debug, PartialEq, Eq)]
pub enum KeyStatus {
    /// `EXPORTER_API_KEY` is set.
    FromEnvironment,
    /// The file existed already.
    Existing(std::path::PathBuf),
    /// The file was created now.
    Created(std::path::PathBuf),
}

/// A new random key: 32 bytes from the OS generator, hex.
pub fn generate() -> Secret {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    Secret::new(hex::encode(bytes))
}

/// Makes sure the configured key exists, creating the key file if needed.
pub fn ensure_api_key(settings: &Settings) -> Result<KeyStatus, SecretError> {
    match &settings.api_key_source {
        ApiKeySource::Env(_) => Ok(KeyStatus::FromEnvironment),
        ApiKeySource::File(path) if path.exists() => {
            secrets::read_secret_file(path)?;
            Ok(KeyStatus::Existing(path.clone()))
        }
        ApiKeySource::File(path) => {
            secrets::create_secret_file(path, &generate())?;
            Ok(KeyStatus::Created(path.clone()))
        }
    }
}

/// `exporter key create`: a new managed key (printed once, only its hash stored) with `scope`
/// and an optional expiry (`30d`, `12h`, or an RFC 3339 time).
pub fn create_managed(
    settings: &Settings,
    name: &str,
    scope: exporter_settings::KeyScope,
    expires: Option<&str>,
) -> Result<(exporter_settings::keyring::KeyRecord, Secret), String> {
    let expires_at = expires.map(parse_expiry).transpose()?;
    exporter_settings::keyring::create(
        &settings.api_keys_dir(),
        name,
        scope,
        expires_at,
        generate(),
    )
    .map_err(|err| err.to_string())
}

/// An expiry: a duration from now (`90d`, `12h`, `30m`) or an RFC 3339 time.
pub fn parse_expiry(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&chrono::Utc));
    }
    let days = text
        .strip_suffix('d')
        .and_then(|n| n.parse::<u64>().ok())
        .map(|n| std::time::Duration::from_secs(n * 86_400));
    let duration = match days {
        Some(duration) => duration,
        None => exporter_settings::duration::parse_duration(text).map_err(|err| {
            format!(
                "--expires `{text}`: {err} (a duration such as 90d, 12h, 30m, or an RFC 3339 time)"
            )
        })?,
    };
    let duration = chrono::Duration::from_std(duration).map_err(|err| err.to_string())?;
    Ok(chrono::Utc::now() + duration)
}

/// `exporter key list`: one line per managed key, with its state.
pub fn render_list(records: &[exporter_settings::keyring::KeyRecord]) -> String {
    let now = chrono::Utc::now();
    let mut out = format!(
        "{:<24} {:<6} {:<21} {:<21} STATE\n",
        "NAME", "SCOPE", "CREATED", "EXPIRES"
    );
    for record in records {
        let scope = match record.scope {
            exporter_settings::KeyScope::Read => "read",
            exporter_settings::KeyScope::Admin => "admin",
        };
        let expires = record.expires_at.map_or_else(
            || "never".to_owned(),
            |at| at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        );
        let state = if record.is_expired(now) {
            "expired"
        } else {
            "active"
        };
        out.push_str(&format!(
            "{:<24} {:<6} {:<21} {:<21} {state}\n",
            record.name,
            scope,
            record.created_at.format("%Y-%m-%dT%H:%M:%SZ"),
            expires
        ));
    }
    out
}

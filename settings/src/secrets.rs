//! Secrets: a wrapper that never prints its value, and the 0600-file rules.
//!
//! A secret file that group or others can read is refused, with a message that says which
//! `chmod` fixes it: a key readable by every local user is a leaked key.

use std::fmt;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// A secret value. `Debug` and `Display` print `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

/// The shortest API key accepted: a key is a password anyone on the internet may try through
/// the tunnel (`exporter up` generates 64 hex characters: 256 random bits).
pub const MIN_API_KEY_CHARS: usize = 32;

/// `Ok` for a key of at least [`MIN_API_KEY_CHARS`] characters; else why not, without the key.
pub fn check_api_key(key: &Secret) -> Result<(), String> {
    let length = key.expose().chars().count();
    if length < MIN_API_KEY_CHARS {
        return Err(format!(
            "is {length} characters long; at least {MIN_API_KEY_CHARS} are needed (generate one with `openssl rand -base64 32`, or let `exporter up` create it)"
        ));
    }
    Ok(())
}

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself; call only where it is used, never to log.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Why a secret file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read secret file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "secret file {path} has mode {mode:o}: group or others can read it; run `chmod 600 {path}`"
    )]
    TooOpen { path: String, mode: u32 },
    #[error("secret file {path} is empty")]
    Empty { path: String },
    #[error("cannot write secret file {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("environment variable {variable} is not set")]
    MissingEnv { variable: String },
    #[error("environment variable {variable} is empty")]
    EmptyEnv { variable: String },
}

/// Reads a secret that configuration names rather than holds (a receiver's `token_env` or
/// `token_file`): from the environment variable `env_name` when given (it must be set and, once
/// trimmed, not empty), else from the 0600 file `file`; `None` when neither is given. `env`
/// answers for the environment (tests pass their own).
pub fn read_secret_env_or_file(
    env_name: Option<&str>,
    file: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Secret>, SecretError> {
    if let Some(variable) = env_name {
        let value = env(variable).ok_or_else(|| SecretError::MissingEnv {
            variable: variable.to_owned(),
        })?;
        let value = value.trim();
        if value.is_empty() {
            return Err(SecretError::EmptyEnv {
                variable: variable.to_owned(),
            });
        }
        return Ok(Some(Secret::new(value)));
    }
    file.map(read_secret_file).transpose()
}

/// Reads a secret from a file that only its owner may read; surrounding whitespace is trimmed.
pub fn read_secret_file(path: &Path) -> Result<Secret, SecretError> {
    let shown = path.display().to_string();
    let metadata = std::fs::metadata(path).map_err(|source| SecretError::Read {
        path: shown.clone(),
        source,
    })?;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(SecretError::TooOpen { path: shown, mode });
    }
    let text = std::fs::read_to_string(path).map_err(|source| SecretError::Read {
        path: shown.clone(),
        source,
    })?;
    let value = text.trim();
    if value.is_empty() {
        return Err(SecretError::Empty { path: shown });
    }
    Ok(Secret::new(value))
}

/// Creates `path` with mode 0600 holding `secret`; fails if it already exists.
pub fn create_secret_file(path: &Path, secret: &Secret) -> Result<(), SecretError> {
    let shown = path.display().to_string();
    let write_err = |source| SecretError::Write {
        path: shown.clone(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(write_err)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(write_err)?;
    file.write_all(secret.expose().as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all())
        .map_err(write_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_shorter_than_32_characters_are_refused() {
        let short = check_api_key(&Secret::new("x".repeat(24))).unwrap_err();
        assert!(
            short.contains("24 characters") && short.contains("at least 32"),
            "{short}"
        );
        assert!(
            !short.contains("xxxx"),
            "the message must not hold the key: {short}"
        );
        assert!(check_api_key(&Secret::new("y".repeat(32))).is_ok());
    }

    #[test]
    fn refuses_a_world_readable_file_and_reads_a_private_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        let secret = Secret::new(format!("k-{}", std::process::id()));
        create_secret_file(&path, &secret).unwrap();
        assert_eq!(read_secret_file(&path).unwrap(), secret);
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = read_secret_file(&path).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");
        assert!(!err.contains(secret.expose()));
    }

    #[test]
    fn a_secret_comes_from_the_environment_first_then_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        create_secret_file(&path, &Secret::new("from-file")).unwrap();
        let env = |name: &str| match name {
            "SET" => Some(" from-env \n".to_owned()),
            "BLANK" => Some("  ".to_owned()),
            _ => None,
        };
        let read = |name: Option<&str>, file: Option<&Path>| {
            read_secret_env_or_file(name, file, &env).map(|s| s.map(|s| s.expose().to_owned()))
        };
        assert_eq!(
            read(Some("SET"), Some(&path)).unwrap().as_deref(),
            Some("from-env")
        );
        assert_eq!(
            read(None, Some(&path)).unwrap().as_deref(),
            Some("from-file")
        );
        assert_eq!(read(None, None).unwrap(), None);
        let unset = read(Some("UNSET"), Some(&path)).unwrap_err().to_string();
        assert_eq!(unset, "environment variable UNSET is not set");
        let blank = read(Some("BLANK"), None).unwrap_err().to_string();
        assert_eq!(blank, "environment variable BLANK is empty");
    }

    #[test]
    fn never_prints_the_value() {
        let secret = Secret::new("value-that-must-not-show");
        assert_eq!(format!("{secret} {secret:?}"), "[redacted] [redacted]");
    }
}

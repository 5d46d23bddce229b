//! API keys managed by `exporter key create|list|revoke`: one 0600 JSON file per key in
//! `state_dir/keys/` (0700), holding its name, scope, creation time, optional expiry and the
//! SHA-256 of the key, never the key itself (it is printed once, at creation). The API reads
//! the directory at start and again whenever it changes, so a created key works and a revoked
//! one stops within seconds, without a restart; an expired key is refused at once.
//!
//! Beside these, the main key (`EXPORTER_API_KEY`, its file) and `api.extra_keys` (each a file
//! holding the key) keep working unchanged: the keyring adds names, expiry and revocation
//! without breaking an existing install.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::KeyScope;
use crate::secrets::{self, Secret, SecretError};

/// Why the keyring could not be read or changed.
#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    #[error("cannot read the key directory {path}: {source}")]
    Directory {
        path: String,
        source: std::io::Error,
    },
    #[error("key file {path} is not a key record: {message}")]
    Invalid { path: String, message: String },
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(
        "key name `{0}` must be 1 to 64 letters, digits, `_` or `-` (and not `main`, the main key)"
    )]
    Name(String),
    #[error("a key named `{0}` exists already; revoke it first or choose another name")]
    Exists(String),
    #[error("no key named `{0}` (`exporter key list` shows them)")]
    Unknown(String),
}

/// One managed key, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRecord {
    pub name: String,
    pub scope: KeyScope,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    /// Hex SHA-256 of the key.
    pub sha256: String,
}

impl KeyRecord {
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }

    /// The hash as bytes (`None` if the file holds no valid hash).
    pub fn hash(&self) -> Option<[u8; 32]> {
        let bytes = hex::decode(&self.sha256).ok()?;
        bytes.try_into().ok()
    }
}

/// The SHA-256 of a key, as the API compares it.
pub fn hash_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name != "main"
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn file_of(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.json"))
}

/// Every readable key record in `dir` (none when it does not exist), by name, and a message for
/// each file that could not be used (readable by group or others, not a record): one bad file
/// never hides the others, nor keeps a revoked key alive.
pub fn read_all(dir: &Path) -> Result<(Vec<KeyRecord>, Vec<String>), KeyringError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Ok((Vec::new(), Vec::new()));
        }
        Err(source) => {
            return Err(KeyringError::Directory {
                path: dir.display().to_string(),
                source,
            });
        }
    };
    let mut records = Vec::new();
    let mut problems = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|ext| ext != "json") {
            continue;
        }
        match read_record(&path) {
            Ok(record) => records.push(record),
            Err(err) => problems.push(err.to_string()),
        }
    }
    records.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((records, problems))
}

fn read_record(path: &Path) -> Result<KeyRecord, KeyringError> {
    let text = secrets::read_secret_file(path)?;
    let record: KeyRecord =
        serde_json::from_str(text.expose()).map_err(|err| KeyringError::Invalid {
            path: path.display().to_string(),
            message: err.to_string(),
        })?;
    if record.hash().is_none() || !valid_name(&record.name) {
        return Err(KeyringError::Invalid {
            path: path.display().to_string(),
            message: "bad name or sha256".into(),
        });
    }
    Ok(record)
}

/// A fingerprint of the directory (each file's name, size, mode, owner, modification and change
/// time): the API re-reads the keys when it changes, a `chmod` or `chown` that fixes a file
/// included.
pub fn fingerprint(dir: &Path) -> Vec<(String, u64, u32, u32, i64, i64)> {
    use std::os::unix::fs::MetadataExt;
    let mut seen: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let m = entry.metadata().ok()?;
            Some((
                entry.file_name().to_string_lossy().into_owned(),
                m.len(),
                m.mode(),
                m.uid(),
                m.mtime_nsec() + m.mtime() * 1_000_000_000,
                m.ctime_nsec() + m.ctime() * 1_000_000_000,
            ))
        })
        .collect();
    seen.sort();
    seen
}

/// Creates key `name` with `scope` and optional expiry: its record in `dir` (0600, the
/// directory 0700) and the key itself, returned once for the caller to print.
pub fn create(
    dir: &Path,
    name: &str,
    scope: KeyScope,
    expires_at: Option<DateTime<Utc>>,
    key: Secret,
) -> Result<(KeyRecord, Secret), KeyringError> {
    if !valid_name(name) {
        return Err(KeyringError::Name(name.to_owned()));
    }
    let path = file_of(dir, name);
    if path.exists() {
        return Err(KeyringError::Exists(name.to_owned()));
    }
    let record = KeyRecord {
        name: name.to_owned(),
        scope,
        created_at: Utc::now(),
        expires_at,
        sha256: hex::encode(hash_key(key.expose())),
    };
    std::fs::create_dir_all(dir).map_err(|source| KeyringError::Directory {
        path: dir.display().to_string(),
        source,
    })?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(|source| {
        KeyringError::Directory {
            path: dir.display().to_string(),
            source,
        }
    })?;
    let text = serde_json::to_string_pretty(&record).unwrap_or_default();
    secrets::create_secret_file(&path, &Secret::new(text))?;
    Ok((record, key))
}

/// Removes key `name`: the API refuses it from its next look at the directory (seconds).
pub fn revoke(dir: &Path, name: &str) -> Result<KeyRecord, KeyringError> {
    let record = read_all(dir)?
        .0
        .into_iter()
        .find(|record| record.name == name)
        .ok_or_else(|| KeyringError::Unknown(name.to_owned()))?;
    std::fs::remove_file(file_of(dir, name)).map_err(|source| KeyringError::Directory {
        path: dir.display().to_string(),
        source,
    })?;
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_created_listed_and_revoked_and_only_their_hash_is_stored() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("keys");
        assert!(
            read_all(&dir).unwrap().0.is_empty(),
            "no directory: no keys"
        );
        let key = Secret::new("k".repeat(64));
        let (record, key) = create(&dir, "phone", KeyScope::Read, None, key).unwrap();
        assert_eq!(record.hash(), Some(hash_key(key.expose())));
        let text = std::fs::read_to_string(dir.join("phone.json")).unwrap();
        assert!(!text.contains(key.expose()), "the key itself is not stored");
        assert!(matches!(
            create(
                &dir,
                "phone",
                KeyScope::Read,
                None,
                Secret::new("x".repeat(40))
            ),
            Err(KeyringError::Exists(_))
        ));
        assert!(matches!(
            create(
                &dir,
                "main",
                KeyScope::Read,
                None,
                Secret::new("x".repeat(40))
            ),
            Err(KeyringError::Name(_))
        ));
        assert!(matches!(
            create(
                &dir,
                "../x",
                KeyScope::Read,
                None,
                Secret::new("x".repeat(40))
            ),
            Err(KeyringError::Name(_))
        ));
        let soon = Utc::now() - chrono::Duration::seconds(1);
        create(
            &dir,
            "ci",
            KeyScope::Admin,
            Some(soon),
            Secret::new("c".repeat(64)),
        )
        .unwrap();
        // A stray, unreadable file is reported, and hides no other key.
        std::fs::write(dir.join("stray.json"), "{}").unwrap();
        let (all, problems) = read_all(&dir).unwrap();
        assert_eq!(problems.len(), 1, "{problems:?}");
        std::fs::remove_file(dir.join("stray.json")).unwrap();
        assert_eq!(
            all.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
            ["ci", "phone"]
        );
        assert!(all[0].is_expired(Utc::now()));
        assert_eq!(revoke(&dir, "phone").unwrap().name, "phone");
        assert!(matches!(
            revoke(&dir, "phone"),
            Err(KeyringError::Unknown(_))
        ));
        assert_eq!(read_all(&dir).unwrap().0.len(), 1);
    }
}

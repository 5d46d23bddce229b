//! API keys: kept only as SHA-256 hashes in memory, compared in constant time against every
//! configured key (no early exit), each with a scope. A missing or wrong key gets the same 401,
//! with no hint which part was wrong. The key is read from `X-API-Key` or, as Prometheus'
//! `authorization` scrape option sends it, from `Authorization: Bearer <key>`.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use exporter_settings::secrets::{self, SecretError};
use exporter_settings::{ApiKeySource, KeyScope, Settings};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{ApiError, AppState};

/// The header carrying the key.
pub const HEADER: &str = "x-api-key";

/// The key a request presents: `X-API-Key`, else the token of `Authorization: Bearer <key>`
/// (the scheme is case-insensitive, as RFC 7235 says).
pub fn presented_key(headers: &axum::http::HeaderMap) -> Option<&str> {
    if let Some(key) = headers.get(HEADER) {
        return key.to_str().ok();
    }
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|token| !token.is_empty())
}

/// Why keys could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "no API key: {0}. Set EXPORTER_API_KEY or EXPORTER_API_KEY_FILE, or start through `exporter up`, which creates the key file"
    )]
    Missing(SecretError),
    #[error("extra key `{name}`: {source}")]
    Extra { name: String, source: SecretError },
    #[error("API key `{name}` {reason}")]
    TooShort { name: String, reason: String },
    #[error("managed keys: {0}")]
    Keyring(#[from] exporter_settings::keyring::KeyringError),
}

/// Who called: the key's name and scope (never the key).
#[derive(Debug, Clone)]
pub struct Caller {
    pub name: String,
    pub scope: KeyScope,
}

#[derive(Debug)]
struct Entry {
    caller: Caller,
    hash: [u8; 32],
    /// A managed key's expiry: refused from then on.
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Every accepted key, hashed. Replaced whole on SIGHUP ([`ApiKeys::replace`]), so a rotated
/// or added key file works without a restart.
#[derive(Debug, Default)]
pub struct ApiKeys {
    entries: std::sync::RwLock<Vec<Entry>>,
}

fn hash(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

impl ApiKeys {
    /// The main key (admin scope) and the configured extra keys.
    pub fn load(settings: &Settings) -> Result<Self, KeyError> {
        let main = match &settings.api_key_source {
            ApiKeySource::Env(secret) => secret.clone(),
            ApiKeySource::File(path) => {
                secrets::read_secret_file(path).map_err(KeyError::Missing)?
            }
        };
        let short = |name: &str, key: &secrets::Secret| {
            secrets::check_api_key(key).map_err(|reason| KeyError::TooShort {
                name: name.to_owned(),
                reason,
            })
        };
        short("main", &main)?;
        let mut keys = Self::default();
        keys.add("main", KeyScope::Admin, main.expose());
        for extra in &settings.api.extra_keys {
            let secret =
                secrets::read_secret_file(&extra.key_file).map_err(|source| KeyError::Extra {
                    name: extra.name.clone(),
                    source,
                })?;
            short(&extra.name, &secret)?;
            keys.add(&extra.name, extra.scope, secret.expose());
        }
        // A managed key file that cannot be used is logged and left out; the others count.
        let (records, problems) = exporter_settings::keyring::read_all(&settings.api_keys_dir())?;
        for problem in problems {
            tracing::error!(error = %problem, "a managed key file is left out; fix or remove it (`exporter key list`)");
        }
        for record in records {
            if let Some(hash) = record.hash() {
                keys.entries
                    .get_mut()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .push(Entry {
                        caller: Caller {
                            name: record.name,
                            scope: record.scope,
                        },
                        hash,
                        expires_at: record.expires_at,
                    });
            }
        }
        Ok(keys)
    }

    /// Adds a key (tests build their own sets).
    pub fn add(&mut self, name: &str, scope: KeyScope, key: &str) {
        let entries = self
            .entries
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.push(Entry {
            caller: Caller {
                name: name.to_owned(),
                scope,
            },
            hash: hash(key),
            expires_at: None,
        });
    }

    /// The caller owning `presented`, checking every entry in constant time.
    pub fn authenticate(&self, presented: &str) -> Option<Caller> {
        let presented = hash(presented);
        let mut found = None;
        let entries = self
            .entries
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = chrono::Utc::now();
        for entry in entries.iter() {
            if bool::from(entry.hash.ct_eq(&presented))
                && entry.expires_at.is_none_or(|at| at > now)
            {
                found = Some(entry.caller.clone());
            }
        }
        found
    }

    /// Takes `fresh`'s keys in place of these (requests in flight finish with the old set).
    pub fn replace(&self, fresh: ApiKeys) {
        let fresh = fresh
            .entries
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *self
            .entries
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = fresh;
    }

    /// How many keys are accepted.
    pub fn len(&self) -> usize {
        self.entries.read().map_or(0, |entries| entries.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Middleware: rejects requests without a valid key; stores the [`Caller`] for handlers.
pub async fn require_key(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let Some(caller) =
        presented_key(request.headers()).and_then(|key| state.keys.authenticate(key))
    else {
        let address = crate::serve::client_address(&request);
        return Err(
            match state
                .auth_failures
                .record(&address, std::time::Instant::now())
            {
                Some(wait) => ApiError::Throttled {
                    retry_after_seconds: wait.as_secs().max(1),
                },
                None => ApiError::Unauthorized,
            },
        );
    };
    tracing::debug!(caller = %caller.name, "authenticated");
    request.extensions_mut().insert(caller);
    Ok(next.run(request).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_right_key_and_refuses_others() {
        let mut keys = ApiKeys::default();
        keys.add("main", KeyScope::Admin, "alpha");
        keys.add("phone", KeyScope::Read, "beta");
        assert_eq!(keys.authenticate("beta").unwrap().name, "phone");
        assert_eq!(keys.authenticate("alpha").unwrap().scope, KeyScope::Admin);
        assert!(keys.authenticate("alph").is_none());
        assert!(keys.authenticate("").is_none());
    }

    fn headers(pairs: &[(&'static str, &str)]) -> axum::http::HeaderMap {
        let mut map = axum::http::HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn the_key_comes_from_x_api_key_or_a_bearer_token() {
        assert_eq!(
            presented_key(&headers(&[("x-api-key", "alpha")])),
            Some("alpha")
        );
        assert_eq!(
            presented_key(&headers(&[("authorization", "Bearer alpha")])),
            Some("alpha")
        );
        assert_eq!(
            presented_key(&headers(&[("authorization", "bearer  alpha ")])),
            Some("alpha")
        );
        assert_eq!(
            presented_key(&headers(&[("authorization", "Basic YTpi")])),
            None
        );
        assert_eq!(
            presented_key(&headers(&[("authorization", "Bearer ")])),
            None
        );
        assert_eq!(presented_key(&headers(&[])), None);
    }
}

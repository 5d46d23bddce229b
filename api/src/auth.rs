//! API keys: kept only as SHA-256 hashes in memory, compared in constant time against every
//! configured key (no early exit), each with a scope. A missing or wrong key gets the same 401,
//! with no hint which part was wrong. The key is read from `X-API-Key` or, as Prometheus'
//! `authorization` scrape option sends it, from `Authorization: Bearer <key>`; a browser
//! instead sends the dashboard's session cookie ([`crate::session`]), which stands for its key
//! (same scope) and must pass the same-origin check ([`crate::same_origin`]) to change state.

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

/// The SHA-256 of a key, as kept.
pub fn hash(key: &str) -> [u8; 32] {
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
        self.accepted(&hash(presented), chrono::Utc::now())
            .map(|accepted| accepted.caller)
    }

    /// The key whose hash is `presented`, if it is accepted at `now`: its caller and expiry.
    pub fn accepted(
        &self,
        presented: &[u8; 32],
        now: chrono::DateTime<chrono::Utc>,
    ) -> Option<Accepted> {
        let mut found = None;
        let entries = self
            .entries
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for entry in entries.iter() {
            if bool::from(entry.hash.ct_eq(presented)) && entry.expires_at.is_none_or(|at| at > now)
            {
                found = Some(Accepted {
                    caller: entry.caller.clone(),
                    expires_at: entry.expires_at,
                });
            }
        }
        found
    }

    /// The caller of the key whose hash is `hash`, if that key is still accepted at `now`.
    pub fn by_hash(&self, hash: &[u8; 32], now: chrono::DateTime<chrono::Utc>) -> Option<Caller> {
        self.accepted(hash, now).map(|accepted| accepted.caller)
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

/// An accepted key: who, and until when.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub caller: Caller,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// How a request proved who it is (a request extension beside [`Caller`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// `X-API-Key` or `Authorization: Bearer`.
    Key,
    /// The dashboard's session cookie.
    Session,
}

/// Who a request is, as far as its credentials say.
#[derive(Debug)]
pub enum Identity {
    /// No key and no session cookie.
    Anonymous,
    Known(Caller, Via),
    /// A wrong key, or a session cookie that is unknown, expired, or whose key went.
    Refused,
}

/// Identifies a request: a key in the headers wins (a wrong one is refused, never excused by a
/// cookie); else the session cookie; else anonymous.
pub fn identify(state: &AppState, headers: &axum::http::HeaderMap) -> Identity {
    if let Some(key) = presented_key(headers) {
        return state
            .keys
            .authenticate(key)
            .map_or(Identity::Refused, |caller| {
                Identity::Known(caller, Via::Key)
            });
    }
    if let Some(token) = crate::session::token_of(headers) {
        return state
            .sessions
            .caller(token, &state.keys, chrono::Utc::now())
            .map_or(Identity::Refused, |(caller, _)| {
                Identity::Known(caller, Via::Session)
            });
    }
    Identity::Anonymous
}

/// Counts a failed authentication of a client address: the 401 to answer, or the
/// 429 once the address is past its limit.
pub fn refuse(state: &AppState, address: &str) -> ApiError {
    match state
        .auth_failures
        .record(address, std::time::Instant::now())
    {
        Some(wait) => ApiError::Throttled {
            retry_after_seconds: wait.as_secs().max(1),
        },
        None => ApiError::Unauthorized,
    }
}

/// Middleware: rejects requests without a valid key or session; a session's state-changing
/// request must also come from the API's own origin. Stores the [`Caller`] (and [`Via`]) for
/// handlers.
pub async fn require_key(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let Identity::Known(caller, via) = identify(&state, request.headers()) else {
        return Err(refuse(&state, &crate::serve::client_address(&request)));
    };
    if via == Via::Session {
        crate::same_origin::require(&request)?;
    }
    tracing::debug!(caller = %caller.name, ?via, "authenticated");
    request.extensions_mut().insert(caller);
    request.extensions_mut().insert(via);
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

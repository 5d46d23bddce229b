//! Browser sessions of the dashboard: a phone's browser cannot send `X-API-Key`, so the page
//! trades the key once (`POST /session`) for a random 256-bit token in an `HttpOnly`,
//! `SameSite=Strict` cookie; the key itself never stays in the browser.
//!
//! Only the SHA-256 of each token is kept, in memory: a restart of the API signs every browser
//! out (a new sign-in is one key paste), and nothing about sessions is written to PostgreSQL,
//! which the API only reads (alert acknowledgements and silences aside). A session remembers the
//! hash of the key that opened it and is checked against [`ApiKeys`] on every request, so it dies
//! with its key: revoked (`exporter key revoke`), expired, or removed from the settings on
//! SIGHUP. Its scope is always its key's current one. The number of sessions is bounded, per key
//! (the oldest is ended to make room) and in total (past it, sign-in is refused), so no one can
//! fill the API's memory by signing in again and again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::auth::{ApiKeys, Caller};

/// The cookie's name.
pub const COOKIE: &str = "exporter_session";

/// Why a session could not be opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SessionError {
    #[error(
        "{0} dashboard sessions are open, the limit (api.session_max); sign out elsewhere or wait for one to expire"
    )]
    Full(usize),
}

#[derive(Debug, Clone)]
struct Session {
    key_hash: [u8; 32],
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

/// A session just opened: the token goes in the cookie, once; only its hash is kept.
#[derive(Debug)]
pub struct Opened {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// Every open session, by the hash of its token.
#[derive(Debug)]
pub struct Sessions {
    ttl: Duration,
    max_total: usize,
    max_per_key: usize,
    open: Mutex<HashMap<[u8; 32], Session>>,
}

fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Sessions {
    pub fn new(ttl: Duration, max_total: usize, max_per_key: usize) -> Self {
        Self {
            ttl,
            max_total,
            max_per_key,
            open: Mutex::default(),
        }
    }

    /// How long a new session lasts at most.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Opens a session for the key whose hash is `key_hash`, ending no later than the key
    /// (`key_expires_at`). Past `api.session_max_per_key`, the key's oldest session is ended.
    pub fn open(
        &self,
        key_hash: [u8; 32],
        key_expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Opened, SessionError> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.retain(|_, session| session.expires_at > now);
        let mut mine: Vec<([u8; 32], DateTime<Utc>)> = open
            .iter()
            .filter(|(_, s)| s.key_hash == key_hash)
            .map(|(hash, s)| (*hash, s.created_at))
            .collect();
        if mine.len() >= self.max_per_key {
            mine.sort_by_key(|(_, created)| *created);
            for (hash, _) in mine.iter().take(mine.len() + 1 - self.max_per_key) {
                open.remove(hash);
            }
            tracing::info!(
                max_per_key = self.max_per_key,
                "a key's oldest dashboard session was ended to make room (api.session_max_per_key)"
            );
        }
        if open.len() >= self.max_total {
            return Err(SessionError::Full(open.len()));
        }
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let ttl = chrono::Duration::from_std(self.ttl).unwrap_or(chrono::Duration::hours(12));
        let expires_at = key_expires_at.map_or(now + ttl, |at| at.min(now + ttl));
        open.insert(
            token_hash(&token),
            Session {
                key_hash,
                created_at: now,
                expires_at,
            },
        );
        Ok(Opened { token, expires_at })
    }

    /// The caller of the session `token`, and when it ends: `None` when there is no such
    /// session, it expired, or its key is no longer accepted.
    pub fn caller(
        &self,
        token: &str,
        keys: &ApiKeys,
        now: DateTime<Utc>,
    ) -> Option<(Caller, DateTime<Utc>)> {
        let hash = token_hash(token);
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let session = open.get(&hash)?.clone();
        let caller = (session.expires_at > now)
            .then(|| keys.by_hash(&session.key_hash, now))
            .flatten();
        if caller.is_none() {
            open.remove(&hash);
        }
        caller.map(|caller| (caller, session.expires_at))
    }

    /// Ends the session `token` (sign-out); `true` when there was one.
    pub fn close(&self, token: &str) -> bool {
        self.open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&token_hash(token))
            .is_some()
    }

    /// Sessions kept now (expired ones included until the next sign-in sweeps them).
    pub fn len(&self) -> usize {
        self.open.lock().map_or(0, |open| open.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The session token of the request's `Cookie` header(s), if any.
pub fn token_of(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim().trim_matches('"'))
        .filter(|value| !value.is_empty())
}

/// The `Set-Cookie` value that stores `token` for `max_age`, `Secure` when the page was served
/// over HTTPS.
pub fn set_cookie(token: &str, max_age: Duration, secure: bool) -> String {
    format!(
        "{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{}",
        max_age.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that removes the cookie.
pub fn clear_cookie(secure: bool) -> String {
    set_cookie("", Duration::ZERO, secure)
}

#[cfg(test)]
mod tests {
    use super::*;
    use exporter_settings::KeyScope;

    fn keys() -> ApiKeys {
        let mut keys = ApiKeys::default();
        keys.add("main", KeyScope::Admin, "alpha");
        keys.add("phone", KeyScope::Read, "beta");
        keys
    }

    #[test]
    fn a_session_lasts_its_ttl_and_follows_its_key() {
        let sessions = Sessions::new(Duration::from_secs(60), 10, 3);
        let keys = keys();
        let now = Utc::now();
        let opened = sessions.open(crate::auth::hash("beta"), None, now).unwrap();
        assert_eq!(opened.token.len(), 43, "256 bits in base64url");
        let (caller, _) = sessions.caller(&opened.token, &keys, now).unwrap();
        assert_eq!(
            (caller.name.as_str(), caller.scope),
            ("phone", KeyScope::Read)
        );
        assert!(sessions.caller("beta", &keys, now).is_none(), "not the key");
        let later = now + chrono::Duration::seconds(61);
        assert!(
            sessions.caller(&opened.token, &keys, later).is_none(),
            "expired"
        );

        let opened = sessions.open(crate::auth::hash("beta"), None, now).unwrap();
        keys.replace({
            let mut fresh = ApiKeys::default();
            fresh.add("main", KeyScope::Admin, "alpha");
            fresh
        });
        assert!(
            sessions.caller(&opened.token, &keys, now).is_none(),
            "its key was removed"
        );
        assert!(!sessions.close("nothing"));
    }

    #[test]
    fn a_session_ends_no_later_than_its_key() {
        let sessions = Sessions::new(Duration::from_secs(3600), 10, 3);
        let now = Utc::now();
        let key_end = now + chrono::Duration::seconds(5);
        let opened = sessions
            .open(crate::auth::hash("beta"), Some(key_end), now)
            .unwrap();
        assert_eq!(opened.expires_at, key_end);
    }

    #[test]
    fn sessions_are_bounded_per_key_and_in_total() {
        let sessions = Sessions::new(Duration::from_secs(60), 4, 2);
        let keys = keys();
        let now = Utc::now();
        let first = sessions.open(crate::auth::hash("beta"), None, now).unwrap();
        let second = sessions
            .open(
                crate::auth::hash("beta"),
                None,
                now + chrono::Duration::milliseconds(1),
            )
            .unwrap();
        let third = sessions
            .open(
                crate::auth::hash("beta"),
                None,
                now + chrono::Duration::milliseconds(2),
            )
            .unwrap();
        assert!(
            sessions.caller(&first.token, &keys, now).is_none(),
            "oldest ended"
        );
        assert!(sessions.caller(&second.token, &keys, now).is_some());
        assert!(sessions.caller(&third.token, &keys, now).is_some());
        sessions
            .open(crate::auth::hash("alpha"), None, now)
            .unwrap();
        sessions
            .open(crate::auth::hash("alpha"), None, now)
            .unwrap();
        assert_eq!(
            sessions
                .open(crate::auth::hash("other"), None, now)
                .unwrap_err(),
            SessionError::Full(4)
        );
        assert!(sessions.close(&third.token));
        assert_eq!(sessions.len(), 3);
    }

    #[test]
    fn the_cookie_is_found_among_others_and_set_with_its_flags() {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            "cookie",
            "theme=dark; exporter_session=abc-_1; other=x"
                .parse()
                .unwrap(),
        );
        assert_eq!(token_of(&headers), Some("abc-_1"));
        headers.insert("cookie", "exporter_session=".parse().unwrap());
        assert_eq!(token_of(&headers), None);
        assert_eq!(
            set_cookie("t", Duration::from_secs(60), true),
            "exporter_session=t; HttpOnly; SameSite=Strict; Path=/; Max-Age=60; Secure"
        );
        assert!(clear_cookie(false).ends_with("Max-Age=0"));
    }
}

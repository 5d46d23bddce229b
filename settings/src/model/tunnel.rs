//! `tunnel:`: the ngrok endpoint the supervisor opens to the API, and the restrictions at its
//! edge.

use std::path::PathBuf;

use serde::Deserialize;

use super::key_path::{KeyPath, Validate, key};
use crate::SettingsError;

/// The ngrok tunnel to the API, opened by the supervisor when an auth token is set. Its edge
/// restrictions are defence in depth in front of the API key, not a replacement for it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TunnelSettings {
    /// Open the tunnel when a token is configured.
    pub enabled: bool,
    /// A reserved domain (`gh200.example.ngrok.app`); none means a random ngrok URL.
    pub domain: Option<String>,
    /// ngrok region to connect through (`us`, `eu`, `ap`, `au`, `sa`, `jp`, `in`); none means
    /// the nearest.
    pub region: Option<String>,
    /// Agent connect address override (`host:port`); wins over `region`.
    pub server_addr: Option<String>,
    /// Only these client networks may reach the endpoint (CIDRs).
    pub allow_cidrs: Vec<String>,
    /// These client networks are refused (CIDRs).
    pub deny_cidrs: Vec<String>,
    /// File (mode 0600) holding `user:password` for HTTP basic auth at the edge.
    pub basic_auth_file: Option<PathBuf>,
    /// OAuth provider at the edge (`google`, `github`, `microsoft`, `gitlab`, ...).
    pub oauth_provider: Option<String>,
    /// With OAuth: only these e-mail addresses get through.
    pub oauth_allowed_emails: Vec<String>,
    /// First retry delay after the tunnel failed; doubles up to five minutes.
    pub retry_initial_seconds: u64,
}

impl Default for TunnelSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            domain: None,
            region: None,
            server_addr: None,
            allow_cidrs: Vec::new(),
            deny_cidrs: Vec::new(),
            basic_auth_file: None,
            oauth_provider: None,
            oauth_allowed_emails: Vec::new(),
            retry_initial_seconds: 5,
        }
    }
}

impl Validate for TunnelSettings {
    fn validate(&self, at: &KeyPath) -> Result<(), SettingsError> {
        key!(at, self.retry_initial_seconds).in_range(self.retry_initial_seconds, 1, 3600)?;
        let cidr = |at: &KeyPath, cidr: &String| {
            at.check(cidr.contains('/'), "must be a CIDR such as 203.0.113.0/24")
        };
        key!(at, self.allow_cidrs).each(&self.allow_cidrs, cidr)?;
        key!(at, self.deny_cidrs).each(&self.deny_cidrs, cidr)?;
        key!(at, self.oauth_allowed_emails).check(
            self.oauth_allowed_emails.is_empty() || self.oauth_provider.is_some(),
            format!("needs {}", key!(at, self.oauth_provider)),
        )
    }
}

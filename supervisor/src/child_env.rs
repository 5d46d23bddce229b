//! What each child of `exporter up` finds in its environment: the general variables every
//! process needs (locale, `PATH`, `RUST_LOG`, proxies, the non-secret `EXPORTER_*` settings) and
//! only its own secrets. The API gets the API key, the brokerage collectors the Alpaca keys, the
//! aggregator the variables its alert receivers name (`token_env`, `url_env`); the ngrok token
//! stays in the supervisor, which runs the tunnel itself. Anything else in the supervisor's
//! environment (an unrelated token of the shell that started it) reaches no child.
//!
//! An allow-list rather than a deny-list: a secret nobody told this module about is not passed
//! on by accident. A `*_FILE` variable names a path, not a secret, and is passed like any other
//! setting (the file itself is 0600).

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};

use exporter_protocol::CollectorKind;

/// Variables that hold a secret themselves, each passed only to the processes that use it.
pub const API_KEY: &str = "EXPORTER_API_KEY";
pub const ALPACA_KEY_ID: &str = "EXPORTER_ALPACA_KEY_ID";
pub const ALPACA_SECRET_KEY: &str = "EXPORTER_ALPACA_SECRET_KEY";
pub const NGROK_AUTHTOKEN: &str = "NGROK_AUTHTOKEN";

pub const NATS_PASSWORD: &str = "EXPORTER_NATS_PASSWORD";

/// Every `EXPORTER_*` variable that is a secret of one process (the others are settings and
/// pass through). The password of an external bus is every process's, so it passes to all;
/// on the managed bus each child gets its own password file instead and it is removed.
const EXPORTER_SECRETS: [&str; 3] = [API_KEY, ALPACA_KEY_ID, ALPACA_SECRET_KEY];

/// General variables a process may need, passed to every child.
const GENERAL: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TERM",
    "NO_COLOR",
    "TMPDIR",
    // Where NVML (`libnvidia-ml.so.1`) is found on installs outside the loader cache.
    "LD_LIBRARY_PATH",
    "RUST_LOG",
    "RUST_BACKTRACE",
    "RUST_LIB_BACKTRACE",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
];

/// Which child a set of variables is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildRole {
    Aggregator,
    Collector(CollectorKind),
    Api,
    /// The managed nats-server: its secrets are in its configuration file.
    NatsServer,
}

impl ChildRole {
    /// The secret variables this role uses; `receiver_variables` are those the alert receivers
    /// name, which only the aggregator (the dispatcher) reads.
    fn secrets(self, receiver_variables: &BTreeSet<String>) -> Vec<&str> {
        match self {
            Self::Api => vec![API_KEY],
            Self::Collector(CollectorKind::Portfolio | CollectorKind::Trades) => {
                vec![ALPACA_KEY_ID, ALPACA_SECRET_KEY]
            }
            Self::Collector(_) | Self::NatsServer => vec![],
            Self::Aggregator => receiver_variables.iter().map(String::as_str).collect(),
        }
    }
}

/// The environment of a child of `role`, from the supervisor's own `parent` environment.
/// `NOTIFY_SOCKET` and the watchdog variables are systemd's word to the supervisor alone.
pub fn child_environment(
    role: ChildRole,
    parent: impl IntoIterator<Item = (OsString, OsString)>,
    receiver_variables: &BTreeSet<String>,
) -> Vec<(OsString, OsString)> {
    let own = role.secrets(receiver_variables);
    parent
        .into_iter()
        .filter(|(name, _)| passes(name, &own))
        .collect()
}

fn passes(name: &OsStr, own_secrets: &[&str]) -> bool {
    let Some(name) = name.to_str() else {
        return false;
    };
    if own_secrets.contains(&name) {
        return true;
    }
    if GENERAL.contains(&name) || name.starts_with("LC_") {
        return true;
    }
    name.starts_with("EXPORTER_") && !EXPORTER_SECRETS.contains(&name)
}

/// The environment variables the receivers of the rules file name; empty when the file cannot
/// be read (the aggregator then reports the file itself).
pub fn receiver_variables(rules_path: &std::path::Path) -> BTreeSet<String> {
    let Ok(rules) = exporter_alerting::schema::AlertRules::load(rules_path) else {
        return BTreeSet::new();
    };
    rules
        .receivers
        .iter()
        .flat_map(|r| [r.token_env.clone(), r.url_env.clone()])
        .flatten()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parent() -> Vec<(OsString, OsString)> {
        [
            ("PATH", "/usr/bin"),
            ("LC_ALL", "C.UTF-8"),
            ("RUST_LOG", "info"),
            ("EXPORTER_SETTINGS", "/etc/x.yaml"),
            ("EXPORTER_API_KEY_FILE", "/etc/api-key"),
            (API_KEY, "k"),
            (ALPACA_KEY_ID, "id"),
            (ALPACA_SECRET_KEY, "secret"),
            (NGROK_AUTHTOKEN, "t"),
            ("TELEGRAM_TOKEN", "bot"),
            ("AWS_SECRET_ACCESS_KEY", "unrelated"),
            ("NOTIFY_SOCKET", "/run/systemd/notify"),
            ("WATCHDOG_USEC", "30000000"),
        ]
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect()
    }

    fn names(role: ChildRole) -> Vec<String> {
        let receivers = BTreeSet::from(["TELEGRAM_TOKEN".to_owned()]);
        child_environment(role, parent(), &receivers)
            .into_iter()
            .map(|(k, _)| k.into_string().unwrap())
            .collect()
    }

    #[test]
    fn each_child_gets_the_general_variables_and_only_its_own_secrets() {
        let general = [
            "PATH",
            "LC_ALL",
            "RUST_LOG",
            "EXPORTER_SETTINGS",
            "EXPORTER_API_KEY_FILE",
        ];
        let with = |extra: &[&str]| {
            let mut all: Vec<String> = general.iter().map(|s| s.to_string()).collect();
            all.extend(extra.iter().map(|s| s.to_string()));
            all.sort();
            all
        };
        let sorted = |mut v: Vec<String>| {
            v.sort();
            v
        };
        assert_eq!(sorted(names(ChildRole::Api)), with(&[API_KEY]));
        assert_eq!(
            sorted(names(ChildRole::Collector(CollectorKind::Portfolio))),
            with(&[ALPACA_KEY_ID, ALPACA_SECRET_KEY])
        );
        assert_eq!(
            sorted(names(ChildRole::Collector(CollectorKind::Trades))),
            with(&[ALPACA_KEY_ID, ALPACA_SECRET_KEY])
        );
        assert_eq!(
            sorted(names(ChildRole::Collector(CollectorKind::System))),
            with(&[])
        );
        assert_eq!(
            sorted(names(ChildRole::Aggregator)),
            with(&["TELEGRAM_TOKEN"])
        );
    }

    #[test]
    fn receiver_variables_come_from_the_rules_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alerts.yaml");
        std::fs::write(
            &path,
            "receivers:\n- {name: tg, type: telegram, chat_id: '1', token_env: TG_TOKEN}\n- {name: hook, type: slack, url_env: SLACK_HOOK}\n",
        )
        .unwrap();
        assert_eq!(
            receiver_variables(&path),
            BTreeSet::from(["SLACK_HOOK".to_owned(), "TG_TOKEN".to_owned()])
        );
        assert!(receiver_variables(&dir.path().join("missing.yaml")).is_empty());
    }
}

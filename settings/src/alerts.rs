//! The `alerts:` section of `system.yaml` (whether this aggregator evaluates rules, where the
//! rules file is, how often, how long alert history is kept) and the duration grammar that
//! settings files share (`30s`, `5m`, `1h30m`).
//!
//! The rules file itself (`settings/alerts.yaml`: rules, route, receivers) is the alerting
//! crate's (`exporter_alerting::schema`): its types, checks and compilation live in one place
//! there, used by both the aggregator and `exporter check`.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Default rules file: beside `system.yaml` (a relative path is resolved against the settings
/// file's directory, as Prometheus does for `rule_files`).
pub const DEFAULT_RULES_PATH: &str = "alerts.yaml";

/// The `alerts:` section of `system.yaml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsSettings {
    /// Evaluate rules in this aggregator. With several aggregators, leave it on in one only.
    pub enabled: bool,
    /// The rules file, relative to the directory of `system.yaml` (env `EXPORTER_ALERTS`, which
    /// is relative to the working directory). See [`crate::Settings::alert_rules_path`].
    pub rules_file: PathBuf,
    /// Seconds between rule evaluations (1 to 300).
    pub evaluation_interval_seconds: u64,
    /// Seconds between checks of the rules file for changes (0: only on SIGHUP).
    pub watch_interval_seconds: u64,
    /// A notification alert resolves by itself after this long without a repeat.
    pub notification_resolve_after_seconds: u64,
    /// Days resolved alerts, transitions and the delivery log are kept.
    pub retention_days: u32,
}

impl Default for AlertsSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            rules_file: PathBuf::from(DEFAULT_RULES_PATH),
            evaluation_interval_seconds: 5,
            watch_interval_seconds: 10,
            notification_resolve_after_seconds: 3600,
            retention_days: 90,
        }
    }
}

/// Reads `30s`, `5m`, `1h`, `2d`, `500ms`, `1h30m` or a plain number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    let bad = || format!("`{text}` is not a duration (e.g. 30s, 5m, 1h, 1h30m, 500ms, 2d)");
    let mut total = Duration::ZERO;
    let mut rest = text;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let number: u64 = rest[..digits].parse().map_err(|_| bad())?;
        let too_long = || format!("`{text}` is too long a duration");
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let seconds_per = match unit {
            "ms" => {
                total = total
                    .checked_add(Duration::from_millis(number))
                    .ok_or_else(too_long)?;
                continue;
            }
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return Err(bad()),
        };
        let seconds = number.checked_mul(seconds_per).ok_or_else(too_long)?;
        total = total
            .checked_add(Duration::from_secs(seconds))
            .ok_or_else(too_long)?;
    }
    Ok(total)
}

/// Reads a duration field with [`parse_duration`] (or a plain number of seconds), for
/// `#[serde(deserialize_with = "exporter_settings::alerts::deserialize_duration")]`.
pub fn deserialize_duration<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Seconds(u64),
        Text(String),
    }
    match Raw::deserialize(deserializer)? {
        Raw::Seconds(seconds) => Ok(Duration::from_secs(seconds)),
        Raw::Text(text) => parse_duration(&text).map_err(serde::de::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_every_unit() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
        assert!(
            parse_duration("999999999999999999d")
                .unwrap_err()
                .contains("too long")
        );
    }
}

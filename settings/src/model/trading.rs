//! `trading:`: how trading results are reported (the calendar P&L days follow).

use serde::Deserialize;

use super::key_path::{KeyPath, Validate, key};
use crate::SettingsError;

/// How trading results are reported.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TradingSettings {
    /// IANA time zone whose calendar days P&L is attributed to.
    pub timezone: String,
}

impl Default for TradingSettings {
    fn default() -> Self {
        Self {
            timezone: "America/New_York".into(),
        }
    }
}

impl Validate for TradingSettings {
    fn validate(&self, at: &KeyPath) -> Result<(), SettingsError> {
        key!(at, self.timezone).check(
            self.timezone.parse::<chrono_tz::Tz>().is_ok(),
            format!(
                "`{}` is not an IANA time zone such as America/New_York",
                self.timezone
            ),
        )
    }
}

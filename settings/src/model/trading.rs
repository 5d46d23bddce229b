//! `trading:`: how trading results are reported (the calendar P&L days follow, and how exits
//! are matched to the lots they close).

use serde::Deserialize;

use super::key_path::{KeyPath, Validate, key};
use crate::SettingsError;

/// How trading results are reported.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TradingSettings {
    /// IANA time zone whose calendar days P&L is attributed to.
    pub timezone: String,
    /// How an exit's cost is matched to the open lots: `fifo` (first in, first out, as brokers'
    /// realised-gain reports) or `average` (moving average cost).
    pub cost_basis: String,
}

/// The spellings `trading.cost_basis` accepts.
pub const COST_BASIS_METHODS: [&str; 2] = ["fifo", "average"];

impl Default for TradingSettings {
    fn default() -> Self {
        Self {
            timezone: "America/New_York".into(),
            cost_basis: "fifo".into(),
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
        )?;
        key!(at, self.cost_basis).check(
            COST_BASIS_METHODS.contains(&self.cost_basis.as_str()),
            format!("`{}` is not fifo or average", self.cost_basis),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_basis_defaults_to_fifo_and_refuses_other_methods() {
        let at = KeyPath::root().key("trading");
        let settings = TradingSettings::default();
        assert_eq!(settings.cost_basis, "fifo");
        assert!(settings.validate(&at).is_ok());
        let average = TradingSettings {
            cost_basis: "average".into(),
            ..TradingSettings::default()
        };
        assert!(average.validate(&at).is_ok());
        let lifo = TradingSettings {
            cost_basis: "lifo".into(),
            ..TradingSettings::default()
        };
        assert_eq!(
            lifo.validate(&at).unwrap_err().to_string(),
            "invalid settings: key `trading.cost_basis`: `lifo` is not fifo or average"
        );
    }
}

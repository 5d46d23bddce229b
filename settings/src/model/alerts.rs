//! The checks of the `alerts:` section of `system.yaml`. Its type lives with the rules file's
//! schema ([`crate::alerts`]); what the section's values may be is checked here, like every
//! other section's.

use super::key_path::{KeyPath, Validate, key};
use crate::{AlertsSettings, SettingsError};

impl Validate for AlertsSettings {
    fn validate(&self, at: &KeyPath) -> Result<(), SettingsError> {
        key!(at, self.evaluation_interval_seconds).in_range(
            self.evaluation_interval_seconds,
            1,
            300,
        )?;
        key!(at, self.watch_interval_seconds).in_range(self.watch_interval_seconds, 0, 3600)?;
        key!(at, self.notification_resolve_after_seconds).in_range(
            self.notification_resolve_after_seconds,
            1,
            30 * 86_400,
        )?;
        key!(at, self.retention_days).in_range(u64::from(self.retention_days), 1, 3650)
    }
}

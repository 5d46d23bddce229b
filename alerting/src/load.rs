//! Load + compile + check, in one place: what the aggregator runs at start and on every reload,
//! and what `exporter check` runs (which also resolves the receivers' secrets, as the
//! dispatcher will).

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use exporter_settings::SettingsError;

use crate::receivers::{self, ReceiverError};
use crate::rules::{self, Rule, RuleError};
use crate::schema::AlertRules;

/// Why a rules file cannot be used. Each message names the file or the rule, and the key.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    /// Unreadable, or wrong in shape (`rules[3].for`).
    #[error(transparent)]
    File(#[from] SettingsError),
    /// A rule that does not compile (its expression, a regex, a template).
    #[error(transparent)]
    Rule(#[from] RuleError),
    /// A receiver whose secret or URL does not resolve.
    #[error(transparent)]
    Receiver(#[from] ReceiverError),
}

/// A rules file read, checked and compiled.
#[derive(Debug)]
pub struct LoadedRules {
    pub path: PathBuf,
    pub file: AlertRules,
    /// The enabled rules, compiled.
    pub compiled: Vec<Rule>,
    /// The file's modification time when it was read (the runner watches it).
    pub modified: Option<SystemTime>,
}

/// Reads, checks and compiles the rules file: a mistake is an error naming the rule and key.
pub fn load_rules(path: &Path) -> Result<LoadedRules, RulesError> {
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let file = AlertRules::load(path)?;
    let compiled = rules::compile(&file)?;
    Ok(LoadedRules {
        path: path.to_owned(),
        file,
        compiled,
        modified,
    })
}

/// [`load_rules`], then resolves every receiver's secrets and URL without sending anything
/// (`exporter check`).
/// The enabled rules gated by the market calendar (`active_during` other than `always`): while
/// the calendar is unknown (no broker keys) they behave as `always`.
pub fn calendar_gated_rules(loaded: &LoadedRules) -> Vec<&str> {
    loaded
        .compiled
        .iter()
        .filter(|rule| rule.active_during != crate::schema::ActiveDuring::Always)
        .map(|rule| rule.name.as_str())
        .collect()
}

pub fn check_rules(path: &Path) -> Result<LoadedRules, RulesError> {
    let loaded = load_rules(path)?;
    receivers::resolve_all(&loaded.file.receivers)?;
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn check_compiles_every_rule_and_resolves_every_receiver() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alerts.yaml");
        let write = |text: &str| std::fs::write(&path, text).unwrap();
        write(
            "rules:\n- {name: Hot, severity: warning, category: hardware, expr: 'gpu.t > 1'}\n- {name: Off, enabled: false, severity: info, category: system, expr: 'x > 1'}\n",
        );
        let loaded = check_rules(&path).unwrap();
        assert_eq!(loaded.compiled.len(), 1, "disabled rules are not compiled");
        assert!(loaded.modified.is_some());

        write("rules:\n- {name: Hot, severity: warning, category: hardware, expr: 'gpu.t >> 5'}\n");
        let err = load_rules(&path).unwrap_err().to_string();
        assert!(err.contains("alert rule `Hot` (rules[0].expr)"), "{err}");

        write(
            "rules:\n- {name: Hot, severity: warning, category: hardware, expr: 'x > 1', for: soon}\n",
        );
        let err = load_rules(&path).unwrap_err().to_string();
        assert!(
            err.contains("alerts.yaml") && err.contains("rules[0].for"),
            "{err}"
        );

        let token = dir.path().join("token");
        std::fs::write(&token, "123:abc\n").unwrap();
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).unwrap();
        write(&format!(
            "receivers:\n- {{name: tg, type: telegram, chat_id: '1', token_file: {}}}\n",
            token.display()
        ));
        assert!(load_rules(&path).is_ok(), "loading does not read secrets");
        let err = check_rules(&path).unwrap_err().to_string();
        assert!(
            err.contains("receiver `tg`") && err.contains("chmod 600"),
            "{err}"
        );
    }
}

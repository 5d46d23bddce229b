//! Keys of `system.yaml` that were renamed or moved. A settings file written for an older
//! version keeps working: before the typed parse, each old key found is moved to its new place
//! and a warning names the new key (logged, or on stderr before logging is set up). [`RENAMES`]
//! is the one place a rename goes.
//!
//! The typed parse then reads the rewritten document instead of the text, so its errors name the
//! key but not the line; a file with no old key is parsed from its text, lines included.

use std::fmt;

use serde_yaml::{Mapping, Value};

use super::Settings;

/// One key that moved: `from` is its dotted path in older files, `to` its path now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rename {
    pub(crate) from: &'static str,
    pub(crate) to: &'static str,
}

/// Every renamed or moved key, oldest first (a later entry may move a key an earlier one
/// produced). Add a line here when a field is renamed or moved; nothing else is needed.
pub(crate) const RENAMES: &[Rename] = &[
    // Governed the points, log lines, ingest ids and the decoder's age limit; its documented
    // meaning was "days of raw points kept", so it keeps that one. Log lines and ingest ids
    // now follow `aggregator.log_retention_days`, the roll-ups their own tiers.
    Rename {
        from: "aggregator.retention_days",
        to: "aggregator.retention.raw_days",
    },
];

impl fmt::Display for Rename {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "settings key `{}` is deprecated; use `{}`",
            self.from, self.to
        )
    }
}

/// Parses YAML text into settings, accepting the old keys of `renames` with a warning each; the
/// error names the key path and the parser's message (with the line where it has one).
pub(crate) fn parse(text: &str, renames: &[Rename]) -> Result<Settings, (String, String)> {
    if let Ok(mut document) = serde_yaml::from_str::<Value>(text) {
        let applied = apply(&mut document, renames)?;
        if !applied.is_empty() {
            applied.iter().for_each(warn);
            return serde_path_to_error::deserialize(document).map_err(describe);
        }
    }
    serde_path_to_error::deserialize(serde_yaml::Deserializer::from_str(text)).map_err(describe)
}

/// Logs `rename`'s warning. The binaries load their settings before they install the log
/// subscriber (the settings say how to log), so until one is installed the warning goes to
/// stderr, where they print a settings error too.
fn warn(rename: &Rename) {
    if tracing::dispatcher::has_been_set() {
        tracing::warn!("{rename}");
    } else {
        eprintln!("warning: {rename}");
    }
}

/// The failed key path (`(top level)` for the document itself) and the parser's message.
fn describe(err: serde_path_to_error::Error<serde_yaml::Error>) -> (String, String) {
    let key = err.path().to_string();
    let key = if key == "." {
        "(top level)".to_owned()
    } else {
        key
    };
    (key, err.into_inner().to_string())
}

/// Moves every old key of `renames` found in `document` to its new path; returns those moved.
/// An old key beside its new one is refused: which one was meant is not known.
fn apply(document: &mut Value, renames: &[Rename]) -> Result<Vec<Rename>, (String, String)> {
    let mut applied = Vec::new();
    for rename in renames {
        let from: Vec<&str> = rename.from.split('.').collect();
        let to: Vec<&str> = rename.to.split('.').collect();
        if get(document, &from).is_none() {
            continue;
        }
        if get(document, &to).is_some() {
            return Err((
                rename.from.to_owned(),
                format!(
                    "{rename}, and `{}` is set too: keep only that one",
                    rename.to
                ),
            ));
        }
        let value = take(document, &from).unwrap_or(Value::Null);
        if !put(document, &to, value) {
            return Err((
                rename.to.to_owned(),
                format!(
                    "{rename}, but a value above `{}` is not a mapping",
                    rename.to
                ),
            ));
        }
        applied.push(*rename);
    }
    Ok(applied)
}

/// The value at `path`, if every step is a mapping holding the next key.
fn get<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |value, step| value.get(*step))
}

/// Removes the value at `path`, and any mapping above it left empty by that.
fn take(value: &mut Value, path: &[&str]) -> Option<Value> {
    let (first, rest) = path.split_first()?;
    let map = value.as_mapping_mut()?;
    if rest.is_empty() {
        return map.remove(*first);
    }
    let child = map.get_mut(*first)?;
    let taken = take(child, rest);
    if child.as_mapping().is_some_and(Mapping::is_empty) {
        map.remove(*first);
    }
    taken
}

/// Sets the value at `path`, creating the mappings above it (an empty section, `api:`, is one);
/// false when something above it is not a mapping.
fn put(value: &mut Value, path: &[&str], new: Value) -> bool {
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    if value.is_null() {
        *value = Value::Mapping(Mapping::new());
    }
    let Some(map) = value.as_mapping_mut() else {
        return false;
    };
    if rest.is_empty() {
        map.insert(Value::from(*first), new);
        return true;
    }
    let child = map.entry(Value::from(*first)).or_insert(Value::Null);
    put(child, rest, new)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Test-only renames: one within a section, one moving a key into another section.
    const TABLE: &[Rename] = &[
        Rename {
            from: "api.listen_port",
            to: "api.port",
        },
        Rename {
            from: "tunnel_retry_seconds",
            to: "tunnel.retry_initial_seconds",
        },
    ];

    #[test]
    fn an_old_key_is_read_as_its_new_one() {
        let settings = parse("api:\n  listen_port: 9001\n  host: 0.0.0.0\n", TABLE).unwrap();
        assert_eq!(settings.api.port, 9001);
        assert_eq!(settings.api.host, "0.0.0.0");
    }

    #[test]
    fn a_moved_key_lands_in_its_new_section() {
        let settings = parse("tunnel_retry_seconds: 7\n", TABLE).unwrap();
        assert_eq!(settings.tunnel.retry_initial_seconds, 7);
        assert!(settings.tunnel.enabled);
    }

    #[test]
    fn the_warning_names_the_new_key_and_only_moved_keys_are_reported() {
        let mut document: Value =
            serde_yaml::from_str("api:\n  listen_port: 9001\nnats: {}\n").unwrap();
        let applied = apply(&mut document, TABLE).unwrap();
        assert_eq!(applied, [TABLE[0]]);
        assert_eq!(
            applied[0].to_string(),
            "settings key `api.listen_port` is deprecated; use `api.port`"
        );
        assert_eq!(get(&document, &["api", "port"]), Some(&Value::from(9001)));
        assert!(get(&document, &["api", "listen_port"]).is_none());
    }

    #[test]
    fn an_old_key_beside_its_new_one_is_refused() {
        let Err((key, message)) = parse("api:\n  listen_port: 9001\n  port: 9002\n", TABLE) else {
            panic!("both keys accepted");
        };
        assert_eq!(key, "api.listen_port");
        assert!(message.contains("use `api.port`"), "{message}");
    }

    #[test]
    fn the_old_retention_key_sets_the_raw_tier_with_a_warning() {
        let mut document: Value =
            serde_yaml::from_str("aggregator:\n  retention_days: 14\n").unwrap();
        let applied = apply(&mut document, RENAMES).unwrap();
        assert_eq!(
            applied[0].to_string(),
            "settings key `aggregator.retention_days` is deprecated; use `aggregator.retention.raw_days`"
        );
        let settings = parse("aggregator:\n  retention_days: 14\n", RENAMES).unwrap();
        assert_eq!(settings.aggregator.retention.raw_days, 14);
        assert_eq!(settings.aggregator.retention.minute_days, 90);
        assert_eq!(settings.aggregator.log_retention_days, 30);
    }

    #[test]
    fn without_the_table_entry_the_old_key_is_unknown_and_errors_keep_their_line() {
        let Err((key, message)) = parse("api:\n  port: 1\n  listen_port: 9001\n", RENAMES) else {
            panic!("unknown key accepted");
        };
        assert_eq!(key, "api.listen_port");
        assert!(message.contains("unknown field"), "{message}");
        assert!(message.contains("line 3"), "{message}");
    }
}

//! Where a value sits in `system.yaml`, built while validation walks the sections: the settings
//! validate `api` under `api`, the api section its port under `port`, so the error says
//! `api.port` without any dotted path typed by hand.

use std::fmt;

use crate::SettingsError;

/// A dotted key path (`collectors.system.watch_processes[0].name`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct KeyPath(String);

/// Range and consistency checks of one section (or one list item), reported under `at`.
pub(crate) trait Validate {
    fn validate(&self, at: &KeyPath) -> Result<(), SettingsError>;
}

/// The key path of the field `$owner.$field` under `$at`: the key is the field's own name (the
/// settings structs rename none), so a renamed field cannot leave a stale key behind.
macro_rules! key {
    ($at:expr, $owner:ident . $field:ident) => {{
        let _ = &$owner.$field;
        $at.key(stringify!($field))
    }};
}
pub(crate) use key;

impl KeyPath {
    /// The top of the file.
    pub(crate) fn root() -> Self {
        Self::default()
    }

    /// The key `name` under this one.
    pub(crate) fn key(&self, name: &str) -> Self {
        if self.0.is_empty() {
            Self(name.to_owned())
        } else {
            Self(format!("{}.{name}", self.0))
        }
    }

    /// Item `index` of the list at this key.
    pub(crate) fn index(&self, index: usize) -> Self {
        Self(format!("{}[{index}]", self.0))
    }

    /// The error for a value here that is wrong for `message`.
    pub(crate) fn invalid(&self, message: impl Into<String>) -> SettingsError {
        SettingsError::Invalid {
            key: self.0.clone(),
            message: message.into(),
        }
    }

    /// `Ok` when `ok`, else [`Self::invalid`].
    pub(crate) fn check(&self, ok: bool, message: impl Into<String>) -> Result<(), SettingsError> {
        if ok {
            Ok(())
        } else {
            Err(self.invalid(message))
        }
    }

    /// `value` lies in `min..=max`.
    pub(crate) fn in_range(&self, value: u64, min: u64, max: u64) -> Result<(), SettingsError> {
        self.check(
            (min..=max).contains(&value),
            format!("{value} is out of range {min}..={max}"),
        )
    }

    /// Runs `check` on every item of the list at this key, each under its index.
    pub(crate) fn each<T>(
        &self,
        items: &[T],
        check: impl Fn(&KeyPath, &T) -> Result<(), SettingsError>,
    ) -> Result<(), SettingsError> {
        items
            .iter()
            .enumerate()
            .try_for_each(|(i, item)| check(&self.index(i), item))
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_indexes_compose_into_a_dotted_path() {
        let at = KeyPath::root().key("collectors").key("system");
        assert_eq!(at.to_string(), "collectors.system");
        let item = at.key("watch_processes").index(2).key("name");
        assert_eq!(
            item.to_string(),
            "collectors.system.watch_processes[2].name"
        );
    }

    #[test]
    fn a_failed_check_names_the_path() {
        struct Api {
            port: u16,
        }
        let api = Api { port: 0 };
        let at = KeyPath::root().key("api");
        let err = key!(at, api.port)
            .in_range(u64::from(api.port), 1, 9)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid settings: key `api.port`: 0 is out of range 1..=9"
        );
    }
}

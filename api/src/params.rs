//! Query-string parsing that names the parameter at fault: unknown or repeated parameters and
//! unparsable values all become a 400 with the parameter's name.

use std::collections::HashMap;

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use chrono::{DateTime, Utc};

use crate::ApiError;

/// The raw query parameters of one request.
#[derive(Debug, Default)]
pub struct Params {
    values: HashMap<String, String>,
}

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(pairs) = Query::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|err| ApiError::bad("(query string)", err.body_text()))?;
        let mut values = HashMap::new();
        for (name, value) in pairs {
            if values.insert(name.clone(), value).is_some() {
                return Err(ApiError::bad(name, "given more than once"));
            }
        }
        Ok(Self { values })
    }
}

impl Params {
    /// Refuses any parameter not in `known` (a typo should not silently change the answer).
    pub fn only(&self, known: &[&str]) -> Result<(), ApiError> {
        let mut unknown: Vec<&String> = self
            .values
            .keys()
            .filter(|name| !known.contains(&name.as_str()))
            .collect();
        unknown.sort();
        match unknown.first() {
            Some(name) => Err(ApiError::bad(
                name.as_str(),
                format!("unknown parameter (known: {})", known.join(", ")),
            )),
            None => Ok(()),
        }
    }

    /// A non-empty string, if given.
    pub fn text(&self, name: &str) -> Result<Option<String>, ApiError> {
        match self.values.get(name) {
            Some(value) if value.trim().is_empty() => Err(ApiError::bad(name, "must not be empty")),
            Some(value) if value.contains('\0') => {
                Err(ApiError::bad(name, "must not contain a NUL character"))
            }
            Some(value) => Ok(Some(value.clone())),
            None => Ok(None),
        }
    }

    /// A required non-empty string.
    pub fn required(&self, name: &str) -> Result<String, ApiError> {
        self.text(name)?
            .ok_or_else(|| ApiError::bad(name, "is required"))
    }

    /// An RFC 3339 time, if given.
    pub fn time(&self, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
        self.text(name)?
            .map(|value| {
                DateTime::parse_from_rfc3339(&value)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|err| {
                        ApiError::bad(name, format!("`{value}` is not an RFC 3339 time ({err}), e.g. 2026-11-25T08:00:00Z"))
                    })
            })
            .transpose()
    }

    /// A calendar date `YYYY-MM-DD`, if given.
    pub fn date(&self, name: &str) -> Result<Option<chrono::NaiveDate>, ApiError> {
        self.text(name)?
            .map(|value| {
                chrono::NaiveDate::parse_from_str(&value, "%Y-%m-%d").map_err(|_| {
                    ApiError::bad(name, format!("`{value}` is not a date such as 2026-11-25"))
                })
            })
            .transpose()
    }

    /// An integer within `min..=max`, if given.
    pub fn integer(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>, ApiError> {
        self.text(name)?
            .map(|value| {
                let parsed: i64 = value
                    .parse()
                    .map_err(|_| ApiError::bad(name, format!("`{value}` is not an integer")))?;
                if (min..=max).contains(&parsed) {
                    Ok(parsed)
                } else {
                    Err(ApiError::bad(
                        name,
                        format!("{parsed} is out of range {min}..={max}"),
                    ))
                }
            })
            .transpose()
    }

    /// A duration in seconds: a plain number, or a number with `s`, `m`, `h` or `d`.
    pub fn duration_seconds(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.text(name)?
            .map(|value| {
                parse_duration_seconds(&value).ok_or_else(|| {
                    ApiError::bad(
                        name,
                        format!("`{value}` is not a duration such as 60, 30s, 5m, 1h or 1d"),
                    )
                })
            })
            .transpose()
    }

    /// A value read with `parse` (whose error message is the detail), if given.
    pub fn parsed<T>(
        &self,
        name: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ApiError> {
        self.text(name)?
            .map(|value| parse(&value).map_err(|err| ApiError::bad(name, err)))
            .transpose()
    }

    /// A comma-separated list of at most [`MAX_LIST_ITEMS`] non-empty items, each read with
    /// `parse`; empty when not given.
    pub fn list<T>(
        &self,
        name: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Vec<T>, ApiError> {
        let Some(value) = self.text(name)? else {
            return Ok(Vec::new());
        };
        let items: Vec<&str> = value.split(',').map(str::trim).collect();
        if items.len() > MAX_LIST_ITEMS {
            return Err(ApiError::bad(
                name,
                format!("at most {MAX_LIST_ITEMS} comma-separated values"),
            ));
        }
        items
            .into_iter()
            .map(|item| {
                if item.is_empty() {
                    Err(ApiError::bad(name, "has an empty item in its list"))
                } else {
                    parse(item).map_err(|err| ApiError::bad(name, err))
                }
            })
            .collect()
    }

    /// `true` or `false`, if given.
    pub fn boolean(&self, name: &str) -> Result<Option<bool>, ApiError> {
        self.parsed(name, |value| match value {
            "true" => Ok(true),
            "false" => Ok(false),
            other => Err(format!("`{other}` is not true or false")),
        })
    }

    /// One of `choices`, if given.
    pub fn choice(
        &self,
        name: &str,
        choices: &[&'static str],
    ) -> Result<Option<&'static str>, ApiError> {
        self.text(name)?
            .map(|value| {
                choices
                    .iter()
                    .find(|c| **c == value)
                    .copied()
                    .ok_or_else(|| {
                        ApiError::bad(
                            name,
                            format!("`{value}` is not one of {}", choices.join(", ")),
                        )
                    })
            })
            .transpose()
    }
}

/// Most items a comma-separated list parameter may hold.
pub const MAX_LIST_ITEMS: usize = 100;

/// A positive whole number of seconds, in the one duration grammar of the project
/// ([`exporter_settings::duration::parse_duration`]: `90`, `5m`, `1h30m`, `2d`).
fn parse_duration_seconds(value: &str) -> Option<i64> {
    let duration = exporter_settings::duration::parse_duration(value).ok()?;
    i64::try_from(duration.as_secs())
        .ok()
        .filter(|s| *s > 0 && *s <= MAX_DURATION_SECONDS)
}

/// Longest duration accepted (100 years): beyond it PostgreSQL's interval arithmetic overflows.
const MAX_DURATION_SECONDS: i64 = 100 * 366 * 86_400;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_reject_nonsense() {
        assert_eq!(parse_duration_seconds("60"), Some(60));
        assert_eq!(parse_duration_seconds("5m"), Some(300));
        assert_eq!(parse_duration_seconds("1d"), Some(86_400));
        assert_eq!(parse_duration_seconds("0"), None);
        assert_eq!(parse_duration_seconds("-5s"), None);
        assert_eq!(parse_duration_seconds("5w"), None);
        assert_eq!(parse_duration_seconds("m"), None);
        assert_eq!(parse_duration_seconds("9300000000000s"), None);
    }
}

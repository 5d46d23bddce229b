//! The API's extractors: [`AppQuery`], [`AppPath`] and [`AppJson`] read the query string, the
//! path and the body into typed structs (the same structs the OpenAPI document describes), and
//! turn every rejection into the project's problem+json error naming the parameter or field at
//! fault, never axum's plain-text rejections. [`de`] holds the field readers that give the
//! query structs their constraints (non-empty text, ranges, RFC 3339 times, dates, lists).

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::ApiError;

/// A query string read into `T` (a `#[derive(Deserialize, IntoParams)]` struct with
/// `deny_unknown_fields`): an unknown, repeated, missing or bad parameter is a 400 naming it.
#[derive(Debug, Clone, Default)]
pub struct AppQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for AppQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parse_query(parts.uri.query().unwrap_or("")).map(AppQuery)
    }
}

/// Reads `query` into `T`, naming the parameter at fault.
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let deserializer =
        serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let path = err.path().to_string();
        let message = err.inner().to_string();
        let (name, detail) = name_and_detail(&path, &message, "parameter");
        ApiError::bad(name, detail)
    })
}

/// The parameter (or field) an error is about and what is wrong with it. serde names unknown,
/// missing and repeated fields in its message (the path is then the enclosing object).
fn name_and_detail(path: &str, message: &str, what: &str) -> (String, String) {
    let quoted = || {
        let start = message.find('`')? + 1;
        let end = start + message[start..].find('`')?;
        Some(message[start..end].to_owned())
    };
    // The path may already end with the name (an unknown field is entered before refused).
    let within = |name: String| {
        if path.is_empty() || path == "." {
            name
        } else if path == name || path.ends_with(&format!(".{name}")) {
            path.to_owned()
        } else {
            format!("{path}.{name}")
        }
    };
    if message.starts_with("unknown field") {
        let known = message
            .split_once(", expected ")
            .map(|(_, rest)| rest.replace('`', ""))
            .unwrap_or_default();
        let name = within(quoted().unwrap_or_default());
        let detail = if known.is_empty() {
            format!("unknown {what}")
        } else {
            format!("unknown {what} (known: {})", known.replace("one of ", ""))
        };
        return (name, detail);
    }
    if message.starts_with("missing field") {
        return (within(quoted().unwrap_or_default()), "is required".into());
    }
    if message.starts_with("duplicate field") {
        return (
            within(quoted().unwrap_or_default()),
            "given more than once".into(),
        );
    }
    let name = if path.is_empty() || path == "." {
        "(query string)".to_owned()
    } else {
        path.to_owned()
    };
    (name, message.to_owned())
}

/// Path parameters read into `T` (a `Uuid`, a `String`, a tuple): a bad one is a 400 naming it.
#[derive(Debug, Clone)]
pub struct AppPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for AppPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(Self(value)),
            Err(PathRejection::FailedToDeserializePathParams(err)) => {
                use axum::extract::path::ErrorKind;
                let kind = err.into_kind();
                Err(match &kind {
                    ErrorKind::ParseErrorAtKey {
                        key,
                        value,
                        expected_type,
                    } => ApiError::bad(
                        key.clone(),
                        format!("`{value}` is not {}", expected_name(expected_type)),
                    ),
                    ErrorKind::ParseError {
                        value,
                        expected_type,
                    } => ApiError::bad(
                        "(path)",
                        format!("`{value}` is not {}", expected_name(expected_type)),
                    ),
                    ErrorKind::DeserializeError {
                        key,
                        value,
                        message,
                    } => ApiError::bad(key.clone(), format!("`{value}` is not valid: {message}")),
                    ErrorKind::InvalidUtf8InPathParam { key } => {
                        ApiError::bad(key.clone(), "is not valid UTF-8")
                    }
                    ErrorKind::Message(message) => ApiError::bad("(path)", message.clone()),
                    other => ApiError::bad("(path)", other.to_string()),
                })
            }
            Err(other) => Err(ApiError::bad("(path)", other.body_text())),
        }
    }
}

/// A Rust type name as a reader would say it.
fn expected_name(rust_type: &str) -> &'static str {
    if rust_type.ends_with("Uuid") {
        "a UUID"
    } else if rust_type.contains("i64") || rust_type.contains("u32") || rust_type.contains("i32") {
        "an integer"
    } else {
        "valid here"
    }
}

/// A JSON body read into `T` (any content type is read as JSON): a body that is not JSON is a
/// 400, a JSON body with a missing, unknown or ill-typed field a 422 naming its path
/// (`matchers[0].value`).
#[derive(Debug, Clone)]
pub struct AppJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for AppJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let body = Bytes::from_request(request, state)
            .await
            .map_err(|err| ApiError::bad("(body)", err.body_text()))?;
        parse_json(&body).map(AppJson)
    }
}

/// Reads a JSON body into `T`, naming the field at fault.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if !inner.is_data() {
            return ApiError::bad("(body)", format!("not a JSON document: {inner}"));
        }
        // serde_json appends " at line 1 column 5" to data errors: the field names the place.
        let message = inner.to_string();
        let message = message
            .rsplit_once(" at line ")
            .map_or(message.as_str(), |(head, _)| head)
            .to_owned();
        let (name, detail) = name_and_detail(&path, &message, "field");
        // The root is not an object (`[1]`): the body as a whole is wrong.
        let name = if name == "(query string)" || name.starts_with('[') {
            "(body)".to_owned()
        } else {
            name
        };
        ApiError::invalid(name, detail)
    })?;
    deserializer
        .end()
        .map_err(|err| ApiError::bad("(body)", format!("not a JSON document: {err}")))?;
    Ok(value)
}

/// Field readers for the query structs (`#[serde(default, deserialize_with = "de::...")]`): each
/// accepts exactly what the document says (the patterns in [`patterns`]), so a generated client
/// and a fuzzer can trust it; the message of a refusal is the problem's `detail`.
pub mod de {
    use chrono::{DateTime, NaiveDate, Utc};
    use serde::de::{DeserializeOwned, Error as _, IntoDeserializer};
    use serde::{Deserialize, Deserializer};

    /// Most items a comma-separated list parameter may hold.
    pub const MAX_LIST_ITEMS: usize = 100;

    /// The value as sent; PostgreSQL text cannot hold a NUL, so none is accepted.
    fn raw<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
        let value = Option::<String>::deserialize(deserializer)?;
        match value {
            Some(value) if value.is_empty() => Err(D::Error::custom("must not be empty")),
            Some(value) if value.contains('\0') => {
                Err(D::Error::custom("must not contain a NUL character"))
            }
            other => Ok(other),
        }
    }

    /// Non-empty text without NUL, at most 256 characters.
    pub fn text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
        text_max::<256, D>(deserializer)
    }

    /// Non-empty text without NUL, at most `MAX` characters.
    pub fn text_max<'de, const MAX: usize, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<String>, D::Error> {
        let value = raw(deserializer)?;
        if let Some(value) = &value
            && value.chars().count() > MAX
        {
            return Err(D::Error::custom(format!("at most {MAX} characters")));
        }
        Ok(value)
    }

    /// Required non-empty text.
    pub fn required_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
        text(deserializer)?.ok_or_else(|| D::Error::custom("is required"))
    }

    /// An integer within `MIN..=MAX`.
    pub fn ranged<'de, const MIN: i64, const MAX: i64, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<i64>, D::Error> {
        let Some(value) = raw(deserializer)? else {
            return Ok(None);
        };
        let parsed: i64 = value
            .parse()
            .ok()
            .filter(|_| !value.starts_with('+'))
            .ok_or_else(|| D::Error::custom(format!("`{value}` is not an integer")))?;
        if (MIN..=MAX).contains(&parsed) {
            Ok(Some(parsed))
        } else {
            Err(D::Error::custom(format!(
                "{parsed} is out of range {MIN}..={MAX}"
            )))
        }
    }

    /// `true` or `false`.
    pub fn boolean<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
        match raw(deserializer)?.as_deref() {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(other) => Err(D::Error::custom(format!("`{other}` is not true or false"))),
        }
    }

    /// An RFC 3339 time.
    pub fn time<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<DateTime<Utc>>, D::Error> {
        raw(deserializer)?
            .map(|value| {
                DateTime::parse_from_rfc3339(&value)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|err| {
                        D::Error::custom(format!(
                            "`{value}` is not an RFC 3339 time ({err}), e.g. 2026-11-25T08:00:00Z"
                        ))
                    })
            })
            .transpose()
    }

    /// A calendar date `YYYY-MM-DD`.
    pub fn date<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<NaiveDate>, D::Error> {
        raw(deserializer)?
            .map(|value| {
                let well_formed = value.len() == 10
                    && value.char_indices().all(|(i, c)| {
                        if i == 4 || i == 7 {
                            c == '-'
                        } else {
                            c.is_ascii_digit()
                        }
                    });
                well_formed
                    .then(|| NaiveDate::parse_from_str(&value, "%Y-%m-%d").ok())
                    .flatten()
                    .ok_or_else(|| {
                        D::Error::custom(format!("`{value}` is not a date such as 2026-11-25"))
                    })
            })
            .transpose()
    }

    /// The comma-separated items of a list parameter: at most [`MAX_LIST_ITEMS`], none empty.
    fn items<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
        let Some(value) = raw(deserializer)? else {
            return Ok(Vec::new());
        };
        let items: Vec<String> = value.split(',').map(str::to_owned).collect();
        if items.len() > MAX_LIST_ITEMS {
            return Err(D::Error::custom(format!(
                "at most {MAX_LIST_ITEMS} comma-separated values"
            )));
        }
        if items.iter().any(String::is_empty) {
            return Err(D::Error::custom("has an empty item in its list"));
        }
        Ok(items)
    }

    /// A comma-separated list of the names of `T` (a serde enum), exactly as the document lists
    /// them; empty when not given.
    pub fn names<'de, T: DeserializeOwned, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<T>, D::Error> {
        items(deserializer)?
            .into_iter()
            .map(|item| {
                T::deserialize(item.as_str().into_deserializer())
                    .map_err(|err: serde::de::value::Error| D::Error::custom(err))
            })
            .collect()
    }

    /// A comma-separated list of non-empty texts.
    pub fn text_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
        items(deserializer)
    }

    /// `key=value[,key=value]` label matchers (a key is not empty, a value may be).
    pub fn labels<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<serde_json::Map<String, serde_json::Value>, D::Error> {
        let mut labels = serde_json::Map::new();
        for pair in items(deserializer)? {
            let Some((key, value)) = pair.split_once('=').filter(|(k, _)| !k.is_empty()) else {
                return Err(D::Error::custom(format!("`{pair}` is not key=value")));
            };
            labels.insert(key.to_owned(), value.into());
        }
        Ok(labels)
    }

    /// A bucket width in whole seconds: `90`, or numbers with `s`, `m`, `h`, `d` (`1h30m`), the
    /// first not starting with 0; more than 100 years reads as 100
    /// years.
    pub fn step_seconds<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<i64>, D::Error> {
        raw(deserializer)?
            .map(|value| {
                super::step_seconds(&value).ok_or_else(|| {
                    D::Error::custom(format!(
                        "`{value}` is not a duration such as 60, 30s, 5m, 1h30m or 1d"
                    ))
                })
            })
            .transpose()
    }
}

/// One item of a comma-separated list parameter (`category=system,trading`): not empty, no
/// comma, no NUL. Only documents; [`de::text_list`] reads it.
#[derive(Debug, utoipa::ToSchema)]
#[schema(pattern = "^[^,\\u0000]+$")]
pub struct ListItem(pub String);

/// Reads a `step` (the pattern its parameter documents) into seconds (at most 100 years).
pub(crate) fn step_seconds(value: &str) -> Option<i64> {
    let bytes = value.as_bytes();
    if !bytes.first().is_some_and(|b| (b'1'..=b'9').contains(b)) {
        return None;
    }
    if bytes.iter().all(u8::is_ascii_digit) {
        return (bytes.len() <= 9).then(|| value.parse().ok()).flatten();
    }
    let mut total: i64 = 0;
    let mut rest = value;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        if digits == 0 || digits > 6 {
            return None;
        }
        let number: i64 = rest[..digits].parse().ok()?;
        let unit = match rest[digits..].chars().next() {
            Some('s') => 1,
            Some('m') => 60,
            Some('h') => 3600,
            Some('d') => 86_400,
            _ => return None,
        };
        total = total.saturating_add(number * unit);
        rest = &rest[digits + 1..];
    }
    Some(total.min(MAX_DURATION_SECONDS))
}

/// Longest duration accepted (100 years): beyond it PostgreSQL's interval arithmetic overflows.
const MAX_DURATION_SECONDS: i64 = 100 * 366 * 86_400;

/// A query without parameters: any parameter given is a 400 naming it.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NoParams {}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[test]
    fn steps_parse_with_units_and_reject_nonsense() {
        assert_eq!(step_seconds("60"), Some(60));
        assert_eq!(step_seconds("5m"), Some(300));
        assert_eq!(step_seconds("1h30m"), Some(5400));
        assert_eq!(step_seconds("1d"), Some(86_400));
        assert_eq!(step_seconds("999999d"), Some(MAX_DURATION_SECONDS));
        for bad in [
            "0",
            "0s",
            "05m",
            "-5s",
            "5w",
            "m",
            "500ms",
            " 5m",
            "1234567890",
            "1h0",
        ] {
            assert_eq!(step_seconds(bad), None, "{bad}");
        }
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sample {
        #[serde(default, deserialize_with = "de::ranged::<1, 1000, _>")]
        limit: Option<i64>,
        #[serde(deserialize_with = "de::required_text")]
        name: String,
    }

    fn parameter_of(query: &str) -> String {
        match parse_query::<Sample>(query).unwrap_err() {
            ApiError::BadParameter { parameter, .. } => parameter,
            other => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn query_errors_name_the_parameter() {
        assert!(parse_query::<Sample>("name=a&limit=5").is_ok());
        assert_eq!(parameter_of("name=a&limit=0"), "limit");
        assert_eq!(parameter_of("name=a&limit=x"), "limit");
        assert_eq!(parameter_of("limit=5"), "name");
        assert_eq!(parameter_of("name="), "name");
        assert_eq!(parameter_of("name=a&nmae=b"), "nmae");
        assert_eq!(parameter_of("name=a&name=b"), "name");
    }
}

//! The `WHERE` clause of a filtered listing (`/alerts`, `/logs`), built from the filters a
//! request gives: each condition takes the next placeholder and its value together, so the SQL
//! and the binding cannot drift apart, and the SQL names only the filters given (no
//! `$n IS NULL OR ...`), so PostgreSQL can use the indexes whatever plan it caches.

use chrono::{DateTime, Utc};
use sqlx::Postgres;
use sqlx::postgres::PgArguments;
use sqlx::query::Query;

/// One bound value.
#[derive(Debug, Clone)]
pub(crate) enum Param {
    Text(String),
    Texts(Vec<String>),
    SmallInt(i16),
    Time(DateTime<Utc>),
}

impl From<String> for Param {
    fn from(value: String) -> Self {
        Self::Text(value)
    }
}

impl From<Vec<String>> for Param {
    fn from(value: Vec<String>) -> Self {
        Self::Texts(value)
    }
}

impl From<i16> for Param {
    fn from(value: i16) -> Self {
        Self::SmallInt(value)
    }
}

impl From<DateTime<Utc>> for Param {
    fn from(value: DateTime<Utc>) -> Self {
        Self::Time(value)
    }
}

/// Conditions joined by `AND`, and the values of their placeholders `$1`, `$2`, ... in order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Filter {
    conditions: Vec<String>,
    params: Vec<Param>,
}

impl Filter {
    /// Adds `condition`, whose `{}` becomes the next placeholder, bound to `value`.
    pub(crate) fn param(&mut self, condition: &str, value: impl Into<Param>) -> &mut Self {
        self.params.push(value.into());
        let placeholder = format!("${}", self.params.len());
        self.conditions.push(condition.replace("{}", &placeholder));
        self
    }

    /// Adds `condition`, whose `{}`s become the next placeholders in turn, bound to `values`.
    pub(crate) fn params<const N: usize>(
        &mut self,
        condition: &str,
        values: [impl Into<Param>; N],
    ) -> &mut Self {
        let mut text = String::with_capacity(condition.len() + 4 * N);
        let mut rest = condition;
        for value in values {
            self.params.push(value.into());
            let (before, after) = rest.split_once("{}").unwrap_or((rest, ""));
            text.push_str(before);
            text.push_str(&format!("${}", self.params.len()));
            rest = after;
        }
        text.push_str(rest);
        self.conditions.push(text);
        self
    }

    /// [`Filter::param`] when `value` is given.
    pub(crate) fn when(&mut self, condition: &str, value: Option<impl Into<Param>>) -> &mut Self {
        match value {
            Some(value) => self.param(condition, value),
            None => self,
        }
    }

    /// [`Filter::param`] for "any of these" when the list is not empty.
    pub(crate) fn any_of(&mut self, condition: &str, values: Vec<String>) -> &mut Self {
        if values.is_empty() {
            self
        } else {
            self.param(condition, values)
        }
    }

    /// Adds a condition without a parameter.
    pub(crate) fn fixed(&mut self, condition: &str) -> &mut Self {
        self.conditions.push(condition.to_owned());
        self
    }

    /// `WHERE a AND b ...`, or nothing when no condition was added.
    pub(crate) fn clause(&self) -> String {
        if self.conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.conditions.join(" AND "))
        }
    }

    /// How many placeholders the clause uses.
    pub(crate) fn used(&self) -> usize {
        self.params.len()
    }

    /// Binds the values, in placeholder order.
    pub(crate) fn bind<'q>(
        &self,
        mut query: Query<'q, Postgres, PgArguments>,
    ) -> Query<'q, Postgres, PgArguments> {
        for param in &self.params {
            query = match param.clone() {
                Param::Text(value) => query.bind(value),
                Param::Texts(values) => query.bind(values),
                Param::SmallInt(value) => query.bind(value),
                Param::Time(value) => query.bind(value),
            };
        }
        query
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_number_their_placeholders_in_the_order_added() {
        assert_eq!(Filter::default().clause(), "");
        let mut filter = Filter::default();
        filter
            .param("level >= {}", 3i16)
            .any_of("component = ANY({}::text[])", Vec::new())
            .when("host = {}", Some("gh200".to_owned()))
            .when("time < {}", None::<DateTime<Utc>>)
            .fixed("acknowledged_at IS NULL")
            .any_of("state = ANY({}::text[])", vec!["firing".into()])
            .params("NOT (a >= {} AND a < {})", [3i16, 4i16]);
        assert_eq!(
            filter.clause(),
            "WHERE level >= $1 AND host = $2 AND acknowledged_at IS NULL AND state = ANY($3::text[]) \
             AND NOT (a >= $4 AND a < $5)"
        );
        assert_eq!(filter.used(), 5);
    }
}

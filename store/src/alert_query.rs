//! The API's side of alerts: filtered pages of alerts, one alert with its transitions, and the
//! two things the API writes (user intent, never alert state): acknowledgements and silences.
//!
//! Row mappings are [`crate::alerting`]'s, shared with the aggregator's engine.

use chrono::{DateTime, Utc};
use exporter_protocol::alert::{Alert, AlertState, Severity, Silence};
use sqlx::{AssertSqlSafe, Row};
use uuid::Uuid;

use crate::alerting::{ALERT_COLUMNS, SILENCE_COLUMNS, alert_from_row, silence_from_row};
use crate::filter::Filter;
use crate::paging::Listing;
use crate::{Store, StoreError};

/// Which alerts to list. Every filter given must hold; a list means "any of these".
#[derive(Debug, Clone, Default)]
pub struct AlertQuery {
    pub severities: Vec<Severity>,
    pub categories: Vec<String>,
    pub states: Vec<AlertState>,
    /// `Some(true)`: only acknowledged alerts; `Some(false)`: only unacknowledged ones.
    pub acknowledged: Option<bool>,
    /// The `host` label.
    pub host: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

/// One page of alerts, newest first (`started_at`), and how many match in all.
#[derive(Debug, Clone, Default)]
pub struct AlertPage {
    pub total: i64,
    pub alerts: Vec<Alert>,
}

/// One row of `alert_transition`.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertTransition {
    pub id: i64,
    pub time: DateTime<Utc>,
    /// pending, firing, resolved, inactive or acknowledged.
    pub kind: String,
    pub value: Option<f64>,
    /// Who did it, for acknowledgements.
    pub actor: Option<String>,
}

/// What an acknowledgement did.
#[derive(Debug, Clone, PartialEq)]
pub enum Acknowledgement {
    /// No alert has this id.
    NotFound,
    /// Acknowledged now, by this call.
    Recorded(Alert),
    /// It was acknowledged before: the alert as it is, the first acknowledgement unchanged.
    Already(Alert),
    /// It is resolved or inactive and was never acknowledged: nothing to acknowledge.
    Final(Alert),
}

/// Which silences to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SilenceSet {
    /// Active now or starting later (not deleted, not ended).
    Current,
    /// Active now.
    Active,
    /// Starting later.
    Pending,
    /// Ended or deleted.
    Expired,
    All,
}

/// One page of silences, newest first (`created_at`), and how many match in all.
#[derive(Debug, Clone, Default)]
pub struct SilencePage {
    pub total: i64,
    pub silences: Vec<Silence>,
}

/// What deleting a silence did.
#[derive(Debug, Clone, PartialEq)]
pub enum SilenceExpiry {
    NotFound,
    /// Expired now, by this call.
    Expired(Silence),
    /// It had already ended or been deleted: unchanged.
    Already(Silence),
}

impl AlertQuery {
    /// The conditions of the filters given, with their values.
    fn filter(&self) -> Filter {
        let mut filter = Filter::default();
        filter
            .any_of(
                "severity = ANY({}::text[])",
                self.severities
                    .iter()
                    .map(|s| s.as_str().to_owned())
                    .collect(),
            )
            .any_of("category = ANY({}::text[])", self.categories.clone())
            .any_of(
                "state = ANY({}::text[])",
                self.states.iter().map(|s| s.as_str().to_owned()).collect(),
            )
            .when("labels ->> 'host' = {}", self.host.clone());
        match self.acknowledged {
            Some(true) => filter.fixed("acknowledged_at IS NOT NULL"),
            Some(false) => filter.fixed("acknowledged_at IS NULL"),
            None => &mut filter,
        };
        filter
    }

    /// The `WHERE` clause with `$1`... in the order they are bound, and how many placeholders
    /// it used.
    #[cfg(test)]
    fn where_clause(&self) -> (String, usize) {
        let filter = self.filter();
        (filter.clause(), filter.used())
    }
}

impl SilenceSet {
    /// The condition at `$1` = now.
    fn condition(self) -> &'static str {
        match self {
            Self::Current => "WHERE expired_at IS NULL AND ends_at > $1",
            Self::Active => "WHERE expired_at IS NULL AND starts_at <= $1 AND ends_at > $1",
            Self::Pending => "WHERE expired_at IS NULL AND starts_at > $1",
            Self::Expired => "WHERE (expired_at IS NOT NULL OR ends_at <= $1)",
            // Mentions $1 so every variant binds the same parameters.
            Self::All => "WHERE $1::timestamptz IS NOT NULL",
        }
    }
}

impl Store {
    /// One page of the alerts matching `query`, newest first, and the total matching.
    pub async fn alerts(&self, query: &AlertQuery) -> Result<AlertPage, StoreError> {
        let filter = query.filter();
        let page = Listing {
            columns: ALERT_COLUMNS,
            table: "alert",
            filter: &filter.clause(),
            used: filter.used(),
            order: "ORDER BY started_at DESC, alert_id DESC",
            limit: query.limit,
            offset: query.offset,
        }
        .fetch(&self.pool, |q| filter.bind(q))
        .await?;
        let (rows, count) = (page.rows, page.total);
        Ok(AlertPage {
            total: count,
            alerts: rows.iter().map(alert_from_row).collect::<Result<_, _>>()?,
        })
    }

    /// One alert.
    pub async fn alert(&self, id: Uuid) -> Result<Option<Alert>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {ALERT_COLUMNS} FROM alert WHERE alert_id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(alert_from_row).transpose()
    }

    /// Every transition of one alert, in the order they were recorded.
    pub async fn alert_transitions(&self, id: Uuid) -> Result<Vec<AlertTransition>, StoreError> {
        let rows = sqlx::query(
            "SELECT transition_id, time, kind, value, actor FROM alert_transition \
             WHERE alert_id = $1 ORDER BY transition_id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AlertTransition {
                    id: row.try_get("transition_id")?,
                    time: row.try_get("time")?,
                    kind: row.try_get("kind")?,
                    value: row.try_get("value")?,
                    actor: row.try_get("actor")?,
                })
            })
            .collect()
    }

    /// Acknowledges an open alert on behalf of `user`: sets who and when (the database's
    /// `now()`) and records an `acknowledged` transition, in one transaction, only the first
    /// time. A second acknowledgement changes nothing.
    pub async fn acknowledge_alert(
        &self,
        id: Uuid,
        user: &str,
    ) -> Result<Acknowledgement, StoreError> {
        let mut tx = self.pool.begin().await?;
        // The row lock orders concurrent acknowledgements: the second one sees the first.
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {ALERT_COLUMNS} FROM alert WHERE alert_id = $1 FOR UPDATE"
        )))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(Acknowledgement::NotFound);
        };
        let alert = alert_from_row(&row)?;
        if alert.acknowledged_at.is_some() {
            return Ok(Acknowledgement::Already(alert));
        }
        if alert.state.is_final() {
            return Ok(Acknowledgement::Final(alert));
        }
        let row = sqlx::query(AssertSqlSafe(format!(
            "UPDATE alert SET acknowledged_at = now(), acknowledged_by = $2, updated_at = now() \
             WHERE alert_id = $1 AND acknowledged_at IS NULL RETURNING {ALERT_COLUMNS}"
        )))
        .bind(id)
        .bind(user)
        .fetch_one(&mut *tx)
        .await?;
        let alert = alert_from_row(&row)?;
        sqlx::query(
            "INSERT INTO alert_transition (alert_id, time, kind, value, actor) \
             VALUES ($1, now(), 'acknowledged', $2, $3)",
        )
        .bind(id)
        .bind(alert.value.filter(|v| v.is_finite()))
        .bind(user)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Acknowledgement::Recorded(alert))
    }

    /// One page of the silences in `set` at `now`, newest first, and the total in the set.
    pub async fn silences(
        &self,
        set: SilenceSet,
        now: DateTime<Utc>,
        limit: i64,
        offset: i64,
    ) -> Result<SilencePage, StoreError> {
        let condition = set.condition();
        let page = Listing {
            columns: SILENCE_COLUMNS,
            table: "silence",
            filter: condition,
            used: 1,
            order: "ORDER BY created_at DESC, silence_id DESC",
            limit,
            offset,
        }
        .fetch(&self.pool, |q| q.bind(now))
        .await?;
        let (rows, count) = (page.rows, page.total);
        Ok(SilencePage {
            total: count,
            silences: rows
                .iter()
                .map(silence_from_row)
                .collect::<Result<_, _>>()?,
        })
    }

    /// Stores a new silence as given (its id, times, matchers and author).
    pub async fn insert_silence(&self, silence: &Silence) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO silence (silence_id, matchers, starts_at, ends_at, created_by, comment, \
                                  created_at, expired_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(silence.id)
        .bind(serde_json::to_value(&silence.matchers).unwrap_or_default())
        .bind(silence.starts_at)
        .bind(silence.ends_at)
        .bind(&silence.created_by)
        .bind(&silence.comment)
        .bind(silence.created_at)
        .bind(silence.expired_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Ends a silence at `now` (it stays on record). One already deleted or already ended is
    /// left as it is.
    pub async fn expire_silence(
        &self,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<SilenceExpiry, StoreError> {
        let updated = sqlx::query(AssertSqlSafe(format!(
            "UPDATE silence SET expired_at = $2 \
             WHERE silence_id = $1 AND expired_at IS NULL AND ends_at > $2 \
             RETURNING {SILENCE_COLUMNS}"
        )))
        .bind(id)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(row) = updated {
            return Ok(SilenceExpiry::Expired(silence_from_row(&row)?));
        }
        let existing = sqlx::query(AssertSqlSafe(format!(
            "SELECT {SILENCE_COLUMNS} FROM silence WHERE silence_id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match existing {
            Some(row) => SilenceExpiry::Already(silence_from_row(&row)?),
            None => SilenceExpiry::NotFound,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_filters_number_their_placeholders_in_bind_order() {
        assert_eq!(AlertQuery::default().where_clause(), (String::new(), 0));
        let query = AlertQuery {
            states: vec![AlertState::Firing],
            acknowledged: Some(false),
            host: Some("gh200".into()),
            ..Default::default()
        };
        assert_eq!(
            query.where_clause(),
            (
                "WHERE state = ANY($1::text[]) AND labels ->> 'host' = $2 AND acknowledged_at IS NULL"
                    .to_owned(),
                2
            )
        );
    }
}

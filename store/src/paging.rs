//! One page of a filtered list and the total matching, fetched concurrently with the same filter
//! and parameters: what every paginated endpoint (`/logs`, `/alerts`, `/silences`) needs.

use sqlx::postgres::{PgArguments, PgPool, PgRow};
use sqlx::query::Query;
use sqlx::{AssertSqlSafe, Postgres, Row};

use crate::StoreError;

/// A page of rows and how many match in all.
#[derive(Debug)]
pub(crate) struct Page {
    pub rows: Vec<PgRow>,
    pub total: i64,
}

/// What to list: `SELECT {columns} FROM {table} {filter} {order} LIMIT .. OFFSET ..`, where
/// `filter` uses the parameters `$1..=$used` that `bind` adds.
#[derive(Debug)]
pub(crate) struct Listing<'a> {
    pub columns: &'a str,
    pub table: &'a str,
    pub filter: &'a str,
    pub used: usize,
    pub order: &'a str,
    pub limit: i64,
    pub offset: i64,
}

impl Listing<'_> {
    /// Runs the page and the count concurrently.
    pub(crate) async fn fetch<'q>(
        &self,
        pool: &PgPool,
        bind: impl Fn(Query<'q, Postgres, PgArguments>) -> Query<'q, Postgres, PgArguments>,
    ) -> Result<Page, StoreError> {
        let Self {
            columns,
            table,
            filter,
            used,
            order,
            limit,
            offset,
        } = self;
        let page_sql = format!(
            "SELECT {columns} FROM {table} {filter} {order} LIMIT ${} OFFSET ${}",
            used + 1,
            used + 2
        );
        let count_sql = format!("SELECT count(*) FROM {table} {filter}");
        let page = bind(sqlx::query(AssertSqlSafe(page_sql)))
            .bind(*limit)
            .bind(*offset)
            .fetch_all(pool);
        let count = bind(sqlx::query(AssertSqlSafe(count_sql))).fetch_one(pool);
        let (rows, count) = tokio::try_join!(page, count)?;
        Ok(Page {
            rows,
            total: count.try_get(0)?,
        })
    }
}

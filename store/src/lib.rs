//! The PostgreSQL store: schema (numbered `sqlx` migrations), the aggregator's batch writes and
//! the API's typed reads.
//!
//! Only the aggregator writes (through [`Store::write_batch`] and the partition upkeep); the API
//! only reads. Writes are idempotent on the message id, so a redelivered batch changes nothing.

pub mod alert_query;
pub mod alerting;
mod brokerage;
mod buckets;
mod compact;
mod copy_points;
pub mod delivery;
mod fill_query;
mod filter;
pub mod health;
mod history;
mod ingested;
mod latest;
mod ledger;
pub mod log_query;
mod logs;
mod market;
mod paging;
mod partitions;
mod pg_array;
mod rollup;
mod sample_body;
mod write;

use std::time::Duration;

use exporter_settings::DatabaseSettings;
use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

pub use brokerage::FillsVersion;
pub use compact::Compaction;
pub use fill_query::{FillPage, FillQuery, FillSide};
pub use history::{
    HistoryBucket, HistoryPlan, HistoryQuery, IncreaseBucket, SeriesHistory, SeriesIncrease,
};
pub use latest::{Freshness, LatestSample};
pub use ledger::LiveLedger;
pub use logs::IncomingNotification;
pub use partitions::{TierDisk, Tiers};
pub use rollup::Resolution;
pub use sample_body::SampleBody;
pub use write::{
    Batch, BatchOutcome, DEAD_LETTER_RAW_MAX_BYTES, DEAD_LETTER_TEXT_MAX_BYTES, DeadLetter, Domain,
    IncomingSample, cut_text,
};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("PostgreSQL error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("building the trading ledger failed: {0}")]
    Ledger(String),
    /// A part of a history read, run on a task of its own, panicked or was cancelled.
    #[error("a history read failed: {0}")]
    Task(String),
}

/// Parses the URL; when it names no user (and `PGUSER` is unset), logs in as the operating
/// system user, as `psql` does, so peer authentication over the Unix socket works without any
/// password.
pub fn connect_options(url: &str) -> Result<PgConnectOptions, StoreError> {
    let options = PgConnectOptions::from_str(url)?;
    let names_user = exporter_settings::url_authority(url).is_some_and(|a| a.contains('@'))
        || url.contains("user=");
    if names_user || std::env::var_os("PGUSER").is_some() {
        return Ok(options);
    }
    match nix::unistd::User::from_uid(nix::unistd::getuid()) {
        Ok(Some(user)) => Ok(options.username(&user.name)),
        _ => Ok(options),
    }
}

impl StoreError {
    /// True when retrying the same write cannot succeed: PostgreSQL refused the data itself
    /// (SQLSTATE class 22, data exception, or 23, integrity violation), as opposed to the server
    /// being away. A missing partition (23514) is not permanent: it is created on the retry.
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::Database(sqlx::Error::Database(db)) => db.code().is_some_and(|code| {
                (code.starts_with("22") || code.starts_with("23")) && code != "23514"
            }),
            _ => false,
        }
    }

    /// True when no partition accepted a row (another aggregator dropped it, or the cache is
    /// stale).
    pub fn is_missing_partition(&self) -> bool {
        matches!(self, Self::Database(sqlx::Error::Database(db)) if db.code().as_deref() == Some("23514"))
    }
}

/// Handle to the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: PgPool,
    caches: std::sync::Arc<write::Caches>,
    /// The tiers' retention (see [`Store::with_tiers`]); `None`: every tier takes every point.
    tiers: Option<Tiers>,
}

impl Store {
    /// Opens a pool. Fails fast when PostgreSQL cannot be reached (callers retry with backoff).
    pub async fn connect(settings: &DatabaseSettings) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(Duration::from_secs(settings.acquire_timeout_seconds))
            .connect_with(connect_options(&settings.url)?)
            .await?;
        Ok(Self::from_pool(pool))
    }

    /// Connects, retrying with backoff (and a log line saying what to check) until PostgreSQL
    /// answers or `shutdown` is triggered.
    pub async fn connect_retrying(
        settings: &DatabaseSettings,
        shutdown: &exporter_runtime::Shutdown,
    ) -> Result<Self, exporter_runtime::bus::BusError> {
        exporter_runtime::bus::retry(
            exporter_runtime::RetryPolicy::SERVICE,
            "connecting to PostgreSQL",
            "Is PostgreSQL running and does database.url (EXPORTER_DATABASE_URL) name an existing database? `exporter check` says more",
            shutdown,
            || Self::connect(settings),
        )
        .await
    }

    /// Wraps an existing pool.
    pub fn from_pool(pool: PgPool) -> Self {
        Self {
            pool,
            caches: Default::default(),
            tiers: None,
        }
    }

    /// Applies the pending migrations (safe to run from several processes at once: sqlx takes
    /// an advisory lock).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("./migrations").run(&self.pool).await?;
        Ok(())
    }

    /// A cheap round trip, for health checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Number of messages kept aside as unreadable.
    pub async fn dead_letter_count(&self) -> Result<i64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM dead_letter")
            .fetch_one(&self.pool)
            .await?;
        Ok(count)
    }
}

//! Whether messages are already stored, for the aggregator's sweep of work-queue leftovers
//! (messages JetStream kept after they were committed, e.g. after a NATS crash).

use std::collections::HashSet;

use uuid::Uuid;

use crate::{Store, StoreError};

impl Store {
    /// The ones of `ids` whose message is committed (`ingested_message`).
    pub async fn ingested_ids(&self, ids: &[Uuid]) -> Result<HashSet<Uuid>, StoreError> {
        let found: Vec<Uuid> = sqlx::query_scalar(
            "SELECT message_id FROM ingested_message WHERE message_id = ANY($1)",
        )
        .bind(ids)
        .fetch_all(&self.pool)
        .await?;
        Ok(found.into_iter().collect())
    }

    /// The ones of `keys` (`Nats-Msg-Id`, or `stream:sequence`) kept as dead letters.
    pub async fn dead_letter_keys(&self, keys: &[String]) -> Result<HashSet<String>, StoreError> {
        let found: Vec<String> =
            sqlx::query_scalar("SELECT dedupe_key FROM dead_letter WHERE dedupe_key = ANY($1)")
                .bind(keys)
                .fetch_all(&self.pool)
                .await?;
        Ok(found.into_iter().collect())
    }
}

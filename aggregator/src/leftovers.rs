//! Leftovers: messages that stay in the work-queue stream although the shared consumer's ack
//! floor has passed them, so JetStream will never deliver them again (seen after a NATS crash:
//! 1,500 stored messages kept, with nothing pending, until `max_age`, counting against the
//! stream's limit). Any message at or below the ack floor is one.
//!
//! A sweep, at start and then every `interval`, reads them (oldest first, a bounded number per
//! pass) and looks each up in the store: one already stored (its envelope id in
//! `ingested_message`, or its key in `dead_letter`) is deleted from the stream; one that is not is
//! published again under a new `Nats-Msg-Id` (its envelope id is unchanged, so the store still
//! keeps it once) and then deleted, so it is ingested instead of waiting for `max_age`.

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::consumer::PullConsumer;
use async_nats::jetstream::message::StreamMessage;
use async_nats::jetstream::{self, stream::Stream};
use exporter_runtime::Shutdown;
use exporter_store::Store;
use uuid::Uuid;

/// Most leftovers handled in one pass.
const PASS_MAX_MESSAGES: usize = 1000;

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sweep {
    /// Already stored: deleted from the stream.
    pub removed: u64,
    /// Not stored: published again, then deleted.
    pub requeued: u64,
}

/// Why a sweep stopped.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error("JetStream: {0}")]
    JetStream(String),
    #[error(transparent)]
    Store(#[from] exporter_store::StoreError),
}

fn js_error(err: impl std::fmt::Display) -> SweepError {
    SweepError::JetStream(err.to_string())
}

/// The envelope id of a message, if its payload is an envelope.
fn envelope_id(payload: &[u8]) -> Option<Uuid> {
    #[derive(serde::Deserialize)]
    struct Id {
        id: Uuid,
    }
    serde_json::from_slice::<Id>(payload).ok().map(|e| e.id)
}

/// The key its dead letter would have (`aggregator/src/decode.rs`).
fn dead_letter_key(stream: &str, message: &StreamMessage) -> String {
    message
        .headers
        .get("Nats-Msg-Id")
        .map(|v| v.as_str().to_owned())
        .unwrap_or_else(|| format!("{stream}:{}", message.sequence))
}

/// Sweeps until `shutdown`: once now, then every `interval`.
pub async fn run(
    js: jetstream::Context,
    stream: Stream,
    consumer: PullConsumer,
    store: Store,
    interval: Duration,
    shutdown: Shutdown,
) {
    loop {
        loop {
            match sweep(&js, &stream, &consumer, &store).await {
                Ok(done) if done.removed + done.requeued > 0 => {
                    tracing::warn!(
                        removed = done.removed,
                        requeued = done.requeued,
                        "leftovers in the work-queue stream below the consumer's ack floor: stored ones removed, the others published again"
                    );
                    // A full pass: there may be more.
                    if (done.removed + done.requeued) as usize >= PASS_MAX_MESSAGES {
                        continue;
                    }
                }
                Ok(_) => {}
                Err(err) => tracing::debug!(error = %err, "leftover sweep failed; next one later"),
            }
            break;
        }
        if shutdown.sleep(interval).await {
            return;
        }
    }
}

/// One pass: up to [`PASS_MAX_MESSAGES`] leftovers, oldest first.
pub async fn sweep(
    js: &jetstream::Context,
    stream: &Stream,
    consumer: &PullConsumer,
    store: &Store,
) -> Result<Sweep, SweepError> {
    let floor = consumer
        .get_info()
        .await
        .map_err(js_error)?
        .ack_floor
        .stream_sequence;
    let info = stream.get_info().await.map_err(js_error)?;
    let name = info.config.name.clone();
    let mut next = info.state.first_sequence;
    let mut leftovers = Vec::new();
    while info.state.messages > 0 && next <= floor && leftovers.len() < PASS_MAX_MESSAGES {
        match stream.get_first_raw_message_by_subject(">", next).await {
            Ok(message) if message.sequence <= floor => {
                next = message.sequence + 1;
                leftovers.push(message);
            }
            _ => break,
        }
    }
    if leftovers.is_empty() {
        return Ok(Sweep::default());
    }
    let ids: Vec<Uuid> = leftovers
        .iter()
        .filter_map(|m| envelope_id(&m.payload))
        .collect();
    let keys: Vec<String> = leftovers
        .iter()
        .map(|m| dead_letter_key(&name, m))
        .collect();
    let stored = store.ingested_ids(&ids).await?;
    let dead = store.dead_letter_keys(&keys).await?;
    let mut done = Sweep::default();
    for (message, key) in leftovers.iter().zip(&keys) {
        let is_stored = envelope_id(&message.payload).is_some_and(|id| stored.contains(&id))
            || dead.contains(key);
        if is_stored {
            done.removed += 1;
        } else {
            let mut headers = HeaderMap::new();
            for (name, values) in message.headers.iter() {
                if AsRef::<str>::as_ref(name) != "Nats-Msg-Id" {
                    for value in values {
                        headers.append(name.clone(), value.clone());
                    }
                }
            }
            headers.insert(
                "Nats-Msg-Id",
                format!("{key}:requeued:{}", message.sequence).as_str(),
            );
            js.publish_with_headers(message.subject.clone(), headers, message.payload.clone())
                .await
                .map_err(js_error)?
                .await
                .map_err(js_error)?;
            done.requeued += 1;
        }
        stream
            .delete_message(message.sequence)
            .await
            .map_err(js_error)?;
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_id_is_read_without_the_body() {
        let id = Uuid::now_v7();
        let payload = format!(r#"{{"schema":1,"id":"{id}","body":{{"huge":[1,2,3]}}}}"#);
        assert_eq!(envelope_id(payload.as_bytes()), Some(id));
        assert_eq!(envelope_id(b"not json"), None);
    }
}

//! Leftovers: messages that stay in the work-queue stream although the shared consumer's ack
//! floor has passed them, so JetStream will never deliver them again (seen after a NATS crash:
//! 1,500 stored messages kept, with nothing pending, until `max_age`, counting against the
//! stream's limit). Any message at or below the ack floor is one.
//!
//! A sweep, at start and then every `interval`, reads them (oldest first, a bounded number per
//! pass) and looks each up in the store: one already stored (its envelope id in
//! `ingested_message`, or its key in `dead_letter`) is deleted from the stream; one that is not is
//! decoded and written by the sweep itself, exactly as a batch would be (idempotent on its
//! envelope id), and then deleted, so it is stored instead of waiting for `max_age`. The sweep
//! never publishes: the aggregator's bus user may not publish samples or ingest subjects.

use std::time::Duration;

use async_nats::jetstream::consumer::PullConsumer;
use async_nats::jetstream::message::StreamMessage;
use async_nats::jetstream::stream::Stream;
use exporter_runtime::Shutdown;
use exporter_store::{Batch, Store};

use crate::decode::{Decoder, RawMessage};
use uuid::Uuid;

/// Most leftovers handled in one pass.
const PASS_MAX_MESSAGES: usize = 1000;

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sweep {
    /// Already stored: deleted from the stream.
    pub removed: u64,
    /// Not stored: written by the sweep, then deleted.
    pub ingested: u64,
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
    decoder: Decoder,
    stream: Stream,
    consumer: PullConsumer,
    store: Store,
    interval: Duration,
    shutdown: Shutdown,
) {
    loop {
        loop {
            match sweep(&decoder, &stream, &consumer, &store).await {
                Ok(done) if done.removed + done.ingested > 0 => {
                    tracing::warn!(
                        removed = done.removed,
                        ingested = done.ingested,
                        "leftovers in the work-queue stream below the consumer's ack floor: stored ones removed, the others stored, then removed"
                    );
                    // A full pass: there may be more.
                    if (done.removed + done.ingested) as usize >= PASS_MAX_MESSAGES {
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
    decoder: &Decoder,
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
    let mut batch = Batch::default();
    for (message, key) in leftovers.iter().zip(&keys) {
        let is_stored = envelope_id(&message.payload).is_some_and(|id| stored.contains(&id))
            || dead.contains(key);
        if is_stored {
            done.removed += 1;
            continue;
        }
        let position = format!("{name}:{}", message.sequence);
        let raw = RawMessage {
            subject: message.subject.as_str(),
            payload: &message.payload,
            message_id: message.headers.get("Nats-Msg-Id").map(|v| v.as_str()),
            stream_position: &position,
            headers: None,
        };
        crate::ingest::add_decoded(&mut batch, decoder.decode(raw));
        done.ingested += 1;
    }
    if done.ingested > 0 {
        store.write_batch(&batch).await?;
    }
    for message in &leftovers {
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

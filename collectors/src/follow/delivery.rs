//! Delivering one batch of a follower: recorded as in flight, published to JetStream until
//! acknowledged (same message id on every try, so a copy that did arrive is dropped), and only
//! then the positions it leads to saved. At start, a batch the last run left in flight is
//! published again first ([`Delivery::resume`]).

use std::time::Instant;

use exporter_protocol::SourceKind;

use super::positions::{Checkpoint, CheckpointError, Inflight, Positions, SavedFile};
use crate::publisher::{AckedPublishError, JETSTREAM_RETRY, publish_payload_acked};
use crate::{CollectorContext, CollectorError};

/// Largest serialised batch, well under NATS's default 1 MiB `max_payload` (and at most half of
/// what the server announces).
pub const BATCH_MAX_BYTES: usize = 512 * 1024;

/// Publishes batches until acknowledged and moves the saved positions after each.
#[derive(Debug)]
pub(crate) struct Delivery {
    pub(super) ctx: CollectorContext,
    /// What the batches carry.
    pub(super) source: SourceKind,
    checkpoint: Checkpoint,
    /// A state file write failed (logged once until one succeeds again).
    state_failing: bool,
    /// What the last save wrote (files and journal cursor): an idle save of the same is skipped.
    last_saved: Option<(Vec<SavedFile>, Option<String>)>,
}

/// Shutdown came while a batch was still unacknowledged.
#[derive(Debug)]
pub(crate) struct Stopped;

/// Why [`Delivery::deliver`] gave up on a batch.
#[derive(Debug)]
pub(super) enum Undelivered {
    /// Shutdown came first.
    Stopped,
    /// The server refuses the message as larger than its `max_payload` (it was restarted with
    /// a smaller one): it must be split or shrunk, retrying cannot help.
    TooBig,
}

impl Delivery {
    /// The delivery of `source`'s batches; its state files are named after the source
    /// (`<state_dir>/<source>-positions.json`).
    pub fn new(ctx: &CollectorContext, source: SourceKind) -> Self {
        Self {
            ctx: ctx.clone(),
            source,
            checkpoint: Checkpoint::new(&ctx.settings.state_dir, source.name()),
            state_failing: false,
            last_saved: None,
        }
    }

    /// The saved positions (`None` on the very first start), once a batch a previous run left
    /// unacknowledged was published again.
    pub async fn resume(&mut self) -> Result<Option<Option<Positions>>, CollectorError> {
        let ctx = &self.ctx;
        let init = |err: CheckpointError| ctx.init_error(format!("{err}; fix or remove it"));
        let saved = self.checkpoint.load_or_set_aside().map_err(init)?;
        let Some(inflight) = self.checkpoint.load_inflight_or_set_aside().map_err(init)? else {
            return Ok(Some(saved));
        };
        tracing::info!(
            message_id = %inflight.message_id,
            "publishing again the batch the last run left unacknowledged"
        );
        match self.deliver(&inflight, false, true).await {
            Ok(()) => Ok(Some(Some(inflight.positions))),
            Err(Undelivered::Stopped) => Ok(None),
            Err(Undelivered::TooBig) => {
                // Its lines are read again from the saved positions, in batches that fit.
                tracing::error!(message_id = %inflight.message_id, payload_bytes = inflight.payload.len(), "the batch the last run left unacknowledged is larger than the server takes; dropping it and reading its lines again");
                let removed = self.checkpoint.discard_inflight();
                self.note_state(removed);
                Ok(Some(saved))
            }
        }
    }

    /// Largest batch the server takes, with room to spare.
    pub fn max_batch_bytes(&self) -> usize {
        let server = self.ctx.nats.server_info().max_payload;
        if server > 0 {
            BATCH_MAX_BYTES.min(server / 2)
        } else {
            BATCH_MAX_BYTES
        }
    }

    /// Records the batch (`record`), publishes it until JetStream acks (or shutdown), then
    /// saves the positions it leads to (`commit`).
    pub(super) async fn deliver(
        &mut self,
        inflight: &Inflight,
        record: bool,
        commit: bool,
    ) -> Result<(), Undelivered> {
        if record {
            let written = self.checkpoint.write_inflight(inflight);
            self.note_state(written);
        }
        let mut backoff = JETSTREAM_RETRY.backoff();
        let mut failing_since: Option<Instant> = None;
        loop {
            let sent = publish_payload_acked(
                &self.ctx.jetstream,
                inflight.subject.clone(),
                &inflight.message_id,
                inflight.payload.clone(),
            )
            .await;
            match sent {
                Ok(()) => {
                    if let Some(since) = failing_since {
                        tracing::info!(
                            outage_seconds = since.elapsed().as_secs(),
                            "publishing to JetStream recovered"
                        );
                    }
                    break;
                }
                Err(AckedPublishError::Publish(message)) if message.contains("max payload") => {
                    tracing::warn!(
                        payload_bytes = inflight.payload.len(),
                        server_max_payload_bytes = self.ctx.nats.server_info().max_payload,
                        "the server refuses a batch as too large; splitting it"
                    );
                    if record {
                        let removed = self.checkpoint.discard_inflight();
                        self.note_state(removed);
                    }
                    return Err(Undelivered::TooBig);
                }
                Err(err) => {
                    if failing_since.is_none() {
                        failing_since = Some(Instant::now());
                        tracing::warn!(error = %err, subject = %inflight.subject, "publishing a batch to JetStream failed; retrying it, reading no further meanwhile. Check that nats-server is running with -js");
                    }
                    if self.ctx.shutdown.is_triggered() {
                        tracing::info!(
                            "stopping with a batch JetStream did not acknowledge; the next start publishes it again"
                        );
                        return Err(Undelivered::Stopped);
                    }
                    let delay = backoff.next_delay().unwrap_or(JETSTREAM_RETRY.max);
                    self.ctx.shutdown.sleep(delay).await;
                }
            }
        }
        if commit {
            self.save(&inflight.positions);
        }
        Ok(())
    }

    /// Saves positions taken while no batch is in flight (after the first scan, when a file is
    /// opened): a restart then resumes there instead of treating the files as new. Skipped when
    /// nothing changed since the last save.
    pub fn save_idle(&mut self, positions: &Positions) {
        let same = self.last_saved.as_ref().is_some_and(|(files, cursor)| {
            *files == positions.files && *cursor == positions.journal_cursor
        });
        if !same {
            self.save(positions);
        }
    }

    fn save(&mut self, positions: &Positions) {
        let committed = self.checkpoint.commit(positions);
        let ok = committed.is_ok();
        self.note_state(committed);
        self.last_saved = ok.then(|| (positions.files.clone(), positions.journal_cursor.clone()));
    }

    pub(super) fn note_state(&mut self, result: Result<(), CheckpointError>) {
        match result {
            Ok(()) => self.state_failing = false,
            Err(err) if !self.state_failing => {
                self.state_failing = true;
                tracing::error!(error = %err, "cannot save the read positions; after a restart, lines may be read twice or skipped. Check that state_dir is writable");
            }
            Err(_) => {}
        }
    }
}

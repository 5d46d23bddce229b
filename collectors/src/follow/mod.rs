//! The follow framework: acknowledged tailing of files (and, for logs, a journal) with saved
//! positions, shared by the `logs` and `notifications` collectors.
//!
//! Nothing is lost or repeated across restarts: each batch is published with its envelope id as
//! `Nats-Msg-Id` and JetStream's ack awaited; only then do the read positions move and get saved
//! ([`positions`]); a batch that cannot be published is retried with backoff (same envelope, so
//! a copy that did arrive is dropped as a duplicate) and no further line is read meanwhile, so
//! memory stays bounded. Positions are also saved whenever nothing is in flight and a file was
//! opened (first scan included), so a restart before the first batch resumes rather than
//! starting over at `start_position`. A batch the server refuses as larger than its
//! `max_payload` is split, a single line too large is cut down, and one that cannot be is
//! dropped with an error. A corrupt state file is set aside ([`positions`]).
//!
//! A user says how a line becomes its payload ([`LineSource`]) and where to read
//! ([`FollowConfig`]); [`Follower::start`] resumes and [`Follower::run`] follows until shutdown.

mod batch;
mod delivery;
mod file;
pub mod positions;
pub mod tail;

use std::time::Duration;

use exporter_protocol::SourceKind;
use exporter_settings::StartPosition;
use serde::Serialize;
use tokio::sync::mpsc;

pub use delivery::BATCH_MAX_BYTES;
use delivery::Delivery;
pub use tail::{FileSet, RawLine, Take};

use crate::{CollectorContext, CollectorError};

/// Turns lines into the items of a batch, and items into its body.
pub trait LineSource {
    type Item: Serialize + Clone;
    type Body: Serialize;
    /// The item of one file line; `None` skips it (blank lines).
    fn item(&mut self, line: RawLine<'_>) -> Option<Self::Item>;
    /// A smaller item when one alone is larger than `max_bytes` serialised.
    fn shrink(&self, item: Self::Item, max_bytes: usize) -> Self::Item;
    /// Where an item came from (file and offset), for a log line about it.
    fn origin(item: &Self::Item) -> String;
    fn body(items: Vec<Self::Item>) -> Self::Body;
}

/// What one follower reads, how it batches and what it publishes.
#[derive(Debug, Clone)]
pub struct FollowConfig {
    /// What its batches carry; also names its state files.
    pub source: SourceKind,
    /// Glob patterns of the files to follow.
    pub patterns: Vec<String>,
    /// Says where `patterns` come from, in the error an invalid one gives
    /// (`collectors.logs.files: invalid glob pattern`).
    pub patterns_error: &'static str,
    pub start_position: StartPosition,
    pub max_line_bytes: usize,
    /// How long a file must be idle before its unterminated last line is handed out; `None`:
    /// only once the file is rotated away or deleted.
    pub partial_line_wait: Option<Duration>,
    pub batch_max_lines: usize,
    pub batch_max_wait: Duration,
    pub poll_interval: Duration,
}

/// A follower resumed where the last run stopped, ready to [`run`](Follower::run).
#[derive(Debug)]
pub struct Follower {
    config: FollowConfig,
    delivery: Delivery,
    files: FileSet,
    journal_cursor: Option<String>,
}

impl Follower {
    /// Publishes again a batch the last run left unacknowledged, loads the saved positions and
    /// opens the files; `None` when shutdown came meanwhile.
    pub async fn start(
        ctx: &CollectorContext,
        config: FollowConfig,
    ) -> Result<Option<Self>, CollectorError> {
        let mut delivery = Delivery::new(ctx, config.source);
        let Some(saved) = delivery.resume().await? else {
            return Ok(None);
        };
        let mut files = FileSet::new(
            config.patterns.clone(),
            saved.as_ref(),
            config.start_position,
            config.max_line_bytes,
        )
        .map_err(|err| ctx.init_error(format!("{}: {err}", config.patterns_error)))?;
        files.set_partial_line_wait(config.partial_line_wait);
        files.scan();
        Ok(Some(Self {
            config,
            delivery,
            files,
            journal_cursor: saved.and_then(|s| s.journal_cursor),
        }))
    }

    /// The journal cursor saved with the positions (where a journal resumes).
    pub fn journal_cursor(&self) -> Option<&str> {
        self.journal_cursor.as_deref()
    }

    /// The followed files.
    pub fn files(&self) -> &FileSet {
        &self.files
    }

    /// Reads, batches and delivers until shutdown; `journal` adds entries with their cursor.
    pub async fn run<S: LineSource>(
        mut self,
        source: &mut S,
        journal: Option<mpsc::Receiver<(S::Item, String)>>,
    ) {
        batch::follow(
            &self.config,
            &mut self.delivery,
            &mut self.files,
            source,
            journal,
            self.journal_cursor,
        )
        .await;
    }
}

/// Cuts `text` to at most `max` bytes at a character boundary.
pub fn cut(text: &mut String, max: usize) {
    if text.len() > max {
        let mut at = max;
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        text.truncate(at);
    }
}

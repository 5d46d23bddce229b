//! `exporter-collector logs`: follows the configured log files (glob patterns) and systemd
//! journal units, parses each line ([`parse`]) and publishes the lines in batches
//! ([`LogBatch`]) on `<prefix>.v1.sample.logs.<host>`.
//!
//! Nothing is lost or repeated across restarts: each batch is published with its envelope id as
//! `Nats-Msg-Id` and JetStream's ack awaited; only then do the read positions move and get saved
//! ([`positions`]); a batch that cannot be published is retried with backoff (same envelope, so
//! a copy that did arrive is dropped as a duplicate) and no further line is read meanwhile, so
//! memory stays bounded. Positions are also saved whenever nothing is in flight and a file was
//! opened (first scan included), so a restart before the first batch resumes rather than
//! starting over at `start_position`. A batch the server refuses as larger than its
//! `max_payload` is split, a single line too large is cut down, and one that cannot be is
//! dropped with an error. A corrupt state file is set aside ([`positions`]). The follower loop
//! here is shared with the `notifications` collector.

pub mod journal;
pub mod parse;
pub mod positions;
pub mod tail;

use std::path::Path;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use chrono::Utc;
use exporter_protocol::logs::{LogBatch, LogLine};
use exporter_protocol::{Envelope, Subjects};
use exporter_runtime::Shutdown;
use exporter_settings::{LogFileSettings, Settings, StartPosition};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::CollectorError;
use crate::publisher::{AckedPublishError, publish_payload_acked};
use positions::{Checkpoint, Inflight, Positions};
use tail::{FileSet, RawLine, Take};

/// Collector kind name.
pub const KIND: &str = exporter_protocol::logs::KIND;

/// Largest serialised batch, well under NATS's default 1 MiB `max_payload` (and at most half of
/// what the server announces).
pub const BATCH_MAX_BYTES: usize = 512 * 1024;
/// Longest wait between publish retries.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Turns lines into the items of a batch, and items into its body.
pub(crate) trait LineSource {
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

/// How one follower batches and where it publishes.
#[derive(Debug, Clone)]
pub(crate) struct FollowOptions {
    pub kind: &'static str,
    pub host: String,
    pub subject: String,
    pub batch_max_lines: usize,
    pub batch_max_wait: Duration,
    pub poll_interval: Duration,
}

/// Publishes batches until acknowledged and moves the saved positions after each.
#[derive(Debug)]
pub(crate) struct Delivery {
    kind: &'static str,
    checkpoint: Checkpoint,
    js: jetstream::Context,
    client: async_nats::Client,
    shutdown: Shutdown,
    /// A state file write failed (logged once until one succeeds again).
    state_failing: bool,
    /// What the last save wrote (files and journal cursor): an idle save of the same is skipped.
    last_saved: Option<(Vec<positions::SavedFile>, Option<String>)>,
}

/// Shutdown came while a batch was still unacknowledged.
#[derive(Debug)]
pub(crate) struct Stopped;

/// Why [`Delivery::deliver`] gave up on a batch.
#[derive(Debug)]
enum Undelivered {
    /// Shutdown came first.
    Stopped,
    /// The server refuses the message as larger than its `max_payload` (it was restarted with
    /// a smaller one): it must be split or shrunk, retrying cannot help.
    TooBig,
}

impl Delivery {
    pub fn new(
        state_dir: &Path,
        kind: &'static str,
        js: &jetstream::Context,
        client: &async_nats::Client,
        shutdown: &Shutdown,
    ) -> Self {
        Self {
            kind,
            checkpoint: Checkpoint::new(state_dir, kind),
            js: js.clone(),
            client: client.clone(),
            shutdown: shutdown.clone(),
            state_failing: false,
            last_saved: None,
        }
    }

    /// The saved positions (`None` on the very first start), once a batch a previous run left
    /// unacknowledged was published again.
    pub async fn resume(&mut self) -> Result<Option<Option<Positions>>, CollectorError> {
        let kind = self.kind;
        let init = |err: positions::CheckpointError| CollectorError::Init {
            kind,
            message: format!("{err}; fix or remove it"),
        };
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
        let server = self.client.server_info().max_payload;
        if server > 0 {
            BATCH_MAX_BYTES.min(server / 2)
        } else {
            BATCH_MAX_BYTES
        }
    }

    /// Records the batch (`record`), publishes it until JetStream acks (or shutdown), then
    /// saves the positions it leads to (`commit`).
    async fn deliver(
        &mut self,
        inflight: &Inflight,
        record: bool,
        commit: bool,
    ) -> Result<(), Undelivered> {
        if record {
            let written = self.checkpoint.write_inflight(inflight);
            self.note_state(written);
        }
        let mut backoff = Duration::from_millis(200);
        let mut failing_since: Option<Instant> = None;
        loop {
            let sent = publish_payload_acked(
                &self.js,
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
                        server_max_payload_bytes = self.client.server_info().max_payload,
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
                    if self.shutdown.is_triggered() {
                        tracing::info!(
                            "stopping with a batch JetStream did not acknowledge; the next start publishes it again"
                        );
                        return Err(Undelivered::Stopped);
                    }
                    tokio::select! {
                        () = self.shutdown.wait() => {}
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
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

    fn note_state(&mut self, result: Result<(), positions::CheckpointError>) {
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

/// Serialised size of `value` in bytes, without building it.
pub(crate) fn json_len<T: Serialize>(value: &T) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

/// The batch being filled.
struct Batch<I> {
    items: Vec<I>,
    bytes: usize,
    started: Option<Instant>,
    max_lines: usize,
    max_bytes: usize,
    /// Cursor of the last journal entry in the batch.
    cursor: Option<String>,
}

impl<I: Serialize> Batch<I> {
    fn new(max_lines: usize, max_bytes: usize) -> Self {
        Self {
            items: Vec::new(),
            bytes: 0,
            started: None,
            max_lines: max_lines.max(1),
            max_bytes,
            cursor: None,
        }
    }

    fn is_full(&self) -> bool {
        self.items.len() >= self.max_lines || self.bytes >= self.max_bytes
    }

    /// Adds `item` unless it does not fit (`Refused`; never for the first item, which is
    /// shrunk instead).
    fn offer<S: LineSource<Item = I>>(&mut self, source: &S, item: I) -> Take {
        let mut size = json_len(&item) + 1;
        let item = if size > self.max_bytes {
            let small = source.shrink(item, self.max_bytes);
            size = json_len(&small) + 1;
            small
        } else {
            item
        };
        if !self.items.is_empty() && self.bytes + size > self.max_bytes {
            return Take::Refused;
        }
        self.items.push(item);
        self.bytes += size;
        self.started.get_or_insert_with(Instant::now);
        if self.is_full() {
            Take::Last
        } else {
            Take::More
        }
    }
}

/// Reads, batches and delivers until shutdown.
pub(crate) async fn follow<S: LineSource>(
    options: &FollowOptions,
    delivery: &mut Delivery,
    files: &mut FileSet,
    source: &mut S,
    mut journal: Option<mpsc::Receiver<(S::Item, String)>>,
    mut journal_cursor: Option<String>,
) {
    let shutdown = delivery.shutdown.clone();
    let mut seq = 0u64;
    let mut held: Option<(S::Item, String)> = None;
    let mut last_scan = Instant::now();
    loop {
        let mut batch: Batch<S::Item> =
            Batch::new(options.batch_max_lines, delivery.max_batch_bytes());
        loop {
            if let Some((item, cursor)) = held.take() {
                // The first item of a batch is never refused (too large, it is shrunk).
                let _ = batch.offer(source, item);
                batch.cursor = Some(cursor);
            }
            if last_scan.elapsed() >= options.poll_interval {
                // Also while a backlog keeps every batch full.
                files.scan();
                last_scan = Instant::now();
            }
            if batch.items.is_empty() && held.is_none() && files.take_opened() {
                // Nothing in flight: these positions are safe to save now.
                delivery.save_idle(&Positions::new(
                    files.patterns().to_vec(),
                    files.snapshot(),
                    journal_cursor.clone(),
                ));
            }
            let mut progressed = false;
            while let Some(rx) = journal.as_mut() {
                if batch.is_full() {
                    break;
                }
                match rx.try_recv() {
                    Ok((item, cursor)) => {
                        progressed = true;
                        if let Some(item) = offer_entry(&mut batch, source, item, &cursor) {
                            held = Some((item, cursor));
                            break;
                        }
                    }
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => journal = None,
                }
            }
            if !batch.is_full() && held.is_none() {
                let outcome = files.read(&mut |line| match source.item(line) {
                    Some(item) => batch.offer(source, item),
                    None => Take::More,
                });
                progressed |= outcome.progressed;
                if outcome.full {
                    // Full, or the next line does not fit: it opens the next batch.
                    break;
                }
            }
            if batch.is_full() || held.is_some() || shutdown.is_triggered() {
                break;
            }
            let wait_left = batch
                .started
                .map(|at| options.batch_max_wait.saturating_sub(at.elapsed()));
            if wait_left == Some(Duration::ZERO) {
                break;
            }
            if progressed {
                continue;
            }
            let scan_left = options.poll_interval.saturating_sub(last_scan.elapsed());
            let nap = wait_left.map_or(scan_left, |w| w.min(scan_left));
            let next_entry = async {
                match journal.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = shutdown.wait() => {}
                () = tokio::time::sleep(nap) => {}
                entry = next_entry => match entry {
                    Some((item, cursor)) => {
                        if let Some(item) = offer_entry(&mut batch, source, item, &cursor) {
                            held = Some((item, cursor));
                        }
                    }
                    None => journal = None,
                },
            }
        }

        if batch.items.is_empty() {
            if shutdown.is_triggered() {
                return;
            }
            continue;
        }
        if batch.cursor.is_some() {
            journal_cursor = batch.cursor.clone();
        }
        let lines = batch.items.len();
        let positions = Positions::new(
            files.patterns().to_vec(),
            files.snapshot(),
            journal_cursor.clone(),
        );
        if publish(options, delivery, source, batch.items, &positions, &mut seq)
            .await
            .is_err()
        {
            return;
        }
        tracing::debug!(lines, seq, "batch acknowledged");
        if shutdown.is_triggered() {
            return;
        }
    }
}

/// What to do with a group of items the server refused as too large.
#[derive(Debug)]
enum Refit<I> {
    /// Send the two halves one after the other.
    Split(Vec<I>, Vec<I>),
    /// One item, made smaller.
    Shrunk(I),
    /// One item that cannot be made smaller.
    Drop(I),
}

/// Splits a refused group, or shrinks its single item to fit `max_bytes`.
fn refit<S: LineSource>(source: &S, mut group: Vec<S::Item>, max_bytes: usize) -> Refit<S::Item> {
    if group.len() > 1 {
        let back = group.split_off(group.len() / 2);
        return Refit::Split(group, back);
    }
    let Some(item) = group.pop() else {
        return Refit::Split(Vec::new(), Vec::new());
    };
    let before = json_len(&item);
    let small = source.shrink(item.clone(), max_bytes);
    if json_len(&small) < before {
        Refit::Shrunk(small)
    } else {
        Refit::Drop(item)
    }
}

/// Publishes the items of one batch and saves `positions` once they are all acknowledged. A
/// batch the server refuses as too large is split (the parts before the last are neither
/// recorded nor followed by a save: a kill between them repeats their lines, never loses
/// them), a single line too large is shrunk, and one that cannot shrink is dropped with an
/// error naming its file and offset.
async fn publish<S: LineSource>(
    options: &FollowOptions,
    delivery: &mut Delivery,
    source: &S,
    items: Vec<S::Item>,
    positions: &Positions,
    seq: &mut u64,
) -> Result<(), Stopped> {
    let mut queue = std::collections::VecDeque::from([items]);
    let mut split = false;
    while let Some(group) = queue.pop_front() {
        if group.is_empty() {
            continue;
        }
        let whole = !split && queue.is_empty();
        let last = queue.is_empty();
        *seq += 1;
        let envelope = Envelope::new(&options.host, options.kind, *seq, S::body(group.clone()));
        let payload = match serde_json::to_vec(&envelope) {
            Ok(payload) => payload,
            Err(err) => {
                // Cannot happen for these types; say so loudly rather than loop.
                tracing::error!(error = %err, "a batch could not be serialised; its lines are skipped");
                continue;
            }
        };
        let payload_bytes = payload.len();
        let inflight = Inflight {
            subject: options.subject.clone(),
            message_id: envelope.id.to_string(),
            payload: payload.into(),
            positions: positions.clone(),
        };
        match delivery.deliver(&inflight, whole, last).await {
            Ok(()) => {}
            Err(Undelivered::Stopped) => return Err(Stopped),
            Err(Undelivered::TooBig) => {
                split = true;
                let max_bytes = delivery.max_batch_bytes().min(payload_bytes / 2);
                match refit(source, group, max_bytes) {
                    Refit::Split(front, back) => {
                        queue.push_front(back);
                        queue.push_front(front);
                    }
                    Refit::Shrunk(item) => queue.push_front(vec![item]),
                    Refit::Drop(item) => {
                        tracing::error!(origin = %S::origin(&item), payload_bytes, "a line is larger than the server takes even cut down; dropped");
                    }
                }
            }
        }
    }
    // The last part was dropped: move past it all the same.
    delivery.save_idle(positions);
    Ok(())
}

/// Offers a journal entry; gives it back when it belongs to the next batch.
fn offer_entry<S: LineSource>(
    batch: &mut Batch<S::Item>,
    source: &S,
    item: S::Item,
    cursor: &str,
) -> Option<S::Item> {
    if !batch.items.is_empty() && batch.is_full() {
        return Some(item);
    }
    // Size first: a refused entry must come back whole.
    let size = json_len(&item) + 1;
    if !batch.items.is_empty() && batch.bytes + size > batch.max_bytes {
        return Some(item);
    }
    batch.offer(source, item);
    batch.cursor = Some(cursor.to_owned());
    None
}

/// Log lines from files: parsed by their pattern's format.
#[derive(Debug)]
struct LogFiles {
    specs: Vec<LogFileSettings>,
    max_line_bytes: usize,
}

impl LineSource for LogFiles {
    type Item = LogLine;
    type Body = LogBatch;

    fn item(&mut self, line: RawLine<'_>) -> Option<LogLine> {
        let spec = self.specs.get(line.spec)?;
        let mut text = String::from_utf8_lossy(line.bytes).into_owned();
        if text.ends_with('\r') {
            text.pop();
        }
        parse::strip_nul(&mut text);
        if text.trim().is_empty() {
            return None;
        }
        let mut truncated = line.truncated;
        if text.len() > self.max_line_bytes {
            // Invalid bytes became U+FFFD (3 bytes): cut back to the limit.
            cut(&mut text, self.max_line_bytes);
            truncated = true;
        }
        let parsed = parse::parse(&text, spec.format);
        let mut component = parsed
            .component
            .or_else(|| spec.component.clone())
            .or_else(|| file_component(line.source));
        if let Some(c) = component.as_mut() {
            parse::strip_nul(c);
        }
        // JSON escapes (`\u0000`) can bring NUL back.
        let mut message = parsed.message;
        parse::strip_nul(&mut message);
        let mut fields = parsed.fields;
        parse::strip_nul_fields(&mut fields);
        let mut source = line.source.to_owned();
        parse::strip_nul(&mut source);
        Some(LogLine {
            time: parsed.time.unwrap_or_else(Utc::now),
            level: parsed.level,
            component,
            message,
            fields,
            source,
            offset: Some(line.offset),
            truncated,
        })
    }

    fn shrink(&self, mut line: LogLine, max_bytes: usize) -> LogLine {
        line.fields.clear();
        cut(&mut line.message, max_bytes / 8);
        if let Some(component) = line.component.as_mut() {
            cut(component, max_bytes / 8);
        }
        line.truncated = true;
        line
    }

    fn origin(line: &LogLine) -> String {
        match line.offset {
            Some(offset) => format!("{} at offset {offset}", line.source),
            None => line.source.clone(),
        }
    }

    fn body(lines: Vec<LogLine>) -> LogBatch {
        LogBatch { lines }
    }
}

/// Cuts `text` to at most `max` bytes at a character boundary.
pub(crate) fn cut(text: &mut String, max: usize) {
    if text.len() > max {
        let mut at = max;
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        text.truncate(at);
    }
}

/// Component of a file's lines that name none: its name without `.log` and rotation suffixes
/// (`/var/log/trading/engine.log.1` → `engine`).
pub fn file_component(path: &str) -> Option<String> {
    let name = Path::new(path).file_name()?.to_string_lossy().into_owned();
    let mut name = name.as_str();
    while let Some((stem, suffix)) = name.rsplit_once('.') {
        if stem.is_empty() {
            break;
        }
        let rotation = !suffix.is_empty() && suffix.chars().all(|c| c.is_ascii_digit());
        if rotation
            || matches!(
                suffix,
                "log" | "gz" | "txt" | "jsonl" | "json" | "out" | "err"
            )
        {
            name = stem;
        } else {
            break;
        }
    }
    (!name.is_empty()).then(|| name.to_owned())
}

/// Raises the soft limit of open files to the hard limit: every followed file (and every
/// rotated one still being read) holds a descriptor.
fn raise_open_files_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => {
                tracing::info!(
                    previous_soft_limit = soft,
                    open_files_limit = hard,
                    "raised the open files limit"
                );
            }
            Err(err) => {
                tracing::warn!(error = %err, open_files_limit = soft, "cannot raise the open files limit");
            }
        },
        Ok((soft, _)) => tracing::info!(open_files_limit = soft, "open files limit"),
        Err(err) => tracing::warn!(error = %err, "cannot read the open files limit"),
    }
}

/// Follows the configured files and journal units until `shutdown`.
pub async fn run(
    settings: &Settings,
    subjects: &Subjects,
    client: &async_nats::Client,
    js: &jetstream::Context,
    shutdown: &Shutdown,
) -> Result<(), CollectorError> {
    let config = &settings.collectors.logs;
    raise_open_files_limit();
    let host = settings.host_name().to_owned();
    let mut delivery = Delivery::new(&settings.state_dir, KIND, js, client, shutdown);
    let Some(saved) = delivery.resume().await? else {
        return Ok(());
    };
    let patterns: Vec<String> = config.files.iter().map(|f| f.path.clone()).collect();
    let mut files = FileSet::new(
        patterns,
        saved.as_ref(),
        config.start_position,
        config.max_line_bytes,
    )
    .map_err(|err| CollectorError::Init {
        kind: KIND,
        message: format!("collectors.logs.files: invalid glob pattern: {err}"),
    })?;
    files.scan();
    let journal_cursor = saved.as_ref().and_then(|s| s.journal_cursor.clone());
    let journal = (!config.journal_units.is_empty()).then(|| {
        let start = match (&journal_cursor, config.start_position) {
            (Some(cursor), _) => journal::JournalStart::AfterCursor(cursor.clone()),
            (None, StartPosition::Beginning) => journal::JournalStart::Beginning,
            (None, StartPosition::End) => journal::JournalStart::End,
        };
        journal::spawn(
            config.journal_units.clone(),
            start,
            config.max_line_bytes,
            shutdown.clone(),
        )
    });
    tracing::info!(
        files = files.len(),
        patterns = ?files.patterns(),
        journal_units = ?config.journal_units,
        "logs collector started"
    );
    let options = FollowOptions {
        kind: KIND,
        host: host.clone(),
        subject: subjects.sample(KIND, &host),
        batch_max_lines: config.batch_max_lines,
        batch_max_wait: Duration::from_millis(config.batch_max_wait_ms),
        poll_interval: Duration::from_millis(config.poll_interval_ms),
    };
    let mut source = LogFiles {
        specs: config.files.clone(),
        max_line_bytes: config.max_line_bytes,
    };
    follow(
        &options,
        &mut delivery,
        &mut files,
        &mut source,
        journal,
        journal_cursor,
    )
    .await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_from_file_names() {
        assert_eq!(
            file_component("/var/log/trading/engine.log.1").as_deref(),
            Some("engine")
        );
        assert_eq!(
            file_component("/x/trading.engine.log").as_deref(),
            Some("trading.engine")
        );
        assert_eq!(file_component("/x/.hidden").as_deref(), Some(".hidden"));
        assert_eq!(file_component("/x/syslog").as_deref(), Some("syslog"));
    }

    #[test]
    fn lines_become_log_lines() {
        let mut source = LogFiles {
            specs: vec![LogFileSettings {
                path: "*.log".into(),
                component: Some("engine".into()),
                format: exporter_settings::LogFileFormat::Auto,
            }],
            max_line_bytes: 64,
        };
        let raw = |bytes: &'static [u8], truncated| RawLine {
            spec: 0,
            source: "/x/a.log",
            offset: 7,
            bytes,
            truncated,
        };
        assert!(source.item(raw(b" \r", false)).is_none());
        let line = source.item(raw(br#"{"msg":"\u0000a"}"#, false)).unwrap();
        assert_eq!(line.message, "a", "no NUL from JSON escapes");
        source.max_line_bytes = 8;
        let line = source.item(raw(b"ab\0c\xff\xfe\xfd\r", false)).unwrap();
        // Invalid bytes become U+FFFD, NUL goes, and the 8-byte limit holds.
        assert_eq!(line.message, "abc\u{fffd}");
        assert!(line.truncated);
        assert_eq!(line.component.as_deref(), Some("engine"));
        assert_eq!(line.offset, Some(7));
        let small = source.shrink(line, 16);
        assert_eq!(small.message, "ab");
    }

    #[test]
    fn refused_batches_split_then_shrink_then_drop() {
        let source = LogFiles {
            specs: Vec::new(),
            max_line_bytes: 100_000,
        };
        let line = |message: &str| LogLine {
            time: Utc::now(),
            level: exporter_protocol::logs::LogLevel::Info,
            component: Some("c".repeat(5000)),
            message: message.to_owned(),
            fields: serde_json::Map::from_iter([("k".to_owned(), "v".repeat(5000).into())]),
            source: "/x/a.log".into(),
            offset: Some(42),
            truncated: false,
        };
        let Refit::Split(front, back) = refit(&source, vec![line("a"), line("b"), line("c")], 100)
        else {
            panic!("a group is split");
        };
        assert_eq!((front.len(), back.len()), (1, 2));
        // One line: cut (message, component, fields) until it fits or cannot shrink.
        let mut item = line(&"x".repeat(50_000));
        let mut rounds = 0;
        loop {
            rounds += 1;
            match refit(&source, vec![item.clone()], json_len(&item) / 2) {
                Refit::Shrunk(small) => {
                    assert!(json_len(&small) < json_len(&item));
                    assert!(small.fields.is_empty() && small.truncated);
                    item = small;
                }
                Refit::Drop(dropped) => {
                    assert_eq!(LogFiles::origin(&dropped), "/x/a.log at offset 42");
                    break;
                }
                Refit::Split(..) => panic!("one line is never split"),
            }
            assert!(rounds < 100, "shrinking ends");
        }
        assert!(json_len(&item) < 300, "{}", json_len(&item));
    }

    #[test]
    fn batches_fill_by_lines_and_bytes() {
        let source = LogFiles {
            specs: Vec::new(),
            max_line_bytes: 100,
        };
        let line = |message: &str| LogLine {
            time: Utc::now(),
            level: exporter_protocol::logs::LogLevel::Info,
            component: None,
            message: message.to_owned(),
            fields: serde_json::Map::new(),
            source: "s".into(),
            offset: None,
            truncated: false,
        };
        let mut batch = Batch::new(2, 10_000);
        assert_eq!(batch.offer(&source, line("a")), Take::More);
        assert_eq!(batch.offer(&source, line("b")), Take::Last);
        let mut batch = Batch::new(100, 400);
        assert_eq!(batch.offer(&source, line(&"x".repeat(200))), Take::More);
        assert_eq!(batch.offer(&source, line(&"y".repeat(200))), Take::Refused);
        // Alone and too large: shrunk, never refused.
        let mut batch = Batch::new(100, 400);
        assert_eq!(batch.offer(&source, line(&"z".repeat(5000))), Take::More);
        assert!(batch.items[0].truncated);
        assert!(batch.bytes <= 400);
    }
}

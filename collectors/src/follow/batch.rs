//! The acknowledged batch loop of a follower: lines (and journal entries) are read into a
//! batch until it is full or old enough, the batch is delivered ([`Delivery`]), and only then
//! is anything further read, so memory stays bounded and nothing is lost or repeated. A batch
//! the server refuses as too large is split, a single item too large is shrunk, and one that
//! cannot be is dropped with an error.

use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::mpsc;

use super::delivery::{Delivery, Stopped, Undelivered};
use super::positions::{Inflight, Positions};
use super::tail::{FileSet, Take};
use super::{FollowConfig, LineSource};

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
pub(super) struct Batch<I> {
    pub(super) items: Vec<I>,
    pub(super) bytes: usize,
    started: Option<Instant>,
    max_lines: usize,
    max_bytes: usize,
    /// Cursor of the last journal entry in the batch.
    cursor: Option<String>,
}

impl<I: Serialize> Batch<I> {
    pub(super) fn new(max_lines: usize, max_bytes: usize) -> Self {
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
    pub(super) fn offer<S: LineSource<Item = I>>(&mut self, source: &S, item: I) -> Take {
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
pub(super) async fn follow<S: LineSource>(
    options: &FollowConfig,
    delivery: &mut Delivery,
    files: &mut FileSet,
    source: &mut S,
    mut journal: Option<mpsc::Receiver<(S::Item, String)>>,
    mut journal_cursor: Option<String>,
) {
    let shutdown = delivery.ctx.shutdown.clone();
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
        if publish(delivery, source, batch.items, &positions, &mut seq)
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
pub(super) enum Refit<I> {
    /// Send the two halves one after the other.
    Split(Vec<I>, Vec<I>),
    /// One item, made smaller.
    Shrunk(I),
    /// One item that cannot be made smaller.
    Drop(I),
}

/// Splits a refused group, or shrinks its single item to fit `max_bytes`.
pub(super) fn refit<S: LineSource>(
    source: &S,
    mut group: Vec<S::Item>,
    max_bytes: usize,
) -> Refit<S::Item> {
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
        let envelope = delivery
            .ctx
            .envelope(delivery.source, S::body(group.clone()));
        *seq = envelope.seq;
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
            subject: delivery.ctx.subject(delivery.source),
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

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use exporter_protocol::logs::LogLine;

    use super::*;
    use crate::logs::LogFiles;

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

//! Follows the files named by glob patterns, as `tail -F` does, but resumable byte for byte.
//!
//! Each file is tracked by its identity (device and inode) with an open handle, so:
//! - rotation by rename (or deletion): the path now names another file (or none); the old handle
//!   is read to its end, and a little longer for late writes, then closed; the new file at the
//!   path is a new file, read from its start;
//! - truncation (copytruncate, `> file`): the file is shorter than what was read, or its first
//!   bytes changed; it is read again from the start;
//! - files that appear later and match a pattern are read from their start; files there at the
//!   very first start follow `start_position` (also when they can only be opened later);
//! - a saved position is found by identity, or, when the device number changed across a
//!   reboot, by path, inode and first bytes; it is kept (and saved again) until its file can be
//!   opened, so a file unreadable for a while resumes where it was;
//! - compressed rotations (`.gz`, `.zst`, ...) are never read, even when a pattern matches them;
//! - a partial last line (no newline yet) waits for its newline, and is handed out anyway once
//!   the file was idle for [`PARTIAL_LINE_WAIT`] (unless [`FileSet::set_partial_line_wait`]
//!   says never) or was rotated away or deleted;
//! - NUL bytes at a line's start (a sparse hole left by copytruncate) are skipped;
//! - a line longer than `max_line_bytes` keeps its first `max_line_bytes` bytes, is marked
//!   truncated, and the rest up to the newline is skipped without being buffered.
//!
//! Lines are handed to a sink that may refuse one (its batch is full): the file is then read
//! again from that line next time. The position of a file is the start of the first line not
//! yet handed out; [`FileSet::snapshot`] is what gets saved once a batch is acknowledged.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use exporter_settings::StartPosition;

#[cfg(test)]
use super::file::DENIED;
use super::file::{
    CHUNK_BYTES, COMPRESSED, FINISHED_MEMORY, Head, MTIME_SLACK, Pump, Tailed, head_matches,
    is_compressed, open_file, read_head,
};
pub use super::file::{HEAD_BYTES, PARTIAL_LINE_WAIT, ROTATED_WAIT, RawLine, ReadOutcome, Take};
use super::positions::{Positions, SavedFile};
/// The files of a set of glob patterns.
#[derive(Debug)]
pub struct FileSet {
    patterns: Vec<String>,
    /// Patterns the saved positions were written for.
    known_patterns: HashSet<String>,
    /// No positions were saved yet: files there now follow `start`.
    first_start: bool,
    start: StartPosition,
    max_line_bytes: usize,
    files: Vec<Tailed>,
    /// Saved positions of files not opened yet this run (kept, and saved again, until the file
    /// is opened or known gone: a file unreadable for a while resumes where it was).
    restored: Vec<SavedFile>,
    /// Files there at first sight (start rule applies) that could not be opened yet, with
    /// their device, inode and size then: they follow `start` from that size once opened.
    start_pending: HashMap<PathBuf, (u64, u64, u64)>,
    /// How long a file must be idle before its unterminated last line is handed out; `None`:
    /// only once the file is rotated away or deleted.
    partial_wait: Option<Duration>,
    /// A file was opened (or the first scan ran) since [`FileSet::take_opened`] last said so.
    opened: bool,
    scanned: bool,
    /// Wall-clock start of the previous scan.
    previous_scan: Option<SystemTime>,
    /// When the saved positions were taken.
    saved_at: Option<SystemTime>,
    /// Rotated files read to their end, and when.
    finished: HashMap<(u64, u64), Instant>,
    next: usize,
    scratch: Vec<u8>,
    /// Paths whose open failure was logged.
    warned: HashSet<PathBuf>,
}

impl FileSet {
    /// A set resuming from `saved` (none: the very first start).
    pub fn new(
        patterns: Vec<String>,
        saved: Option<&Positions>,
        start: StartPosition,
        max_line_bytes: usize,
    ) -> Result<Self, glob::PatternError> {
        for pattern in &patterns {
            glob::Pattern::new(pattern)?;
        }
        Ok(Self {
            patterns,
            known_patterns: saved
                .map(|s| s.patterns.iter().cloned().collect())
                .unwrap_or_default(),
            first_start: saved.is_none(),
            start,
            max_line_bytes: max_line_bytes.max(1),
            files: Vec::new(),
            restored: saved.map(|s| s.files.clone()).unwrap_or_default(),
            start_pending: HashMap::new(),
            partial_wait: Some(PARTIAL_LINE_WAIT),
            opened: true,
            scanned: false,
            previous_scan: None,
            saved_at: saved.and_then(|s| s.taken_at).map(SystemTime::from),
            finished: HashMap::new(),
            next: 0,
            scratch: vec![0; CHUNK_BYTES],
            warned: HashSet::new(),
        })
    }

    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }

    /// Files followed now (including rotated ones still being read).
    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The positions to save once everything handed out so far is acknowledged (with the
    /// saved positions of files not opened yet, kept as they were).
    pub fn snapshot(&self) -> Vec<SavedFile> {
        self.files
            .iter()
            .map(Tailed::saved)
            .chain(self.restored.iter().cloned())
            .collect()
    }

    /// Hand out an unterminated last line after `wait` idle (`None`: only once its file is
    /// rotated away or deleted, for writers that may pause mid-line, e.g. JSON documents).
    pub fn set_partial_line_wait(&mut self, wait: Option<Duration>) {
        self.partial_wait = wait;
    }

    /// Whether the first scan ran or a file was opened since the last call: positions taken
    /// while nothing is in flight should then be saved, so that a restart knows these files.
    pub fn take_opened(&mut self) -> bool {
        std::mem::take(&mut self.opened)
    }

    /// Looks for rotated, replaced and new files.
    pub fn scan(&mut self) {
        let scan_started = SystemTime::now();
        let mut rotated_now: Vec<(PathBuf, usize)> = Vec::new();
        let mut matched: Vec<(PathBuf, usize)> = Vec::new();
        let mut seen = HashSet::new();
        for (spec, pattern) in self.patterns.iter().enumerate() {
            let Ok(paths) = glob::glob(pattern) else {
                continue;
            };
            for path in paths.flatten() {
                if is_compressed(&path) {
                    continue;
                }
                if seen.insert(path.clone()) {
                    matched.push((path, spec));
                }
            }
        }

        for t in self.files.iter_mut().filter(|t| t.rotated_at.is_none()) {
            match std::fs::metadata(&t.path) {
                Ok(meta) if (meta.dev(), meta.ino()) == (t.dev, t.ino) => {
                    if !t.head_unchanged() {
                        tracing::info!(path = %t.source, "file rewritten in place; reading it again from the start");
                        t.restart_at(0);
                        if let Ok(head) = read_head(&t.file) {
                            t.head = Head::of(&head);
                        }
                    }
                }
                _ => {
                    tracing::info!(path = %t.source, "file rotated or removed; reading the rest of it");
                    t.rotated_at = Some(Instant::now());
                    rotated_now.push((t.path.clone(), t.spec));
                }
            }
        }

        for (path, spec) in matched {
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            if let Some(t) = self
                .files
                .iter_mut()
                .find(|t| (t.dev, t.ino) == (meta.dev(), meta.ino()))
            {
                if t.rotated_at.is_some() {
                    // Renamed to a name that still matches: go on following it there.
                    t.rotated_at = None;
                    t.source = path.to_string_lossy().into_owned();
                    t.path = path;
                }
                continue;
            }
            let file = match open_file(&path) {
                Ok(file) => file,
                Err(err) => {
                    let pattern_is_new = !self.known_patterns.contains(&self.patterns[spec]);
                    if !self.scanned && (self.first_start || pattern_is_new) {
                        self.start_pending
                            .insert(path.clone(), (meta.dev(), meta.ino(), meta.len()));
                    }
                    if self.warned.insert(path.clone()) {
                        tracing::warn!(path = %path.display(), error = %err, "cannot open a log file; retrying at every scan");
                    }
                    continue;
                }
            };
            self.warned.remove(&path);
            let Ok(meta) = file.metadata() else {
                continue;
            };
            let offset = self.start_offset(&file, &meta, &path, spec);
            match Tailed::open(&path, spec, file, offset) {
                Ok(t) => {
                    tracing::info!(path = %t.source, offset_bytes = offset, "following file");
                    self.files.push(t);
                    self.opened = true;
                }
                Err(err) => {
                    tracing::warn!(path = %path.display(), error = %err, "cannot read a log file");
                }
            }
        }

        if let Some(since) = self.previous_scan {
            for (path, spec) in rotated_now {
                self.recover_missed(&path, spec, since);
            }
        }
        if !self.scanned {
            self.scanned = true;
            self.opened = true;
            self.recover_orphans(true);
        } else if !self.restored.is_empty() {
            self.recover_orphans(false);
        }
        self.previous_scan = Some(scan_started);
        self.finished.retain(|_, at| at.elapsed() < FINISHED_MEMORY);
    }

    /// Files named like rotations of `path` (`app.log.1`, `app.log-20261125`), changed since
    /// `since` and never followed: generations created and rotated away between two scans (or
    /// while this process was stopped). They are read from their start, oldest first.
    fn recover_missed(&mut self, path: &Path, spec: usize, since: SystemTime) {
        let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            return;
        };
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let since = since.checked_sub(MTIME_SLACK).unwrap_or(since);
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut missed = Vec::new();
        for entry in entries.flatten() {
            let entry_name = entry.file_name().to_string_lossy().into_owned();
            let Some(rest) = entry_name.strip_prefix(&name) else {
                continue;
            };
            if !rest.starts_with(['.', '-', '_']) || COMPRESSED.iter().any(|c| rest.ends_with(c)) {
                continue;
            }
            let Ok(meta) = std::fs::symlink_metadata(entry.path()) else {
                continue;
            };
            let key = (meta.dev(), meta.ino());
            let changed = meta.modified().ok();
            if !meta.is_file()
                || changed.is_none_or(|m| m < since)
                || self.finished.contains_key(&key)
                || self.files.iter().any(|t| (t.dev, t.ino) == key)
            {
                continue;
            }
            missed.push((changed, entry.path()));
        }
        missed.sort();
        for (_, missed_path) in missed {
            let Ok(file) = File::open(&missed_path) else {
                continue;
            };
            if let Ok(mut t) = Tailed::open(&missed_path, spec, file, 0) {
                tracing::info!(path = %t.source, rotated_from = %path.display(), "reading a rotated file that was never seen at its path");
                t.rotated_at = Some(Instant::now());
                self.files.push(t);
            }
        }
    }

    /// Where a file seen for the first time this run starts.
    fn start_offset(
        &mut self,
        file: &File,
        meta: &std::fs::Metadata,
        path: &Path,
        spec: usize,
    ) -> u64 {
        if let Some(saved) = self.take_restored(file, meta, path) {
            if meta.len() >= saved.offset && head_matches(file, saved.head_len, &saved.head_sha256)
            {
                return saved.offset;
            }
            tracing::info!(path = %path.display(), saved_offset_bytes = saved.offset, "file replaced or truncated since the last run; reading it from the start");
            return 0;
        }
        let pattern_is_new = !self.known_patterns.contains(&self.patterns[spec]);
        let at_first_sight = !self.scanned && (self.first_start || pattern_is_new);
        if at_first_sight {
            return match self.start {
                StartPosition::Beginning => 0,
                StartPosition::End => last_line_boundary(file, meta.len()),
            };
        }
        if let Some((dev, ino, len)) = self.start_pending.remove(path)
            && (dev, ino) == (meta.dev(), meta.ino())
        {
            // There at first sight but not readable then: its end then is where it starts.
            return match self.start {
                StartPosition::Beginning => 0,
                StartPosition::End => last_line_boundary(file, len.min(meta.len())),
            };
        }
        0
    }

    /// The saved position of the file just opened at `path`: found by its identity, or, when
    /// the device number changed (a reboot renumbered NVMe, LVM or btrfs devices), by the same
    /// path and inode with the same first bytes.
    fn take_restored(
        &mut self,
        file: &File,
        meta: &std::fs::Metadata,
        path: &Path,
    ) -> Option<SavedFile> {
        if let Some(i) = self
            .restored
            .iter()
            .position(|s| (s.dev, s.ino) == (meta.dev(), meta.ino()))
        {
            return Some(self.restored.swap_remove(i));
        }
        let i = self.restored.iter().position(|s| {
            s.path == path
                && s.ino == meta.ino()
                && meta.len() >= s.offset
                && head_matches(file, s.head_len, &s.head_sha256)
        })?;
        let saved = self.restored.swap_remove(i);
        tracing::info!(path = %path.display(), saved_device = saved.dev, device = meta.dev(), offset_bytes = saved.offset, "device number changed since the last run; same file by path, inode and first bytes");
        Some(saved)
    }

    /// Saved files not opened at their path: rotated away while this process was not running
    /// (found in their directory under another name, their rest is read), not readable now
    /// (kept, and tried again at every scan), or gone (forgotten). `first`: the first scan,
    /// which also looks for generations rotated away while stopped.
    fn recover_orphans(&mut self, first: bool) {
        let mut rotated: Vec<PathBuf> = Vec::new();
        for saved in std::mem::take(&mut self.restored) {
            if first {
                rotated.push(saved.path.clone());
            }
            let dir = saved
                .path
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let mut same_dev = None;
            let mut other_dev = None;
            if let Ok(entries) = std::fs::read_dir(dir) {
                for path in entries.flatten().map(|e| e.path()) {
                    let Ok(m) = std::fs::symlink_metadata(&path) else {
                        continue;
                    };
                    if !m.is_file() || m.ino() != saved.ino {
                        continue;
                    }
                    if self
                        .files
                        .iter()
                        .any(|t| (t.dev, t.ino) == (m.dev(), m.ino()))
                    {
                        // Followed already (opened at its path this scan).
                        same_dev = None;
                        other_dev = None;
                        break;
                    }
                    if m.dev() == saved.dev {
                        same_dev = Some(path);
                        break;
                    }
                    other_dev.get_or_insert(path);
                }
            }
            let Some(path) = same_dev.or(other_dev) else {
                tracing::info!(path = %saved.path.display(), "a file followed before is gone");
                continue;
            };
            let file = match open_file(&path) {
                Ok(file) => file,
                Err(err) => {
                    if self.warned.insert(path.clone()) {
                        tracing::warn!(path = %path.display(), error = %err, offset_bytes = saved.offset, "cannot open a file followed before; keeping its position and retrying at every scan");
                    }
                    self.restored.push(saved);
                    continue;
                }
            };
            self.warned.remove(&path);
            let fits = file.metadata().is_ok_and(|m| m.len() >= saved.offset)
                && head_matches(&file, saved.head_len, &saved.head_sha256);
            if !fits {
                continue;
            }
            if let Ok(mut t) = Tailed::open(&path, 0, file, saved.offset) {
                tracing::info!(path = %t.source, was = %saved.path.display(), offset_bytes = saved.offset, "reading the rest of a file rotated while stopped");
                // Keep the component of the pattern that matched its old name.
                t.spec = self
                    .patterns
                    .iter()
                    .position(|p| glob::Pattern::new(p).is_ok_and(|p| p.matches_path(&saved.path)))
                    .unwrap_or(0);
                t.rotated_at = Some(Instant::now());
                self.files.push(t);
                self.opened = true;
            }
        }
        if !first {
            return;
        }
        if let Some(since) = self.saved_at {
            rotated.sort();
            rotated.dedup();
            for path in rotated {
                let spec = self
                    .patterns
                    .iter()
                    .position(|p| glob::Pattern::new(p).is_ok_and(|p| p.matches_path(&path)))
                    .unwrap_or(0);
                self.recover_missed(&path, spec, since);
            }
        }
    }

    /// Reads every file in turn, handing lines to `sink` until it is full or nothing is left.
    pub fn read(&mut self, sink: &mut dyn FnMut(RawLine<'_>) -> Take) -> ReadOutcome {
        let mut outcome = ReadOutcome::default();
        let count = self.files.len();
        if count == 0 {
            return outcome;
        }
        let first = self.next % count;
        let mut done = Vec::new();
        for k in 0..count {
            let idx = (first + k) % count;
            let t = &mut self.files[idx];
            match t.pump(
                &mut self.scratch,
                self.max_line_bytes,
                self.partial_wait,
                sink,
            ) {
                Ok(Pump::Idle) => {}
                Ok(Pump::Progress) => {
                    t.warned = false;
                    outcome.progressed = true;
                }
                Ok(Pump::Full) => {
                    outcome.progressed = true;
                    outcome.full = true;
                    self.next = idx + 1;
                    break;
                }
                Ok(Pump::Done) => {
                    tracing::info!(path = %t.source, offset_bytes = t.line_start, "finished a rotated file");
                    self.finished.insert((t.dev, t.ino), Instant::now());
                    done.push(idx);
                }
                Err(err) => {
                    if !t.warned {
                        t.warned = true;
                        tracing::warn!(path = %t.source, error = %err, "reading a log file failed; retrying");
                    }
                }
            }
        }
        if !outcome.full {
            self.next = first + 1;
        }
        if !done.is_empty() {
            let mut idx = 0;
            self.files.retain(|_| {
                let keep = !done.contains(&idx);
                idx += 1;
                keep
            });
        }
        outcome
    }
}

/// The offset just after the last newline of the file's last 64 KiB (`size` when there is none
/// or the file ends with one): starting "at the end" never starts mid-line.
fn last_line_boundary(file: &File, size: u64) -> u64 {
    let from = size.saturating_sub(CHUNK_BYTES as u64);
    let mut tail = vec![0u8; (size - from) as usize];
    match file.read_exact_at(&mut tail, from) {
        Ok(()) => memchr::memrchr(b'\n', &tail).map_or(size, |i| from + i as u64 + 1),
        Err(_) => size,
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn collect(set: &mut FileSet) -> Vec<(String, u64, bool)> {
        let mut lines = Vec::new();
        set.read(&mut |line: RawLine<'_>| {
            lines.push((
                String::from_utf8_lossy(line.bytes).into_owned(),
                line.offset,
                line.truncated,
            ));
            Take::More
        });
        lines
    }

    fn append(path: &Path, text: &[u8]) {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        file.write_all(text).unwrap();
    }

    #[test]
    fn lines_partial_lines_and_long_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        append(&path, b"old\n");
        let pattern = dir.path().join("*.log").to_string_lossy().into_owned();
        let mut set = FileSet::new(vec![pattern], None, StartPosition::End, 8).unwrap();
        set.scan();
        assert_eq!(set.len(), 1);
        assert!(collect(&mut set).is_empty(), "first start at the end");
        append(&path, b"one\ntw");
        assert_eq!(collect(&mut set), vec![("one".into(), 4, false)]);
        append(&path, b"o\n0123456789abcdef\nthree\n");
        assert_eq!(
            collect(&mut set),
            vec![
                ("two".into(), 8, false),
                ("01234567".into(), 12, true),
                ("three".into(), 29, false)
            ]
        );
        assert_eq!(set.snapshot()[0].offset, 35);
    }

    #[test]
    fn refused_lines_come_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let pattern = dir.path().join("*.log").to_string_lossy().into_owned();
        let mut set = FileSet::new(vec![pattern], None, StartPosition::End, 100).unwrap();
        set.scan();
        append(&path, b"");
        set.scan();
        append(&path, b"a\nb\nc\n");
        let mut got = Vec::new();
        let outcome = set.read(&mut |line: RawLine<'_>| {
            if line.bytes == b"b" {
                return Take::Refused;
            }
            got.push(line.bytes.to_vec());
            Take::More
        });
        assert!(outcome.full);
        assert_eq!(got, vec![b"a".to_vec()]);
        assert_eq!(set.snapshot()[0].offset, 2);
        let lines: Vec<String> = collect(&mut set).into_iter().map(|l| l.0).collect();
        assert_eq!(lines, vec!["b", "c"]);
    }

    #[test]
    fn resume_rotation_and_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let pattern = dir.path().join("*.log").to_string_lossy().into_owned();
        append(&path, b"1\n2\n");
        let mut set =
            FileSet::new(vec![pattern.clone()], None, StartPosition::Beginning, 100).unwrap();
        set.scan();
        assert_eq!(collect(&mut set).len(), 2);
        let saved = Positions::new(vec![pattern.clone()], set.snapshot(), None);

        // Restart: resumes at the saved offset; lines written meanwhile come, once.
        append(&path, b"3\n");
        let mut set =
            FileSet::new(vec![pattern.clone()], Some(&saved), StartPosition::End, 100).unwrap();
        set.scan();
        let lines: Vec<String> = collect(&mut set).into_iter().map(|l| l.0).collect();
        assert_eq!(lines, vec!["3"]);

        // Rename rotation: the old handle is read to its end, the new file from 0.
        append(&path, b"4\n");
        std::fs::rename(&path, dir.path().join("a.log.1")).unwrap();
        append(&path, b"5\n");
        set.scan();
        assert_eq!(set.len(), 2);
        let mut lines: Vec<String> = collect(&mut set).into_iter().map(|l| l.0).collect();
        lines.sort();
        assert_eq!(lines, vec!["4", "5"]);

        // Truncation: read again from the start, noticed by the size or, when the new content
        // is as long already, by the first bytes.
        std::fs::write(&path, b"").unwrap();
        append(&path, b"6\n");
        set.scan();
        let lines: Vec<String> = collect(&mut set).into_iter().map(|l| l.0).collect();
        assert_eq!(lines, vec!["6"]);
        std::fs::write(&path, b"").unwrap();
        append(&path, b"x");
        let lines: Vec<String> = collect(&mut set).into_iter().map(|l| l.0).collect();
        assert!(lines.is_empty());
        append(&path, b"\n6\n");
        let lines: Vec<String> = collect(&mut set).into_iter().map(|l| l.0).collect();
        assert_eq!(lines, vec!["x", "6"]);

        // Stopped before the rotation was acknowledged: the rotated file is found by inode.
        let saved = Positions::new(vec![pattern.clone()], set.snapshot(), None);
        append(&path, b"7\n");
        std::fs::rename(&path, dir.path().join("a.log.2")).unwrap();
        append(&path, b"8\n");
        let mut set = FileSet::new(vec![pattern], Some(&saved), StartPosition::End, 100).unwrap();
        set.scan();
        let mut lines: Vec<String> = collect(&mut set).into_iter().map(|l| l.0).collect();
        lines.sort();
        assert_eq!(lines, vec!["7", "8"]);
    }

    fn texts(set: &mut FileSet) -> Vec<String> {
        let mut lines: Vec<String> = collect(set).into_iter().map(|l| l.0).collect();
        lines.sort();
        lines
    }

    #[test]
    fn a_changed_device_number_keeps_the_saved_offset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let pattern = dir.path().join("*.log").to_string_lossy().into_owned();
        append(&path, b"1\n2\n");
        append(&dir.path().join("b.log"), b"b1\n");
        let mut set =
            FileSet::new(vec![pattern.clone()], None, StartPosition::Beginning, 100).unwrap();
        set.scan();
        assert_eq!(collect(&mut set).len(), 3);
        // After a reboot the device is renumbered; b.log was rotated away meanwhile.
        let mut files = set.snapshot();
        for f in &mut files {
            f.dev += 1000;
        }
        let saved = Positions::new(vec![pattern.clone()], files, None);
        append(&path, b"3\n");
        append(&dir.path().join("b.log"), b"b2\n");
        std::fs::rename(dir.path().join("b.log"), dir.path().join("b.log.1")).unwrap();
        let mut set = FileSet::new(vec![pattern], Some(&saved), StartPosition::End, 100).unwrap();
        set.scan();
        assert_eq!(texts(&mut set), vec!["3", "b2"]);
    }

    #[test]
    fn a_file_that_cannot_be_opened_keeps_its_position() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let late = dir.path().join("late.log");
        let pattern = dir.path().join("*.log").to_string_lossy().into_owned();
        append(&path, b"1\n");
        let mut set =
            FileSet::new(vec![pattern.clone()], None, StartPosition::Beginning, 100).unwrap();
        set.scan();
        assert_eq!(collect(&mut set).len(), 1);
        let saved = Positions::new(vec![pattern.clone()], set.snapshot(), None);

        // Unreadable at the next start, and saved again meanwhile.
        append(&path, b"2\n");
        DENIED.with(|d| d.borrow_mut().insert(path.clone()));
        let mut set =
            FileSet::new(vec![pattern.clone()], Some(&saved), StartPosition::End, 100).unwrap();
        set.scan();
        assert!(collect(&mut set).is_empty());
        set.scan();
        let again = Positions::new(vec![pattern.clone()], set.snapshot(), None);
        assert_eq!(again.files, saved.files, "kept while not opened");

        // Readable again: resumes at the saved offset.
        DENIED.with(|d| d.borrow_mut().clear());
        set.scan();
        assert_eq!(texts(&mut set), vec!["2"]);

        // A file there at the very first start but unreadable follows start_position (end)
        // once it can be opened.
        append(&late, b"old\n");
        DENIED.with(|d| d.borrow_mut().insert(late.clone()));
        let mut set = FileSet::new(vec![pattern], None, StartPosition::End, 100).unwrap();
        set.scan();
        append(&late, b"new\n");
        DENIED.with(|d| d.borrow_mut().clear());
        set.scan();
        assert_eq!(texts(&mut set), vec!["new"]);
    }

    #[test]
    fn opened_files_ask_for_a_save() {
        let dir = tempfile::tempdir().unwrap();
        let pattern = dir.path().join("*.log").to_string_lossy().into_owned();
        let path = dir.path().join("a.log");
        append(&path, b"before\n");
        let mut set = FileSet::new(vec![pattern.clone()], None, StartPosition::End, 100).unwrap();
        set.scan();
        assert!(set.take_opened(), "after the first scan");
        assert!(!set.take_opened());
        // The positions saved then make the next start resume, not start at the end again.
        let saved = Positions::new(vec![pattern.clone()], set.snapshot(), None);
        assert_eq!(saved.files[0].offset, 7);
        append(&path, b"while stopped\n");
        let mut again =
            FileSet::new(vec![pattern.clone()], Some(&saved), StartPosition::End, 100).unwrap();
        again.scan();
        assert_eq!(texts(&mut again), vec!["while stopped"]);
        set.scan();
        assert!(!set.take_opened());
        append(&dir.path().join("b.log"), b"x\n");
        set.scan();
        assert!(set.take_opened(), "a new file");
    }

    #[test]
    fn partial_lines_wait_for_rotation_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n.jsonl");
        let pattern = dir.path().join("*.jsonl").to_string_lossy().into_owned();
        let mut set =
            FileSet::new(vec![pattern.clone()], None, StartPosition::Beginning, 100).unwrap();
        set.set_partial_line_wait(None);
        append(&path, b"{\"a\":");
        set.scan();
        let mut short = FileSet::new(vec![pattern], None, StartPosition::Beginning, 100).unwrap();
        short.set_partial_line_wait(Some(Duration::ZERO));
        short.scan();
        assert_eq!(texts(&mut short), vec!["{\"a\":"], "the log follower's way");
        assert!(collect(&mut set).is_empty());
        std::thread::sleep(Duration::from_millis(20));
        assert!(collect(&mut set).is_empty(), "never after idle time alone");
        append(&path, b"1}\n{\"b\":");
        assert_eq!(texts(&mut set), vec!["{\"a\":1}"]);
        // Deleted: the rest is handed out once the file is given up.
        std::fs::remove_file(&path).unwrap();
        set.scan();
        let deadline = Instant::now() + ROTATED_WAIT * 3;
        let mut got = Vec::new();
        while got.is_empty() && Instant::now() < deadline {
            got = texts(&mut set);
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(got, vec!["{\"b\":"]);
    }

    #[test]
    fn compressed_files_and_nul_runs() {
        let dir = tempfile::tempdir().unwrap();
        let pattern = dir.path().join("*").to_string_lossy().into_owned();
        append(&dir.path().join("engine.log.2.gz"), b"\x1f\x8b\n");
        let path = dir.path().join("engine.log");
        let mut set = FileSet::new(vec![pattern], None, StartPosition::Beginning, 8).unwrap();
        set.scan();
        assert_eq!(set.len(), 0, "compressed copies are not followed");
        // A sparse hole (copytruncate with a writer not in O_APPEND mode) before a line.
        let mut text = vec![0u8; 100_000];
        text.extend_from_slice(b"after\n");
        append(&path, &text);
        set.scan();
        let lines = collect(&mut set);
        assert_eq!(lines, vec![("after".into(), 0, false)]);
    }

    #[test]
    fn generations_rotated_away_between_scans_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let pattern = dir.path().join("*.log").to_string_lossy().into_owned();
        append(&path, b"g1 a\n");
        let mut set =
            FileSet::new(vec![pattern.clone()], None, StartPosition::Beginning, 100).unwrap();
        set.scan();
        assert_eq!(collect(&mut set).len(), 1);

        // Two rotations before the next scan: generation 2 never sat at the path when a scan
        // looked. An old compressed copy and an unrelated file are left alone.
        append(&dir.path().join("a.log.9.gz"), b"old\n");
        append(&dir.path().join("b.log.1"), b"other\n");
        append(&path, b"g1 b\n");
        std::fs::rename(&path, dir.path().join("a.log.1")).unwrap();
        append(&path, b"g2 a\ng2 b\n");
        std::fs::rename(&path, dir.path().join("a.log.2")).unwrap();
        append(&path, b"g3 a\n");
        set.scan();
        let mut lines: Vec<String> = collect(&mut set).into_iter().map(|l| l.0).collect();
        lines.sort();
        assert_eq!(lines, vec!["g1 b", "g2 a", "g2 b", "g3 a"]);
        let saved = Positions::new(vec![pattern.clone()], set.snapshot(), None);

        // The same while stopped: generation 4 is read at the next start, once.
        append(&path, b"g3 b\n");
        std::fs::rename(&path, dir.path().join("a.log.3")).unwrap();
        append(&path, b"g4 a\n");
        std::fs::rename(&path, dir.path().join("a.log.4")).unwrap();
        append(&path, b"g5 a\n");
        let mut set = FileSet::new(vec![pattern], Some(&saved), StartPosition::End, 100).unwrap();
        set.scan();
        let mut lines: Vec<String> = collect(&mut set).into_iter().map(|l| l.0).collect();
        lines.sort();
        assert_eq!(lines, vec!["g3 b", "g4 a", "g5 a"]);
    }
}

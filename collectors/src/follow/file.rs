//! One followed file (for [`super::tail::FileSet`]): its open handle, identity and first-bytes
//! fingerprint, and reading it line by line from a byte position, so a set of files can be
//! followed and resumed byte for byte. The lines it hands out ([`RawLine`]) and what a sink
//! answers ([`Take`]) are the follow framework's vocabulary.

#[cfg(test)]
use std::collections::HashSet;
use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::positions::SavedFile;
/// How many first bytes of a file make its fingerprint.
pub const HEAD_BYTES: usize = 256;
/// Bytes read from a file per system call.
pub(super) const CHUNK_BYTES: usize = 64 * 1024;
/// How long a file may sit idle with an unterminated last line before that line is handed out.
pub const PARTIAL_LINE_WAIT: Duration = Duration::from_secs(5);
/// How long a file rotated away is still read (for writers that have not reopened yet) once it
/// is idle.
pub const ROTATED_WAIT: Duration = Duration::from_secs(2);
/// How long a file read to its end after rotation is remembered (never read again meanwhile).
pub(super) const FINISHED_MEMORY: Duration = Duration::from_secs(600);
/// Modification times lag the wall clock a little (coarse kernel clock).
pub(super) const MTIME_SLACK: Duration = Duration::from_millis(50);
/// Rotated files with these endings are compressed copies: never read.
pub(super) const COMPRESSED: &[&str] = &[".gz", ".bz2", ".xz", ".zst", ".lz4", ".zip", ".Z"];

/// One line read from a file, without its newline.
#[derive(Debug)]
pub struct RawLine<'a> {
    /// Index of the pattern that matched the file.
    pub spec: usize,
    /// The file's path, as text.
    pub source: &'a str,
    /// Byte offset of the line's start.
    pub offset: u64,
    /// At most `max_line_bytes` bytes.
    pub bytes: &'a [u8],
    /// The line was longer and was cut.
    pub truncated: bool,
}

/// What the sink does with a line it is handed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// Taken; hand out more.
    More,
    /// Taken, and the batch is now full.
    Last,
    /// Not taken (it does not fit): hand it out again next time.
    Refused,
}

/// What one [`FileSet::read`](super::tail::FileSet::read) did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadOutcome {
    /// Bytes were read or lines handed out.
    pub progressed: bool,
    /// The sink said its batch is full.
    pub full: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pump {
    Idle,
    Progress,
    Full,
    /// A rotated-away file read to its end: close it.
    Done,
}

/// Fingerprint of a file's first bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Head {
    pub(super) len: u64,
    sha256: [u8; 32],
}

impl Head {
    pub(super) fn of(bytes: &[u8]) -> Self {
        Self {
            len: bytes.len() as u64,
            sha256: Sha256::digest(bytes).into(),
        }
    }

    pub(super) fn hex(&self) -> String {
        hex::encode(self.sha256)
    }
}

/// The first (at most [`HEAD_BYTES`]) bytes of `file`.
pub(super) fn read_head(file: &File) -> std::io::Result<Vec<u8>> {
    let mut head = vec![0u8; HEAD_BYTES];
    let mut filled = 0;
    while filled < HEAD_BYTES {
        let n = file.read_at(&mut head[filled..], filled as u64)?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    head.truncate(filled);
    Ok(head)
}

/// Whether `file` still starts with the bytes fingerprinted as `len` and `sha256_hex`.
pub(super) fn head_matches(file: &File, len: u64, sha256_hex: &str) -> bool {
    match read_head(file) {
        Ok(head) if head.len() as u64 >= len => {
            hex::encode(Sha256::digest(&head[..len as usize])) == sha256_hex
        }
        _ => false,
    }
}

/// `bytes` without its leading NUL bytes.
pub(super) fn skip_nul(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// Whether the file name ends like a compressed copy (`engine.log.2.gz`).
pub(super) fn is_compressed(path: &Path) -> bool {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .is_some_and(|name| COMPRESSED.iter().any(|c| name.ends_with(c)))
}

#[cfg(test)]
thread_local! {
    /// Paths that fail to open in this test thread (tests run as root, where permissions do
    /// not stop a read).
    pub(super) static DENIED: std::cell::RefCell<HashSet<PathBuf>> = std::cell::RefCell::new(HashSet::new());
}

/// Opens a followed file for reading.
pub(super) fn open_file(path: &Path) -> std::io::Result<File> {
    #[cfg(test)]
    if DENIED.with(|d| d.borrow().contains(path)) {
        return Err(std::io::Error::from(std::io::ErrorKind::PermissionDenied));
    }
    File::open(path)
}

/// One followed file.
#[derive(Debug)]
pub(super) struct Tailed {
    pub(super) spec: usize,
    pub(super) path: PathBuf,
    pub(super) source: String,
    pub(super) file: File,
    pub(super) dev: u64,
    pub(super) ino: u64,
    pub(super) head: Head,
    /// Start of the first line not handed out: the position to save.
    pub(super) line_start: u64,
    /// Next byte to read.
    pub(super) read_pos: u64,
    /// The unterminated line read so far (at most `max_line_bytes`).
    pub(super) buf: Vec<u8>,
    /// The current line passed `max_line_bytes`: the rest up to its newline is skipped.
    pub(super) skipping: bool,
    /// When bytes last arrived.
    pub(super) last_data: Instant,
    /// When the path stopped naming this file.
    pub(super) rotated_at: Option<Instant>,
    /// A read error was logged (once until it reads again).
    pub(super) warned: bool,
}

impl Tailed {
    pub(super) fn open(path: &Path, spec: usize, file: File, offset: u64) -> std::io::Result<Self> {
        let meta = file.metadata()?;
        let head = Head::of(&read_head(&file)?);
        Ok(Self {
            spec,
            path: path.to_path_buf(),
            source: path.to_string_lossy().into_owned(),
            file,
            dev: meta.dev(),
            ino: meta.ino(),
            head,
            line_start: offset,
            read_pos: offset,
            buf: Vec::new(),
            skipping: false,
            last_data: Instant::now(),
            rotated_at: None,
            warned: false,
        })
    }

    pub(super) fn restart_at(&mut self, offset: u64) {
        self.line_start = offset;
        self.read_pos = offset;
        self.buf.clear();
        self.skipping = false;
    }

    /// Appends the start of an unterminated line, up to `max` bytes in all.
    pub(super) fn append(&mut self, piece: &[u8], max: usize) {
        if self.skipping {
            return;
        }
        // A run of NUL bytes (a sparse hole left by copytruncate) is no line's start.
        let piece = if self.buf.is_empty() {
            skip_nul(piece)
        } else {
            piece
        };
        let keep = max.saturating_sub(self.buf.len()).min(piece.len());
        self.buf.extend_from_slice(&piece[..keep]);
        if keep < piece.len() {
            self.skipping = true;
        }
    }

    /// Same file at its path, first bytes unchanged? Refreshes the fingerprint while the file
    /// is shorter than [`HEAD_BYTES`]. `false`: rewritten in place (truncated and refilled).
    pub(super) fn head_unchanged(&mut self) -> bool {
        let Ok(head) = read_head(&self.file) else {
            return true;
        };
        if (head.len() as u64) < self.head.len {
            // Shorter: truncated; the read path notices from the size.
            return true;
        }
        if Head::of(&head[..self.head.len as usize]) != self.head {
            return false;
        }
        if head.len() as u64 > self.head.len {
            self.head = Head::of(&head);
        }
        true
    }

    pub(super) fn saved(&self) -> SavedFile {
        SavedFile {
            path: self.path.clone(),
            dev: self.dev,
            ino: self.ino,
            offset: self.line_start,
            head_len: self.head.len,
            head_sha256: self.head.hex(),
        }
    }

    /// Reads what is new and hands out complete lines.
    pub(super) fn pump(
        &mut self,
        scratch: &mut [u8],
        max: usize,
        partial_wait: Option<Duration>,
        sink: &mut dyn FnMut(RawLine<'_>) -> Take,
    ) -> std::io::Result<Pump> {
        let size = self.file.metadata()?.len();
        // Shorter than what was read, or (truncated and already refilled past that point) its
        // first bytes changed: read it again from the start.
        let rewritten = size > self.read_pos && self.read_pos > 0 && !self.head_unchanged();
        if size < self.read_pos || rewritten {
            tracing::info!(path = %self.source, offset_bytes = self.read_pos, size_bytes = size, "file truncated; reading it again from the start");
            self.restart_at(0);
            self.head = Head::of(&read_head(&self.file)?);
        }
        let mut progressed = false;
        loop {
            let n = self.file.read_at(scratch, self.read_pos)?;
            if n == 0 {
                break;
            }
            progressed = true;
            self.last_data = Instant::now();
            let chunk_start = self.read_pos;
            let data = &scratch[..n];
            let mut i = 0;
            while let Some(j) = memchr::memchr(b'\n', &data[i..]) {
                let piece = &data[i..i + j];
                let end = chunk_start + (i + j + 1) as u64;
                let take = if self.buf.is_empty() && !self.skipping {
                    let piece = skip_nul(piece);
                    let keep = piece.len().min(max);
                    sink(RawLine {
                        spec: self.spec,
                        source: &self.source,
                        offset: self.line_start,
                        bytes: &piece[..keep],
                        truncated: keep < piece.len(),
                    })
                } else {
                    self.append(piece, max);
                    sink(RawLine {
                        spec: self.spec,
                        source: &self.source,
                        offset: self.line_start,
                        bytes: &self.buf,
                        truncated: self.skipping,
                    })
                };
                match take {
                    Take::Refused => {
                        self.restart_at(self.line_start);
                        return Ok(Pump::Full);
                    }
                    Take::More => {
                        self.line_start = end;
                        self.buf.clear();
                        self.skipping = false;
                        i += j + 1;
                    }
                    Take::Last => {
                        self.restart_at(end);
                        return Ok(Pump::Full);
                    }
                }
            }
            self.append(&data[i..], max);
            self.read_pos = chunk_start + n as u64;
        }

        let idle = self.last_data.elapsed();
        let finishing = self
            .rotated_at
            .is_some_and(|at| at.elapsed() >= ROTATED_WAIT)
            && idle >= ROTATED_WAIT;
        let idle_long = partial_wait.is_some_and(|wait| idle >= wait);
        if (!self.buf.is_empty() || self.skipping) && (idle_long || finishing) {
            let take = sink(RawLine {
                spec: self.spec,
                source: &self.source,
                offset: self.line_start,
                bytes: &self.buf,
                truncated: self.skipping,
            });
            if take == Take::Refused {
                return Ok(Pump::Full);
            }
            let end = self.read_pos;
            self.restart_at(end);
            if take == Take::Last {
                return Ok(Pump::Full);
            }
            progressed = true;
        }
        Ok(if finishing && self.buf.is_empty() && !self.skipping {
            Pump::Done
        } else if progressed {
            Pump::Progress
        } else {
            Pump::Idle
        })
    }
}

//! Where the file followers stand, kept on disk so a restart neither loses nor repeats a line.
//!
//! Two files in `state_dir`, both written atomically (temporary file, fsync, rename):
//! - `<name>-positions.json`: the read position of every followed file (and the journal cursor)
//!   up to which JetStream acknowledged the lines. Written only after the ack.
//! - `<name>-inflight.bin`: the one batch being published (its subject, message id, payload and
//!   the positions it leads to), written before the publish and removed after the positions
//!   were saved. A process killed between the ack and the positions write finds it at start and
//!   publishes it again with the same message id: JetStream's duplicate window, or else the
//!   aggregator's per-message-id check, drops the copy, and the positions move on. Without it,
//!   that window would repeat the batch's lines.

use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// Layout version of the positions file.
const VERSION: u32 = 1;

/// One followed file's acknowledged position, keyed by its identity (device and inode).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedFile {
    /// Where it was last seen (written lossily: a name that is not UTF-8 would make JSON
    /// serialisation, and so every save, fail).
    #[serde(serialize_with = "lossy_path")]
    pub path: PathBuf,
    pub dev: u64,
    pub ino: u64,
    /// Byte offset of the first line not yet acknowledged.
    pub offset: u64,
    /// Length and SHA-256 of the file's first bytes (at most 256): a file replaced or
    /// truncated and rewritten under the same inode no longer matches.
    pub head_len: u64,
    pub head_sha256: String,
}

fn lossy_path<S: serde::Serializer>(path: &Path, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&path.to_string_lossy())
}

/// Everything a follower needs to resume.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Positions {
    #[serde(default)]
    pub version: u32,
    /// The glob patterns followed when this was written: files of a pattern added later start
    /// at `start_position`, not at 0.
    #[serde(default)]
    pub patterns: Vec<String>,
    #[serde(default)]
    pub files: Vec<SavedFile>,
    /// `__CURSOR` of the last acknowledged journal entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal_cursor: Option<String>,
    /// When these positions were taken: a rotated file written after this and never followed
    /// (created and rotated away while the collector was stopped) is read at the next start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taken_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Positions {
    pub fn new(
        patterns: Vec<String>,
        files: Vec<SavedFile>,
        journal_cursor: Option<String>,
    ) -> Self {
        Self {
            version: VERSION,
            patterns,
            files,
            journal_cursor,
            taken_at: Some(chrono::Utc::now()),
        }
    }
}

/// A batch between "about to publish" and "positions saved".
#[derive(Debug, Clone)]
pub struct Inflight {
    pub subject: String,
    pub message_id: String,
    /// The serialised envelope.
    pub payload: Bytes,
    /// The positions once this batch is acknowledged.
    pub positions: Positions,
}

#[derive(Serialize, Deserialize)]
struct InflightHeader {
    subject: String,
    message_id: String,
    positions: Positions,
}

/// Why the state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid state file: {reason}")]
    Corrupt { path: PathBuf, reason: String },
}

/// The two state files of one follower (`logs`, `notifications`).
#[derive(Debug, Clone)]
pub struct Checkpoint {
    dir: PathBuf,
    positions: PathBuf,
    inflight: PathBuf,
}

impl Checkpoint {
    pub fn new(state_dir: &Path, name: &str) -> Self {
        Self {
            dir: state_dir.to_path_buf(),
            positions: state_dir.join(format!("{name}-positions.json")),
            inflight: state_dir.join(format!("{name}-inflight.bin")),
        }
    }

    pub fn positions_path(&self) -> &Path {
        &self.positions
    }

    /// The saved positions; `None` on the very first start.
    pub fn load(&self) -> Result<Option<Positions>, CheckpointError> {
        let Some(bytes) = read_if_present(&self.positions)? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|err| CheckpointError::Corrupt {
                path: self.positions.clone(),
                reason: err.to_string(),
            })
    }

    /// Like [`Checkpoint::load`], but a corrupt positions file is set aside (renamed to
    /// `<name>.corrupt-<unix time>`, logged as an error) and the follower starts as if no
    /// positions were saved, rather than failing at every start.
    pub fn load_or_set_aside(&self) -> Result<Option<Positions>, CheckpointError> {
        self.set_aside_if_corrupt(self.load())
    }

    /// Like [`Checkpoint::load_inflight`], but a corrupt in-flight file is set aside as
    /// [`Checkpoint::load_or_set_aside`] does.
    pub fn load_inflight_or_set_aside(&self) -> Result<Option<Inflight>, CheckpointError> {
        self.set_aside_if_corrupt(self.load_inflight())
    }

    /// A load that found its file corrupt: the file set aside, and nothing loaded.
    fn set_aside_if_corrupt<T>(
        &self,
        loaded: Result<Option<T>, CheckpointError>,
    ) -> Result<Option<T>, CheckpointError> {
        match loaded {
            Err(CheckpointError::Corrupt { path, reason }) => {
                self.set_aside(&path, &reason)?;
                Ok(None)
            }
            other => other,
        }
    }

    /// Renames a corrupt state file out of the way, keeping it for inspection.
    fn set_aside(&self, path: &Path, reason: &str) -> Result<PathBuf, CheckpointError> {
        let unix_s = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut name = path.as_os_str().to_owned();
        name.push(format!(".corrupt-{unix_s}"));
        let aside = PathBuf::from(name);
        std::fs::rename(path, &aside).map_err(|source| CheckpointError::Write {
            path: path.to_path_buf(),
            source,
        })?;
        self.sync_dir(path)?;
        tracing::error!(path = %path.display(), moved_to = %aside.display(), %reason, "a state file is corrupt; set it aside and starting as if it did not exist (files follow start_position)");
        Ok(aside)
    }

    /// Makes a rename in `state_dir` durable.
    fn sync_dir(&self, path: &Path) -> Result<(), CheckpointError> {
        std::fs::File::open(&self.dir)
            .and_then(|dir| dir.sync_all())
            .map_err(|source| CheckpointError::Write {
                path: path.to_path_buf(),
                source,
            })
    }

    /// The batch a previous run was publishing when it stopped, if any.
    pub fn load_inflight(&self) -> Result<Option<Inflight>, CheckpointError> {
        let Some(bytes) = read_if_present(&self.inflight)? else {
            return Ok(None);
        };
        let corrupt = |reason: String| CheckpointError::Corrupt {
            path: self.inflight.clone(),
            reason,
        };
        let newline = bytes
            .iter()
            .position(|b| *b == b'\n')
            .ok_or_else(|| corrupt("no header line".into()))?;
        let header: InflightHeader =
            serde_json::from_slice(&bytes[..newline]).map_err(|err| corrupt(err.to_string()))?;
        Ok(Some(Inflight {
            subject: header.subject,
            message_id: header.message_id,
            payload: Bytes::copy_from_slice(&bytes[newline + 1..]),
            positions: header.positions,
        }))
    }

    /// Records the batch about to be published.
    pub fn write_inflight(&self, inflight: &Inflight) -> Result<(), CheckpointError> {
        let header = InflightHeader {
            subject: inflight.subject.clone(),
            message_id: inflight.message_id.clone(),
            positions: inflight.positions.clone(),
        };
        let mut bytes = serde_json::to_vec(&header).map_err(|err| CheckpointError::Corrupt {
            path: self.inflight.clone(),
            reason: err.to_string(),
        })?;
        bytes.push(b'\n');
        bytes.extend_from_slice(&inflight.payload);
        self.write_atomic(&self.inflight, &bytes)
    }

    /// Saves the positions of an acknowledged batch, then forgets the in-flight batch.
    pub fn commit(&self, positions: &Positions) -> Result<(), CheckpointError> {
        let bytes =
            serde_json::to_vec_pretty(positions).map_err(|err| CheckpointError::Corrupt {
                path: self.positions.clone(),
                reason: err.to_string(),
            })?;
        self.write_atomic(&self.positions, &bytes)?;
        self.discard_inflight()
    }

    /// Forgets the in-flight batch without saving positions (its lines are read again).
    pub fn discard_inflight(&self) -> Result<(), CheckpointError> {
        match std::fs::remove_file(&self.inflight) {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(CheckpointError::Write {
                path: self.inflight.clone(),
                source,
            }),
        }
    }

    /// Write to a temporary file, fsync, rename over `path`.
    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
        let fail = |source| CheckpointError::Write {
            path: path.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(&self.dir).map_err(fail)?;
        let mut tmp_name = path.as_os_str().to_owned();
        tmp_name.push(".tmp");
        let tmp = PathBuf::from(tmp_name);
        let mut file = std::fs::File::create(&tmp).map_err(fail)?;
        file.write_all(bytes).map_err(fail)?;
        file.sync_all().map_err(fail)?;
        drop(file);
        std::fs::rename(&tmp, path).map_err(fail)?;
        self.sync_dir(path)
    }
}

/// The file's bytes, or `None` when it does not exist (a first start).
fn read_if_present(path: &Path) -> Result<Option<Vec<u8>>, CheckpointError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CheckpointError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_and_inflight_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let checkpoint = Checkpoint::new(dir.path(), "logs");
        assert_eq!(checkpoint.load().unwrap(), None);
        assert!(checkpoint.load_inflight().unwrap().is_none());
        let positions = Positions::new(
            vec!["/var/log/*.log".into()],
            vec![SavedFile {
                path: "/var/log/a.log".into(),
                dev: 1,
                ino: 2,
                offset: 3,
                head_len: 4,
                head_sha256: "ab".into(),
            }],
            Some("s=1".into()),
        );
        let inflight = Inflight {
            subject: "exporter.v1.sample.logs.h".into(),
            message_id: "id-1".into(),
            payload: Bytes::from_static(b"{\"a\":\n1}"),
            positions: positions.clone(),
        };
        checkpoint.write_inflight(&inflight).unwrap();
        let back = checkpoint.load_inflight().unwrap().unwrap();
        assert_eq!(back.payload, inflight.payload);
        assert_eq!(back.message_id, "id-1");
        assert_eq!(back.positions, positions);
        checkpoint.commit(&positions).unwrap();
        assert!(checkpoint.load_inflight().unwrap().is_none());
        assert_eq!(checkpoint.load().unwrap(), Some(positions));
        std::fs::write(checkpoint.positions_path(), b"{").unwrap();
        assert!(matches!(
            checkpoint.load(),
            Err(CheckpointError::Corrupt { .. })
        ));
    }

    #[test]
    fn corrupt_state_files_are_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let checkpoint = Checkpoint::new(dir.path(), "logs");
        std::fs::write(checkpoint.positions_path(), b"{").unwrap();
        std::fs::write(dir.path().join("logs-inflight.bin"), b"no header").unwrap();
        assert_eq!(checkpoint.load_or_set_aside().unwrap(), None);
        assert!(checkpoint.load_inflight_or_set_aside().unwrap().is_none());
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(
            names
                .iter()
                .any(|n| n.starts_with("logs-positions.json.corrupt-")),
            "{names:?}"
        );
        assert!(
            names
                .iter()
                .any(|n| n.starts_with("logs-inflight.bin.corrupt-")),
            "{names:?}"
        );
        // A new start saves normally again.
        assert_eq!(checkpoint.load_or_set_aside().unwrap(), None);
        let positions = Positions::new(Vec::new(), Vec::new(), None);
        checkpoint.commit(&positions).unwrap();
        assert_eq!(checkpoint.load_or_set_aside().unwrap(), Some(positions));
    }

    #[test]
    fn paths_that_are_not_utf8_are_saved_lossily() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let checkpoint = Checkpoint::new(dir.path(), "logs");
        let path = PathBuf::from(std::ffi::OsStr::from_bytes(b"/var/log/\xffa.log"));
        let positions = Positions::new(
            Vec::new(),
            vec![SavedFile {
                path,
                dev: 1,
                ino: 2,
                offset: 3,
                head_len: 0,
                head_sha256: String::new(),
            }],
            None,
        );
        checkpoint.commit(&positions).unwrap();
        let back = checkpoint.load().unwrap().unwrap();
        assert_eq!(back.files[0].path, PathBuf::from("/var/log/\u{fffd}a.log"));
        assert_eq!(back.files[0].offset, 3);
    }
}

//! The state directory is private to the exporter's user: `exporter up` creates it 0700, sets
//! the file-creation mask to 0077 for itself and every child (so key files, saved positions,
//! child logs and the pid file are born 0600), and on start takes group and other rights off
//! what an earlier version left readable there. systemd units get the same from
//! `StateDirectoryMode=0700` and `UMask=0077`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use nix::sys::stat::{Mode, umask};

/// Makes `dir` (created if missing) and everything under it private to the owner, and sets the
/// process's umask to 0077. Returns how many entries had their mode narrowed.
pub fn make_private(dir: &Path) -> std::io::Result<usize> {
    umask(Mode::from_bits_truncate(0o077));
    std::fs::create_dir_all(dir)?;
    narrow(dir)
}

fn narrow(path: &Path) -> std::io::Result<usize> {
    let metadata = std::fs::symlink_metadata(path)?;
    if metadata.file_type().is_symlink() {
        return Ok(0);
    }
    let mut changed = 0;
    let mode = metadata.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & !0o077))?;
        changed += 1;
    }
    if metadata.is_dir() {
        for entry in std::fs::read_dir(path)? {
            changed += narrow(&entry?.path())?;
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_old_readable_state_directory_becomes_private() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("state");
        std::fs::create_dir_all(dir.join("logs")).unwrap();
        std::fs::write(dir.join("logs/api.log"), "x").unwrap();
        std::fs::write(dir.join("positions.json"), "{}").unwrap();
        for (path, mode) in [
            (dir.clone(), 0o755),
            (dir.join("logs"), 0o755),
            (dir.join("logs/api.log"), 0o644),
            (dir.join("positions.json"), 0o600),
        ] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        assert_eq!(make_private(&dir).unwrap(), 3);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("logs")), 0o700);
        assert_eq!(mode(&dir.join("logs/api.log")), 0o600);
        assert_eq!(mode(&dir.join("positions.json")), 0o600);
        // New files are born private.
        std::fs::write(dir.join("new"), "x").unwrap();
        assert_eq!(mode(&dir.join("new")), 0o600);
        assert_eq!(make_private(&dir).unwrap(), 0, "nothing left to narrow");
    }
}

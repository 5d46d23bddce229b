//! Day-to-day operations on a running `exporter up`: `exporter stop` (SIGTERM to the supervisor
//! named in the pid file, then wait), `exporter reload` (SIGHUP) and `exporter logs <process>`
//! (the tail of a child's log file, optionally followed).

use std::io::{BufRead, Seek, SeekFrom};
use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::report::{PidFile, is_alive};

/// Signals the running supervisor; with `wait`, waits until it is gone.
pub fn signal_supervisor(
    state_dir: &Path,
    signal: Signal,
    wait: Option<Duration>,
) -> Result<i32, String> {
    let pid = PidFile::running(state_dir).ok_or_else(|| {
        format!(
            "no running `exporter up` found (no live pid in {})",
            PidFile::path(state_dir).display()
        )
    })?;
    kill(Pid::from_raw(pid), signal).map_err(|err| format!("cannot signal pid {pid}: {err}"))?;
    if let Some(limit) = wait {
        let deadline = Instant::now() + limit;
        while is_alive(pid) {
            if Instant::now() > deadline {
                return Err(format!(
                    "pid {pid} still running after {} s",
                    limit.as_secs()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Ok(pid)
}

/// The last `lines` lines of `process`'s log; with `follow`, keeps printing new lines.
pub fn logs(state_dir: &Path, process: &str, lines: usize, follow: bool) -> Result<(), String> {
    let path = state_dir.join("logs").join(format!("{process}.log"));
    let file = std::fs::File::open(&path).map_err(|err| {
        let known = std::fs::read_dir(state_dir.join("logs"))
            .map(|entries| {
                entries
                    .flatten()
                    .filter_map(|e| {
                        e.file_name()
                            .to_string_lossy()
                            .strip_suffix(".log")
                            .map(str::to_owned)
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        format!(
            "no log for `{process}` ({}: {err}); known: {known}",
            path.display()
        )
    })?;
    let mut reader = std::io::BufReader::new(file);
    let mut tail = std::collections::VecDeque::with_capacity(lines);
    let mut line = String::new();
    while reader.read_line(&mut line).map_err(|e| e.to_string())? > 0 {
        if tail.len() == lines {
            tail.pop_front();
        }
        tail.push_back(std::mem::take(&mut line));
    }
    for line in tail {
        print!("{line}");
    }
    if !follow {
        return Ok(());
    }
    let mut position = reader.stream_position().map_err(|e| e.to_string())?;
    loop {
        std::thread::sleep(Duration::from_millis(250));
        let Ok(mut file) = std::fs::File::open(&path) else {
            continue;
        };
        let length = file.metadata().map(|m| m.len()).unwrap_or(0);
        if length < position {
            position = 0; // rotated
        }
        file.seek(SeekFrom::Start(position))
            .map_err(|e| e.to_string())?;
        let mut reader = std::io::BufReader::new(file);
        while reader.read_line(&mut line).map_err(|e| e.to_string())? > 0 {
            print!("{line}");
            line.clear();
        }
        position = reader.stream_position().map_err(|e| e.to_string())?;
    }
}

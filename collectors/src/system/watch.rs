//! Process watches: is the trading engine (or anything else configured) running, and how much
//! CPU and memory does it use? Matches by exact process name and/or a command line pattern.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use exporter_protocol::system::{ProcessInstance, WatchedProcess};
use exporter_settings::ProcessWatch;
use regex::Regex;
use sysinfo::{Pid, Process};

/// A compiled watch.
#[derive(Debug)]
pub struct ProcessMatcher {
    name: String,
    process_name: Option<String>,
    cmdline: Option<Regex>,
}

impl ProcessMatcher {
    pub fn new(watch: &ProcessWatch) -> Result<Self, String> {
        let cmdline = watch
            .cmdline_pattern
            .as_deref()
            .map(Regex::new)
            .transpose()
            .map_err(|err| format!("watch `{}`: bad cmdline_pattern: {err}", watch.name))?;
        Ok(Self {
            name: watch.name.clone(),
            process_name: watch.process_name.clone(),
            cmdline,
        })
    }

    /// True when `name` and `cmdline` satisfy every configured criterion.
    pub fn matches(&self, name: &str, cmdline: &str) -> bool {
        self.process_name
            .as_deref()
            .is_none_or(|wanted| wanted == name)
            && self.cmdline.as_ref().is_none_or(|re| re.is_match(cmdline))
    }

    /// The watch's state over the current process table.
    pub fn evaluate(&self, processes: &HashMap<Pid, Process>) -> WatchedProcess {
        let mut instances: Vec<ProcessInstance> = processes
            .iter()
            .filter(|(_, p)| p.thread_kind().is_none())
            .filter_map(|(pid, process)| {
                let name = process.name().to_string_lossy();
                let cmdline = process
                    .cmd()
                    .iter()
                    .map(|arg| arg.to_string_lossy())
                    .collect::<Vec<_>>()
                    .join(" ");
                if !self.matches(&name, &cmdline) {
                    return None;
                }
                Some(ProcessInstance {
                    pid: pid.as_u32(),
                    name: name.into_owned(),
                    cpu_percent: f64::from(process.cpu_usage()),
                    rss_bytes: process.memory(),
                    started_at: DateTime::<Utc>::from_timestamp(process.start_time() as i64, 0)
                        .unwrap_or_default(),
                })
            })
            .collect();
        instances.sort_by_key(|i| i.pid);
        WatchedProcess {
            name: self.name.clone(),
            up: !instances.is_empty(),
            instances,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watch(process_name: Option<&str>, pattern: Option<&str>) -> ProcessMatcher {
        ProcessMatcher::new(&ProcessWatch {
            name: "engine".into(),
            process_name: process_name.map(str::to_owned),
            cmdline_pattern: pattern.map(str::to_owned),
        })
        .unwrap()
    }

    #[test]
    fn both_criteria_must_match() {
        let w = watch(Some("python3"), Some(r"trading_engine\.py"));
        assert!(w.matches("python3", "python3 /opt/trading_engine.py --live"));
        assert!(!w.matches("python3", "python3 other.py"));
        assert!(!w.matches("node", "node trading_engine.py"));
        assert!(watch(None, Some("engine")).matches("anything", "run engine"));
    }
}

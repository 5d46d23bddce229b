//! The fault suite's shared parts (`tests/tests/faults.rs`): the samples it publishes, a paced
//! publisher that keeps what JetStream acknowledged, the counts every scenario ends with
//! (published, stored, lost, duplicated, recovered alone) and the one table they make, and the
//! guards that undo a fault even when a scenario panics half-way ([`Stopped`]: SIGCONT;
//! [`SmallDisk`]: the tablespace dropped and its file system unmounted).
//!
//! Profiles: the test command runs the short one; `EXPORTER_FAULTS_PROFILE=long` runs the same
//! scenarios by hand with more messages and more faults.

use std::time::Duration;

use async_nats::jetstream::{self, message::PublishMessage};
use exporter_protocol::system::{CpuStats, MemoryStats, SystemSample};
use exporter_protocol::{Envelope, HasSeries};
use uuid::Uuid;

use crate::TestEnv;

pub use disk::SmallDisk;

mod disk;

/// How big a run is.
#[derive(Debug, Clone, Copy)]
pub struct Profile {
    pub name: &'static str,
    /// Messages published per second by the load.
    pub rate_per_second: u64,
    /// Runs of the aggregator-kill scenario: kills in a row, and the load's messages per second.
    pub kill_runs: &'static [(usize, u64)],
}

impl Profile {
    /// `EXPORTER_FAULTS_PROFILE`: `short` (the default, in the test command) or `long`.
    pub fn from_env() -> Self {
        match std::env::var("EXPORTER_FAULTS_PROFILE").as_deref() {
            Ok("long") => Self {
                name: "long",
                rate_per_second: 2000,
                kill_runs: &[(8, 4000), (20, 2000)],
            },
            _ => Self {
                name: "short",
                rate_per_second: 1000,
                kill_runs: &[(8, 1000)],
            },
        }
    }
}

/// Adds `lines` (indented keys) under the top-level `section:` of `env`'s settings file, for a
/// section the harness writes itself (`nats`, `aggregator`).
pub fn add_settings(env: &TestEnv, section: &str, lines: &str) {
    let text = std::fs::read_to_string(&env.settings_path).unwrap();
    let header = format!("\n{section}:\n");
    assert!(text.contains(&header), "no {section} section in\n{text}");
    std::fs::write(
        &env.settings_path,
        text.replacen(&header, &format!("{header}{lines}"), 1),
    )
    .unwrap();
}

/// A system sample whose values follow `seq`.
pub fn system_sample(seq: u64) -> SystemSample {
    SystemSample {
        cpu: Some(CpuStats {
            usage_percent: (seq % 100) as f64,
            per_core_percent: vec![1.0, 2.0],
            logical_cores: 2,
            physical_cores: None,
            brand: None,
        }),
        memory: Some(MemoryStats {
            total_bytes: 1 << 30,
            used_bytes: seq,
            available_bytes: (1 << 30) - seq,
            free_bytes: 0,
            used_percent: 0.0,
            swap_total_bytes: 0,
            swap_used_bytes: 0,
            swap_free_bytes: 0,
        }),
        ..Default::default()
    }
}

/// Points one [`system_sample`] makes.
pub fn points_per_sample() -> i64 {
    system_sample(1).series().len() as i64
}

/// Publishes `count` system samples of `host` at `rate_per_second` (in chunks of a tenth of a
/// second, each chunk's acks awaited); returns the ids JetStream acknowledged.
pub fn publish_paced(
    js: jetstream::Context,
    host: &'static str,
    count: u64,
    rate_per_second: u64,
) -> tokio::task::JoinHandle<Vec<Uuid>> {
    tokio::spawn(async move {
        let subject = format!("exporter.v1.sample.system.{host}");
        let chunk = (rate_per_second / 10).max(1);
        let mut acked = Vec::with_capacity(count as usize);
        let mut seq = 1;
        while seq <= count {
            let started = tokio::time::Instant::now();
            let mut acks = Vec::new();
            for seq in seq..(seq + chunk).min(count + 1) {
                let envelope = Envelope::new(host, "system", seq, system_sample(seq));
                let publish = PublishMessage::build()
                    .payload(serde_json::to_vec(&envelope).unwrap().into())
                    .message_id(envelope.id.to_string());
                if let Ok(ack) = js.send_publish(subject.clone(), publish).await {
                    acks.push((envelope.id, ack));
                }
            }
            seq += chunk;
            for (id, ack) in acks {
                if ack.await.is_ok() {
                    acked.push(id);
                }
            }
            tokio::time::sleep_until(started + Duration::from_millis(100)).await;
        }
        acked
    })
}

/// What one scenario ends with.
#[derive(Debug, Clone)]
pub struct Counts {
    pub scenario: String,
    /// Messages some part of the system acknowledged (JetStream's publish ack).
    pub published: i64,
    /// Of those, how many are stored.
    pub stored: i64,
    /// Published and not stored.
    pub lost: i64,
    /// Stored more than once (points beyond one copy per message).
    pub duplicated: i64,
    /// Recovered without anyone's help.
    pub recovered_alone: bool,
    /// What else the scenario measured (shown in the table's last column).
    pub note: String,
}

impl Counts {
    /// Counts the system samples of `host` whose ids are `published`.
    pub async fn of(
        env: &TestEnv,
        scenario: impl Into<String>,
        host: &str,
        published: &[Uuid],
        recovered_alone: bool,
    ) -> Self {
        let (stored, points): (i64, i64) = sqlx::query_as(
            "SELECT count(DISTINCT m.message_id), \
                    (SELECT count(*) FROM point JOIN series USING (series_id) \
                     WHERE series.source = 'system' AND series.host = $2) \
             FROM ingested_message m WHERE m.message_id = ANY($1)",
        )
        .bind(published)
        .bind(host)
        .fetch_one(&env.pool)
        .await
        .unwrap();
        let all: i64 = sqlx::query_scalar("SELECT count(*) FROM ingested_message WHERE host = $1")
            .bind(host)
            .fetch_one(&env.pool)
            .await
            .unwrap();
        let copies = points / points_per_sample().max(1);
        Self {
            scenario: scenario.into(),
            published: published.len() as i64,
            stored,
            lost: published.len() as i64 - stored,
            duplicated: (copies - all).max(0),
            recovered_alone,
            note: String::new(),
        }
    }

    /// The same counts with `note` in the last column.
    pub fn note(self, note: impl Into<String>) -> Self {
        Self {
            note: note.into(),
            ..self
        }
    }

    /// What is wrong with this row, if anything: a loss, a duplicate, a recovery that needed help.
    pub fn problem(&self) -> Option<String> {
        let mut wrong = Vec::new();
        if self.lost != 0 {
            wrong.push(format!("{} lost", self.lost));
        }
        if self.duplicated != 0 {
            wrong.push(format!("{} duplicated", self.duplicated));
        }
        if !self.recovered_alone {
            wrong.push("did not recover alone".to_owned());
        }
        (!wrong.is_empty()).then(|| format!("{}: {}", self.scenario, wrong.join(", ")))
    }
}

/// One line of the suite's table: a scenario's counts, or why it did not get to count.
#[derive(Debug, Clone)]
pub enum Row {
    Counted(Counts),
    Failed { scenario: String, why: String },
}

/// The suite's one table (Markdown), every scenario of the run in order.
pub fn table(profile: &Profile, rows: &[Row]) -> String {
    let mut out = format!(
        "fault suite, {} profile\n\n| scenario | published | stored | lost | duplicated | recovered alone | measured |\n|---|---:|---:|---:|---:|---|---|\n",
        profile.name
    );
    for row in rows {
        let line = match row {
            Row::Counted(c) => format!(
                "| {} | {} | {} | {} | {} | {} | {} |\n",
                c.scenario,
                c.published,
                c.stored,
                c.lost,
                c.duplicated,
                if c.recovered_alone { "yes" } else { "no" },
                c.note
            ),
            Row::Failed { scenario, why } => {
                let why: String = why.lines().next().unwrap_or("").chars().take(160).collect();
                format!("| {scenario} | – | – | – | – | – | FAILED: {why} |\n")
            }
        };
        out.push_str(&line);
    }
    out
}

/// A process stopped with SIGSTOP (hung, not dead) until this is dropped: then SIGCONT, also
/// when the scenario panics first.
#[derive(Debug)]
pub struct Stopped {
    pid: nix::unistd::Pid,
}

impl Stopped {
    pub fn new(pid: i32) -> Self {
        let pid = nix::unistd::Pid::from_raw(pid);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).unwrap();
        Self { pid }
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(self.pid, nix::sys::signal::Signal::SIGCONT);
    }
}

//! Subject names, versioned, in one place: `<prefix>.v1.sample.<kind>.<host>` and friends.
//!
//! The prefix is configurable (default `exporter`) so that two installations, or two test runs,
//! can share one NATS server without seeing each other's messages.

/// Builds every subject name from one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subjects {
    root: String,
}

impl Subjects {
    /// `prefix` is the first token, e.g. `exporter`; the version token is added here.
    pub fn new(prefix: &str) -> Self {
        Self {
            root: format!("{prefix}.v1"),
        }
    }

    /// Where a collector of `kind` on `host` publishes its samples.
    pub fn sample(&self, kind: &str, host: &str) -> String {
        format!("{}.sample.{}.{}", self.root, token(kind), token(host))
    }

    /// Every sample subject (for the stream and the consumer).
    pub fn all_samples(&self) -> String {
        format!("{}.sample.>", self.root)
    }

    /// The samples of `kind` from every host (`<root>.sample.<kind>.*`).
    pub fn samples_of(&self, kind: &str) -> String {
        format!("{}.sample.{}.*", self.root, token(kind))
    }

    /// Things the trading system itself publishes (`fill`, `notification`).
    pub fn ingest(&self, kind: &str) -> String {
        format!("{}.ingest.{}", self.root, token(kind))
    }

    /// Every ingest subject.
    pub fn all_ingest(&self) -> String {
        format!("{}.ingest.>", self.root)
    }

    /// Liveness of one process on one host (core NATS, not stored).
    pub fn heartbeat(&self, process: &str, host: &str) -> String {
        format!("{}.heartbeat.{}.{}", self.root, token(process), token(host))
    }

    /// Every heartbeat subject.
    pub fn all_heartbeats(&self) -> String {
        format!("{}.heartbeat.>", self.root)
    }

    /// The supervisor's status report of one host.
    pub fn supervisor_status(&self, host: &str) -> String {
        format!("{}.status.supervisor.{}", self.root, token(host))
    }

    /// Every supervisor status report.
    pub fn all_supervisor_status(&self) -> String {
        format!("{}.status.supervisor.>", self.root)
    }

    /// Request/reply subject of a service verb (not stored).
    pub fn rpc(&self, service: &str, verb: &str) -> String {
        format!("{}.rpc.{}.{}", self.root, token(service), token(verb))
    }

    /// Every verb of a request/reply service (`<root>.rpc.<service>.*`).
    pub fn all_rpc(&self, service: &str) -> String {
        format!("{}.rpc.{}.*", self.root, token(service))
    }

    /// Alert state changes.
    pub fn alert(&self, event: &str) -> String {
        format!("{}.alert.{}", self.root, token(event))
    }

    /// Every alert state change.
    pub fn all_alerts(&self) -> String {
        format!("{}.alert.>", self.root)
    }
}

/// Makes a value safe as one subject token: `.`, `*`, `>` and whitespace become `_`.
pub fn token(value: &str) -> String {
    let cleaned: String = value
        .chars()
        .map(|c| match c {
            '.' | '*' | '>' => '_',
            c if c.is_whitespace() => '_',
            c => c,
        })
        .collect();
    if cleaned.is_empty() {
        "_".to_owned()
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_are_built_here_not_escaped() {
        let subjects = Subjects::new("exporter");
        assert_eq!(
            subjects.samples_of("portfolio"),
            "exporter.v1.sample.portfolio.*"
        );
        assert_eq!(subjects.all_rpc("market"), "exporter.v1.rpc.market.*");
        // A `*` given as a host is a value, not a wildcard.
        assert_eq!(
            subjects.sample("portfolio", "*"),
            "exporter.v1.sample.portfolio._"
        );
    }

    #[test]
    fn builds_versioned_subjects_and_escapes_tokens() {
        let subjects = Subjects::new("exporter");
        assert_eq!(
            subjects.sample("system", "gh200.lab"),
            "exporter.v1.sample.system.gh200_lab"
        );
        assert_eq!(
            subjects.heartbeat("aggregator", "h"),
            "exporter.v1.heartbeat.aggregator.h"
        );
        assert_eq!(subjects.all_samples(), "exporter.v1.sample.>");
        assert_eq!(
            subjects.rpc("market", "chart"),
            "exporter.v1.rpc.market.chart"
        );
        assert_eq!(token("a b*>"), "a_b__");
        assert_eq!(token(""), "_");
    }
}

//! The managed bus: with `nats.managed.enabled`, `exporter up` runs a nats-server of its own on a
//! loopback port, its JetStream store and configuration in `state_dir/nats` (0700), with one
//! user per role and a generated password for each (`state_dir/nats/credentials/<user>`, 0600).
//! Each user may publish and subscribe only where its process does today (the table is
//! [`permissions`], documented in docs/operations.md), and receives replies only on its own
//! inbox prefix `_INBOX_<user>`, so nobody reads another's replies. The trading engine gets the
//! publish-only user `engine`.
//!
//! Why a server of its own rather than auth on the system one: `exporter up` must work without
//! root on a machine whose nats-server (often on 4222) is not ours to reconfigure, and the
//! configuration (users, passwords, permissions) is then generated, never edited by hand.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use exporter_protocol::{CollectorKind, SourceKind, Subjects};
use exporter_settings::Settings;
use exporter_settings::secrets::{self, Secret};
use serde::Serialize;

use crate::child::ChildSpec;

/// Why the managed bus could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum BusServerError {
    #[error("cannot prepare the managed NATS directory {path}: {source}")]
    Directory {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Secret(#[from] secrets::SecretError),
    #[error(
        "nats-server ({binary}) did not accept connections on 127.0.0.1:{port} within {seconds} s; see `exporter logs nats`"
    )]
    NotReady {
        binary: String,
        port: u16,
        seconds: u64,
    },
}

/// Who connects to the bus: one NATS user each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusRole {
    /// `exporter up` itself and the CLI commands that talk to it (`status`, `check`).
    Supervisor,
    Aggregator,
    Api,
    Collector(CollectorKind),
    /// The trading engine: publishes fills, notifications and positions, nothing else.
    Engine,
}

impl BusRole {
    /// Every role, in a fixed order (the users of the generated configuration).
    pub fn all() -> Vec<Self> {
        let mut roles = vec![Self::Supervisor, Self::Aggregator, Self::Api];
        roles.extend(CollectorKind::ALL.into_iter().map(Self::Collector));
        roles.push(Self::Engine);
        roles
    }

    /// The NATS user name, which is also the process name its heartbeats carry.
    pub fn user(self) -> String {
        match self {
            Self::Supervisor => "supervisor".into(),
            Self::Aggregator => "aggregator".into(),
            Self::Api => "api".into(),
            Self::Collector(kind) => kind.process_name(),
            Self::Engine => "engine".into(),
        }
    }

    /// Its reply-subject prefix: `_INBOX_<user>` (the engine keeps the clients' default).
    pub fn inbox_prefix(self) -> String {
        match self {
            Self::Engine => "_INBOX".into(),
            other => format!("_INBOX_{}", other.user().replace('-', "_")),
        }
    }
}

/// What one user may do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Permissions {
    pub publish: SubjectRules,
    pub subscribe: SubjectRules,
    /// May answer requests it received (the market collector's RPC replies).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub allow_responses: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubjectRules {
    pub allow: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<String>,
}

/// The permission table: exactly what each process publishes and subscribes to today.
/// `stream` and `consumer` are the JetStream names, `host` this host's label.
pub fn permissions(
    role: BusRole,
    subjects: &Subjects,
    stream: &str,
    consumer: &str,
    host: &str,
) -> Permissions {
    let user = role.user();
    let inbox = format!("{}.>", role.inbox_prefix());
    let heartbeat = subjects.heartbeat(&user, host);
    let self_metrics = subjects.sample(SourceKind::Exporter.name(), host);
    let stream_info = format!("$JS.API.STREAM.INFO.{stream}");
    let consumer_info = format!("$JS.API.CONSUMER.INFO.{stream}.{consumer}");
    let (publish, deny, subscribe, allow_responses): (Vec<String>, Vec<String>, Vec<String>, bool) =
        match role {
            BusRole::Supervisor => (
                vec![
                    heartbeat,
                    self_metrics,
                    subjects.supervisor_status(host),
                    stream_info,
                    consumer_info,
                    "$JS.API.INFO".into(),
                ],
                vec![],
                vec![
                    inbox,
                    subjects.all_heartbeats(),
                    subjects.all_supervisor_status(),
                ],
                false,
            ),
            BusRole::Aggregator => (
                vec![
                    heartbeat,
                    self_metrics,
                    subjects.all_alerts(),
                    "$JS.API.INFO".into(),
                    // Creates and updates the stream and its consumer, fetches, acknowledges
                    // and removes stored leftovers; may not delete or purge the stream.
                    format!("$JS.API.STREAM.*.{stream}"),
                    format!("$JS.API.STREAM.MSG.*.{stream}"),
                    format!("$JS.API.CONSUMER.*.{stream}"),
                    format!("$JS.API.CONSUMER.*.{stream}.>"),
                    format!("$JS.API.CONSUMER.DURABLE.CREATE.{stream}.>"),
                    format!("$JS.API.CONSUMER.MSG.NEXT.{stream}.>"),
                    format!("$JS.ACK.{stream}.{consumer}.>"),
                    // The acknowledgement subject of newer servers (domain and account hash first).
                    format!("$JS.ACK.*.*.{stream}.{consumer}.>"),
                ],
                vec![
                    format!("$JS.API.STREAM.DELETE.{stream}"),
                    format!("$JS.API.STREAM.PURGE.{stream}"),
                    format!("$JS.API.STREAM.SNAPSHOT.{stream}"),
                    format!("$JS.API.STREAM.RESTORE.{stream}"),
                ],
                vec![
                    inbox,
                    subjects.all_samples(),
                    subjects.all_heartbeats(),
                    subjects.all_alerts(),
                ],
                false,
            ),
            BusRole::Api => (
                vec![
                    heartbeat,
                    self_metrics,
                    subjects.all_alerts(),
                    subjects.all_rpc(exporter_protocol::market::RPC_SERVICE),
                    stream_info,
                    consumer_info,
                ],
                vec![],
                vec![
                    inbox,
                    subjects.all_alerts(),
                    subjects.all_supervisor_status(),
                    subjects.all_heartbeats(),
                    subjects.all_samples(),
                ],
                false,
            ),
            BusRole::Collector(kind) => {
                let mut publish = vec![heartbeat, self_metrics, stream_info];
                publish.extend(
                    kind.sources()
                        .iter()
                        .map(|source| subjects.sample(source.name(), host)),
                );
                let mut subscribe = vec![inbox];
                let mut responses = false;
                if kind == CollectorKind::Market {
                    subscribe.push(subjects.all_rpc(exporter_protocol::market::RPC_SERVICE));
                    subscribe.push(subjects.samples_of(SourceKind::Portfolio.name()));
                    responses = true;
                }
                (publish, vec![], subscribe, responses)
            }
            BusRole::Engine => (vec![subjects.all_ingest()], vec![], vec![inbox], false),
        };
    Permissions {
        publish: SubjectRules {
            allow: publish,
            deny,
        },
        subscribe: SubjectRules {
            allow: subscribe,
            deny: vec![],
        },
        allow_responses,
    }
}

/// The managed server's files and address.
#[derive(Debug, Clone)]
pub struct ManagedBus {
    pub dir: PathBuf,
    pub port: u16,
    pub binary: String,
}

impl ManagedBus {
    /// Where the managed server of `settings` lives (nothing is created).
    pub fn of(settings: &Settings) -> Self {
        Self {
            dir: settings.state_dir.join("nats"),
            port: settings.nats.managed.port,
            binary: settings.nats.managed.binary.clone(),
        }
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("nats.conf")
    }

    fn pid_path(&self) -> PathBuf {
        self.dir.join("nats.pid")
    }

    /// A server left running by a supervisor that was killed (children of ours exit with their
    /// parent; nats-server does not): stopped, so the new one can take the port.
    fn stop_stale(&self) {
        let Some(pid) = std::fs::read_to_string(self.pid_path())
            .ok()
            .and_then(|text| text.trim().parse::<i32>().ok())
        else {
            return;
        };
        let ours = std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
            String::from_utf8_lossy(&cmdline).contains(&*self.config_path().to_string_lossy())
        });
        if !ours {
            return;
        }
        tracing::warn!(
            pid,
            "a managed nats-server of an earlier run is still running; stopping it"
        );
        let pid = nix::unistd::Pid::from_raw(pid);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        for _ in 0..100 {
            if nix::sys::signal::kill(pid, None).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    }

    /// The 0600 file with the password of `role`.
    pub fn password_file(&self, role: BusRole) -> PathBuf {
        self.dir.join("credentials").join(role.user())
    }

    /// Creates the directory (0700), a password for every role that has none yet, and writes
    /// the configuration (0600) from the current settings.
    pub fn prepare(&self, settings: &Settings) -> Result<(), BusServerError> {
        let dir_error = |path: &Path| {
            let path = path.display().to_string();
            move |source| BusServerError::Directory { path, source }
        };
        for dir in [
            self.dir.clone(),
            self.dir.join("credentials"),
            self.dir.join("jetstream"),
        ] {
            std::fs::create_dir_all(&dir).map_err(dir_error(&dir))?;
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
                .map_err(dir_error(&dir))?;
        }
        self.stop_stale();
        let subjects = Subjects::new(&settings.nats.subject_prefix);
        let mut users = Vec::new();
        for role in BusRole::all() {
            let file = self.password_file(role);
            let password = if file.exists() {
                secrets::read_secret_file(&file)?
            } else {
                let password = crate::keys::generate();
                secrets::create_secret_file(&file, &password)?;
                password
            };
            users.push(ConfigUser {
                user: role.user(),
                password: password.expose().to_owned(),
                permissions: permissions(
                    role,
                    &subjects,
                    &settings.nats.stream,
                    &settings.nats.consumer,
                    settings.host_name(),
                ),
            });
        }
        let config = Config {
            listen: format!("127.0.0.1:{}", self.port),
            pid_file: self.pid_path().display().to_string(),
            server_name: "gh200-exporter".into(),
            jetstream: JetStreamConfig {
                store_dir: self.dir.join("jetstream").display().to_string(),
            },
            authorization: Authorization { users },
        };
        // JSON is valid nats-server configuration syntax, and needs no quoting rules of our own.
        let text = serde_json::to_string_pretty(&config).unwrap_or_default();
        // Written afresh from the settings at every start (the directory is 0700).
        let _ = std::fs::remove_file(self.config_path());
        secrets::create_secret_file(&self.config_path(), &Secret::new(text))?;
        Ok(())
    }

    /// The supervised child that runs the server.
    pub fn child_spec(&self) -> ChildSpec {
        ChildSpec {
            name: "nats".into(),
            program: PathBuf::from(&self.binary),
            args: vec!["-c".into(), self.config_path().display().to_string()],
            env: crate::child_env::child_environment(
                crate::child_env::ChildRole::NatsServer,
                std::env::vars_os(),
                &Default::default(),
            ),
        }
    }

    /// Waits until the server accepts TCP connections.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<(), BusServerError> {
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(BusServerError::NotReady {
            binary: self.binary.clone(),
            port: self.port,
            seconds: timeout.as_secs(),
        })
    }

    /// Probes the server every `interval` and records the answers in `registry` under `nats`
    /// (it sends no heartbeats of its own), until `shutdown`.
    pub async fn probe(
        self,
        registry: crate::child::Registry,
        interval: Duration,
        shutdown: exporter_runtime::Shutdown,
    ) {
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                registry.probed("nats");
            }
            if shutdown.sleep(interval).await {
                return;
            }
        }
    }

    /// The variables that point a child of `role` at this server as its user.
    pub fn child_env(&self, role: BusRole) -> Vec<(OsString, OsString)> {
        [
            ("EXPORTER_NATS_URL", self.url()),
            ("EXPORTER_NATS_USER", role.user()),
            (
                "EXPORTER_NATS_PASSWORD_FILE",
                self.password_file(role).display().to_string(),
            ),
            ("EXPORTER_NATS_INBOX_PREFIX", role.inbox_prefix()),
        ]
        .into_iter()
        .map(|(k, v)| (OsString::from(k), OsString::from(v)))
        .collect()
    }
}

/// `settings` as a process of `role` sees them: on the managed bus, its URL, user, password
/// file and inbox prefix; otherwise unchanged.
pub fn settings_for(settings: &Settings, role: BusRole) -> Settings {
    let mut settings = settings.clone();
    if settings.nats.managed.enabled {
        let bus = ManagedBus::of(&settings);
        settings.nats.url = bus.url();
        settings.nats.user = Some(role.user());
        settings.nats.password_file = Some(bus.password_file(role));
        settings.nats.credentials_file = None;
        settings.nats.inbox_prefix = Some(role.inbox_prefix());
    }
    settings
}

/// Puts `extra` (a child's managed-bus variables) into `env`, replacing any variable of the
/// same name, and removes the external bus's password and credentials, which would override
/// the child's own password file.
pub fn override_env(env: &mut Vec<(OsString, OsString)>, extra: Vec<(OsString, OsString)>) {
    env.retain(|(name, _)| {
        name != crate::child_env::NATS_PASSWORD && !extra.iter().any(|(n, _)| n == name)
    });
    env.extend(extra);
}

#[derive(Serialize)]
struct Config {
    listen: String,
    pid_file: String,
    server_name: String,
    jetstream: JetStreamConfig,
    authorization: Authorization,
}

#[derive(Serialize)]
struct JetStreamConfig {
    store_dir: String,
}

#[derive(Serialize)]
struct Authorization {
    users: Vec<ConfigUser>,
}

#[derive(Serialize)]
struct ConfigUser {
    user: String,
    password: String,
    permissions: Permissions,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(role: BusRole) -> Permissions {
        permissions(
            role,
            &Subjects::new("exporter"),
            "EXPORTER_TELEMETRY",
            "aggregator",
            "gh200",
        )
    }

    #[test]
    fn each_role_publishes_only_its_own_subjects() {
        let system = table(BusRole::Collector(CollectorKind::System));
        assert_eq!(
            system.publish.allow,
            [
                "exporter.v1.heartbeat.collector-system.gh200",
                "exporter.v1.sample.exporter.gh200",
                "$JS.API.STREAM.INFO.EXPORTER_TELEMETRY",
                "exporter.v1.sample.system.gh200",
            ]
        );
        assert_eq!(system.subscribe.allow, ["_INBOX_collector_system.>"]);
        assert!(!system.allow_responses);

        let trades = table(BusRole::Collector(CollectorKind::Trades));
        assert!(
            trades
                .publish
                .allow
                .contains(&"exporter.v1.sample.fills.gh200".to_owned())
        );
        assert!(
            trades
                .publish
                .allow
                .contains(&"exporter.v1.sample.orders.gh200".to_owned())
        );

        let market = table(BusRole::Collector(CollectorKind::Market));
        assert!(market.allow_responses, "the market collector answers RPCs");
        assert!(
            market
                .subscribe
                .allow
                .contains(&"exporter.v1.rpc.market.*".to_owned())
        );

        let engine = table(BusRole::Engine);
        assert_eq!(engine.publish.allow, ["exporter.v1.ingest.>"]);
        assert_eq!(engine.subscribe.allow, ["_INBOX.>"]);

        let aggregator = table(BusRole::Aggregator);
        assert!(
            aggregator
                .publish
                .deny
                .contains(&"$JS.API.STREAM.DELETE.EXPORTER_TELEMETRY".to_owned())
        );
        // Nobody but the engine publishes on the ingest subjects or the supervisor's status.
        for role in BusRole::all() {
            let rules = table(role);
            let ingest = rules.publish.allow.iter().any(|s| s.contains(".ingest."));
            assert_eq!(ingest, role == BusRole::Engine, "{role:?}");
            let status = rules.publish.allow.iter().any(|s| s.contains(".status."));
            assert_eq!(status, role == BusRole::Supervisor, "{role:?}");
            assert!(
                !rules
                    .publish
                    .allow
                    .iter()
                    .any(|s| s == ">" || s == "$JS.API.>"),
                "{role:?}"
            );
        }
    }

    #[test]
    fn prepare_writes_a_private_configuration_and_keeps_passwords() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings {
            state_dir: dir.path().join("state"),
            ..Default::default()
        };
        let bus = ManagedBus::of(&settings);
        bus.prepare(&settings).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&bus.dir), 0o700);
        assert_eq!(mode(&bus.config_path()), 0o600);
        let engine = bus.password_file(BusRole::Engine);
        assert_eq!(mode(&engine), 0o600);
        let first = std::fs::read_to_string(&engine).unwrap();
        bus.prepare(&settings).unwrap();
        assert_eq!(
            std::fs::read_to_string(&engine).unwrap(),
            first,
            "kept across starts"
        );
        let config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(bus.config_path()).unwrap()).unwrap();
        let users = config["authorization"]["users"].as_array().unwrap();
        assert_eq!(users.len(), BusRole::all().len());
        assert!(users.iter().any(|u| u["user"] == "engine"));
        assert_eq!(config["listen"], "127.0.0.1:4223");
    }
}

//! Test harness for black-box tests: each test gets its own real `nats-server` (JetStream on,
//! own port and store directory), its own PostgreSQL database, a settings file, a generated API
//! key, and starts the real binaries cargo built (`target/<profile>/exporter*`).
//!
//! Services: `EXPORTER_TEST_DATABASE_URL` (default: the local Unix socket, OS user) names the
//! server where per-test databases are created; `NATS_SERVER_BIN` (default `nats-server` on
//! PATH) the NATS binary.

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use exporter_settings::Settings;
use sqlx::postgres::PgPool;

pub mod delivery;
pub mod faults;
pub mod recorded;
pub mod stand_in;

pub use stand_in::{Recorded, Reply, StandIn};

/// Where per-test databases are created.
pub fn admin_database_url() -> String {
    std::env::var("EXPORTER_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://localhost/postgres?host=/var/run/postgresql".to_owned())
}

/// A URL for database `name` on the same server as [`admin_database_url`].
fn database_url(name: &str) -> String {
    let admin = admin_database_url();
    let (base, query) = admin
        .split_once('?')
        .map_or((admin.as_str(), None), |(b, q)| (b, Some(q)));
    let base = base.rsplit_once('/').map_or(base, |(server, _)| server);
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

/// A pool on `url`, logging in as the OS user when the URL names none (as the binaries do).
pub async fn connect(url: &str) -> Result<PgPool, exporter_store::StoreError> {
    let options = exporter_store::connect_options(url)?;
    Ok(sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await?)
}

/// The checked-in sysfs tree of a GH200 host (hwmon power rails, temperatures, thermal zones).
pub fn sysfs_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sysfs-gh200")
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Directory of the binaries cargo built for this test run.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    let dir = if deps.ends_with("deps") {
        deps.parent().unwrap()
    } else {
        deps
    };
    dir.to_path_buf()
}

/// Path of one of the project's binaries, with a clear message when it was not built.
pub fn binary(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: build the binaries first (`cargo build --workspace --bins`, which deploy/test.sh does)",
        path.display()
    );
    path
}

/// A process that is killed (SIGKILL) when dropped.
#[derive(Debug)]
pub struct Proc {
    pub name: String,
    pub child: Child,
    pub log: PathBuf,
}

impl Proc {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends `signal`.
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), signal);
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Still running?
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for the exit status, up to `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Everything it wrote so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A real NATS server with JetStream, on its own port and store directory.
#[derive(Debug)]
pub struct Nats {
    pub port: u16,
    store_dir: PathBuf,
    proc: Option<Proc>,
}

impl Nats {
    pub fn start(dir: &Path) -> Self {
        let mut nats = Self {
            port: free_port(),
            store_dir: dir.join("nats"),
            proc: None,
        };
        nats.restart();
        nats
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// (Re)starts the server on the same port and store (after [`Nats::kill`]).
    pub fn restart(&mut self) {
        let bin = std::env::var("NATS_SERVER_BIN").unwrap_or_else(|_| "nats-server".to_owned());
        let log = self.store_dir.with_extension("log");
        std::fs::create_dir_all(&self.store_dir).unwrap();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let child = Command::new(&bin)
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(&self.store_dir)
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|err| {
                panic!("cannot start {bin} ({err}); install it: apt-get install nats-server")
            });
        self.proc = Some(Proc {
            name: "nats-server".into(),
            child,
            log,
        });
        wait_for_port(self.port, Duration::from_secs(10));
    }

    /// Stops the server with SIGTERM, so it writes its stores out, and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut proc) = self.proc.take() {
            proc.signal(nix::sys::signal::Signal::SIGTERM);
            proc.wait_exit(Duration::from_secs(20));
        }
    }

    /// SIGKILLs the server (an outage).
    pub fn kill(&mut self) {
        if let Some(mut proc) = self.proc.take() {
            proc.kill();
        }
    }
}

/// Waits until something accepts connections on `port`.
pub fn wait_for_port(port: u16, limit: Duration) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("nothing listens on port {port} after {limit:?}");
}

/// One test's world: NATS, a database, a settings file, an API key.
#[derive(Debug)]
pub struct TestEnv {
    pub dir: tempfile::TempDir,
    pub nats: Nats,
    pub database: String,
    pub database_url: String,
    pub api_port: u16,
    pub api_key: String,
    pub settings_path: PathBuf,
    pub pool: PgPool,
}

impl TestEnv {
    /// Starts NATS, creates the database and writes the settings (`extra_yaml` is appended at
    /// top level, e.g. to tune a collector).
    pub async fn new(extra_yaml: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let nats = Nats::start(dir.path());
        let database = format!("exporter_test_{}", uuid::Uuid::now_v7().simple());
        let admin = connect(&admin_database_url()).await.unwrap_or_else(|err| {
            panic!("PostgreSQL at {} unreachable: {err}", admin_database_url())
        });
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {database}")))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        let database_url = database_url(&database);
        let pool = connect(&database_url).await.unwrap();
        let api_port = free_port();
        let api_key = format!("test-{}", uuid::Uuid::new_v4().simple());
        let settings_path = dir.path().join("system.yaml");
        let yaml = format!(
            "host_name: test-host\n\
             state_dir: {state}\n\
             nats:\n  url: {nats}\n  publish_timeout_seconds: 1\n\
             database:\n  url: \"{db}\"\n\
             api:\n  port: {api_port}\n  stale_after_seconds: 30\n\
             aggregator:\n  batch_max_wait_ms: 50\n  ack_wait_seconds: 5\n\
             supervisor:\n  stop_grace_seconds: 5\n  restart_initial_delay_ms: 100\n  crash_loop_max_exits: 3\n  crash_loop_window_seconds: 60\n  readiness_timeout_seconds: 10\n\
             {extra_yaml}",
            state = dir.path().join("state").display(),
            nats = nats.url(),
            db = database_url,
        );
        let yaml = if yaml.contains("collectors:") {
            yaml
        } else {
            format!(
                "{yaml}\ncollectors:\n  heartbeat_interval_seconds: 1\n  system:\n    interval_seconds: 1\n  hardware:\n    interval_seconds: 1\n    sysfs_root: {}\n",
                sysfs_fixture().display()
            )
        };
        std::fs::write(&settings_path, yaml).unwrap();
        // The shipped alert rules beside the settings, as install.sh puts them (a test with its
        // own rules overwrites this file before it starts the aggregator).
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../settings/alerts.yaml"),
            dir.path().join("alerts.yaml"),
        )
        .unwrap();
        Self {
            dir,
            nats,
            database,
            database_url,
            api_port,
            api_key,
            settings_path,
            pool,
        }
    }

    /// Takes this test's database away (`false`: new connections refused, open ones ended, as
    /// when PostgreSQL goes down for its clients) or gives it back (`true`).
    pub async fn allow_connections(&self, allowed: bool) {
        let admin = connect(&admin_database_url()).await.unwrap();
        let database = &self.database;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "ALTER DATABASE {database} WITH ALLOW_CONNECTIONS {allowed}"
        )))
        .execute(&admin)
        .await
        .unwrap();
        if !allowed {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'"
            )))
            .execute(&admin)
            .await
            .unwrap();
        }
        admin.close().await;
    }

    /// Applies the schema, as `exporter up` does before it starts the API.
    pub async fn migrate(&self) {
        exporter_store::Store::from_pool(self.pool.clone())
            .migrate()
            .await
            .unwrap();
    }

    /// The settings as the binaries see them.
    pub fn settings(&self) -> Settings {
        let key = self.api_key.clone();
        Settings::load_from(&self.settings_path, &move |name| {
            (name == "EXPORTER_API_KEY").then(|| key.clone())
        })
        .unwrap()
    }

    /// Starts one of the project's binaries with this env's settings and key.
    pub fn spawn(&self, binary_name: &str, args: &[&str]) -> Proc {
        self.spawn_with(binary_name, args, &[("EXPORTER_API_KEY", &self.api_key)])
    }

    /// Starts a binary with extra environment variables.
    pub fn spawn_with(&self, binary_name: &str, args: &[&str], env: &[(&str, &str)]) -> Proc {
        let name = format!(
            "{binary_name}{}",
            args.first().map(|a| format!("-{a}")).unwrap_or_default()
        );
        let log = self
            .dir
            .path()
            .join(format!("{name}-{}.log", uuid::Uuid::now_v7().simple()));
        let file = std::fs::File::create(&log).unwrap();
        let mut command = Command::new(binary(binary_name));
        command
            .args(args)
            .current_dir(self.dir.path())
            .env("EXPORTER_SETTINGS", &self.settings_path)
            .env("RUST_LOG", "info")
            .env_remove("EXPORTER_API_KEY")
            .env_remove("EXPORTER_API_KEY_FILE")
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            // Its own process group, as a service has: signals to the group reach only it.
            .process_group(0);
        for (key, value) in env {
            command.env(key, value);
        }
        Proc {
            name,
            child: command.spawn().unwrap(),
            log,
        }
    }

    /// Runs a binary to completion (stdout and stderr kept apart).
    pub fn run(
        &self,
        binary_name: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> std::process::Output {
        let mut command = Command::new(binary(binary_name));
        command
            .args(args)
            .current_dir(self.dir.path())
            .env("EXPORTER_SETTINGS", &self.settings_path)
            .env("RUST_LOG", "warn")
            .env_remove("EXPORTER_API_KEY")
            .stdin(Stdio::null());
        for (key, value) in env {
            command.env(key, value);
        }
        command.output().unwrap()
    }

    pub fn api_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.api_port)
    }

    /// GET with the key; returns status and JSON body.
    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        get_json(&self.api_url(path), Some(&self.api_key)).await
    }

    /// Polls `path` (a `/metrics/<kind>` route) until it lists a host; returns the body.
    pub async fn first_host_sample(&self, path: &str) -> serde_json::Value {
        eventually(
            &format!("a sample at {path}"),
            Duration::from_secs(30),
            || async {
                let (status, body) = self.get(path).await;
                (status == 200 && body["hosts"].as_array().is_some_and(|h| !h.is_empty()))
                    .then_some(body)
            },
        )
        .await
    }

    /// Waits (up to 30 s) until the store holds a latest sample from collector `source`.
    pub async fn stored_sample(&self, source: &str) {
        eventually(
            &format!("a stored {source} sample"),
            Duration::from_secs(30),
            || async {
                let count: Option<i64> =
                    sqlx::query_scalar("SELECT count(*) FROM latest_sample WHERE source = $1")
                        .bind(source)
                        .fetch_one(&self.pool)
                        .await
                        .ok();
                (count > Some(0)).then_some(())
            },
        )
        .await;
    }

    /// Waits (up to 30 s) for a heartbeat of `process` (`aggregator`, `collector-logs`, `api`):
    /// it has started. The aggregator's first heartbeat comes after its alert engine subscribed
    /// to the live bus, so a test that must not publish before that waits for it.
    pub async fn heartbeat(&self, process: &str) {
        let settings = self.settings();
        let client = async_nats::connect(self.nats.url()).await.unwrap();
        let subjects = exporter_protocol::Subjects::new(&settings.nats.subject_prefix);
        let mut beats = client.subscribe(subjects.all_heartbeats()).await.unwrap();
        let of_process = subjects.heartbeat(process, "");
        let of_process = of_process.trim_end_matches('_');
        let first = async {
            while let Some(beat) = futures::StreamExt::next(&mut beats).await {
                if beat.subject.starts_with(of_process) {
                    return;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(30), first)
            .await
            .unwrap_or_else(|_| panic!("no heartbeat from {process} within 30 s"));
    }

    /// Waits (up to 30 s) until the message `id` is committed (its row in `ingested_message`).
    pub async fn ingested(&self, id: uuid::Uuid) {
        eventually("the message stored", Duration::from_secs(30), || async {
            let stored: Option<i32> =
                sqlx::query_scalar("SELECT 1 FROM ingested_message WHERE message_id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .ok()
                    .flatten();
            stored.map(|_| ())
        })
        .await;
    }

    /// A JetStream context on this env's NATS, with the stream created.
    pub async fn jetstream(&self) -> async_nats::jetstream::Context {
        let settings = self.settings();
        let client = async_nats::connect(self.nats.url()).await.unwrap();
        let js = async_nats::jetstream::new(client);
        let subjects = exporter_protocol::Subjects::new(&settings.nats.subject_prefix);
        exporter_runtime::bus::ensure_stream(&js, &settings.nats, &subjects)
            .await
            .unwrap();
        js
    }

    /// Drops the database (best effort).
    pub async fn finish(self) {
        self.pool.close().await;
        if let Ok(admin) = connect(&admin_database_url()).await {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.database
            )))
            .execute(&admin)
            .await;
        }
    }
}

/// Publishes `body` as JSON on `subject` and waits for JetStream's acknowledgement.
pub async fn publish_json(
    js: &async_nats::jetstream::Context,
    subject: &'static str,
    body: &serde_json::Value,
) {
    js.publish(subject, serde_json::to_vec(body).unwrap().into())
        .await
        .unwrap()
        .await
        .unwrap();
}

/// A JSON fixture recorded from a real service, from `shared/fixtures/<path>` beside the
/// repository.
pub fn shared_fixture(path: &str) -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures")
        .join(path);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|err| {
        panic!(
            "fixture {} missing ({err}): shared/ must sit beside the repository",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap()
}

/// A benchmark's size: the number in environment variable `name`, else `default`.
pub fn bench_size<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

/// (pid, command line) of every live process whose parent is `parent`.
pub fn children_of(parent: i32) -> Vec<(i32, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let (state, ppid) = (
            fields.first().copied(),
            fields.get(1).and_then(|p| p.parse().ok()),
        );
        if ppid == Some(parent) && state != Some("Z") {
            let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
                .unwrap_or_default()
                .replace('\0', " ");
            found.push((pid, cmdline));
        }
    }
    found
}

/// GET `url` (with `key` as X-API-Key if given); status and JSON body (`null` if not JSON).
pub async fn get_json(url: &str, key: Option<&str>) -> (u16, serde_json::Value) {
    let client = reqwest::Client::new();
    let mut request = client.get(url).timeout(Duration::from_secs(10));
    if let Some(key) = key {
        request = request.header("X-API-Key", key);
    }
    match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let body = response.json().await.unwrap_or(serde_json::Value::Null);
            (status, body)
        }
        Err(_) => (0, serde_json::Value::Null),
    }
}

/// Polls `check` every 100 ms until it is true (then true) or `limit` has passed (then false):
/// for a wait whose timeout the assertions after it explain better than a panic would.
pub async fn poll_until<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls `check` every 100 ms until it returns `Some`, or panics with `what` after `limit`.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The benchmarks' baseline: the `(time, series_id, value)` rows that `select` returns (bound to
/// `since`), COPYed in bulk by the `copy` statement; how many rows and how long the COPY took.
pub async fn copy_points_baseline(
    pool: &PgPool,
    select: &'static str,
    since: Option<chrono::DateTime<chrono::Utc>>,
    copy: &'static str,
) -> (u64, f64) {
    let mut query = sqlx::query_as::<_, (String, i32, f64)>(select);
    if let Some(since) = since {
        query = query.bind(since);
    }
    let rows = query.fetch_all(pool).await.unwrap();
    let mut text = String::with_capacity(rows.len() * 48);
    for (time, series_id, value) in &rows {
        text.push_str(&format!("{time}\t{series_id}\t{value}\n"));
    }
    let mut conn = pool.acquire().await.unwrap();
    let started = std::time::Instant::now();
    let mut sink = conn.copy_in_raw(copy).await.unwrap();
    sink.send(text.as_bytes()).await.unwrap();
    let copied = sink.finish().await.unwrap();
    (copied, started.elapsed().as_secs_f64())
}

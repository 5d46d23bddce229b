//! The REST API: serves everything from the store (never from the outside world), behind API
//! keys (or the dashboard's session cookie), with problem+json errors and an OpenAPI document
//! generated from the handlers; and the dashboard page itself, compiled in.
//!
//! [`app`] builds the router from an [`AppState`] so tests can call it directly; [`run`] binds
//! and serves until shutdown.

pub mod auth;
pub mod error;
pub mod extract;
pub mod json_time;
pub mod live;
pub mod openapi;
pub mod routes;
pub mod same_origin;
pub mod schema;
pub mod security_headers;
pub mod serve;
pub mod session;
pub mod state;
pub mod throttle;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use exporter_runtime::{Shutdown, bus};
use exporter_settings::Settings;
use exporter_store::Store;
use tower_http::trace::TraceLayer;

pub use error::ApiError;
pub use state::AppState;

/// Why the API could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Keys(#[from] auth::KeyError),
    #[error(transparent)]
    Bus(#[from] bus::BusError),
    #[error("cannot open the PostgreSQL pool: {0}")]
    Store(#[from] exporter_store::StoreError),
    #[error(
        "cannot listen on {addr}: {source} (is another process using the port? set api.port or EXPORTER_API_PORT)"
    )]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("server error: {0}")]
    Serve(std::io::Error),
}

/// The whole router.
pub fn app(state: AppState) -> Router {
    let timeout = Duration::from_secs(state.request_timeout_seconds);
    // The timing wraps the timeout, so a request cut at the timeout is observed with its 503.
    routes::router(state)
        .route_layer(middleware::from_fn(move |request: Request, next: Next| {
            cut_at(timeout, request, next)
        }))
        .route_layer(middleware::from_fn(time_request))
        .layer(middleware::map_response(security_headers::add))
        // gzip when the client asks (the dashboard's files, JSON); never on event streams.
        .layer(tower_http::compression::CompressionLayer::new())
        .layer(TraceLayer::new_for_http())
}

/// Answers a 503 problem+json (as the document says) when a request takes longer than
/// `api.request_timeout_seconds`; the handler is dropped.
async fn cut_at(limit: Duration, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Unavailable {
            detail: format!(
                "the request took longer than {} s (api.request_timeout_seconds)",
                limit.as_secs()
            ),
            retry_after_seconds: 5,
        }
        .into_response(),
    }
}

/// Observes `exporter.http_request_duration_seconds{route, status}`: the route is the matched
/// template (`/alerts/{alert_id}`), never the path, so the series stay few. A request no route
/// matches is not timed.
async fn time_request(request: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    exporter_runtime::self_metrics::global()
        .histogram(
            &exporter_protocol::self_metrics::HTTP_REQUEST_DURATION,
            &[("route", &route), ("status", response.status().as_str())],
        )
        .observe_since(started);
    response
}

/// On SIGHUP (`systemctl reload exporter-api`, `exporter reload`), reads the key files again:
/// a rotated key works without a restart, a removed one stops working. A file that cannot be
/// read keeps the keys in force, with a log line saying which.
async fn reload_keys_on_hangup(settings: Settings, keys: Arc<auth::ApiKeys>, shutdown: Shutdown) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangup = match signal(SignalKind::hangup()) {
        Ok(hangup) => hangup,
        Err(err) => {
            tracing::warn!(error = %err, "cannot listen for SIGHUP; keys are read at start only");
            return;
        }
    };
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = hangup.recv() => {}
        }
        match auth::ApiKeys::load(&settings) {
            Ok(fresh) => {
                keys.replace(fresh);
                tracing::info!(keys = keys.len(), "SIGHUP: API keys read again");
            }
            Err(err) => {
                tracing::error!(error = %err, "SIGHUP: cannot read the API keys; the keys in force stay")
            }
        }
    }
}

/// Loads the keys, connects, binds `api.host:api.port` and serves until `shutdown`.
pub async fn run(settings: Settings, shutdown: Shutdown) -> Result<(), StartError> {
    let keys = auth::ApiKeys::load(&settings)?;
    let store = Store::connect_retrying(&settings.database, &shutdown).await?;
    let client = bus::connect(&settings.nats, "api").await?;
    let addr = format!("{}:{}", settings.api.host, settings.api.port);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|source| StartError::Bind {
            addr: addr.clone(),
            source,
        })?;
    let local: SocketAddr = listener.local_addr().map_err(StartError::Serve)?;
    let state = AppState::new(&settings, store, Some(client.clone()), keys);
    tokio::spawn(reload_keys_on_hangup(
        settings.clone(),
        state.keys.clone(),
        shutdown.clone(),
    ));
    tokio::spawn(state.auth_failures.clone().audit(shutdown.clone()));
    tokio::spawn(reload_keys_on_keyring_change(
        settings.clone(),
        state.keys.clone(),
        shutdown.clone(),
    ));
    tokio::spawn(follow_tunnels(
        client.clone(),
        exporter_protocol::Subjects::new(&settings.nats.subject_prefix),
        state.tunnels.clone(),
        shutdown.clone(),
    ));
    // Present at 0 before the first stream opens.
    exporter_runtime::self_metrics::global()
        .gauge(&exporter_protocol::self_metrics::SSE_STREAMS, &[]);
    let self_metrics = tokio::spawn(exporter_runtime::self_metrics::run(
        client.clone(),
        exporter_protocol::Subjects::new(&settings.nats.subject_prefix),
        "api".to_owned(),
        settings.host_name().to_owned(),
        Duration::from_secs(settings.collectors.self_metrics_interval_seconds),
        shutdown.clone(),
    ));
    let heartbeat = tokio::spawn(exporter_runtime::heartbeat::run(
        client,
        exporter_protocol::Subjects::new(&settings.nats.subject_prefix),
        "api".to_owned(),
        settings.host_name().to_owned(),
        Duration::from_secs(settings.collectors.heartbeat_interval_seconds),
        Default::default(),
        shutdown.clone(),
    ));
    tracing::info!(url = %format!("http://{local}"), "API listening");
    exporter_runtime::systemd::ready(&format!("listening on http://{local}"));
    let limits = serve::ServeLimits {
        max_connections: settings.api.max_connections as usize,
        header_read_timeout: Duration::from_secs(settings.api.header_read_timeout_seconds),
    };
    // Without its socket the tunnel cannot reach the API, but everything local still works.
    let tunnel = match bind_tunnel_socket(&settings.api_tunnel_socket()) {
        Ok(tunnel) => Some(tunnel),
        Err(err) => {
            tracing::error!(error = %err, "no listener for the tunnel: it cannot reach the API. Check state_dir (a Unix socket path is at most 107 bytes) or set api.tunnel_socket");
            None
        }
    };
    serve::serve(listener, tunnel, app(state), limits, shutdown.clone())
        .await
        .map_err(StartError::Serve)?;
    let _ = heartbeat.await;
    let _ = self_metrics.await;
    Ok(())
}

/// Re-reads the keys whenever the managed keys' directory changes (`exporter key create` or
/// `revoke`), looking every [`KEYRING_POLL`]; a broken change keeps the keys in force.
async fn reload_keys_on_keyring_change(
    settings: Settings,
    keys: std::sync::Arc<auth::ApiKeys>,
    shutdown: Shutdown,
) {
    let dir = settings.api_keys_dir();
    let mut seen = exporter_settings::keyring::fingerprint(&dir);
    while !shutdown.sleep(KEYRING_POLL).await {
        let now = exporter_settings::keyring::fingerprint(&dir);
        if now == seen {
            continue;
        }
        match auth::ApiKeys::load(&settings) {
            Ok(fresh) => {
                seen = now;
                keys.replace(fresh);
                tracing::info!(keys = keys.len(), keys_dir = %dir.display(), "managed keys changed: keys read again");
            }
            Err(err) => {
                tracing::error!(error = %err, "the managed keys changed but cannot be read; the keys in force stay")
            }
        }
    }
}

/// How often the API looks at the managed keys' directory.
const KEYRING_POLL: Duration = Duration::from_secs(1);

/// Binds the tunnel's socket (a stale one from an earlier run is replaced), mode 0600.
fn bind_tunnel_socket(path: &std::path::Path) -> Result<tokio::net::UnixListener, StartError> {
    use std::os::unix::fs::PermissionsExt;
    let fail = |source| StartError::Bind {
        addr: path.display().to_string(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    let _ = std::fs::remove_file(path);
    let listener = tokio::net::UnixListener::bind(path).map_err(fail)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(fail)?;
    Ok(listener)
}

/// Keeps the latest tunnel report of every supervisor, for `/health`.
async fn follow_tunnels(
    client: async_nats::Client,
    subjects: exporter_protocol::Subjects,
    tunnels: std::sync::Arc<
        std::sync::Mutex<
            std::collections::BTreeMap<String, exporter_protocol::supervisor::TunnelReport>,
        >,
    >,
    shutdown: Shutdown,
) {
    use futures::StreamExt;
    let Ok(mut reports) = client.subscribe(subjects.all_supervisor_status()).await else {
        return;
    };
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            message = reports.next() => {
                let Some(message) = message else { return };
                if let Ok(report) = serde_json::from_slice::<exporter_protocol::supervisor::SupervisorReport>(&message.payload)
                    && let Ok(mut tunnels) = tunnels.lock()
                {
                    tunnels.insert(report.host, report.tunnel);
                }
            }
        }
    }
}

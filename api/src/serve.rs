//! The API's accept loop, bounded: at most `api.max_connections` connections at once, each of
//! which must send a complete request header within `api.header_read_timeout_seconds` (a new
//! connection, or an idle keep-alive one between requests), else hyper closes it. At the cap,
//! the oldest connection that has not sent a request yet is closed to make room (a flood of
//! half-open connections cannot keep a real client out); when every connection is busy, the new
//! one gets a 503 problem and is closed. Errors of `accept` itself (out of file descriptors) are
//! logged and waited out, never fatal.
//!
//! The tunnel has a listener of its own, a Unix socket in `state_dir` (0600: only the exporter's
//! user, i.e. the supervisor's tunnel, can connect): requests that come through it are marked
//! [`Peer::Tunnel`], and only there are `X-Forwarded-For` and `X-Forwarded-Proto` believed.
//!
//! axum's own `serve` has no header timeout and no connection cap, hence this loop on
//! hyper-util's connection builder (what `axum::serve` uses inside).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use exporter_runtime::Shutdown;
use futures::future::BoxFuture;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::Notify;
use tower::ServiceExt;

/// Who is at the other end of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// A TCP client (loopback included) at this address.
    Direct(SocketAddr),
    /// The tunnel's own socket: the client's address is in `X-Forwarded-For`.
    Tunnel,
}

/// The bounds of [`serve`].
#[derive(Debug, Clone, Copy)]
pub struct ServeLimits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
}

/// How long shutdown waits for requests in flight before closing their connections.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// One open connection, as the cap sees it.
struct Tracked {
    /// Set at its first request: from then on it is not evicted (an idle keep-alive connection
    /// is closed by the header timeout instead).
    served: Arc<AtomicBool>,
    evict: Arc<Notify>,
}

#[derive(Default)]
struct Connections {
    next_id: u64,
    open: BTreeMap<u64, Tracked>,
}

impl Connections {
    /// Makes room for one more under `max`: evicts the oldest connection without a request.
    /// `false` when every open connection is busy.
    fn make_room(&mut self, max: usize) -> bool {
        if self.open.len() < max {
            return true;
        }
        let idle = self
            .open
            .iter()
            .find(|(_, t)| !t.served.load(Ordering::Relaxed))
            .map(|(id, _)| *id);
        match idle.and_then(|id| self.open.remove(&id)) {
            Some(victim) => {
                victim.evict.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Serves `app` on `listener` (and the tunnel's socket, when given) until `shutdown`, within
/// `limits`, the connection cap shared by both.
pub async fn serve(
    listener: TcpListener,
    tunnel: Option<UnixListener>,
    app: Router,
    limits: ServeLimits,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    let shared = Shared {
        connections: Arc::new(Mutex::new(Connections::default())),
        graceful: Arc::new(hyper_util::server::graceful::GracefulShutdown::new()),
        limits,
        app,
    };
    let listener = Arc::new(listener);
    let direct = serve_loop(
        shared.clone(),
        move || {
            let listener = listener.clone();
            Box::pin(async move {
                let (stream, remote) = listener.accept().await?;
                Ok((stream, Peer::Direct(remote)))
            })
        },
        shutdown.clone(),
    );
    match tunnel {
        Some(tunnel) => {
            let tunnel = Arc::new(tunnel);
            let through_tunnel = serve_loop(
                shared.clone(),
                move || {
                    let tunnel = tunnel.clone();
                    Box::pin(async move {
                        let (stream, _) = tunnel.accept().await?;
                        Ok((stream, Peer::Tunnel))
                    })
                },
                shutdown.clone(),
            );
            tokio::join!(direct, through_tunnel);
        }
        None => direct.await,
    }
    let graceful = Arc::try_unwrap(shared.graceful).ok();
    if let Some(graceful) = graceful
        && tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
            .await
            .is_err()
    {
        tracing::warn!(
            grace_seconds = SHUTDOWN_GRACE.as_secs(),
            "requests still running at shutdown were cut"
        );
    }
    Ok(())
}

#[derive(Clone)]
struct Shared {
    connections: Arc<Mutex<Connections>>,
    graceful: Arc<hyper_util::server::graceful::GracefulShutdown>,
    limits: ServeLimits,
    app: Router,
}

type Accepted<Io> = BoxFuture<'static, std::io::Result<(Io, Peer)>>;

async fn serve_loop<Io>(
    shared: Shared,
    mut accept: impl FnMut() -> Accepted<Io>,
    shutdown: Shutdown,
) where
    Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // HTTP/1.1 only: the header and idle timeouts below are HTTP/1's, and an idle HTTP/2
    // connection would hold a slot of the cap for ever. The tunnel speaks HTTP/1.1 to us.
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(shared.limits.header_read_timeout);
    let metrics = exporter_runtime::self_metrics::global();
    let open_gauge = metrics.gauge(&exporter_protocol::self_metrics::HTTP_CONNECTIONS, &[]);
    let evicted = metrics.counter(
        &exporter_protocol::self_metrics::HTTP_CONNECTIONS_CLOSED,
        &[("reason", "evicted")],
    );
    let refused = metrics.counter(
        &exporter_protocol::self_metrics::HTTP_CONNECTIONS_CLOSED,
        &[("reason", "refused")],
    );
    let mut last_accept_warning: Option<Instant> = None;
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.wait() => break,
            accepted = accept() => match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    // EMFILE/ENFILE and friends: the connections in hand finish or time out.
                    if last_accept_warning.is_none_or(|at| at.elapsed() > Duration::from_secs(10)) {
                        tracing::warn!(error = %err, "cannot accept connections (out of file descriptors?); retrying. Raise LimitNOFILE or lower api.max_connections");
                        last_accept_warning = Some(Instant::now());
                    }
                    if shutdown.sleep(Duration::from_millis(100)).await {
                        break;
                    }
                    continue;
                }
            },
        };
        let served = Arc::new(AtomicBool::new(false));
        let evict = Arc::new(Notify::new());
        let id = {
            let mut connections = shared.connections.lock().expect("connections");
            let before = connections.open.len();
            if !connections.make_room(shared.limits.max_connections) {
                drop(connections);
                refused.inc();
                tokio::spawn(refuse(stream));
                continue;
            }
            if connections.open.len() < before {
                evicted.inc();
            }
            let id = connections.next_id;
            connections.next_id += 1;
            connections.open.insert(
                id,
                Tracked {
                    served: served.clone(),
                    evict: evict.clone(),
                },
            );
            id
        };
        open_gauge.add(1.0);
        let service = shared.app.clone().map_request(
            move |request: hyper::Request<hyper::body::Incoming>| {
                served.store(true, Ordering::Relaxed);
                let mut request = request.map(axum::body::Body::new);
                request.extensions_mut().insert(peer);
                if let Peer::Direct(remote) = peer {
                    request.extensions_mut().insert(ConnectInfo(remote));
                }
                request
            },
        );
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service))
            .into_owned();
        let connection = shared.graceful.watch(connection);
        let (connections, open_gauge) = (shared.connections.clone(), open_gauge.clone());
        tokio::spawn(async move {
            tokio::select! {
                _ = connection => {}
                // Dropping the connection closes its socket.
                _ = evict.notified() => {}
            }
            connections.lock().expect("connections").open.remove(&id);
            open_gauge.add(-1.0);
        });
    }
}

/// The answer past the cap: a 503 problem, then the connection is closed.
async fn refuse(mut stream: impl AsyncWrite + Unpin) {
    let body = r#"{"type":"about:blank","title":"Service Unavailable","status":503,"detail":"the API is at its connection limit (api.max_connections); retry shortly"}"#;
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/problem+json\r\nretry-after: 1\r\nconnection: close\r\ncontent-security-policy: {}\r\nx-content-type-options: nosniff\r\nreferrer-policy: no-referrer\r\nx-frame-options: DENY\r\ncache-control: no-store\r\ncontent-length: {}\r\n\r\n{body}",
        crate::security_headers::CONTENT_SECURITY_POLICY,
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

/// The client's address as far as it can be known, for throttling and the audit log: the TCP
/// peer (loopback included) for a direct connection; through the tunnel, the last address of
/// `X-Forwarded-For` (the one ngrok saw; earlier ones are the client's own claims).
/// `X-Forwarded-For` on a direct connection is ignored: anyone can send it.
pub fn client_address(request: &axum::extract::Request) -> String {
    match request.extensions().get::<Peer>() {
        Some(Peer::Direct(remote)) => remote.ip().to_string(),
        Some(Peer::Tunnel) => request
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .rfind(|entry| !entry.is_empty())
            .map_or_else(|| "tunnel".to_owned(), str::to_owned),
        None => "unknown".to_owned(),
    }
}

/// Whether the request came through the tunnel over HTTPS (`X-Forwarded-Proto`, believed only
/// on the tunnel's socket).
pub fn is_https(request: &axum::extract::Request) -> bool {
    matches!(request.extensions().get::<Peer>(), Some(Peer::Tunnel))
        && request
            .headers()
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracked(served: bool) -> (Tracked, Arc<Notify>) {
        let evict = Arc::new(Notify::new());
        (
            Tracked {
                served: Arc::new(AtomicBool::new(served)),
                evict: evict.clone(),
            },
            evict,
        )
    }

    #[test]
    fn the_cap_evicts_the_oldest_connection_without_a_request_first() {
        let mut connections = Connections::default();
        let (busy, _) = tracked(true);
        let (idle_old, _) = tracked(false);
        let (idle_new, _) = tracked(false);
        connections.open.insert(0, busy);
        connections.open.insert(1, idle_old);
        connections.open.insert(2, idle_new);
        assert!(connections.make_room(4), "below the cap: nothing evicted");
        assert_eq!(connections.open.len(), 3);
        assert!(connections.make_room(3));
        assert_eq!(
            connections.open.keys().copied().collect::<Vec<_>>(),
            [0, 2],
            "the oldest idle one went"
        );
        assert!(connections.make_room(2));
        assert_eq!(connections.open.keys().copied().collect::<Vec<_>>(), [0]);
        assert!(!connections.make_room(1), "all busy: refuse");
    }
}

//! The API's accept loop, bounded: at most `api.max_connections` connections at once, each of
//! which must send a complete request header within `api.header_read_timeout_seconds` (a new
//! connection, or an idle keep-alive one between requests), else hyper closes it. At the cap,
//! the oldest connection that has not sent a request yet is closed to make room (a flood of
//! half-open connections cannot keep a real client out); when every connection is busy, the new
//! one gets a 503 problem and is closed. Errors of `accept` itself (out of file descriptors) are
//! logged and waited out, never fatal.
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
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tower::ServiceExt;

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

/// Serves `app` on `listener` until `shutdown`, within `limits`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ServeLimits,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    let connections = Arc::new(Mutex::new(Connections::default()));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
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
        let (stream, remote) = tokio::select! {
            _ = shutdown.wait() => break,
            accepted = listener.accept() => match accepted {
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
            let mut connections = connections.lock().expect("connections");
            let before = connections.open.len();
            if !connections.make_room(limits.max_connections) {
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
        let service =
            app.clone()
                .map_request(move |request: hyper::Request<hyper::body::Incoming>| {
                    served.store(true, Ordering::Relaxed);
                    let mut request = request.map(axum::body::Body::new);
                    request.extensions_mut().insert(ConnectInfo(remote));
                    request
                });
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service))
            .into_owned();
        let connection = graceful.watch(connection);
        let (connections, open_gauge) = (connections.clone(), open_gauge.clone());
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
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
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

/// The answer past the cap: a 503 problem, then the connection is closed.
async fn refuse(mut stream: TcpStream) {
    let body = r#"{"type":"about:blank","title":"Service Unavailable","status":503,"detail":"the API is at its connection limit (api.max_connections); retry shortly"}"#;
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/problem+json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

/// Where the peer of a request is, for logs and throttling; `None` outside [`serve`].
pub fn peer(request: &axum::extract::Request) -> Option<SocketAddr> {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0)
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

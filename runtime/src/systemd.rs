//! systemd integration without a C library: `sd_notify` readiness (`READY=1`), status text and
//! the watchdog keep-alive (`WATCHDOG=1`), sent as datagrams to `$NOTIFY_SOCKET` when systemd
//! (or a test) set it, and nothing at all otherwise. Units use `Type=notify` and `WatchdogSec=`.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use crate::Shutdown;

/// Sends one notification; `Ok(false)` when no notify socket is configured.
pub fn notify(state: &str) -> std::io::Result<bool> {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return Ok(false);
    };
    let socket = UnixDatagram::unbound()?;
    let path = path.to_string_lossy().into_owned();
    if let Some(name) = path.strip_prefix('@') {
        // Abstract namespace socket (systemd's default form).
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
        socket.send_to_addr(state.as_bytes(), &addr)?;
    } else {
        socket.send_to(state.as_bytes(), &path)?;
    }
    Ok(true)
}

/// Tells systemd the process is ready (after its dependencies answered).
pub fn ready(status: &str) {
    if let Err(err) = notify(&format!("READY=1\nSTATUS={status}")) {
        tracing::warn!(error = %err, "could not notify systemd of readiness");
    }
}

/// Tells systemd the process is stopping.
pub fn stopping() {
    let _ = notify("STOPPING=1");
}

/// The watchdog interval systemd asked for (`WATCHDOG_USEC`, for this pid if `WATCHDOG_PID` is
/// set), if any.
pub fn watchdog_interval() -> Option<Duration> {
    if let Some(pid) = std::env::var("WATCHDOG_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        && pid != std::process::id()
    {
        return None;
    }
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec))
}

/// Sends `WATCHDOG=1` at half the requested interval until shutdown. Runs on the same runtime
/// as the work, so a wedged runtime stops the keep-alive and systemd restarts the process.
pub async fn watchdog(shutdown: Shutdown) {
    let Some(interval) = watchdog_interval() else {
        return;
    };
    let mut ticker = tokio::time::interval(interval / 2);
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = ticker.tick() => {
                let _ = notify("WATCHDOG=1");
            }
        }
    }
}

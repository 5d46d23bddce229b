//! The ngrok tunnel to the API, in process (the `ngrok` crate, rustls with `ring`, no C
//! toolchain): an HTTPS endpoint forwarding to `api.host:api.port`, with the edge restrictions
//! from the settings. No token: the tunnel is off, said once. Unreachable ngrok (as on a machine
//! without internet): everything else keeps running, the tunnel is reported down with the
//! reason, and it is retried with backoff. The public URL goes to the report (NATS, `/health`,
//! `exporter status`) and to `state_dir/tunnel-url`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use exporter_protocol::supervisor::TunnelReport;
use exporter_runtime::{RetryPolicy, Shutdown};
use exporter_settings::{ApiKeySource, Settings, secrets};
use ngrok::config::ForwarderBuilder;
use ngrok::tunnel::EndpointInfo;

/// Longest wait between attempts.
const MAX_RETRY: Duration = Duration::from_secs(300);

/// The tunnel's state, shared with the reporter.
pub type TunnelState = Arc<Mutex<TunnelReport>>;

/// Records the tunnel's state, and `exporter.tunnel_up` once a tunnel is configured (a tunnel
/// that is off by choice reports no series, rather than a 0 that reads as an outage).
fn set(state: &TunnelState, status: &str, url: Option<String>, reason: Option<String>) {
    if status != "off" {
        exporter_runtime::self_metrics::global()
            .gauge(&exporter_protocol::self_metrics::TUNNEL_UP, &[])
            .set(if status == "up" { 1.0 } else { 0.0 });
    }
    let mut report = state.lock().expect("tunnel state");
    if report.status != status || report.url != url || report.reason != reason {
        *report = TunnelReport {
            status: status.to_owned(),
            url,
            reason,
            since: Some(Utc::now()),
        };
    }
}

/// Runs the tunnel until `shutdown`; never returns an error (the tunnel is optional).
pub async fn run(settings: Settings, state: TunnelState, shutdown: Shutdown) {
    let token = match (&settings.tunnel_token_source, settings.tunnel.enabled) {
        (_, false) => {
            tracing::info!("tunnel disabled in the settings (tunnel.enabled: false)");
            set(&state, "off", None, Some("disabled in the settings".into()));
            return;
        }
        (None, true) => {
            tracing::info!(
                "no ngrok auth token (NGROK_AUTHTOKEN or EXPORTER_NGROK_AUTHTOKEN_FILE): the tunnel is off; the API is reachable only locally"
            );
            set(&state, "off", None, Some("no auth token configured".into()));
            return;
        }
        (Some(ApiKeySource::Env(secret)), true) => secret.clone(),
        (Some(ApiKeySource::File(path)), true) => match secrets::read_secret_file(path) {
            Ok(secret) => secret,
            Err(err) => {
                tracing::error!(error = %err, "cannot read the ngrok auth token; the tunnel is off");
                set(&state, "off", None, Some(err.to_string()));
                return;
            }
        },
    };
    let state_file = settings.state_dir.join("tunnel-url");
    let initial = Duration::from_secs(settings.tunnel.retry_initial_seconds);
    // The cap never shortens the configured first delay.
    let mut backoff = RetryPolicy::REMOTE
        .with_initial(initial)
        .with_max(MAX_RETRY.max(initial))
        .backoff();
    loop {
        set(&state, "connecting", None, None);
        match open(&settings, token.expose()).await {
            Ok((mut session, mut forwarder)) => {
                let url = forwarder.url().to_owned();
                tracing::info!(%url, "tunnel up: the API is reachable at this public URL (X-API-Key still required)");
                let _ = std::fs::write(&state_file, format!("{url}\n"));
                set(&state, "up", Some(url), None);
                backoff.reset();
                let reason = tokio::select! {
                    _ = shutdown.wait() => {
                        let _ = session.close().await;
                        let _ = std::fs::remove_file(&state_file);
                        return;
                    }
                    ended = forwarder.join() => match ended {
                        Ok(Ok(())) => "the tunnel closed".to_owned(),
                        Ok(Err(err)) => format!("the tunnel failed: {err}"),
                        Err(err) => format!("the tunnel task failed: {err}"),
                    },
                };
                let _ = std::fs::remove_file(&state_file);
                tracing::warn!(%reason, "tunnel down; reconnecting");
                set(&state, "down", None, Some(reason));
            }
            Err(reason) => {
                tracing::warn!(
                    %reason,
                    retry_in_seconds = backoff.peek().as_secs(),
                    "tunnel down; everything else keeps running. Check internet access and the ngrok token"
                );
                set(&state, "down", None, Some(reason));
            }
        }
        if shutdown.sleep(backoff.failed()).await {
            return;
        }
    }
}

type Forwarder = ngrok::forwarder::Forwarder<ngrok::tunnel::HttpTunnel>;

/// Connects a session and opens the forwarding endpoint.
async fn open(settings: &Settings, token: &str) -> Result<(ngrok::Session, Forwarder), String> {
    let mut builder = ngrok::Session::builder();
    builder.authtoken(token);
    let server_addr = settings.tunnel.server_addr.clone().or_else(|| {
        settings
            .tunnel
            .region
            .as_ref()
            .map(|region| format!("connect.{region}.ngrok-agent.com:443"))
    });
    if let Some(addr) = server_addr {
        builder
            .server_addr(addr)
            .map_err(|err| format!("invalid tunnel server address: {err}"))?;
    }
    let session = tokio::time::timeout(Duration::from_secs(20), builder.connect())
        .await
        .map_err(|_| "no answer from ngrok within 20 s".to_owned())?
        .map_err(|err| format!("cannot connect to ngrok: {err}"))?;
    let mut endpoint = session.http_endpoint();
    let tunnel = &settings.tunnel;
    if let Some(domain) = &tunnel.domain {
        endpoint.domain(domain);
    }
    for cidr in &tunnel.allow_cidrs {
        endpoint.allow_cidr(cidr);
    }
    for cidr in &tunnel.deny_cidrs {
        endpoint.deny_cidr(cidr);
    }
    if let Some(file) = &tunnel.basic_auth_file {
        let credentials = secrets::read_secret_file(file).map_err(|err| err.to_string())?;
        let (user, password) = credentials
            .expose()
            .split_once(':')
            .ok_or_else(|| format!("{} must hold user:password", file.display()))?;
        endpoint.basic_auth(user, password);
    }
    if let Some(provider) = &tunnel.oauth_provider {
        let mut oauth = ngrok::config::OauthOptions::new(provider);
        for email in &tunnel.oauth_allowed_emails {
            oauth.allow_email(email);
        }
        endpoint.oauth(oauth);
    }
    // The API's own socket for the tunnel: there, and only there, it believes X-Forwarded-For.
    let socket = settings.api_tunnel_socket();
    let socket = std::path::absolute(&socket).unwrap_or(socket);
    let target = format!("unix://{}", socket.display());
    let target = url::Url::parse(&target)
        .map_err(|err| format!("bad tunnel socket path {target}: {err}"))?;
    let forwarder = endpoint
        .listen_and_forward(target)
        .await
        .map_err(|err| format!("ngrok refused the endpoint: {err}"))?;
    Ok((session, forwarder))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tunnel_up_follows_the_state_and_an_off_tunnel_reports_nothing() {
        let gauge = || {
            exporter_runtime::self_metrics::global()
                .snapshot("supervisor")
                .gauges
                .into_iter()
                .find(|g| g.name == "tunnel_up")
                .map(|g| g.value)
        };
        let state = TunnelState::default();
        set(&state, "off", None, Some("disabled in the settings".into()));
        assert_eq!(gauge(), None, "an off tunnel is no outage");
        set(&state, "up", Some("https://example.invalid".into()), None);
        assert_eq!(gauge(), Some(1.0));
        set(&state, "down", None, Some("session lost".into()));
        assert_eq!(gauge(), Some(0.0));
    }
}

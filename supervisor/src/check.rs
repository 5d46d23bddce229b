//! `exporter check`: validates the settings (done by loading them), then reaches PostgreSQL and
//! NATS (with JetStream), looks at the API key and compiles the alert rules, printing one line per check and what to do
//! about a failure.

use std::time::Duration;

use exporter_settings::{ApiKeySource, Settings, secrets};
use exporter_store::Store;

/// One check's verdict.
#[derive(Debug)]
pub struct Finding {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
}

/// Runs every check; never stops at the first failure.
pub async fn run(settings: &Settings) -> Vec<Finding> {
    vec![
        Finding {
            name: "settings",
            ok: true,
            detail: format!("valid (host label `{}`)", settings.host_name()),
        },
        postgres(settings).await,
        nats(settings).await,
        api_key(settings),
        alert_rules(settings),
    ]
}

/// The alert rules file: parses, every rule compiles, receivers' secrets resolve.
fn alert_rules(settings: &Settings) -> Finding {
    let name = "alert rules";
    if !settings.alerts.enabled {
        return Finding {
            name,
            ok: true,
            detail: "alert evaluation is off (alerts.enabled: false)".into(),
        };
    }
    let path = settings.alert_rules_path();
    match exporter_alerting::check_rules(&path) {
        Ok(loaded) => {
            let mut detail = format!(
                "{}: {} rules, {} receivers",
                path.display(),
                loaded.compiled.len(),
                loaded.file.receivers.len()
            );
            let watchdog: Vec<&str> = loaded
                .file
                .receivers
                .iter()
                .filter(|r| r.watchdog)
                .map(|r| r.name.as_str())
                .collect();
            if !watchdog.is_empty() {
                detail.push_str(&format!(
                    "; the always-firing Watchdog goes to {} every {} s while ingest and evaluation are healthy",
                    watchdog.join(", "),
                    settings.aggregator.deadman_interval_seconds
                ));
            }
            let gated = exporter_alerting::calendar_gated_rules(&loaded);
            if settings.alpaca_keys.is_none() && !gated.is_empty() {
                detail.push_str(&format!(
                    "; without Alpaca keys the market calendar is unknown, so these rules with active_during fire whatever the market does: {}",
                    gated.join(", ")
                ));
            }
            Finding {
                name,
                ok: true,
                detail,
            }
        }
        Err(err) => Finding {
            name,
            ok: false,
            detail: err.to_string(),
        },
    }
}

async fn postgres(settings: &Settings) -> Finding {
    let attempt = tokio::time::timeout(Duration::from_secs(10), async {
        let store = Store::connect(&settings.database).await?;
        store.server_version().await
    })
    .await;
    match attempt {
        Ok(Ok(version)) => Finding {
            name: "postgresql",
            ok: true,
            detail: format!("reachable, server {version}"),
        },
        Ok(Err(err)) => Finding {
            name: "postgresql",
            ok: false,
            detail: format!(
                "{err}. Check that PostgreSQL runs (pg_lsclusters), that the database in database.url exists (createdb exporter) and that your user may log in"
            ),
        },
        Err(_) => Finding {
            name: "postgresql",
            ok: false,
            detail: "no answer within 10 s; is the host in database.url right?".into(),
        },
    }
}

/// The managed bus before `exporter up` started it: fine when its binary can be run.
fn managed_not_running(bus: &crate::bus_server::ManagedBus) -> Finding {
    match std::process::Command::new(&bus.binary)
        .arg("--version")
        .output()
    {
        Ok(output) if output.status.success() => Finding {
            name: "nats",
            ok: true,
            detail: format!(
                "managed: `exporter up` starts {} ({}) on 127.0.0.1:{} with one user per role",
                bus.binary,
                String::from_utf8_lossy(&output.stdout).trim(),
                bus.port
            ),
        },
        _ => Finding {
            name: "nats",
            ok: false,
            detail: format!(
                "managed bus: cannot run `{} --version`; install nats-server (apt-get install nats-server) or set nats.managed.binary",
                bus.binary
            ),
        },
    }
}

async fn nats(settings: &Settings) -> Finding {
    use crate::bus_server::{BusRole, ManagedBus, settings_for};
    if settings.nats.managed.enabled {
        let bus = ManagedBus::of(settings);
        let running = tokio::net::TcpStream::connect(("127.0.0.1", bus.port))
            .await
            .is_ok();
        if !running || !bus.password_file(BusRole::Supervisor).exists() {
            return managed_not_running(&bus);
        }
    }
    let settings = &settings_for(settings, BusRole::Supervisor);
    let shown = exporter_settings::redact_url(&settings.nats.url);
    let attempt = tokio::time::timeout(Duration::from_secs(10), async {
        let options = exporter_runtime::bus::connect_options(&settings.nats)
            .await
            .map_err(|err| err.to_string())?;
        let client = options
            .connection_timeout(Duration::from_secs(3))
            .connect(&settings.nats.url)
            .await
            .map_err(|err| {
                format!(
                    "cannot connect to {}: {err}. Is nats-server running?",
                    shown
                )
            })?;
        let js = async_nats::jetstream::new(client);
        match js.get_stream(&settings.nats.stream).await {
            Ok(_) => Ok(format!("stream {} exists", settings.nats.stream)),
            Err(err)
                if matches!(
                    err.kind(),
                    async_nats::jetstream::context::GetStreamErrorKind::JetStream(_)
                ) =>
            {
                // The server answered (JetStream is on); the stream is created at first start.
                Ok(format!(
                    "stream {} will be created at first start",
                    settings.nats.stream
                ))
            }
            Err(err) => Err(format!(
                "connected, but JetStream does not answer ({err}): start nats-server with -js"
            )),
        }
    })
    .await;
    match attempt {
        Ok(Ok(stream)) => Finding {
            name: "nats",
            ok: true,
            detail: format!("reachable at {}, JetStream enabled, {stream}", shown),
        },
        Ok(Err(detail)) => Finding {
            name: "nats",
            ok: false,
            detail,
        },
        Err(_) => Finding {
            name: "nats",
            ok: false,
            detail: format!("no answer from {shown} within 10 s"),
        },
    }
}

fn api_key(settings: &Settings) -> Finding {
    match &settings.api_key_source {
        ApiKeySource::Env(key) => match secrets::check_api_key(key) {
            Ok(()) => Finding {
                name: "api key",
                ok: true,
                detail: "from EXPORTER_API_KEY".into(),
            },
            Err(reason) => Finding {
                name: "api key",
                ok: false,
                detail: format!("EXPORTER_API_KEY {reason}"),
            },
        },
        ApiKeySource::File(path) if !path.exists() => Finding {
            name: "api key",
            ok: true,
            detail: format!(
                "{} does not exist yet; `exporter up` will create it",
                path.display()
            ),
        },
        ApiKeySource::File(path) => match secrets::read_secret_file(path) {
            Ok(key) => match secrets::check_api_key(&key) {
                Ok(()) => Finding {
                    name: "api key",
                    ok: true,
                    detail: format!("{} (mode 0600)", path.display()),
                },
                Err(reason) => Finding {
                    name: "api key",
                    ok: false,
                    detail: format!("the key in {} {reason}", path.display()),
                },
            },
            Err(err) => Finding {
                name: "api key",
                ok: false,
                detail: err.to_string(),
            },
        },
    }
}

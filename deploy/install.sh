#!/usr/bin/env bash
# Installs the exporter as systemd units (one per process, see deploy/systemd/):
#   binaries      -> /usr/local/bin/exporter{,-aggregator,-api,-collector}
#   settings      -> /etc/gh200-exporter/system.yaml (kept if present), environment file
#   secrets       -> /etc/gh200-exporter/api-key (generated once, 0600),
#                    /etc/gh200-exporter/ngrok-authtoken (from $NGROK_AUTHTOKEN if set, 0600),
#                    /etc/gh200-exporter/alpaca-key-id, alpaca-secret-key (from
#                    $EXPORTER_ALPACA_KEY_ID / $EXPORTER_ALPACA_SECRET_KEY if set, 0600), each
#                    passed as a systemd credential to the units that use it and no other
#   state         -> /var/lib/gh200-exporter (StateDirectory)
#   service user  -> gh200-exporter, with a PostgreSQL role of the same name (peer auth)
# then enables and starts exporter.target. Run as root from a clone: sudo ./deploy/install.sh
# Options: --no-build (use target/release as it is), --no-start.

set -euo pipefail
cd "$(dirname "$0")/.."
source deploy/lib/services.sh

build=1 start=1
for arg in "$@"; do
  case "$arg" in
    --no-build) build=0 ;;
    --no-start) start=0 ;;
    *) echo "unknown option $arg" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" -eq 0 ] || { echo "run as root (sudo $0)" >&2; exit 1; }
[ -d /run/systemd/system ] || { echo "systemd is not running on this machine; use ./deploy/up.sh instead" >&2; exit 1; }

user=gh200-exporter
etc=/etc/gh200-exporter

ensure_services
if [ "$build" -eq 1 ]; then cargo build --release --workspace --bins; fi
install -m 0755 target/release/exporter target/release/exporter-aggregator \
  target/release/exporter-api target/release/exporter-collector /usr/local/bin/

if ! id "$user" >/dev/null 2>&1; then
  log "creating system user $user"
  useradd --system --no-create-home --home-dir /var/lib/gh200-exporter --shell /usr/sbin/nologin "$user"
fi
getent group video >/dev/null && usermod -a -G video "$user"

install -d -m 0755 "$etc"
if [ ! -f "$etc/system.yaml" ]; then
  sed -e 's#^state_dir: .state#state_dir: /var/lib/gh200-exporter#' \
      -e 's#path: .state/logs/#path: /var/lib/gh200-exporter/logs/#' \
      -e 's#^    enabled: true                   \# the managed bus.*#    enabled: false                  \# systemd units connect to url (the system nats-server)#' \
      -e 's#^    journal_units: \[\] .*#    journal_units: [exporter-aggregator.service, exporter-api.service, exporter-collector@system.service, exporter-collector@hardware.service, exporter-tunnel.service]#' \
      settings/system.yaml > "$etc/system.yaml"
  chmod 0644 "$etc/system.yaml"
fi
# Alert rules beside system.yaml (kept if present: the owner tunes them).
if [ ! -f "$etc/alerts.yaml" ]; then
  install -m 0644 settings/alerts.yaml "$etc/alerts.yaml"
fi
[ -f "$etc/environment" ] || (umask 077; printf '# KEY=value lines for every exporter unit (no secrets: use credentials)\n' > "$etc/environment")
# Every unit reads it: private to root (earlier versions created it 0644).
chmod 0600 "$etc/environment"
if [ ! -f "$etc/api-key" ]; then
  (umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$etc/api-key"; echo >> "$etc/api-key")
  log "created the API key in $etc/api-key (mode 0600); send it as X-API-Key"
fi
if [ -n "${NGROK_AUTHTOKEN:-}" ] && [ ! -f "$etc/ngrok-authtoken" ]; then
  (umask 077; printf '%s\n' "$NGROK_AUTHTOKEN" > "$etc/ngrok-authtoken")
  log "stored the ngrok auth token in $etc/ngrok-authtoken (mode 0600)"
fi
if [ -n "${EXPORTER_ALPACA_KEY_ID:-}" ] && [ -n "${EXPORTER_ALPACA_SECRET_KEY:-}" ] && [ ! -f "$etc/alpaca-secret-key" ]; then
  (umask 077; printf '%s\n' "$EXPORTER_ALPACA_KEY_ID" > "$etc/alpaca-key-id"
   printf '%s\n' "$EXPORTER_ALPACA_SECRET_KEY" > "$etc/alpaca-secret-key")
  log "stored the Alpaca keys in $etc/alpaca-key-id and $etc/alpaca-secret-key (mode 0600)"
fi

# PostgreSQL: a role for the service user (peer authentication) owning the database.
if ! as_postgres psql -h "$PG_SOCKET_DIR" -tAc "SELECT 1 FROM pg_roles WHERE rolname = '$user'" | grep -q 1; then
  as_postgres createuser -h "$PG_SOCKET_DIR" "$user"
fi
if ! as_postgres psql -h "$PG_SOCKET_DIR" -tAc "SELECT 1 FROM pg_database WHERE datname = 'exporter'" | grep -q 1; then
  as_postgres createdb -h "$PG_SOCKET_DIR" -O "$user" exporter
fi
runuser -u "$user" -- env EXPORTER_SETTINGS="$etc/system.yaml" /usr/local/bin/exporter migrate

install -m 0644 deploy/systemd/*.service deploy/systemd/exporter.target /etc/systemd/system/
# The logs collector reads the journal (the units log there, not to files).
if getent group systemd-journal >/dev/null; then
  install -d -m 0755 /etc/systemd/system/exporter-collector@logs.service.d
  install -m 0644 deploy/systemd-dropins/collector-logs-journal.conf \
    /etc/systemd/system/exporter-collector@logs.service.d/journal.conf
fi
# The brokerage collectors, with the Alpaca keys as credentials, only when the keys exist.
brokerage_units=()
if [ -f "$etc/alpaca-key-id" ] && [ -f "$etc/alpaca-secret-key" ]; then
  for kind in portfolio trades; do
    install -d -m 0755 "/etc/systemd/system/exporter-collector@$kind.service.d"
    install -m 0644 deploy/systemd-dropins/collector-alpaca-credentials.conf \
      "/etc/systemd/system/exporter-collector@$kind.service.d/alpaca.conf"
    brokerage_units+=("exporter-collector@$kind.service")
  done
fi
systemctl daemon-reload
systemctl enable exporter.target exporter-aggregator.service exporter-api.service \
  exporter-collector@system.service exporter-collector@hardware.service \
  exporter-collector@logs.service exporter-tunnel.service "${brokerage_units[@]}"
if [ "$start" -eq 1 ]; then
  systemctl start exporter.target
  sleep 3
  EXPORTER_SETTINGS="$etc/system.yaml" /usr/local/bin/exporter status || true
fi
log "installed. Logs: journalctl -u 'exporter-*' -f   Stop: systemctl stop exporter.target"

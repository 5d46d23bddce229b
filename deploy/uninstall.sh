#!/usr/bin/env bash
# Reverses deploy/install.sh: stops and removes the units and the binaries. Settings, secrets,
# state and the database are kept unless --purge is given (then the database is dropped too).

set -euo pipefail
cd "$(dirname "$0")/.."
source deploy/lib/services.sh
[ "$(id -u)" -eq 0 ] || { echo "run as root (sudo $0)" >&2; exit 1; }

purge=0
[ "${1:-}" = "--purge" ] && purge=1

systemctl stop exporter.target 'exporter-collector@*' exporter-aggregator exporter-api exporter-tunnel 2>/dev/null || true
systemctl disable exporter.target exporter-aggregator.service exporter-api.service \
  'exporter-collector@system.service' 'exporter-collector@hardware.service' exporter-tunnel.service 2>/dev/null || true
rm -f /etc/systemd/system/exporter.target /etc/systemd/system/exporter-aggregator.service \
  /etc/systemd/system/exporter-api.service /etc/systemd/system/exporter-collector@.service \
  /etc/systemd/system/exporter-tunnel.service
systemctl daemon-reload
rm -f /usr/local/bin/exporter /usr/local/bin/exporter-aggregator /usr/local/bin/exporter-api /usr/local/bin/exporter-collector

if [ "$purge" -eq 1 ]; then
  as_postgres dropdb -h "$PG_SOCKET_DIR" --if-exists exporter
  as_postgres dropuser -h "$PG_SOCKET_DIR" --if-exists gh200-exporter
  rm -rf /etc/gh200-exporter /var/lib/gh200-exporter
  userdel gh200-exporter 2>/dev/null || true
  log "purged settings, secrets, state, database and the service user"
else
  log "removed units and binaries; kept /etc/gh200-exporter, /var/lib/gh200-exporter and the database (--purge removes them)"
fi

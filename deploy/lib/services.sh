#!/usr/bin/env bash
# Shared by deploy/up.sh and deploy/test.sh: makes sure NATS (with JetStream) and PostgreSQL are
# installed and running on this machine, and that the current OS user has a PostgreSQL role that
# may create databases (peer authentication over the Unix socket: no password anywhere).
# `ensure_prometheus_tools` (called by deploy/test.sh only)
# installs Debian's prometheus (prometheus, promtool) and prometheus-node-exporter for the tests
# (they start their own instances on free ports): never started nor enabled here.
# `ensure_python_tools` (deploy/test.sh only) makes the venv of the OpenAPI contract tests
# (schemathesis, openapi-python-client from PyPI; tests/openapi/venv.sh) and the one of the
# dashboard's browser tests (Playwright from PyPI, Debian's chromium; tests/browser/venv.sh), once.
# Debian/Ubuntu only (apt-get). Idempotent: does nothing that is already done.

set -euo pipefail

NATS_PORT="${NATS_PORT:-4222}"
NATS_STORE_DIR="${NATS_STORE_DIR:-/var/lib/nats-server}"
PG_SOCKET_DIR="${PG_SOCKET_DIR:-/var/run/postgresql}"

log() { printf '[services] %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}

apt_updated=0
apt_install() {
  if [ "$apt_updated" -eq 0 ]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_updated=1
  fi
  log "installing $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

ensure_packages() {
  command -v nats-server >/dev/null || [ -x /usr/sbin/nats-server ] || apt_install nats-server
  command -v pg_ctlcluster >/dev/null || apt_install postgresql
  command -v pg_isready >/dev/null || apt_install postgresql-client
  command -v systemd-analyze >/dev/null || apt_install systemd
}

# Runs "$@" with a policy-rc.d that refuses every service start (invoke-rc.d and
# deb-systemd-invoke ask it), unless one is there already (Docker images ship one).
with_services_held() {
  local policy=/usr/sbin/policy-rc.d created=0 status=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# written by deploy/lib/services.sh while installing; removed after\nexit 101\n' |
      as_root tee "$policy" >/dev/null
    as_root chmod 0755 "$policy"
    created=1
    # Interrupted or not, a policy left behind would keep every later upgrade from starting
    # its service (PostgreSQL's included).
    trap 'as_root rm -f /usr/sbin/policy-rc.d' EXIT INT TERM
  fi
  "$@" || status=$?
  if [ "$created" -eq 1 ]; then
    as_root rm -f "$policy"
    trap - EXIT INT TERM
  fi
  return "$status"
}

# Prometheus' own tools for the tests: promtool (config and rule checks, rule unit tests), a
# prometheus that scrapes the stack, node_exporter as the benchmark's baseline. Installed without
# recommends (no extra exporters), their services neither started nor enabled at boot, so nothing
# new listens on 9090/9100 now or after a reboot.
ensure_prometheus_tools() {
  local missing=() units=()
  { [ -x /usr/bin/prometheus ] && [ -x /usr/bin/promtool ]; } || { missing+=(prometheus); units+=(prometheus.service); }
  [ -x /usr/bin/prometheus-node-exporter ] || { missing+=(prometheus-node-exporter); units+=(prometheus-node-exporter.service); }
  if [ "${#missing[@]}" -eq 0 ]; then
    return
  fi
  local before=() port
  for port in 9090 9100; do port_open "$port" && before+=("$port"); done
  with_services_held apt_install --no-install-recommends "${missing[@]}"
  # Only the units of what was just installed: a Prometheus or node_exporter the machine
  # already ran stays as it was.
  if command -v deb-systemd-helper >/dev/null; then
    as_root deb-systemd-helper disable "${units[@]}" >/dev/null 2>&1 || true
  fi
  if [ -d /run/systemd/system ]; then
    as_root systemctl disable --now "${units[@]}" >/dev/null 2>&1 || true
  fi
  for port in 9090 9100; do
    if port_open "$port" && [[ " ${before[*]} " != *" $port "* ]]; then
      log "something listens on 127.0.0.1:$port since installing ${missing[*]}; stop it (systemctl stop ${units[*]})"
      return 1
    fi
  done
}

# Python 3 with venv for the OpenAPI contract and browser tests, from Debian when missing; then
# their venvs (from PyPI the first time, offline once they exist) and Debian's chromium.
ensure_python_tools() {
  if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    apt_install --no-install-recommends python3 python3-venv python3-pip
  fi
  tests/openapi/venv.sh >/dev/null
  command -v chromium >/dev/null || apt_install --no-install-recommends chromium fonts-dejavu-core
  tests/browser/venv.sh >/dev/null
}

ensure_nats() {
  if port_open "$NATS_PORT"; then
    return
  fi
  local bin
  bin="$(command -v nats-server || echo /usr/sbin/nats-server)"
  log "starting nats-server with JetStream on 127.0.0.1:$NATS_PORT (store $NATS_STORE_DIR)"
  as_root mkdir -p "$NATS_STORE_DIR"
  as_root start-stop-daemon --start --oknodo --background --exec "$bin" -- \
    -a 127.0.0.1 -p "$NATS_PORT" -js -sd "$NATS_STORE_DIR" -l /var/log/nats-server.log
  for _ in $(seq 1 50); do port_open "$NATS_PORT" && return; sleep 0.1; done
  log "nats-server did not start; see /var/log/nats-server.log"
  return 1
}

ensure_postgres() {
  if ! pg_isready -q -h "$PG_SOCKET_DIR"; then
    local version
    version="$(ls /etc/postgresql | sort -V | tail -n 1)"
    log "starting PostgreSQL $version"
    if [ -d /run/systemd/system ]; then
      as_root systemctl start "postgresql@${version}-main" || as_root systemctl start postgresql
    else
      as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
    fi
    for _ in $(seq 1 100); do pg_isready -q -h "$PG_SOCKET_DIR" && break; sleep 0.1; done
  fi
  local user
  user="$(id -un)"
  if ! as_postgres psql -h "$PG_SOCKET_DIR" -tAc "SELECT 1 FROM pg_roles WHERE rolname = '$user'" | grep -q 1; then
    log "creating PostgreSQL role $user (may create databases; logs in by peer authentication)"
    as_postgres createuser -h "$PG_SOCKET_DIR" --createdb "$user"
  fi
}

# ensure_database NAME: creates the database, owned by the current user, if missing.
ensure_database() {
  if ! psql -h "$PG_SOCKET_DIR" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$1'" | grep -q 1; then
    log "creating database $1"
    createdb -h "$PG_SOCKET_DIR" "$1"
  fi
}

ensure_services() {
  ensure_packages
  ensure_nats
  ensure_postgres
}

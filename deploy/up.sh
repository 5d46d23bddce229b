#!/usr/bin/env bash
# Brings the whole system up on this machine with the default settings (settings/system.yaml):
# installs and starts NATS (JetStream on) and PostgreSQL when missing, creates the `exporter`
# database, builds the release binaries and runs `exporter up` in the foreground (Ctrl-C stops
# everything). The API key is created on first start in .state/api-key (mode 0600).

set -euo pipefail
cd "$(dirname "$0")/.."
source deploy/lib/services.sh

if ! command -v cargo >/dev/null; then
  log "no Rust toolchain: installing one with rustup (https://rustup.rs)"
  command -v curl >/dev/null || apt_install curl ca-certificates
  apt_install build-essential
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
  # shellcheck disable=SC1091
  source "$HOME/.cargo/env"
fi

ensure_services
ensure_database exporter
cargo build --release --workspace --bins
target/release/exporter check
exec target/release/exporter up

#!/usr/bin/env bash
# The whole test suite: starts (installing if needed) NATS with JetStream and PostgreSQL, builds
# the binaries once, then runs every test against those real services. Each test starts its own
# nats-server and creates (and drops) its own database, so runs never see each other.

set -euo pipefail
cd "$(dirname "$0")/.."
source deploy/lib/services.sh

ensure_services
cargo build --workspace --bins
cargo test --workspace "$@"

#!/usr/bin/env bash
# The whole test suite: starts (installing if needed) NATS with JetStream and PostgreSQL, builds
# the binaries once, then runs every test against those real services. Each test starts its own
# nats-server and creates (and drops) its own database, so runs never see each other.
# Extra arguments go to `cargo test` (e.g. a test name filter).

set -euo pipefail
cd "$(dirname "$0")/.."
source deploy/lib/services.sh

ensure_services
# Only the tests need Prometheus' tools; `up.sh` and install.sh do not install them.
ensure_prometheus_tools
# The OpenAPI contract tests' schemathesis and openapi-python-client, the browser tests'
# Playwright and chromium (venvs in ~/.cache).
ensure_python_tools
# The dashboard's vendored browser libraries match their checksums (offline).
deploy/vendor-ui.sh --check
cargo build --workspace --bins
started=$(date +%s)
output=$(mktemp)
trap 'rm -f "$output"' EXIT
status=0
cargo test --workspace --lib --bins --tests "$@" 2>&1 | tee "$output" || status=$?
echo "test suite took $(( $(date +%s) - started )) s"
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "tests: %d passed, %d failed\n", passed, failed }' "$output"
exit "$status"

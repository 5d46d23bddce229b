#!/usr/bin/env bash
# Regenerates docs/screenshots/: every view of the dashboard at 390x844 (a phone) and 1440x900
# (a desktop), taken by the browser test (tests/tests/dashboard.rs) against the real stack with
# the Alpaca and Yahoo stand-ins, so the pictures show what the tests check. PNGs are squeezed
# with pngquant when it is installed (apt-get install pngquant).
set -euo pipefail
cd "$(dirname "$0")/.."
source deploy/lib/services.sh

ensure_services
ensure_python_tools
cargo build --workspace --bins
out="$PWD/docs/screenshots"
rm -rf "$out"
mkdir -p "$out"
SCREENSHOTS="$out" cargo test -p exporter-tests --test dashboard -- --nocapture
if command -v pngquant >/dev/null; then
  pngquant --force --skip-if-larger --strip --quality 70-95 --ext .png "$out"/*.png || true
fi
ls -l "$out"

#!/usr/bin/env bash
# Makes (once) the Python virtual environment of the dashboard's browser tests and prints its
# path; installs Debian's chromium when missing (Playwright drives it through executable_path:
# Playwright's own browser download is never used). The venv lives in ~/.cache
# (EXPORTER_BROWSER_VENV overrides), outside the work tree, and is rebuilt only when
# tests/browser/requirements.txt changes: with both in place, no network is used.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${EXPORTER_BROWSER_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/gh200-exporter/browser-venv}"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v chromium >/dev/null; then
  echo "[browser] installing Debian's chromium" >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    chromium fonts-dejavu-core >/dev/null
fi
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[browser] installing $(grep -v '^#' "$here/requirements.txt" | xargs) into $venv" >&2
  mkdir -p "$(dirname "$venv")"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt" >&2
  echo "$want" > "$stamp"
fi
echo "$venv"

#!/usr/bin/env bash
# Makes (once) the Python virtual environment of the OpenAPI contract tests and prints its path.
# It lives in ~/.cache (EXPORTER_PYTHON_VENV overrides), outside the work tree, and is rebuilt
# only when tests/openapi/requirements.txt changes: with the venv in place, no network is used.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${EXPORTER_PYTHON_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/gh200-exporter/openapi-venv}"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
if [ ! -x "$venv/bin/st" ] || [ ! -x "$venv/bin/openapi-python-client" ] \
  || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[openapi] installing $(grep -v '^#' "$here/requirements.txt" | xargs) into $venv" >&2
  mkdir -p "$(dirname "$venv")"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt" >&2
  echo "$want" > "$stamp"
fi
echo "$venv"

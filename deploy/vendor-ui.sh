#!/usr/bin/env bash
# Vendors the dashboard's third-party browser libraries into api/ui/vendor/ (embedded in the
# exporter-api binary, so the page fetches nothing from anywhere but its own origin).
#
# Each library is pinned below (npm name, version, files to keep from its tarball). The script
# downloads each tarball from the npm registry, checks it against the registry's published
# sha512 integrity, unpacks the kept files (and the licence) and then checks every vendored
# file against api/ui/vendor/SHA256SUMS: any difference fails, and nothing is replaced.
#
#   deploy/vendor-ui.sh            re-fetch and verify (fails on a checksum mismatch)
#   deploy/vendor-ui.sh --check    verify the files in place only (offline)
#   deploy/vendor-ui.sh --update   re-fetch and write new checksums (after changing a pin)
set -euo pipefail

registry="${NPM_REGISTRY:-https://registry.npmjs.org}"
root="$(cd "$(dirname "$0")/.." && pwd)"
vendor="$root/api/ui/vendor"
sums="$vendor/SHA256SUMS"

# name  version  directory  files (from the package root), space separated
pins=(
  "uplot|1.6.32|uplot|dist/uPlot.iife.min.js dist/uPlot.min.css LICENSE"
  "lightweight-charts|5.2.1|lightweight-charts|dist/lightweight-charts.standalone.production.js LICENSE"
)

mode="${1:-fetch}"
case "$mode" in
  fetch | --update | --check) ;;
  *) echo "usage: $0 [--check|--update]" >&2; exit 2 ;;
esac

verify() { (cd "$1" && sha256sum --quiet --strict -c "$sums"); }

if [ "$mode" = "--check" ]; then
  verify "$vendor"
  echo "[vendor-ui] api/ui/vendor matches SHA256SUMS"
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/out"
for pin in "${pins[@]}"; do
  IFS='|' read -r name version dir files <<<"$pin"
  tarball="$registry/$name/-/$name-$version.tgz"
  echo "[vendor-ui] $name@$version from $tarball" >&2
  curl -fsSL --retry 3 -o "$work/$name.tgz" "$tarball"
  integrity="$(curl -fsSL --retry 3 "$registry/$name/$version" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["dist"]["integrity"])')"
  got="sha512-$(openssl dgst -sha512 -binary "$work/$name.tgz" | base64 -w0)"
  if [ "$got" != "$integrity" ]; then
    echo "[vendor-ui] $name@$version: tarball is $got, the registry publishes $integrity" >&2
    exit 1
  fi
  mkdir -p "$work/$name" "$work/out/$dir"
  tar xzf "$work/$name.tgz" -C "$work/$name"
  for file in $files; do
    cp "$work/$name/package/$file" "$work/out/$dir/"
  done
  printf '%s %s\n' "$name" "$version" >"$work/out/$dir/VERSION"
done

if [ "$mode" = "--update" ]; then
  (cd "$work/out" && find . -type f ! -name SHA256SUMS | LC_ALL=C sort | sed 's|^\./||' |
    xargs sha256sum) >"$work/SHA256SUMS"
  cp "$work/SHA256SUMS" "$work/out/SHA256SUMS"
  sums="$work/SHA256SUMS"
else
  cp "$sums" "$work/out/SHA256SUMS"
fi
if ! verify "$work/out"; then
  echo "[vendor-ui] the fetched files differ from $sums: nothing replaced" >&2
  exit 1
fi
rm -rf "$vendor"
mkdir -p "$vendor"
cp -r "$work/out/." "$vendor/"
echo "[vendor-ui] api/ui/vendor verified and in place"

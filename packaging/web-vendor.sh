#!/bin/sh
# web-vendor — puts the browser libraries the pages use into web/vendor/ with their licences:
# hls.js (Apache-2.0), at the version and hash pinned in packaging/web-vendor/package-lock.json,
# from the npm registry through `npm ci`. web/vendor/ is not in git (nothing fetched from
# elsewhere is committed); the pages load these files from the box itself, never from the
# network at run time. Without them the player falls back to whole-file playback.
# Usage: packaging/web-vendor.sh [--check]   (--check: exit 1 if web/vendor/ is not current)
# Called by packaging/demo.sh, tests/run.sh and packaging/build-deb.sh.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
src="$top/packaging/web-vendor"
dest="$top/web/vendor"
cache="${HEARTH_WEB_VENDOR_CACHE:-$top/.cache/web-vendor}"
want=$(sha256sum "$src/package-lock.json" | cut -d' ' -f1)
stamp="$dest/.lock-sha256"

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -f "$dest/hls.js/hls.light.min.mjs" ]; then
  exit 0
fi
if [ "${1:-}" = "--check" ]; then
  echo "web-vendor: web/vendor/ is missing or older than packaging/web-vendor/package-lock.json" >&2
  exit 1
fi
command -v npm >/dev/null || { echo "web-vendor: npm is missing (packaging/install-deps.sh installs it)" >&2; exit 1; }
mkdir -p "$cache"
cp "$src/package.json" "$src/package-lock.json" "$cache/"
echo "web-vendor: npm ci (hls.js) into $cache" >&2
(cd "$cache" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
mod="$cache/node_modules/hls.js"
rm -rf "$dest.tmp"
mkdir -p "$dest.tmp/hls.js"
cp "$mod/dist/hls.light.min.mjs" "$mod/LICENSE" "$dest.tmp/hls.js/"
version=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$mod/package.json" | head -n1)
printf 'hls.js %s (Apache-2.0, https://github.com/video-dev/hls.js), dist/hls.light.min.mjs\n' \
  "$version" > "$dest.tmp/hls.js/VERSION"
printf '%s\n' "$want" > "$dest.tmp/.lock-sha256"
rm -rf "$dest"
mv "$dest.tmp" "$dest"
echo "web-vendor: web/vendor/hls.js/ has hls.js $version" >&2

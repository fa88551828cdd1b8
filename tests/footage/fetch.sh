#!/bin/sh
# fetch.sh — fetches the real outdoor footage of the motion ground truth (docs/design/fakecam.md
# "Real footage") into a cache outside git and prints the path of vtest.avi on stdout.
# Source: Debian 12's opencv-doc package (pinned version), downloaded with `apt-get download`
# from whatever archive the machine's apt sources name; the .deb and the video are both checked
# against the SHA-256 written here. Nothing is committed: the video stays in the cache.
#
# Usage: tests/footage/fetch.sh [CACHE_DIR]   (default ${XDG_CACHE_HOME:-~/.cache}/hearth-footage)
# Exit 0: the path is printed. Exit 77 (meson's "skip"): it cannot be fetched here (no apt,
# no network to the archive, a different version); the reason is on stderr. Exit 1: a download
# whose checksum does not match (never used, the file is deleted).
set -eu

PACKAGE=opencv-doc
VERSION=4.6.0+dfsg-12
DEB=opencv-doc_4.6.0+dfsg-12_all.deb
DEB_SHA256=4b12681df35878207ac7097dc66184b2ae552e4bf4ddd2af04a0f03ed0b8682a
MEMBER=./usr/share/doc/opencv-doc/examples/data/vtest.avi
VIDEO_SHA256=45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf

cache=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/hearth-footage}
video=$cache/vtest.avi

skip() {
  echo "footage: SKIP: $*" >&2
  exit 77
}

sha_ok() {   # file expected-sha256
  [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]
}

if sha_ok "$video" "$VIDEO_SHA256"; then
  echo "$video"
  exit 0
fi
command -v apt-get >/dev/null 2>&1 || skip "apt-get is missing (Debian/Ubuntu only)"
command -v dpkg-deb >/dev/null 2>&1 || skip "dpkg-deb is missing"
mkdir -p "$cache" || skip "cannot create '$cache'"

if ! sha_ok "$cache/$DEB" "$DEB_SHA256"; then
  rm -f "$cache/$DEB"
  # apt-get download writes into the current directory; 95 MB.
  if ! (cd "$cache" && apt-get download -q "$PACKAGE=$VERSION" >&2); then
    skip "apt-get download $PACKAGE=$VERSION failed (no archive reachable, or the version is" \
         "not in the apt sources: Debian 12 bookworm has it; try apt-get update)"
  fi
  if ! sha_ok "$cache/$DEB" "$DEB_SHA256"; then
    rm -f "$cache/$DEB"
    echo "footage: $DEB does not have the SHA-256 written in tests/footage/fetch.sh; deleted" >&2
    exit 1
  fi
fi

tmp=$cache/vtest.avi.tmp.$$
if ! dpkg-deb --fsys-tarfile "$cache/$DEB" | tar -xOf - "$MEMBER" >"$tmp"; then
  rm -f "$tmp"
  skip "cannot extract $MEMBER from $DEB"
fi
if ! sha_ok "$tmp" "$VIDEO_SHA256"; then
  rm -f "$tmp"
  echo "footage: $MEMBER does not have the SHA-256 written in tests/footage/fetch.sh" >&2
  exit 1
fi
mv "$tmp" "$video"
# The .deb is no longer needed once the video is extracted and checked.
rm -f "$cache/$DEB"
echo "$video"

#!/usr/bin/env bash
# Issue 10's long arm64 check (meson test arm64_install, suite 'long'): the arm64 package,
# cross-built (build-deb.sh --arch arm64, its chroot kept in DIR and shared with arm64_cross),
# installed with apt into a fresh arm64 bookworm chroot run under qemu-user (binfmt), checked by
# check-deb-install.sh, and recording the test camera there (tests/fakecam from the host's
# build, on the host). binfmt as in arm64-binfmt.sh; exits 77 (skipped) where it cannot be
# registered. docs/design/packaging.md "arm64 in CI".
#   packaging/check-arm64-install.sh --fakecam PATH [--cache DIR] [--out DIR]
# Exit status 0 = passed, 1 = failed, 77 = skipped.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
out="$top/build-deb/arm64-cross" fakecam="" cache=""
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=${2:?}; shift 2 ;;
    --fakecam) fakecam=${2:?}; shift 2 ;;
    --cache) cache=${2:?}; shift 2 ;;
    *) sed -n '8p' "$0" | sed 's/^# *//' >&2; exit 2 ;;
  esac
done
say() { echo "check-arm64-install: $*"; }
fail() { echo "check-arm64-install: FAIL: $*" >&2; exit 1; }
[ -x "$fakecam" ] || { sed -n '8p' "$0" | sed 's/^# *//' >&2; exit 2; }
t0=$(date +%s)
rc=0
bash "$here/arm64-binfmt.sh" || rc=$?
[ $rc -eq 0 ] || { [ $rc -eq 77 ] && exit 77; fail "arm64-binfmt.sh"; }
mkdir -p "$out"
bash "$here/build-deb.sh" --arch arm64 --out "$out" || fail "build-deb.sh --arch arm64"
version=$(dpkg-parsechangelog -l "$here/debian/changelog" -S Version)
deb="$out/hearth_${version}_arm64.deb"
[ "$(dpkg-deb -f "$deb" Architecture)" = arm64 ] || fail "$deb is not arm64"
rc=0
bash "$here/check-deb-install.sh" "$deb" --root "$out/install-root-arm64" \
  --fakecam "$fakecam" ${cache:+--cache "$cache"} || rc=$?
[ $rc -ne 77 ] || exit 77   # it said why
[ $rc -eq 0 ] || fail "check-deb-install.sh"
say "passed in $(( $(date +%s) - t0 )) s"

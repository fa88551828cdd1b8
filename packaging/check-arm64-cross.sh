#!/usr/bin/env bash
# Issue 10's arm64 check for CI (meson test arm64_cross, suite 'package'): cross-builds the arm64
# package with build-deb.sh --arch arm64 --unit-tests (a bookworm chroot with arm64 as a foreign
# architecture, made once and kept in DIR), which also runs the meson 'unit' suite of that same
# build under qemu-user through binfmt; then checks that the .deb says Architecture: arm64 and
# that its /usr/bin/nvr is an aarch64 ELF that runs (under qemu, in the build chroot).
# It registers qemu-user with binfmt_misc itself (root, arm64-binfmt.sh); where that cannot be
# done (no root, a container without binfmt_misc, a kernel without it) it says why and exits 77:
# skipped, never passed. docs/design/packaging.md "arm64 in CI".
#   packaging/check-arm64-cross.sh [--out DIR]      (default build-deb/arm64-cross)
# Exit status 0 = passed, 1 = failed, 77 = skipped.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
out="$top/build-deb/arm64-cross"
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=${2:?}; shift 2 ;;
    *) sed -n '10p' "$0" | sed 's/^# *//' >&2; exit 2 ;;
  esac
done
say() { echo "check-arm64-cross: $*"; }
fail() { echo "check-arm64-cross: FAIL: $*" >&2; exit 1; }
skip() { echo "check-arm64-cross: SKIP: $*" >&2; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root (binfmt_misc registration, the build chroot)"
t0=$(date +%s)

# ---- 1. qemu-user through binfmt_misc (what every arm64 program below runs on) ----
rc=0
bash "$here/arm64-binfmt.sh" || rc=$?
[ $rc -eq 0 ] || { [ $rc -eq 77 ] && exit 77; fail "arm64-binfmt.sh"; }

# ---- 2. the cross build, and the unit suite of that build under qemu-user ----
mkdir -p "$out"
bash "$here/build-deb.sh" --arch arm64 --unit-tests --out "$out" || fail "build-deb.sh --arch arm64 --unit-tests"

# ---- 3. what was built is arm64 ----
version=$(dpkg-parsechangelog -l "$here/debian/changelog" -S Version)
deb="$out/hearth_${version}_arm64.deb"
[ -f "$deb" ] || fail "no $deb"
a=$(dpkg-deb -f "$deb" Architecture)
[ "$a" = arm64 ] || fail "$deb says Architecture: $a"
chroot_dir="$out/chroot-bookworm-cross-arm64"
nvr="$chroot_dir/tmp/nvr-from-deb"
dpkg-deb --fsys-tarfile "$deb" | tar -xOf - ./usr/bin/nvr >"$nvr" || fail "no ./usr/bin/nvr in $deb"
chmod 0755 "$nvr"
# ELF header: magic, ELFCLASS64, little endian, e_machine 183 = EM_AARCH64
elf=$(/usr/bin/python3 - "$nvr" <<'PY'
import struct, sys
h = open(sys.argv[1], "rb").read(20)
ok = h[:4] == b"\x7fELF" and h[4] == 2 and h[5] == 1 and struct.unpack("<H", h[18:20])[0] == 183
print("aarch64" if ok else "not aarch64: " + h.hex())
PY
)
[ "$elf" = aarch64 ] || fail "usr/bin/nvr in $deb is $elf"
# and it runs (qemu-user, the chroot's arm64 libraries): nvr with no arguments lists its commands
usage=$(unshare --mount --fork sh -c 'mount -t proc proc "$1/proc" && chroot "$1" /usr/bin/env -i \
  PATH=/usr/bin:/bin LC_ALL=C.UTF-8 /tmp/nvr-from-deb --help 2>&1' sh "$chroot_dir" || true)
rm -f "$nvr"
grep -q "check-config" <<<"$usage" || { echo "$usage" >&2; fail "the packaged nvr did not run under qemu-user"; }
say "$(basename "$deb"): Architecture arm64, usr/bin/nvr an aarch64 ELF that runs under qemu-user"
say "passed in $(( $(date +%s) - t0 )) s"

#!/usr/bin/env bash
# Builds the Debian package hearth_<version>_<arch>.deb from a clean copy of this tree
# (tracked and untracked-but-not-ignored files, plus packaging/debian as debian/), then runs
# lintian on it. Nothing is written inside the tree except under the output directory
# (default build-deb/, ignored by git), which it prints. Run as root: it installs the build
# dependencies (apt-get build-dep on debian/control). docs/design/packaging.md.
#   packaging/build-deb.sh [--arch amd64|arm64 [--native|--unit-tests]] [--out DIR] [--nocheck] [--version V]
# --arch arm64 on an amd64 host cross-builds inside a bookworm chroot with arm64 as a foreign
#   architecture (made once with mmdebstrap from this machine's apt sources, kept in DIR);
#   --native builds inside an arm64 chroot under qemu-user instead (binfmt). The host gets
#   mmdebstrap and arch-test (and qemu-user-static, binfmt-support) but never a foreign dpkg
#   architecture.
# --unit-tests (with --arch arm64, cross): the cross build also builds the unit tests (their
#   build dependencies go into the chroot as arm64 packages), then runs the meson 'unit' suite of
#   that same build directory under qemu-user through binfmt, which must already work (the
#   caller registers it: packaging/check-arm64-cross.sh). It prints
#   "build-deb: unit suite under qemu-user: N passed, N failed, N skipped" and fails if any failed.
# --version V: build as version V (higher than the changelog's), by a changelog entry added to the
#   copy only (the upgrade test, packaging/check-deb-upgrade.sh, builds its "newer" package so).
# --nocheck: skip the unit suite (DEB_BUILD_OPTIONS=nocheck and the nocheck build profile,
#   which also drops the test-only build dependencies).
set -euo pipefail

src_root=$(cd "$(dirname "$0")/.." && pwd)
host_arch=$(dpkg --print-architecture)
arch=$host_arch out="$src_root/build-deb" nocheck=0 native=0 bump="" unit=0
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) arch=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    --nocheck) nocheck=1; shift ;;
    --native) native=1; shift ;;
    --unit-tests) unit=1; shift ;;
    --version) bump=${2:?}; shift 2 ;;
    *) sed -n '7p' "$0" | sed 's/^# *//' >&2; exit 2 ;;
  esac
done
fail() { echo "build-deb: $*" >&2; exit 1; }
case "$arch" in amd64|arm64) ;; *) fail "unsupported --arch '$arch' (amd64 or arm64)" ;; esac
[ "$(id -u)" -eq 0 ] || fail "run as root (it installs build dependencies with apt-get)"
if [ "$arch" != "$host_arch" ] && ! { [ "$arch" = arm64 ] && [ "$host_arch" = amd64 ]; }; then
  fail "--arch $arch is supported on amd64 or $arch hosts only"
fi
if [ $unit -eq 1 ] && { [ "$arch" = "$host_arch" ] || [ $native -eq 1 ] || [ $nocheck -eq 1 ]; }; then
  fail "--unit-tests goes with --arch arm64 (cross) only, without --native or --nocheck"
fi

export DEBIAN_FRONTEND=noninteractive
version=$(dpkg-parsechangelog -l "$src_root/packaging/debian/changelog" -S Version)
if [ -n "$bump" ]; then
  dpkg --compare-versions "$bump" gt "$version" || fail "--version $bump is not higher than $version"
  version=$bump
fi
upstream=${version%-*}
mkdir -p "$out"
out=$(cd "$out" && pwd)
build_opts=() apt_profiles=() deb_build_options="parallel=$(nproc)"
if [ $nocheck -eq 1 ]; then
  build_opts=(-Pnocheck) apt_profiles=(-P nocheck) deb_build_options="nocheck $deb_build_options"
fi

# The clean copy: what git would commit, never a build directory or a previous build's output.
copy_tree() { # $1 = destination directory (made afresh)
  rm -rf "$1"
  mkdir -p "$1"
  git -C "$src_root" ls-files -z --cached --others --exclude-standard |
    (cd "$src_root" && xargs -0 tar -cf - --no-recursion) | tar -xf - -C "$1"
  rm -rf "$1/debian"
  cp -a "$1/packaging/debian" "$1/debian"
  if [ -n "$bump" ]; then
    { printf 'hearth (%s) bookworm; urgency=medium\n\n  * Rebuilt as a newer version (build-deb.sh --version).\n\n' "$bump"
      printf ' -- %s  %s\n\n' "$(dpkg-parsechangelog -l "$1/debian/changelog" -S Maintainer)" "$(date -R)"
      cat "$1/debian/changelog"; } >"$1/debian/changelog.new"
    mv "$1/debian/changelog.new" "$1/debian/changelog"
  fi
  # hls.js for the review pages: fetched at the version the lock file pins (never committed),
  # shipped with its licence under /usr/share/hearth/web/vendor/ (debian/copyright says so).
  bash "$src_root/packaging/web-vendor.sh" || fail "could not put hls.js into web/vendor/"
  cp -a "$src_root/web/vendor" "$1/web/vendor"
}

report() { # $1 = directory holding the .deb and .changes
  local deb changes
  deb=$(ls "$1"/hearth_"${version}"_"${arch}".deb)
  changes=$(ls "$1"/hearth_"${version}"_"${arch}".changes)
  cp "$1"/hearth_"${version}"_"${arch}".* "$1"/hearth-dbgsym_"${version}"_"${arch}".*deb "$out/" 2>/dev/null || true
  echo "build-deb: built $out/$(basename "$deb")"
  echo "build-deb: $(stat -c %s "$deb") bytes, Installed-Size $(dpkg-deb -f "$deb" Installed-Size) KiB"
  echo "build-deb: lintian $(lintian --version | sed 's/^Lintian v//'):"
  # warnings, errors and info tags (lintian -i explains each); exit status 0 unless an error.
  lintian --display-info "$changes" || fail "lintian reports errors"
}

# lintian checks every build (report); a fresh host (CI) may not have it yet.
dpkg-query -W -f='${Status}' lintian 2>/dev/null | grep -q "install ok installed" ||
  apt-get install -y -qq --no-install-recommends lintian >/dev/null || fail "could not install lintian"

start=$(date +%s)
if [ "$arch" = "$host_arch" ]; then
  work="$out/src"
  copy_tree "$work/hearth-$upstream"
  echo "build-deb: installing build dependencies (apt-get build-dep)"
  apt-get build-dep -y -qq --no-install-recommends "${apt_profiles[@]}" "$work/hearth-$upstream" >/dev/null
  echo "build-deb: dpkg-buildpackage in $work/hearth-$upstream (log: $out/build-$arch.log)"
  (cd "$work/hearth-$upstream" &&
    DEB_BUILD_OPTIONS="$deb_build_options" dpkg-buildpackage -us -uc -b "${build_opts[@]}") >"$out/build-$arch.log" 2>&1 ||
    { tail -n 30 "$out/build-$arch.log" >&2; fail "dpkg-buildpackage failed (log: $out/build-$arch.log)"; }
  echo "build-deb: built in $(( $(date +%s) - start )) s"
  report "$work"
  exit 0
fi

# arm64 on amd64, in a chroot made once with mmdebstrap from this machine's apt sources and
# kept in $out (the host's dpkg architectures are never touched). Two ways, both measured in
# docs/design/packaging.md:
# - cross (default): an amd64 chroot with arm64 as a foreign architecture and
#   crossbuild-essential-arm64; dpkg-buildpackage -a arm64 -Pcross,nocheck. On bookworm one
#   build dependency does not install as is: libsoup-3.0-dev:arm64 needs
#   libsysprof-capture-4-dev, whose provider pulls gtk4/gobject-introspection/python3:arm64;
#   only its .pc file is used, so a copy of libsysprof-4-dev:arm64 with
#   "Depends: libglib2.0-dev" is installed in the chroot. No tests (nothing runs arm64 code).
# - --native: an arm64 chroot run under qemu-user (binfmt); slower, runs the unit suite.
for p in mmdebstrap arch-test $([ $native -eq 1 ] && echo qemu-user-static binfmt-support); do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    apt-get install -y -qq --no-install-recommends "$p" >/dev/null
done
if [ $native -eq 1 ] && ! arch-test arm64 >/dev/null 2>&1; then
  mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
  arch-test arm64 >/dev/null 2>&1 ||
    fail "this kernel cannot run arm64 binaries through qemu-user (binfmt_misc); use the cross build"
fi
sources=/etc/apt/sources.list.d/debian.sources
[ -f "$sources" ] || sources=/etc/apt/sources.list
if [ $native -eq 1 ]; then
  chroot_dir="$out/chroot-bookworm-arm64"
  mmdebstrap_args=(--arch=arm64 --include=debhelper,meson,ninja-build,pkg-config,ca-certificates)
  profiles=""
  [ $nocheck -eq 0 ] || profiles="nocheck"
  deps="apt-get build-dep -y -qq --no-install-recommends ${profiles:+-P $profiles} /build/hearth-$upstream"
  build="dpkg-buildpackage -us -uc -b ${profiles:+-P$profiles}"
  how="natively under qemu-user"
else
  chroot_dir="$out/chroot-bookworm-cross-arm64"
  mmdebstrap_args=(--architectures=amd64,arm64
    --include=debhelper,meson,ninja-build,pkg-config,crossbuild-essential-arm64,ca-certificates)
  # nocheck as a build option always (dh_auto_test runs nothing); without --unit-tests also as
  # the build profile, which drops the test-only build dependencies and the tests themselves.
  deb_build_options="nocheck $deb_build_options"
  profiles="cross,nocheck" extra_env=""
  if [ $unit -eq 1 ]; then
    # The tests built too, and a machine file saying that arm64 programs run as they are
    # (binfmt), so that meson test runs them instead of skipping them as cross-built programs
    # without an exe_wrapper. debian/rules passes HEARTH_EXTRA_CROSS_FILE to meson.
    profiles="cross"
    extra_env="HEARTH_EXTRA_CROSS_FILE=/build/binfmt.ini"
  fi
  deps="cd /tmp && rm -rf repack && mkdir repack && cd repack &&
    apt-get download -qq libsysprof-4-dev:arm64 && dpkg-deb -R libsysprof-4-dev_*_arm64.deb r &&
    sed -i 's/^Depends:.*/Depends: libglib2.0-dev/' r/DEBIAN/control &&
    dpkg-deb -b r sysprof-dev_arm64.deb >/dev/null &&
    apt-get install -y -qq --no-install-recommends ./sysprof-dev_arm64.deb >/dev/null &&
    apt-get build-dep -y -qq --no-install-recommends -a arm64 -P $profiles /build/hearth-$upstream"
  build="$extra_env dpkg-buildpackage -a arm64 -P$profiles -us -uc -b"
  how="cross-built"
fi
if [ ! -x "$chroot_dir/usr/bin/dpkg-buildpackage" ]; then
  echo "build-deb: making the build chroot $chroot_dir (mmdebstrap)"
  rm -rf "$chroot_dir"
  t0=$(date +%s)
  mmdebstrap --variant=buildd "${mmdebstrap_args[@]}" bookworm "$chroot_dir" "$sources" \
    >"$chroot_dir.mmdebstrap.log" 2>&1 || fail "mmdebstrap failed (log: $chroot_dir.mmdebstrap.log)"
  echo "build-deb: chroot made in $(( $(date +%s) - t0 )) s"
fi
work="$chroot_dir/build"
copy_tree "$work/hearth-$upstream"
[ $unit -eq 0 ] || printf '[properties]\nneeds_exe_wrapper = false\n' >"$work/binfmt.ini"
rm -f "$work"/hearth_* "$work"/hearth-dbgsym_*
echo "build-deb: installing build dependencies in the chroot (log: $out/build-$arch.log)"
# A private mount namespace: /proc and /dev are mounted for the chroot and vanish with it; with a
# clean environment (the caller's TMPDIR, or a meson test's MALLOC_PERTURB_, mean nothing there).
in_chroot() {
  unshare --mount --fork sh -c 'mount -t proc proc "$1/proc" && mount --rbind /dev "$1/dev" &&
    cp /etc/resolv.conf "$1/etc/resolv.conf" &&
    chroot "$1" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
      DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 sh -euc "$2"' sh "$chroot_dir" "$1"
}
in_chroot "apt-get update -qq && $deps" >"$out/build-$arch.log" 2>&1 ||
  { tail -n 30 "$out/build-$arch.log" >&2; fail "installing build dependencies failed (log: $out/build-$arch.log)"; }
echo "build-deb: build dependencies ready in $(( $(date +%s) - start )) s; building ($how)"
t1=$(date +%s)
in_chroot "cd /build/hearth-$upstream && DEB_BUILD_OPTIONS='$deb_build_options' $build" \
  >>"$out/build-$arch.log" 2>&1 ||
  { tail -n 30 "$out/build-$arch.log" >&2; fail "the chroot build failed (log: $out/build-$arch.log)"; }
echo "build-deb: built ($how) in $(( $(date +%s) - t1 )) s, $(( $(date +%s) - start )) s in all"
report "$work"
[ $unit -eq 1 ] || exit 0

# The unit suite of the build directory dpkg-buildpackage just used (obj-aarch64-linux-gnu: the
# same objects as the package's nvr), each test an arm64 program run by qemu-user through binfmt.
# Under qemu, motion takes 10-50x its amd64 time: hence the timeout multiplier.
obj="/build/hearth-$upstream/obj-aarch64-linux-gnu"
t2=$(date +%s)
echo "build-deb: running the unit suite of the arm64 build under qemu-user (log: $out/unit-$arch.log)"
unit_status=0
in_chroot "cd $obj && meson test --no-rebuild --suite unit --timeout-multiplier 8 \
  --num-processes $(nproc) --print-errorlogs" >"$out/unit-$arch.log" 2>&1 || unit_status=$?
cp "$chroot_dir$obj/meson-logs/testlog.json" "$out/unit-$arch.testlog.json" 2>/dev/null ||
  { tail -n 30 "$out/unit-$arch.log" >&2; fail "meson test wrote no testlog.json (log: $out/unit-$arch.log)"; }
counts=$(python3 - "$out/unit-$arch.testlog.json" <<'PY'
import json, sys
n = {"OK": 0, "FAIL": 0, "SKIP": 0}
for line in open(sys.argv[1]):
    r = json.loads(line)["result"]
    key = "OK" if r in ("OK", "EXPECTEDFAIL") else "SKIP" if r == "SKIP" else "FAIL"
    n[key] += 1
print(n["OK"], n["FAIL"], n["SKIP"])
PY
)
read -r passed failed skipped <<<"$counts"
grep -E '^ *[0-9]+/[0-9]+ ' "$out/unit-$arch.log" || true
echo "build-deb: unit suite under qemu-user: $passed passed, $failed failed, $skipped skipped ($(( $(date +%s) - t2 )) s)"
[ "$failed" -eq 0 ] && [ "$unit_status" -eq 0 ] || fail "unit tests failed under qemu-user (log: $out/unit-$arch.log)"
[ "$passed" -gt 0 ] || fail "no unit test ran under qemu-user (log: $out/unit-$arch.log)"

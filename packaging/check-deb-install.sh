#!/usr/bin/env bash
# Installs a built hearth .deb with apt into a fresh Debian 12 chroot made from the archive
# (mmdebstrap, this machine's apt sources) and checks what the package promises today: the
# config parses, the hearth user and hearth-web group and the state directories exist, the web
# front's start steps (certificate, lighttpd config checked by lighttpd -tt) work from the
# installed paths, the daemon starts and stops with the installed config, and
# `systemd-analyze verify` (the host's, --root = the chroot) accepts the units. The chroot is
# made afresh each run. Run as root; an arm64 .deb needs qemu-user binfmt (see build-deb.sh).
#   packaging/check-deb-install.sh build-deb/hearth_0.1.0-1_amd64.deb [--root DIR]
set -euo pipefail

deb="" root=""
while [ $# -gt 0 ]; do
  case "$1" in
    --root) root=${2:?}; shift 2 ;;
    -*) sed -n '9p' "$0" | sed 's/^# *//' >&2; exit 2 ;;
    *) deb=$1; shift ;;
  esac
done
fail() { echo "check-deb-install: FAIL: $*" >&2; exit 1; }
[ -f "$deb" ] || { sed -n '9p' "$0" | sed 's/^# *//' >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || fail "run as root"
deb=$(realpath "$deb")
arch=$(dpkg-deb -f "$deb" Architecture)
[ -n "$root" ] || root="$(dirname "$deb")/install-root-$arch"
sources=/etc/apt/sources.list.d/debian.sources
[ -f "$sources" ] || sources=/etc/apt/sources.list

t0=$(date +%s)
rm -rf "$root"
echo "check-deb-install: making a fresh bookworm $arch chroot in $root"
mmdebstrap --arch="$arch" --variant=apt bookworm "$root" "$sources" >"$root.mmdebstrap.log" 2>&1 ||
  fail "mmdebstrap (log: $root.mmdebstrap.log)"
cp "$deb" "$root/tmp/"
# Everything inside runs in a private mount namespace: /proc and /dev vanish with it; with a
# clean environment (the caller's TMPDIR, ASAN_OPTIONS, ... mean nothing in the chroot).
in_root() {
  unshare --mount --fork sh -c 'mount -t proc proc "$1/proc" && mount --rbind /dev "$1/dev" &&
    cp /etc/resolv.conf "$1/etc/resolv.conf" && chroot "$1" /usr/bin/env -i \
    PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 sh -euc "$2"' sh "$root" "$1"
}
echo "check-deb-install: apt-get install ./$(basename "$deb") (log: $root.install.log)"
in_root "export DEBIAN_FRONTEND=noninteractive; apt-get update -qq
  cd /tmp && apt-get install -y ./$(basename "$deb")" >"$root.install.log" 2>&1 ||
  { tail -n 20 "$root.install.log" >&2; fail "apt-get install"; }
grep -E '^[0-9]+ upgraded, [0-9]+ newly installed' "$root.install.log" || true
echo "check-deb-install: chroot and install took $(( $(date +%s) - t0 )) s"

in_root '
  nvr check-config /etc/hearth/hearth.conf
  getent passwd hearth >/dev/null && getent passwd hearth-web >/dev/null
  [ "$(stat -c "%a %U %G" /var/lib/hearth)" = "750 hearth hearth-web" ]
  [ "$(stat -c "%a %U %G" /var/lib/hearth-web)" = "755 hearth-web hearth-web" ]
  echo "users, groups and state directories: OK"
  # postinst enabled both units (no systemd runs here, so it started nothing)
  for u in hearth.service hearth-web.service; do
    [ -L "/etc/systemd/system/multi-user.target.wants/$u" ] || { echo "$u not enabled"; exit 1; }
  done
  echo "units enabled by postinst: OK"
  # hearth-web.service ExecStartPre as its User: listener and names from nvr web-front
  install -d -o hearth-web -g hearth-web -m 0750 /run/hearth-web
  as_web() { setpriv --reuid hearth-web --regid hearth-web --init-groups --inh-caps=-all \
    --bounding-set=-all --no-new-privs -- sh -c "umask 0027; exec \"\$@\"" sh "$@"; }
  as_web /usr/lib/hearth/hearth-web-start.sh --config /etc/hearth/hearth.conf \
    --tls-dir /var/lib/hearth-web/tls --out /run/hearth-web/lighttpd.conf \
    --web-dir /usr/share/hearth/web
  grep -q "^server.port = 443$" /run/hearth-web/lighttpd.conf
  echo "web front config from the installed template, as hearth-web: OK"
  # hearth.service ExecStart as its User and Group, RuntimeDirectory, umask, no capabilities
  install -d -o hearth -g hearth-web -m 0751 /run/hearth
  setpriv --reuid hearth --regid hearth-web --init-groups --inh-caps=-all --bounding-set=-all \
    --no-new-privs -- sh -c "umask 0027; exec nvr run --config /etc/hearth/hearth.conf" \
    2>/tmp/nvr.log &
  up=""
  for i in $(seq 100); do nvr status >/dev/null 2>&1 && { up=1; break; }; sleep 0.2; done
  [ -n "$up" ] || { cat /tmp/nvr.log; exit 1; }
  kill -TERM $! && wait $! || { cat /tmp/nvr.log; exit 1; }
  [ "$(stat -c %U /var/lib/hearth/catalog.db)" = hearth ] || exit 1
  echo "daemon started as hearth:hearth-web with the installed config, answered status, stopped on SIGTERM: OK"
' || fail "a check inside the chroot"
echo "check-deb-install: systemd-analyze verify --root=$root hearth.service hearth-web.service"
systemd-analyze verify --root="$root" hearth.service hearth-web.service || fail "systemd-analyze verify"
echo "check-deb-install: all checks passed ($(( $(date +%s) - t0 )) s)"

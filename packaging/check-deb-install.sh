#!/usr/bin/env bash
# Installs a built hearth .deb with apt into a fresh Debian 12 chroot made from the archive
# (mmdebstrap, this machine's apt sources) and checks what the package promises today: the
# config parses, the hearth user and hearth-web group and the state directories exist, the web
# front's start steps (certificate, lighttpd config checked by lighttpd -tt) work from the
# installed paths, the daemon starts and stops with the installed config, and
# `systemd-analyze verify` (the host's, --root = the chroot) accepts the units. The chroot is
# made afresh each run. Run as root; an arm64 .deb needs qemu-user binfmt (see build-deb.sh).
# With --fakecam, the installed daemon also records a test camera (tests/fakecam from the host's
# build, run on the host: for an arm64 chroot the camera is amd64, the recorder arm64 under qemu)
# until segments are complete in the catalog, with files of their size on disk. Under qemu-user
# (an arm64 chroot) the worker finds no seccomp and no Landlock, logs it and records inside what
# is left of its sandbox (nvr/sandbox.c), as on a kernel without them; the script prints that line.
#   packaging/check-deb-install.sh build-deb/hearth_0.1.0-1_amd64.deb [--root DIR] [--fakecam PATH [--cache DIR]]
set -euo pipefail

deb="" root="" fakecam="" cache=""
while [ $# -gt 0 ]; do
  case "$1" in
    --root) root=${2:?}; shift 2 ;;
    --fakecam) fakecam=${2:?}; shift 2 ;;
    --cache) cache=${2:?}; shift 2 ;;
    -*) sed -n '14p' "$0" | sed 's/^# *//' >&2; exit 2 ;;
    *) deb=$1; shift ;;
  esac
done
fail() { echo "check-deb-install: FAIL: $*" >&2; exit 1; }
[ -f "$deb" ] || { sed -n '14p' "$0" | sed 's/^# *//' >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || fail "run as root"
[ -z "$fakecam" ] || [ -x "$fakecam" ] || fail "no test camera at $fakecam"
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

if [ -n "$fakecam" ]; then
  # The installed daemon as hearth.service runs it, one camera, 10 s segments; the camera on the
  # host's loopback (the chroot shares the host's network).
  t1=$(date +%s)
  work=$(mktemp -d "${TMPDIR:-/tmp}/check-deb-install.XXXXXX")
  cam_pid=""
  stop_all() {
    set +e
    for d in /proc/[0-9]*; do   # the daemon and its workers: every process rooted in the chroot
      [ "$(readlink "$d/root" 2>/dev/null)" = "$root" ] && kill -TERM "${d#/proc/}" 2>/dev/null
    done
    [ -z "$cam_pid" ] || kill -TERM "$cam_pid" 2>/dev/null
    rm -rf "$work"
  }
  trap stop_all EXIT
  sed -i 's/^#segment_seconds = 60$/segment_seconds = 10/' "$root/etc/hearth/hearth.conf"
  grep -q '^segment_seconds = 10$' "$root/etc/hearth/hearth.conf" || fail "could not set segment_seconds"
  setsid "$fakecam" --cameras 1 ${cache:+--cache "$cache"} >"$work/fakecam.out" 2>"$work/fakecam.log" </dev/null &
  cam_pid=$!
  port=""
  for i in $(seq 1500); do
    port=$(sed -n 's/^READY port=//p' "$work/fakecam.out")
    [ -n "$port" ] && break
    kill -0 "$cam_pid" 2>/dev/null || break
    sleep 0.2
  done
  [ -n "$port" ] || { cat "$work/fakecam.log" >&2; fail "the test camera did not start"; }
  in_root "
    install -d -o hearth -g hearth-web -m 0751 /run/hearth
    setsid setpriv --reuid hearth --regid hearth-web --init-groups --inh-caps=-all \
      --bounding-set=-all --no-new-privs -- sh -c 'umask 0027; exec nvr run --config /etc/hearth/hearth.conf' \
      >/var/log/hearth-record.log 2>&1 </dev/null &
    up=''
    for i in \$(seq 300); do nvr status >/dev/null 2>&1 && { up=1; break; }; sleep 0.2; done
    [ -n \"\$up\" ] || { tail -n 30 /var/log/hearth-record.log; exit 1; }
    nvr cameras add porch --main-url rtsp://127.0.0.1:$port/cam1/main --sub-url rtsp://127.0.0.1:$port/cam1/sub >/dev/null
  " || fail "starting the daemon and adding the test camera"
  echo "check-deb-install: recording the test camera (rtsp://127.0.0.1:$port/cam1) with the installed nvr"
  catalog() { /usr/bin/python3 - "$root/var/lib/hearth/catalog.db" "$1" <<'PY'
import sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
for row in db.execute(sys.argv[2]):
    print("|".join(str(x) for x in row))
PY
  }
  # two complete segments: the first may be short (it starts mid-GOP); wait up to 3 minutes,
  # the recorder being an emulated arm64 process here
  n=0
  for i in $(seq 180); do
    n=$(catalog "SELECT count(*) FROM segments WHERE state = 'complete'" 2>/dev/null || echo 0)
    [ "$n" -ge 2 ] && break
    sleep 1
  done
  grep -m1 "Sandbox entered" "$root/var/log/hearth-record.log" | sed 's/^/check-deb-install: worker: /' || true
  [ "$n" -ge 2 ] || { tail -n 30 "$root/var/log/hearth-record.log" >&2; fail "$n complete segments after 180 s of recording"; }
  while IFS='|' read -r path bytes dur; do
    f="$root/var/lib/hearth/$path"
    [ -f "$f" ] && [ "$(stat -c %s "$f")" = "$bytes" ] && [ "$bytes" -gt 0 ] ||
      fail "segment $path: catalog says $bytes bytes, the file has $(stat -c %s "$f" 2>/dev/null || echo none)"
    echo "check-deb-install: segment $path: $bytes bytes, $(( dur / 1000 )) ms"
  done < <(catalog "SELECT path, bytes, duration_us FROM segments WHERE state = 'complete' ORDER BY id")
  [ "$(catalog "SELECT count(*) FROM segments WHERE state = 'complete' AND duration_us >= 9000000")" -ge 1 ] ||
    fail "no complete segment of about 10 s"
  stop_all
  trap - EXIT
  for i in $(seq 150); do
    left=""
    for d in /proc/[0-9]*; do [ "$(readlink "$d/root" 2>/dev/null)" = "$root" ] && left=1; done
    [ -z "$left" ] && break
    sleep 0.2
  done
  [ -z "$left" ] || fail "processes in the chroot still run 30 s after SIGTERM"
  echo "check-deb-install: recorded $n complete segments of the test camera ($(dpkg-deb -f "$deb" Architecture) nvr), stopped on SIGTERM: OK ($(( $(date +%s) - t1 )) s)"
fi
echo "check-deb-install: all checks passed ($(( $(date +%s) - t0 )) s)"

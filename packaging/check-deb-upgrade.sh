#!/usr/bin/env bash
# Installs, uses, upgrades, removes and purges the hearth package in a fresh Debian 12 chroot made
# from the archive, the services run the way their units run them (users, groups, umask,
# capabilities, paths and arguments of systemd/*.service; there is no systemd PID 1 here, so this
# script does what systemd would: start, and restart after the upgrade). docs/design/packaging.md
# "Upgrades and removal" lists what is checked. Everything after the installs runs in a network
# namespace of its own (only lo), so the web front's port 443 and the camera are private to it.
# The camera is tests/fakecam from the host's build (build-test/, run on the host side of the
# namespace, on its loopback); the browser is packaging/check-deb-client.py (host python3-nacl).
#   packaging/check-deb-upgrade.sh OLD.deb NEW.deb [--root DIR] [--fakecam PATH] [--cache DIR]
#   packaging/check-deb-upgrade.sh --build        builds both (build-deb.sh --nocheck, NEW as
#                                                  <version>+upgradetest1) into build-deb/upgrade
# Exit status 0 = passed, 1 = failed, 77 = skipped (not root, no mmdebstrap, no fakecam build).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
old="" new="" root="" build=0
fakecam="$top/build-test/tests/fakecam/fakecam"
cache="$top/build-test/fakecam-cache"
while [ $# -gt 0 ]; do
  case "$1" in
    --root) root=${2:?}; shift 2 ;;
    --fakecam) fakecam=${2:?}; shift 2 ;;
    --cache) cache=${2:?}; shift 2 ;;
    --build) build=1; shift ;;
    -*) sed -n '10,12p' "$0" | sed 's/^# *//' >&2; exit 2 ;;
    *) if [ -z "$old" ]; then old=$1; else new=$1; fi; shift ;;
  esac
done
say() { echo "check-deb-upgrade: $*"; }
fail() { echo "check-deb-upgrade: FAIL: $*" >&2; exit 1; }
skip() { echo "check-deb-upgrade: SKIP: $*" >&2; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root (chroot, network namespace, apt in the chroot)"
command -v mmdebstrap >/dev/null || skip "needs mmdebstrap (apt-get install mmdebstrap)"
[ -x "$fakecam" ] || skip "needs the test camera $fakecam (meson setup build-test && ninja -C build-test)"
/usr/bin/python3 -c 'import nacl.signing' 2>/dev/null || skip "needs python3-nacl on the host"

t_start=$(date +%s)
if [ $build -eq 1 ]; then
  out="$top/build-deb/upgrade"
  v1=$(dpkg-parsechangelog -l "$here/debian/changelog" -S Version)
  v2="$v1+upgradetest1"
  say "building $v1 and $v2 (build-deb.sh --nocheck)"
  mkdir -p "$out"   # a fresh clone has no build-deb/ yet: the logs beside $out need it
  bash "$here/build-deb.sh" --nocheck --out "$out" >"$out.build-old.log" 2>&1 ||
    fail "build-deb.sh (log: $out.build-old.log)"
  bash "$here/build-deb.sh" --nocheck --out "$out" --version "$v2" >"$out.build-new.log" 2>&1 ||
    fail "build-deb.sh --version $v2 (log: $out.build-new.log)"
  arch=$(dpkg --print-architecture)
  old="$out/hearth_${v1}_$arch.deb" new="$out/hearth_${v2}_$arch.deb"
  say "built in $(( $(date +%s) - t_start )) s: $(stat -c %s "$old") and $(stat -c %s "$new") bytes"
fi
[ -f "$old" ] && [ -f "$new" ] || { sed -n '10,12p' "$0" | sed 's/^# *//' >&2; exit 2; }
old=$(realpath "$old") new=$(realpath "$new")
v_old=$(dpkg-deb -f "$old" Version) v_new=$(dpkg-deb -f "$new" Version)
dpkg --compare-versions "$v_new" gt "$v_old" || fail "$new ($v_new) is not newer than $old ($v_old)"
arch=$(dpkg-deb -f "$old" Architecture)
[ "$arch" = "$(dpkg --print-architecture)" ] || fail "the host's fakecam cannot serve an $arch chroot's test here"
[ -n "$root" ] || root="$(dirname "$old")/upgrade-root-$arch"
sources=/etc/apt/sources.list.d/debian.sources
[ -f "$sources" ] || sources=/etc/apt/sources.list

ns="hearth-upgrade-$$"
work=$(mktemp -d "${TMPDIR:-/tmp}/hearth-upgrade.XXXXXX")
fakecam_pid=""
cleanup() {
  set +e
  # what the test started in the namespace: the services in the chroot, then the camera
  if [ -d "$root/proc" ]; then
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -TERM "$p" 2>/dev/null; done
    sleep 1
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
  fi
  ip netns delete "$ns" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# ---- 1. a fresh chroot, the old package installed with apt (needs the network) ----
t0=$(date +%s)
rm -rf "$root"
say "making a fresh bookworm $arch chroot in $root"
mmdebstrap --arch="$arch" --variant=apt bookworm "$root" "$sources" >"$root.mmdebstrap.log" 2>&1 ||
  fail "mmdebstrap (log: $root.mmdebstrap.log)"
cp "$old" "$new" "$root/tmp/"
netns_exec=()
# Everything inside runs in a private mount namespace: /proc and /dev vanish with it; with a
# clean environment (the caller's TMPDIR, ASAN_OPTIONS, ... mean nothing in the chroot).
in_root() {
  "${netns_exec[@]}" unshare --mount --fork sh -c 'mount -t proc proc "$1/proc" &&
    mount --rbind /dev "$1/dev" && chroot "$1" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LC_ALL=C.UTF-8 sh -euc "$2"' sh "$root" "$1"
}
cp /etc/resolv.conf "$root/etc/resolv.conf"
say "apt-get install ./$(basename "$old") (log: $root.install.log)"
in_root "export DEBIAN_FRONTEND=noninteractive; apt-get update -qq
  cd /tmp && apt-get install -y ./$(basename "$old")" >"$root.install.log" 2>&1 ||
  { tail -n 20 "$root.install.log" >&2; fail "apt-get install of the old package"; }
grep -E '^[0-9]+ upgraded, [0-9]+ newly installed' "$root.install.log" || true
grep -q "sudo nvr setup" "$root.install.log" || fail "the first install did not point at 'sudo nvr setup'"
say "chroot and install took $(( $(date +%s) - t0 )) s"

# ---- from here on: a network namespace with only lo ----
ip netns add "$ns"
netns_exec=(ip netns exec "$ns")
"${netns_exec[@]}" ip link set lo up

# The household's edit of a conffile (kept over the upgrade): 10 s segments, so that 20 s of
# recording close some.
sed -i 's/^#segment_seconds = 60$/segment_seconds = 10/' "$root/etc/hearth/hearth.conf"
grep -q '^segment_seconds = 10$' "$root/etc/hearth/hearth.conf" || fail "could not edit hearth.conf"

# hearth.service and hearth-web.service, as their units run them (see systemd/*.service).
start_services() { # $1 = tag for the log names
  in_root "
    nvr check-config --config /etc/hearth/hearth.conf >/dev/null
    install -d -o hearth -g hearth-web -m 0751 /run/hearth
    setsid setpriv --reuid hearth --regid hearth-web --init-groups --inh-caps=-all \
      --bounding-set=-all --no-new-privs -- sh -c 'umask 0027; exec nvr run --config /etc/hearth/hearth.conf' \
      >/var/log/hearth-$1.log 2>&1 </dev/null &
    up=''
    for i in \$(seq 300); do nvr status >/dev/null 2>&1 && { up=1; break; }; sleep 0.2; done
    [ -n \"\$up\" ] || { tail -n 30 /var/log/hearth-$1.log; exit 1; }
    install -d -o hearth-web -g hearth-web -m 0750 /run/hearth-web
    as_web() { setpriv --reuid hearth-web --regid hearth-web --init-groups --inh-caps=-all \
      --bounding-set=-all --no-new-privs -- sh -c 'umask 0027; exec \"\$@\"' sh \"\$@\"; }
    as_web /usr/lib/hearth/hearth-web-start.sh --config /etc/hearth/hearth.conf \
      --tls-dir /var/lib/hearth-web/tls --out /run/hearth-web/lighttpd.conf \
      --web-dir /usr/share/hearth/web 2>>/var/log/hearth-web-$1.log
    /usr/lib/hearth/hearth-web-limits.sh --config /etc/hearth/hearth.conf
    setsid setpriv --reuid hearth-web --regid hearth-web --init-groups \
      --inh-caps=-all,+net_bind_service --ambient-caps=-all,+net_bind_service \
      --bounding-set=-all,+net_bind_service --no-new-privs -- \
      sh -c 'umask 0027; exec /usr/sbin/lighttpd -D -f /run/hearth-web/lighttpd.conf' \
      >>/var/log/hearth-web-$1.log 2>&1 </dev/null &
  " || fail "starting the services ($1)"
  for i in $(seq 100); do
    "${netns_exec[@]}" bash -c 'exec 3<>/dev/tcp/127.0.0.1/443' 2>/dev/null && return 0
    sleep 0.2
  done
  cat "$root/var/log/hearth-web-$1.log" >&2
  fail "the web front does not listen on 443 ($1)"
}
# systemd's stop: SIGTERM to the main process, then wait for the whole unit (here: every nvr and
# lighttpd process in the namespace) to be gone.
stop_services() {
  local pids
  pids=$(pgrep -f '^nvr run --config /etc/hearth/hearth.conf$|^/usr/sbin/lighttpd -D -f /run/hearth-web/lighttpd.conf$' || true)
  for p in $pids; do
    [ "$(readlink "/proc/$p/root")" = "$root" ] && kill -TERM "$p"
  done
  for i in $(seq 150); do
    [ -n "$(chroot_procs)" ] || return 0
    sleep 0.2
  done
  chroot_procs >&2
  fail "processes still running 30 s after SIGTERM"
}
chroot_procs() { # "pid exe" of every process whose root is the chroot (the services and workers)
  for d in /proc/[0-9]*; do
    [ "$(readlink "$d/root" 2>/dev/null)" = "$root" ] || continue
    exe=$(readlink "$d/exe" 2>/dev/null || true)
    echo "${d#/proc/} ${exe#"$root"}"   # the path as seen inside the chroot
  done
}
catalog() { # SQL on the chroot's catalog (read-only)
  /usr/bin/python3 - "$root/var/lib/hearth/catalog.db" "$1" <<'PY'
import sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
for row in db.execute(sys.argv[2]):
    print("|".join(str(x) for x in row))
PY
}

# ---- 2. first start, a camera, 20 s of recording, a paired browser fetching a segment ----
t1=$(date +%s)
"${netns_exec[@]}" setsid "$fakecam" --cameras 1 --cache "$cache" >"$work/fakecam.out" 2>"$work/fakecam.log" </dev/null &
port=""
for i in $(seq 1500); do
  port=$(sed -n 's/^READY port=//p' "$work/fakecam.out")
  [ -n "$port" ] && break
  sleep 0.2
done
[ -n "$port" ] || { cat "$work/fakecam.log" >&2; fail "fakecam did not start"; }
start_services first
in_root "nvr cameras add porch --main-url rtsp://127.0.0.1:$port/cam1/main --sub-url rtsp://127.0.0.1:$port/cam1/sub >/dev/null"
say "recording the test camera for 20 s"
sleep 20
n=$(catalog "SELECT count(*) FROM segments WHERE state = 'complete'")
[ "$n" -ge 1 ] || { tail -n 30 "$root/var/log/hearth-first.log" >&2; fail "no complete segment after 20 s"; }
cert=/var/lib/hearth-web/tls/cert.pem
code=$(in_root "nvr pair --name phone --cameras porch --json" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["code"])')
setup=$(in_root "nvr setup")
grep -q "https://localhost/" <<<"$setup" && grep -q "$(openssl x509 -in "$root$cert" -noout -fingerprint -sha256 | sed 's/^[^=]*=//')" <<<"$setup" ||
  { echo "$setup" >&2; fail "nvr setup does not print the address and the certificate's fingerprint"; }
# the CLI without sudo: a member of hearth-admin may run nvr setup, anyone else is refused
in_root '
  useradd --create-home --groups hearth-admin alice && useradd --create-home bob
  as() { u=$1; shift; setpriv --reuid "$u" --regid "$u" --init-groups -- "$@"; }
  as alice nvr setup | grep -q "Admin pairing code" || { echo "alice (hearth-admin) could not run nvr setup"; exit 1; }
  if as bob nvr setup >/tmp/bob.out 2>&1; then echo "bob (not in hearth-admin) ran nvr setup"; exit 1; fi
  grep -q -i "permission denied" /tmp/bob.out || { cat /tmp/bob.out; exit 1; }
' || fail "nvr setup as a member and a non-member of hearth-admin"
client() { "${netns_exec[@]}" /usr/bin/python3 "$here/check-deb-client.py" "$@" --state "$work/browser.json" --cafile "$root$cert"; }
client pair --code "$code" >/dev/null
first=$(client fetch)
seg=$(/usr/bin/python3 -c 'import json,sys; print(json.loads(sys.argv[1])["segment"])' "$first")
sha=$(/usr/bin/python3 -c 'import json,sys; print(json.loads(sys.argv[1])["sha256"])' "$first")
say "paired a browser over TLS and fetched segment $seg: $first"
before_segments=$(catalog "SELECT id, path, bytes FROM segments WHERE state = 'complete' ORDER BY id")
before_devices=$(catalog "SELECT id, name, public_key FROM devices ORDER BY id")
before_cert=$(sha256sum <"$root$cert") before_key=$(sha256sum <"$root/var/lib/hearth-web/tls/key.pem")
before_signing=$(sha256sum <"$root/var/lib/hearth/signing.key")
old_pids=$(chroot_procs | awk '$2 == "/usr/bin/nvr" {print $1}')
[ "$(wc -w <<<"$old_pids")" -ge 2 ] || fail "expected the daemon and a camera worker running, got: $(chroot_procs)"
say "first run: $(wc -l <<<"$before_segments") segments, $(wc -l <<<"$before_devices") device, nvr processes $(echo $old_pids) ($(( $(date +%s) - t1 )) s)"

# ---- 3. the newer package installed over it, while everything runs ----
t2=$(date +%s)
in_root "export DEBIAN_FRONTEND=noninteractive; cd /tmp && apt-get install -y ./$(basename "$new")" \
  >"$root.upgrade.log" 2>&1 || { tail -n 20 "$root.upgrade.log" >&2; fail "apt-get install of the new package"; }
grep -q "Unpacking hearth ($v_new) over ($v_old)" "$root.upgrade.log" || fail "apt did not upgrade $v_old to $v_new"
! grep -q "sudo nvr setup" "$root.upgrade.log" || fail "an upgrade repeated the first-install message"
# the processes of the old binary now run a deleted file; systemd would restart the units
# (no "| grep -q" on chroot_procs: with pipefail, grep's early exit fails the pipeline)
procs=$(chroot_procs)
grep -q '/usr/bin/nvr (deleted)' <<<"$procs" || fail "no process of the old binary was running: $procs"
stop_services
start_services upgraded
left=$(chroot_procs | grep '(deleted)' || true)
[ -z "$left" ] || fail "processes of the old binary still run after the restart: $left"
new_pids=$(chroot_procs | awk '$2 == "/usr/bin/nvr" {print $1}')
for p in $old_pids; do grep -qx "$p" <<<"$new_pids" && fail "old process $p still runs"; done
[ "$(in_root 'dpkg-query -W -f="\${Version}" hearth')" = "$v_new" ] || fail "installed version"
grep -q '^segment_seconds = 10$' "$root/etc/hearth/hearth.conf" || fail "the conffile edit was lost"
after_segments=$(catalog "SELECT id, path, bytes FROM segments WHERE state = 'complete' ORDER BY id")
while read -r line; do
  grep -qxF "$line" <<<"$after_segments" || fail "segment row lost or changed: $line"
  f="$root/var/lib/hearth/$(cut -d'|' -f2 <<<"$line")"
  [ "$(stat -c %s "$f")" = "$(cut -d'|' -f3 <<<"$line")" ] || fail "recording changed: $f"
done <<<"$before_segments"
[ "$(catalog "SELECT id, name, public_key FROM devices ORDER BY id")" = "$before_devices" ] || fail "pairings changed"
[ "$(sha256sum <"$root$cert")" = "$before_cert" ] || fail "the TLS certificate changed"
[ "$(sha256sum <"$root/var/lib/hearth-web/tls/key.pem")" = "$before_key" ] || fail "the TLS key changed"
[ "$(sha256sum <"$root/var/lib/hearth/signing.key")" = "$before_signing" ] || fail "the signing key changed"
# the browser: its session still works, then a fresh login with its key, the same segment's bytes
again=$(client fetch --segment "$seg")
grep -q "\"sha256\": \"$sha\"" <<<"$again" || fail "segment $seg differs after the upgrade: $again"
again=$(client fetch --segment "$seg" --login)
grep -q "\"sha256\": \"$sha\"" <<<"$again" || fail "segment $seg after a new login: $again"
# and it records on: a segment newer than every one before the upgrade
last_before=$(tail -n 1 <<<"$before_segments" | cut -d'|' -f1)
for i in $(seq 150); do
  [ "$(catalog "SELECT count(*) FROM segments WHERE state = 'complete' AND id > $last_before")" -ge 1 ] && break
  sleep 0.2
done
[ "$i" -lt 150 ] || fail "no new segment within 30 s of the restart"
say "upgrade $v_old -> $v_new: recordings, catalog rows, pairing, certificate, signing key and conffile kept; no old process left; recording goes on ($(( $(date +%s) - t2 )) s)"

# ---- 4. remove keeps the data; purge removes config and state and names the recordings ----
stop_services
in_root "DEBIAN_FRONTEND=noninteractive apt-get remove -y hearth" >"$root.remove.log" 2>&1 ||
  fail "apt-get remove"
[ ! -e "$root/usr/bin/nvr" ] || fail "remove left /usr/bin/nvr"
for f in /etc/hearth/hearth.conf /var/lib/hearth/catalog.db /var/lib/hearth/signing.key "$cert" \
         /var/lib/hearth-web/tls/key.pem /etc/avahi/services/hearth.service; do
  [ -e "$root$f" ] || fail "remove deleted $f"
done
nrec=$(find "$root/var/lib/hearth/recordings" -name '*.mp4' | wc -l)
[ "$nrec" -ge 2 ] || fail "recordings after remove: $nrec files"
in_root "DEBIAN_FRONTEND=noninteractive apt-get purge -y hearth" >"$root.purge.log" 2>&1 || fail "apt-get purge"
grep -q "the recordings are left in /var/lib/hearth/recordings" "$root.purge.log" ||
  { cat "$root.purge.log" >&2; fail "purge did not say where the recordings are"; }
for f in /etc/hearth /var/lib/hearth/catalog.db /var/lib/hearth/signing.key /var/lib/hearth/.lock \
         /var/lib/hearth-web /etc/avahi/services/hearth.service; do
  [ ! -e "$root$f" ] || fail "purge left $f"
done
[ "$(find "$root/var/lib/hearth/recordings" -name '*.mp4' | wc -l)" = "$nrec" ] || fail "purge deleted recordings"
say "remove kept config and state; purge removed them and left $nrec recordings: $(grep 'recordings are left' "$root.purge.log")"
say "all checks passed ($(( $(date +%s) - t_start )) s)"

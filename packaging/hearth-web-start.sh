#!/usr/bin/env bash
# Hearth web front, first step of hearth-web.service (as hearth-web): asks `nvr web-front` for
# the listener ([web] listen_address, listen_port) and the names the box answers to (host name,
# <host>.local, localhost, its LAN addresses now, the hosts of [web] origin), makes or renews the
# certificate for them (hearth-tls.sh: made once, made again with the same key when a name is
# missing), then writes the lighttpd config (hearth-web-conf.sh). The daemon's socket and
# storage root come from the same hearth.conf.
#   hearth-web-start.sh --config FILE --tls-dir DIR --out FILE --web-dir DIR [--nvr PATH]
set -euo pipefail

here=$(dirname "$0")
config="" tls="" out="" web="" nvr=nvr
while [ $# -gt 0 ]; do
  case "$1" in
    --config) config=${2:?}; shift 2 ;;
    --tls-dir) tls=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    --web-dir) web=${2:?}; shift 2 ;;
    --nvr) nvr=${2:?}; shift 2 ;;
    *) echo "hearth-web-start: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[ -n "$config" ] && [ -n "$tls" ] && [ -n "$out" ] && [ -n "$web" ] ||
  { sed -n '8p' "$0" | sed 's/^# *//' >&2; exit 2; }

info=$("$nvr" web-front --config "$config") || { echo "hearth-web-start: nvr web-front failed" >&2; exit 1; }
address="" port="" socket="" root=""
hosts=()
while IFS='=' read -r k v; do
  case "$k" in
    address) address=$v ;;
    port) port=$v ;;
    socket) socket=$v ;;
    storage_root) root=$v ;;
    host) hosts+=(--host "$v") ;;
    *) echo "hearth-web-start: unexpected line from nvr web-front: '$k=$v'" >&2; exit 1 ;;
  esac
done <<<"$info"
[ -n "$address" ] && [ -n "$port" ] && [ -n "$socket" ] && [ -n "$root" ] && [ ${#hosts[@]} -gt 0 ] ||
  { echo "hearth-web-start: nvr web-front left something out: $info" >&2; exit 1; }

fp=$("$here/hearth-tls.sh" --cert "$tls/cert.pem" --key "$tls/key.pem" "${hosts[@]}")
"$here/hearth-web-conf.sh" --out "$out" --address "$address" --port "$port" --web-dir "$web" \
  --api-socket "$socket" --storage-root "$root" --cert "$tls/cert.pem" --key "$tls/key.pem"
echo "hearth-web-start: listening on $address:$port, certificate SHA-256 $fp" >&2

#!/usr/bin/env bash
# Hearth web front: the per-address connection limit lighttpd 1.4.69 cannot enforce itself
# (docs/design/auth.md "Front (lighttpd)", "Connections"). Loads one nftables table,
# inet hearth_web, in the current network namespace: a new TCP connection to the front's port
# from an address that already has --max-per-source connections open is refused with a TCP
# reset, so one host can hold at most that many of lighttpd's server.max-connections. Loading
# replaces the table (idempotent); --remove deletes it. Needs root (CAP_NET_ADMIN) and nft.
#   hearth-web-limits.sh --port 443 | --config /etc/hearth/hearth.conf [--max-per-source 64]
#   hearth-web-limits.sh --remove
set -euo pipefail

port="" max=64 remove=0
while [ $# -gt 0 ]; do
  case "$1" in
    --port) port=${2:?}; shift 2 ;;
    # the port of [web] listen_port, as `nvr web-front` reads it
    --config) port=$(nvr web-front --config "${2:?}" | sed -n 's/^port=//p'); shift 2 ;;
    --max-per-source) max=${2:?}; shift 2 ;;
    --remove) remove=1; shift ;;
    *) echo "hearth-web-limits: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

fail() { echo "hearth-web-limits: $*" >&2; exit 2; }
command -v nft >/dev/null 2>&1 || fail "nft not found (Debian package nftables)"

if [ $remove -eq 1 ]; then
  nft delete table inet hearth_web 2>/dev/null || true
  exit 0
fi
[[ "$port" =~ ^[0-9]{1,5}$ ]] && [ "$port" -ge 1 ] && [ "$port" -le 65535 ] || fail "bad port '$port'"
[[ "$max" =~ ^[0-9]{1,5}$ ]] && [ "$max" -ge 1 ] || fail "bad --max-per-source '$max'"

# "ct count" counts the source's connections that conntrack has not seen closed (TIME_WAIT and
# CLOSE are not counted); the sets forget an address once it has none. One file, one
# transaction: the old table (if any) goes and the new one comes in together.
nft -f - <<EOF
table inet hearth_web
delete table inet hearth_web
table inet hearth_web {
  set per_source_v4 { type ipv4_addr; size 65535; flags dynamic; }
  set per_source_v6 { type ipv6_addr; size 65535; flags dynamic; }
  chain input {
    type filter hook input priority filter; policy accept;
    tcp dport $port ct state new add @per_source_v4 { ip saddr ct count over $max } counter reject with tcp reset
    tcp dport $port ct state new add @per_source_v6 { ip6 saddr ct count over $max } counter reject with tcp reset
  }
}
EOF

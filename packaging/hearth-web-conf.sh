#!/usr/bin/env bash
# Hearth web front: writes the lighttpd config from packaging/lighttpd.conf.in with run-time
# paths and port (used by demo.sh, tests/integration/webfront.py and an install), then checks it
# with `lighttpd -tt`. Values may not contain '"', '\', '@' or a newline; paths must be absolute.
#   hearth-web-conf.sh --out FILE --address 127.0.0.1 --port 8443 --web-dir DIR
#       --api-socket SOCK --storage-root DIR --cert PEM --key PEM [--errorlog FILE]
#       [--user USER --group GROUP]
set -euo pipefail

template="$(dirname "$0")/lighttpd.conf.in"
out="" address="" port="" web="" api="" root="" cert="" key="" errorlog="" user="" group=""
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=${2:?}; shift 2 ;;
    --address) address=${2:?}; shift 2 ;;
    --port) port=${2:?}; shift 2 ;;
    --web-dir) web=${2:?}; shift 2 ;;
    --api-socket) api=${2:?}; shift 2 ;;
    --storage-root) root=${2:?}; shift 2 ;;
    --cert) cert=${2:?}; shift 2 ;;
    --key) key=${2:?}; shift 2 ;;
    --errorlog) errorlog=${2:?}; shift 2 ;;
    --user) user=${2:?}; shift 2 ;;
    --group) group=${2:?}; shift 2 ;;
    *) echo "hearth-web-conf: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

fail() { echo "hearth-web-conf: $*" >&2; exit 2; }
for v in out address port web api root cert key; do
  [ -n "${!v}" ] || fail "--${v/_/-} is required (see the top of $0)"
done
for v in out address port web api root cert key errorlog user group; do
  case "${!v}" in *[\"\\@$'\n']*) fail "'${!v}' contains a character a config value may not" ;; esac
done
for v in web api root cert key; do
  [[ "${!v}" == /* ]] || fail "'${!v}' is not an absolute path"
done
[[ "$port" =~ ^[0-9]{1,5}$ ]] && [ "$port" -ge 1 ] && [ "$port" -le 65535 ] || fail "bad port '$port'"
[[ "$address" =~ ^[0-9.]+$|^\[[0-9a-fA-F:]+\]$ ]] || fail "bad address '$address' (an IP; IPv6 in [])"
if { [ -n "$user" ] && [ -z "$group" ]; } || { [ -z "$user" ] && [ -n "$group" ]; }; then
  fail "--user and --group go together"
fi
# lighttpd runs with server.follow-symlink disabled: it refuses a path with a symlink anywhere
# in it. So the config names the real directories, and the daemon must name files by the
# storage root's real path too (docs/design/auth.md "Front (lighttpd)").
web=$(realpath -m -- "$web")
root=$(realpath -m -- "$root")

errorlog_line=""
[ -z "$errorlog" ] || errorlog_line="server.errorlog = \"$errorlog\""
user_lines=""
[ -z "$user" ] || user_lines="server.username = \"$user\""$'\n'"server.groupname = \"$group\""

text=$(<"$template")
text=${text//@ADDRESS@/$address}
text=${text//@PORT@/$port}
text=${text//@WEB_DIR@/$web}
text=${text//@API_SOCKET@/$api}
text=${text//@RECORDINGS_DIR@/$root/recordings}
text=${text//@CERT@/$cert}
text=${text//@KEY@/$key}
text=${text//@ERRORLOG_LINE@/$errorlog_line}
text=${text//@USER_LINES@/$user_lines}
if grep -v '^[[:space:]]*#' <<<"$text" | grep -q '@[A-Z_]*@'; then
  fail "the template has a token this script does not fill: $(grep -o '@[A-Z_]*@' <<<"$text" | head -1)"
fi

tmp=$(mktemp "$out.XXXXXX")
trap 'rm -f "$tmp"' EXIT
printf '%s\n' "$text" >"$tmp"
chmod 0644 "$tmp"
if ! check=$(lighttpd -tt -f "$tmp" 2>&1) || grep -q -i 'warning\|error' <<<"$check"; then
  echo "hearth-web-conf: lighttpd rejects the generated config: $check" >&2
  exit 1
fi
mv "$tmp" "$out"
trap - EXIT

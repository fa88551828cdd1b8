#!/usr/bin/env bash
# Hearth TLS: makes the self-signed certificate lighttpd serves, once, if it is missing (EC P-256,
# CN and subjectAltName = the given hosts/IPs, 10 years), the key created 0600 from the start.
# When the pair exists but the certificate lacks one of the given hosts (the box got a new
# address or name), the certificate is made again with the same key, for the old names and the
# new ones together (a name once served keeps working); its fingerprint then changes.
# Always prints the certificate's SHA-256 fingerprint (AA:BB:...) on stdout, nothing else there.
#   hearth-tls.sh --cert PATH --key PATH --host HOST_OR_IP [--host ...] [--owner USER[:GROUP]]
# --owner: chown the key (and certificate) to the account lighttpd reads them as (needs root).
set -euo pipefail

cert="" key="" owner=""
hosts=()
usage() { sed -n '5p' "$0" | sed 's/^# *//' >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --cert) cert=${2:?}; shift 2 ;;
    --key) key=${2:?}; shift 2 ;;
    --host) hosts+=("${2:?}"); shift 2 ;;
    --owner) owner=${2:?}; shift 2 ;;
    *) usage ;;
  esac
done
[ -n "$cert" ] && [ -n "$key" ] && [ ${#hosts[@]} -gt 0 ] || usage

fingerprint() {
  # "sha256 Fingerprint=AA:BB:..." -> "AA:BB:..."
  openssl x509 -in "$cert" -noout -fingerprint -sha256 | sed 's/^[^=]*=//'
}

san_entry() { # host or address -> "DNS:name" / "IP:addr"
  case "$1" in
    *[!0-9.]*) if [[ "$1" == *:* ]]; then echo "IP:$1"; else echo "DNS:$1"; fi ;;
    *) echo "IP:$1" ;;
  esac
}
for h in "${hosts[@]}"; do
  # Hostnames and IPv4/IPv6 literals only: the value goes into -subj and -addext.
  [[ "$h" =~ ^[A-Za-z0-9.:-]{1,253}$ ]] || { echo "hearth-tls: bad host '$h'" >&2; exit 2; }
done

renew=0
if [ -s "$cert" ] && [ -s "$key" ]; then
  # openssl prints "DNS:a, IP Address:1.2.3.4, IP Address:FE80:0:0:0:0:0:0:1": compare names
  # case-insensitively and IPv6 addresses in one spelling (8 groups, no leading zeros).
  expand6() {
    local a=${1,,} head tail n i
    local -a H=() T=() out=()
    if [[ "$a" == *::* ]]; then head=${a%%::*} tail=${a#*::}; else head=$a tail=""; fi
    [ -z "$head" ] || IFS=: read -ra H <<<"$head"
    [ -z "$tail" ] || IFS=: read -ra T <<<"$tail"
    n=$((8 - ${#H[@]} - ${#T[@]}))
    out=("${H[@]}")
    for ((i = 0; i < n; i++)); do out+=(0); done
    out+=("${T[@]}")
    for i in "${!out[@]}"; do out[i]=$(printf '%x' "0x${out[i]:-0}"); done
    (IFS=:; echo "${out[*]}")
  }
  norm() { # "DNS:x" / "IP:x" -> the spelling compared
    case "$1" in
      IP:*:*) echo "IP:$(expand6 "${1#IP:}")" ;;
      IP:*) echo "$1" ;;
      *) echo "DNS:${1#DNS:}" | tr 'A-Z' 'a-z' | sed 's/^dns:/DNS:/' ;;
    esac
  }
  sans=$(openssl x509 -in "$cert" -noout -ext subjectAltName 2>/dev/null | tail -n +2 |
    tr ',' '\n' | sed -e 's/^ *//' -e 's/^IP Address:/IP:/')
  have=""
  while read -r e; do
    [ -z "$e" ] || have+="$(norm "$e")"$'\n'
  done <<<"$sans"
  missing=()
  for h in "${hosts[@]}"; do
    e=$(san_entry "$h")
    grep -qxF -- "$(norm "$e")" <<<"$have" || missing+=("$h")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    fingerprint
    exit 0
  fi
  echo "hearth-tls: '$cert' lacks ${missing[*]}: making it again with the same key" >&2
  renew=1
  # keep every name the old certificate had, in its own spelling
  old=$(sed -e 's/^IP://' -e 's/^DNS://' <<<"$sans")
  while read -r o; do
    [ -n "$o" ] || continue
    case " ${hosts[*]} " in *" $o "*) ;; *) hosts+=("$o") ;; esac
  done <<<"$old"
elif [ -e "$cert" ] || [ -e "$key" ]; then
  echo "hearth-tls: only one of '$cert' and '$key' exists; remove it to make a new pair" >&2
  exit 1
fi

san=""
for h in "${hosts[@]}"; do
  [[ "$h" =~ ^[A-Za-z0-9.:-]{1,253}$ ]] || { echo "hearth-tls: bad host '$h'" >&2; exit 2; }
  san="${san:+$san,}$(san_entry "$h")"
done

# The certificate is public (the daemon reads it for `nvr pair`); the key file alone is 0600.
mkdir -p "$(dirname "$cert")" "$(dirname "$key")"
# Write both under temporary names in the target directories, then rename: a crash never leaves
# a half-written pair that the check above would take for a good one.
tmpcert=$(mktemp "$cert.XXXXXX")
tmpkey=""
trap 'rm -f "$tmpcert" ${tmpkey:+"$tmpkey"}' EXIT
if [ $renew -eq 1 ]; then
  (
    umask 077
    openssl req -x509 -new -key "$key" -sha256 -out "$tmpcert" -days 3650 \
      -subj "/CN=${hosts[0]}/O=Hearth" \
      -addext "subjectAltName=$san" -addext "basicConstraints=critical,CA:FALSE" \
      -addext "keyUsage=critical,digitalSignature" -addext "extendedKeyUsage=serverAuth" \
      2>/dev/null
  )
  chmod 0644 "$tmpcert"
  [ -z "$owner" ] || chown "$owner" "$tmpcert"
  mv "$tmpcert" "$cert"
  trap - EXIT
  echo "hearth-tls: made the certificate again for ${hosts[*]} (same key): $cert" >&2
  fingerprint
  exit 0
fi
tmpkey=$(mktemp "$key.XXXXXX")
chmod 0600 "$tmpkey"
(
  umask 077
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -sha256 -nodes \
    -keyout "$tmpkey" -out "$tmpcert" -days 3650 -subj "/CN=${hosts[0]}/O=Hearth" \
    -addext "subjectAltName=$san" -addext "basicConstraints=critical,CA:FALSE" \
    -addext "keyUsage=critical,digitalSignature" -addext "extendedKeyUsage=serverAuth" \
    2>/dev/null
)
chmod 0600 "$tmpkey"
chmod 0644 "$tmpcert"
if [ -n "$owner" ]; then
  chown "$owner" "$tmpkey" "$tmpcert"
fi
mv "$tmpkey" "$key"
mv "$tmpcert" "$cert"
trap - EXIT
echo "hearth-tls: made a self-signed certificate for ${hosts[*]}: $cert" >&2
fingerprint

#!/usr/bin/env bash
# Hearth TLS: makes the self-signed certificate lighttpd serves, once, if it is missing (EC P-256,
# CN and subjectAltName = the given hosts/IPs, 10 years), the key created 0600 from the start.
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

if [ -s "$cert" ] && [ -s "$key" ]; then
  fingerprint
  exit 0
fi
if [ -e "$cert" ] || [ -e "$key" ]; then
  echo "hearth-tls: only one of '$cert' and '$key' exists; remove it to make a new pair" >&2
  exit 1
fi

san=""
for h in "${hosts[@]}"; do
  # Hostnames and IPv4/IPv6 literals only: the value goes into -subj and -addext.
  [[ "$h" =~ ^[A-Za-z0-9.:-]{1,253}$ ]] || { echo "hearth-tls: bad host '$h'" >&2; exit 2; }
  case "$h" in
    *[!0-9.]*) if [[ "$h" == *:* ]]; then entry="IP:$h"; else entry="DNS:$h"; fi ;;
    *) entry="IP:$h" ;;
  esac
  san="${san:+$san,}$entry"
done

# The certificate is public (the daemon reads it for `nvr pair`); the key file alone is 0600.
mkdir -p "$(dirname "$cert")" "$(dirname "$key")"
# Write both under temporary names in the target directories, then rename: a crash never leaves
# a half-written pair that the check above would take for a good one.
tmpkey=$(mktemp "$key.XXXXXX")
tmpcert=$(mktemp "$cert.XXXXXX")
trap 'rm -f "$tmpkey" "$tmpcert"' EXIT
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

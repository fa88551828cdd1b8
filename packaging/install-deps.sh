#!/usr/bin/env bash
# Installs Hearth's build, run and test dependencies from Debian 12 packages. Idempotent: does
# nothing (and needs no network) when everything is already installed. Run as root.
set -euo pipefail

PACKAGES=(
  # build
  meson ninja-build pkg-config gcc libc6-dev
  libglib2.0-dev libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  libgstreamer-plugins-bad1.0-dev libgstrtspserver-1.0-dev
  libsqlite3-dev libsodium-dev libmosquitto-dev libsoup-3.0-dev libjson-glib-dev libqrencode-dev
  libseccomp-dev
  libxml2-dev
  # run: RTSP, H.264/H.265 parsing and muxing, decoding for tests
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-tools
  lighttpd lighttpd-mod-openssl openssl mosquitto mosquitto-clients
  # the web front's per-address connection limit (packaging/hearth-web-limits.sh)
  nftables
  # tests: driver scripts, catalog inspection, HTTP/2 checks of the web front (curl)
  python3 python3-nacl sqlite3 procps iproute2 curl
)
# browser end-to-end tests (tests/e2e): Debian's chromium, driven by playwright-core from npm; certutil (libnss3-tools)
# makes the test browser trust the test certificate
PACKAGES+=(chromium fonts-liberation libnss3-tools)
# the Debian package and its checks (packaging/build-deb.sh, check-*.sh): lintian, the chroots
# (mmdebstrap, arch-test), arm64 programs run by qemu-user through binfmt (test arm64_cross)
PACKAGES+=(lintian mmdebstrap arch-test qemu-user-static binfmt-support)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node and npm may come from another packaging of Node.js (its npm inside nodejs): ask Debian
# only for what is missing as a command.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages (${missing[*]}); run as root or with sudo" >&2
  exit 1
fi
echo "install-deps: installing ${#missing[@]} package(s): ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts these services on install; Hearth's demo and tests start their own copies on
# run-time ports, so stop the system-wide ones we just installed.
for svc in lighttpd mosquitto; do
  if [[ " ${missing[*]} " == *" $svc "* ]] && command -v systemctl >/dev/null 2>&1; then
    systemctl disable --now "$svc" >/dev/null 2>&1 || true
  fi
done
echo "install-deps: done"

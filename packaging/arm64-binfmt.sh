#!/usr/bin/env bash
# Makes this amd64 host run arm64 programs through qemu-user and binfmt_misc, in chroots too
# (the F flag: the kernel keeps the interpreter open), for the arm64 checks
# (check-arm64-cross.sh, check-arm64-install.sh). Installs qemu-user-static, binfmt-support,
# arch-test and mmdebstrap if missing, mounts binfmt_misc if needed, enables qemu-aarch64, and
# asks arch-test whether it works. Run as root.
# Exit status 0 = arm64 programs run; 77 = they cannot here (the one line on stderr says why:
# a caller skips, never passes); 1 = an install failed.
set -euo pipefail
say() { echo "arm64-binfmt: $*"; }
skip() { echo "arm64-binfmt: SKIP: $*" >&2; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root to register qemu-user with binfmt_misc"
[ "$(dpkg --print-architecture)" = amd64 ] || skip "for amd64 hosts (this one is $(dpkg --print-architecture))"
missing=()
for p in qemu-user-static binfmt-support arch-test mmdebstrap; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  log=$(mktemp "${TMPDIR:-/tmp}/arm64-binfmt.XXXXXX")
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    >"$log" 2>&1 || { cat "$log" >&2; echo "arm64-binfmt: FAIL: apt-get install ${missing[*]}" >&2; exit 1; }
  rm -f "$log"
fi
if ! arch-test arm64 >/dev/null 2>&1; then
  if ! mountpoint -q /proc/sys/fs/binfmt_misc; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null ||
      skip "binfmt cannot be registered: mounting binfmt_misc on /proc/sys/fs/binfmt_misc failed (a container without it, or a kernel without CONFIG_BINFMT_MISC)"
  fi
  update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 ||
    skip "binfmt cannot be registered: update-binfmts --enable qemu-aarch64 failed"
  arch-test arm64 >/dev/null 2>&1 ||
    skip "binfmt cannot be registered: qemu-aarch64 is enabled but arch-test arm64 says: $(arch-test arm64 2>&1 | tr '\n' ' ')"
fi
entry=/proc/sys/fs/binfmt_misc/qemu-aarch64
grep -q '^flags: .*F' "$entry" 2>/dev/null ||
  skip "binfmt cannot serve a chroot: $entry has no F (fix-binary) flag ($(grep '^flags' "$entry" 2>/dev/null || echo 'no entry'))"
say "arm64 programs run through $(sed -n 's/^interpreter //p' "$entry") (flags $(sed -n 's/^flags: //p' "$entry"))"

#!/usr/bin/env bash
# Installs (as root, Debian 12) what building from source and the test tiers
# use: the compiler and libseccomp headers for the addon; Apache, socat,
# ucspi-tcp and busybox for the real servers; wrk for benchmarks; qemu and a
# stock kernel for the cgroup v2 VM tier; podman, runc and docker.io for the
# container tests (they start their own dockerd). Skips what is already there.
set -euo pipefail
pkgs=(libseccomp-dev g++ make python3 openssl apache2 socat ucspi-tcp busybox-static wrk
      qemu-system-x86 linux-image-amd64 cpio zstd podman runc docker.io)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian starts apache2 on install where it can; vhqos tests run their own.

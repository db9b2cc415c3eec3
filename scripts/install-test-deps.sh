#!/usr/bin/env bash
# Installs (as root, Debian 12) what building from source and the test tiers
# use: the compiler and libseccomp headers for the addon; Apache, socat,
# ucspi-tcp, busybox, xinetd and vsftpd for the real servers; wrk for
# benchmarks; qemu and a stock kernel for the cgroup v2 VM tier; podman, runc
# and docker.io for the container tests (they start their own dockerd);
# systemd for systemd-analyze and systemd-notify (deploy/systemd units, the
# agent's readiness; nothing is started). Skips what is already there.
set -euo pipefail
pkgs=(libseccomp-dev g++ make clang-format python3 openssl apache2 socat ucspi-tcp busybox-static wrk
      xinetd vsftpd
      qemu-system-x86 linux-image-amd64 cpio zstd podman runc docker.io systemd)
# Daemons whose packages start a system-wide copy on install (apache2 on :80,
# vsftpd on :21, xinetd): the tests run their own, with their own configs, on
# their own ports, and want none of these.
daemons=(apache2 vsftpd xinetd)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Keep the daemons from starting at all while installing: invoke-rc.d and
  # deb-systemd-invoke ask policy-rc.d, and 101 means "not now". Only when
  # there is none (Debian's container images ship one that says 101 already).
  policy=/usr/sbin/policy-rc.d
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\n# vhqos install-test-deps.sh: no service starts while it installs\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # ...nor at boot. Only those installed just now: a daemon that was there
  # before is its owner's business.
  for d in "${daemons[@]}"; do
    [[ " ${missing[*]} " == *" $d "* ]] || continue
    if [[ -d /run/systemd/system ]]; then
      systemctl disable --now "$d" >/dev/null 2>&1 || true
    elif [[ -x /etc/init.d/$d ]]; then
      update-rc.d "$d" disable >/dev/null 2>&1 || true
    fi
  done
fi

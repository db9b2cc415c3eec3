#!/usr/bin/env bash
# Runs ava test files inside the cgroup v2 VM (kernel 6.1, pure cgroup v2, every
# controller enabled at the root), from the project root:
#   bash scripts/test-in-vm.sh dist/test/integration/cgroup.test.js [more files or ava options]
# Build first (npx tsc -p tsconfig.json): the VM sees this filesystem, not a copy.
# VM_TIMEOUT (seconds, default 600) bounds the whole run; exit status is ava's
# (124: timed out, 125: the VM failed).
set -euo pipefail
cd "$(dirname "$0")/.."
vm=${CGROUP2_VM:-$(cd .. && pwd)/shared/vm/cgroup2-vm}
[[ $# -gt 0 ]] || { echo "usage: $0 TEST_FILE... [ava options]" >&2; exit 2; }
# qemu may still be being installed by apt: wait for it rather than start a second apt-get.
for _ in $(seq 60); do command -v qemu-system-x86_64 >/dev/null && break; sleep 5; done
# Everything runs 5-30x slower under emulation: ava's per-test timeout is raised to match.
exec "$vm" --timeout "${VM_TIMEOUT:-600}" -- npx ava --verbose --timeout=5m "$@"

#!/usr/bin/env bash
# Runs the vhqos benchmarks one after another and prints their tables:
#   fastpath, accept (bare vs classifyAt accept vs read), apache, qos (fixture CGI, 2 rounds), qos --cgi c (lean CGI, 1 round)
# The full output is also saved in bench/results/latest.txt. About 10 minutes.
# Needs root, wrk, apache2, cc (with static libc for bench/burn-cgi.c).
#   bench/run-all.sh            # builds first (node-gyp build, tsc, assets)
#   NO_BUILD=1 bench/run-all.sh # use dist/ as it is
# Knobs (environment, read by every script): BENCH_ROUNDS (defaults: fastpath
# 3, apache 2, qos 2), BENCH_DURATION (apache 10 s, qos flood 10 s), BENCH_N
# (fastpath 60000). Each script also takes --rounds/--duration/... and
# experiment flags (see the header comment of each script and BENCHMARKS.md).
# Exit status: non-zero only if a benchmark failed to run, never for a missed goal.
set -u
cd "$(dirname "$0")/.."
if [ "${NO_BUILD:-0}" != 1 ]; then
  npx node-gyp build >/dev/null 2>&1 || { echo "run-all: node-gyp build failed" >&2; exit 1; }
  # tsc emits even when files other than bench/ have type errors; only ours matter here.
  npx tsc -p tsconfig.json | grep -E '^bench/' >&2
  node scripts/copy-assets.js || { echo "run-all: copy-assets failed" >&2; exit 1; }
fi
for f in fastpath accept apache qos; do
  [ -f "dist/bench/$f.js" ] || { echo "run-all: dist/bench/$f.js missing: build with npx tsc -p tsconfig.json" >&2; exit 1; }
done
mkdir -p bench/results
out=bench/results/latest.txt
: >"$out"
status=0
{
  echo "# vhqos benchmarks, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs, kernel $(uname -r), $(node --version), $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2), $(/usr/sbin/apache2 -v | head -1)"
} | tee -a "$out"
run() {
  node "$@" 2>&1 | tee -a "$out"
  rc=${PIPESTATUS[0]}
  if [ "$rc" != 0 ]; then
    echo "run-all: $* failed (exit $rc)" | tee -a "$out" >&2
    status=1
  fi
}
run dist/bench/fastpath.js
run dist/bench/accept.js
run dist/bench/apache.js
run dist/bench/qos.js
run dist/bench/qos.js --cgi c --rounds "${BENCH_ROUNDS:-1}"
echo "run-all: output saved in $out"
exit $status

#!/usr/bin/env bash
# run-fuzzers.sh BUILD_DIR [SECONDS]: runs every libFuzzer target
# BUILD_DIR/fuzz/fuzz_* (built by `make fuzz` with clang, ASan+UBSan) from its
# checked-in seed corpus fuzz/corpus/<target>/.
#
# SECONDS (or FUZZ_SECONDS, default 60) is the TOTAL budget, split evenly
# over the targets with a floor of FUZZ_MIN_SECONDS (default 10) each, so
# `make fuzz` takes about a minute however many targets exist; give a larger
# budget for a real campaign (e.g. `make fuzz FUZZ_SECONDS=3600`).
#
# The seed corpus is read-only here: new inputs go to a working corpus under
# BUILD_DIR/fuzz-corpus/<target>/ (kept between runs, so coverage grows), and
# crashes, leaks and timeouts to BUILD_DIR/fuzz-artifacts/<target>/. To keep
# a finding as a regression seed, copy it into fuzz/corpus/<target>/.
# Exits non-zero if any target finds a crash (or no target exists).
set -u
build=${1:-build-fuzz}
budget=${2:-${FUZZ_SECONDS:-60}}
[ -n "$budget" ] || budget=60
min_seconds=${FUZZ_MIN_SECONDS:-10}
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$build" && pwd) || exit 2

targets=()
for t in "$build"/fuzz/fuzz_*; do
  [ -x "$t" ] && [ -f "$t" ] && targets+=("$t")
done
if [ ${#targets[@]} -eq 0 ]; then
  echo "run-fuzzers: no fuzz targets in $build/fuzz (build with 'make fuzz')" >&2
  exit 2
fi
per=$((budget / ${#targets[@]}))
[ "$per" -lt "$min_seconds" ] && per=$min_seconds
echo "run-fuzzers: ${#targets[@]} targets, ${per} s each"

# Leak checking stays on; UBSan findings abort like ASan ones.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=()
for t in "${targets[@]}"; do
  name=$(basename "$t")
  seeds="$src/fuzz/corpus/$name"
  work="$build/fuzz-corpus/$name"
  artifacts="$build/fuzz-artifacts/$name"
  mkdir -p "$work" "$artifacts"
  corpora=("$work")
  if [ -d "$seeds" ]; then
    corpora+=("$seeds")
  else
    echo "run-fuzzers: warning: no seed corpus $seeds" >&2
  fi
  log="$artifacts/last-run.log"
  echo "== $name (${per} s, log $log)"
  "$t" -max_total_time="$per" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" "${corpora[@]}" \
    >"$log" 2>&1
  rc=$?
  grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb)' "$log" | tail -3
  if [ $rc -ne 0 ]; then
    failed+=("$name")
    echo "FAIL $name: exit status $rc; last lines of the log:"
    tail -n 30 "$log"
  else
    echo "PASS $name"
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "run-fuzzers: findings in: ${failed[*]} (inputs in $build/fuzz-artifacts/)"
  exit 1
fi
echo "run-fuzzers: all ${#targets[@]} targets clean"

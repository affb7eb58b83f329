#!/usr/bin/env bash
# run.sh BUILD_DIR: runs every benchmark (bench/bench_* binaries, then
# bench/bench_*.sh scripts) and prints their tables. Benchmarks are never part
# of `make test`. Prints the machine they ran on first.
set -u
build=$(cd "${1:-build-release}" && pwd)
src=$(cd "$(dirname "$0")/.." && pwd)
export KVIDX_BUILD_DIR="$build" KVIDX_SOURCE_DIR="$src"
echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -sr)"
echo "# date: $(date -u +%Y-%m-%dT%H:%M:%SZ), build: $build"
status=0
for b in "$build"/bench/bench_*; do
  [ -x "$b" ] || continue
  echo
  echo "## $(basename "$b")"
  "$b" || status=1
done
for s in "$src"/bench/bench_*.sh; do
  [ -f "$s" ] || continue
  echo
  echo "## $(basename "$s")"
  bash "$s" || status=1
done
exit $status

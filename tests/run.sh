#!/usr/bin/env bash
# run.sh BUILD_DIR [NAME_REGEX]: runs the whole test suite and prints
# "N passed, N failed" last. Exits non-zero on any failure.
#
# A test is either a C test binary (BUILD_DIR/tests/test_*, one PASS/FAIL line
# per case) or a script tests/<subsystem>/test_*.sh|.py (same line protocol;
# a script that prints no PASS/FAIL line counts as one case judged by its exit
# status). Scripts get KVIDX_BUILD_DIR and KVIDX_SOURCE_DIR in the
# environment. Each test file runs under a timeout (KVIDX_TEST_FILE_TIMEOUT,
# default 900 s).
set -u
build=${1:-build}
pattern=${2:-.}
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$build" && pwd)
export KVIDX_BUILD_DIR="$build" KVIDX_SOURCE_DIR="$src"
file_timeout=${KVIDX_TEST_FILE_TIMEOUT:-900}

passed=0
failed=0
failures=()
log=$(mktemp)
trap 'rm -f "$log"' EXIT

run_one() {
  local name=$1
  shift
  local start=$SECONDS
  timeout --kill-after=10 "$file_timeout" "$@" >"$log" 2>&1 </dev/null
  local rc=$?
  local p f
  p=$(grep -c '^PASS ' "$log")
  f=$(grep -c '^FAIL ' "$log")
  grep -E '^(PASS|FAIL|SKIP) ' "$log"
  if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
    if [ $rc -eq 0 ]; then p=1; echo "PASS $name"; else f=1; echo "FAIL $name: exit status $rc"; fi
  elif [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
    f=1
    echo "FAIL $name: exit status $rc after $p passing cases"
  fi
  if [ "$f" -gt 0 ]; then
    failures+=("$name")
    echo "---- output of $name (last 40 lines) ----"
    grep -vE '^(PASS|SKIP) ' "$log" | tail -n 40
    echo "----"
  fi
  echo "# $name: $p passed, $f failed ($((SECONDS - start)) s)"
  passed=$((passed + p))
  failed=$((failed + f))
}

for t in "$build"/tests/test_*; do
  [ -x "$t" ] || continue
  name=$(basename "$t")
  [[ "$name" =~ $pattern ]] || continue
  run_one "$name" "$t"
done
while IFS= read -r s; do
  name=${s#"$src"/tests/}
  [[ "$name" =~ $pattern ]] || continue
  case "$s" in
    *.sh) run_one "$name" bash "$s" ;;
    *.py) run_one "$name" /usr/bin/python3 "$s" ;;
  esac
done < <(find "$src/tests" -mindepth 2 -name 'test_*.sh' -o -mindepth 2 -name 'test_*.py' | sort)

if [ ${#failures[@]} -gt 0 ]; then
  echo "failed files: ${failures[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]

#!/usr/bin/env bash
# test_fuzz_corpus.sh: replays every checked-in fuzz corpus fuzz/corpus/<target>/
# through BUILD/fuzz/replay_<target> (the libFuzzer target with a plain main,
# see fuzz/replay_main.c), so past findings and seeds stay regression tests in
# `make test` and under ASan+UBSan in `make check`. One PASS/FAIL per target.
set -u
build=${KVIDX_BUILD_DIR:?}
src=${KVIDX_SOURCE_DIR:?}
found=0
for r in "$build"/fuzz/replay_fuzz_*; do
  [ -x "$r" ] || continue
  found=1
  name=${r##*/replay_}
  corpus="$src/fuzz/corpus/$name"
  if [ ! -d "$corpus" ]; then
    echo "FAIL fuzz_corpus/$name: no seed corpus $corpus"
    continue
  fi
  if out=$("$r" "$corpus" 2>&1); then
    echo "PASS fuzz_corpus/$name: ${out##*$'\n'}"
  else
    echo "FAIL fuzz_corpus/$name: replay exited with status $?"
    printf '%s\n' "$out" | tail -n 30
  fi
done
[ $found -eq 1 ] || echo "FAIL fuzz_corpus: no replay_fuzz_* binaries in $build/fuzz"

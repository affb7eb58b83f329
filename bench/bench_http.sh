#!/usr/bin/env bash
# bench_http.sh: HTTP load on a real kvidxd with wrk (Debian package).
#
#  1. token_ids: POST /v1/score with an 8,192-token prompt (512 blocks of 16)
#     while 16 simulated vLLM pods (kvidx publish) hold prefixes of 32, 64,
#     ..., 512 blocks of it. Target: >= 20,000 req/s with p99 < 2 ms.
#  2. prompt: POST /v1/score with ~8k tokens of English text for Qwen3, each
#     request with a different start so the prefix store never helps (full
#     tokenization every time). Target: >= 500 req/s. Needs the Qwen3
#     tokenizer (scripts/fetch-tokenizers.sh qwen3); skipped without it.
#
# The load generator runs on the same 2-core machine as kvidxd, so the
# numbers are a floor. wrk is a closed loop: with c connections, mean
# latency = c / throughput (Little's law), so 32 connections at 20,000 req/s
# already mean 1.6 ms and leave no room for a p99 under 2 ms. The target is
# therefore judged at 16 connections (0.8 ms mean at 20,000 req/s); rows at
# 4 and 32 connections show the unsaturated latency and the saturated
# throughput. Env: KVIDX_BENCH_SECONDS (default 10), KVIDX_BENCH_CONNECTIONS
# (the target row's connections, default 16).
set -euo pipefail
build=${KVIDX_BUILD_DIR:-build-release}
src=${KVIDX_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
secs=${KVIDX_BENCH_SECONDS:-10}
conns=${KVIDX_BENCH_CONNECTIONS:-16}
py=/usr/bin/python3
model=Qwen/Qwen3-0.6B
tokjson="$src/tests/tokenizer/data/cache/qwen3/tokenizer.json"

if ! command -v wrk >/dev/null; then
  echo "bench_http: wrk not installed (scripts/install-deps.sh)"; exit 1
fi
tmp=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

# shellcheck source=scripts/free-port.sh
. "$src/scripts/free-port.sh"
http_port=$(free_port)
zmq_port=$(free_port)
# llm-d's default podCacheSize (10 pods per block) would hide 6 of the 16
# pods: allow 64.
echo '{"kvBlockIndexConfig": {"inMemoryConfig": {"podCacheSize": 64}}}' \
  >"$tmp/config.json"
args=(--config "$tmp/config.json" --http "127.0.0.1:$http_port"
      --zmq-bind "tcp://127.0.0.1:$zmq_port" --hash-seed 0 --log-level warn)
[ -f "$tokjson" ] && args+=(--model-tokenizer "$model=$tokjson")
"$build/kvidxd" "${args[@]}" 2>"$tmp/kvidxd.log" &
pid=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$http_port/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done

# The prompt: 8,192 deterministic token ids; pod i holds its first 32*(i+1)
# blocks.
$py - "$tmp" <<'PY'
import json, random, sys
tmp = sys.argv[1]
rng = random.Random(8192)
toks = [rng.randrange(0, 151000) for _ in range(8192)]
with open(tmp + "/body.json", "w") as f:
    json.dump({"model": "Qwen/Qwen3-0.6B", "token_ids": toks}, f)
for i in range(16):
    with open("%s/pod%d.tokens" % (tmp, i), "w") as f:
        f.write(" ".join(map(str, toks[:512 * (i + 1)])) + "\n")
PY
for i in $(seq 0 15); do
  "$build/kvidx" publish --endpoint "tcp://127.0.0.1:$zmq_port" --connect \
    --pod "pod-$i" --model "$model" --seed 0 --tokens "$tmp/pod$i.tokens" \
    --wait-ms 1500 --quiet >/dev/null &
done
wait $(jobs -p | grep -v "^$pid\$") 2>/dev/null || true
# Wait until the last pod's full prefix is visible.
for _ in $(seq 100); do
  n=$(curl -s -X POST --data-binary @"$tmp/body.json" \
      "http://127.0.0.1:$http_port/v1/score" |
      $py -c 'import json,sys; print(len(json.load(sys.stdin)["scores"]))')
  [ "$n" = 16 ] && break
  sleep 0.1
done
if [ "$n" != 16 ]; then
  echo "bench_http: only $n of 16 pods visible after publishing"; exit 1
fi
echo "# 16 pods hold prefixes of 32..512 blocks of the 8,192-token prompt"

# kvidxd's CPU time so far (user + system, in clock ticks).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }

# Prints one table row from wrk's --latency output and kvidxd's CPU ticks
# before and after the run.
row() {
  local name=$1 target=$2 out=$3 t0=$4 t1=$5
  $py - "$name" "$target" "$out" "$t0" "$t1" "$(getconf CLK_TCK)" <<'PY'
import re, sys
name, target, path = sys.argv[1:4]
t0, t1, hz = (int(x) for x in sys.argv[4:7])
text = open(path).read()
def lat(p):
    m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s)\s*$" % p, text, re.M)
    if not m:
        return float("nan")
    v = float(m.group(1))
    return v / 1000 if m.group(2) == "us" else v * 1000 if m.group(2) == "s" else v
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
total = int(re.search(r"(\d+) requests in", text).group(1))
bad = int(re.search(r"non200 (\d+)", text).group(1))
cpu_us = (t1 - t0) / hz * 1e6 / max(total, 1)
print("| %-32s | %8.0f | %8.3f | %8.3f | %10.1f | %-26s |%s" % (
    name, rps, lat(50), lat(99), cpu_us, target,
    "" if bad == 0 else " %d non-200 answers!" % bad))
PY
}

echo "# load: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) on $(nproc) cores;" \
  "cpu us/req = kvidxd user+sys CPU per request"
echo "| run                              |    req/s | p50 (ms) | p99 (ms) | cpu us/req | target                     |"
echo "|----------------------------------|---------:|---------:|---------:|-----------:|----------------------------|"
# One token_ids run: connections, target text.
ids_run() {
  local c=$1 target=$2 t0
  t0=$(cpu_ticks)
  KVIDX_WRK_BODY="$tmp/body.json" wrk -t1 -c"$c" -d"${secs}s" --latency \
    -s "$src/bench/wrk/score_body.lua" "http://127.0.0.1:$http_port" \
    >"$tmp/wrk-c$c.txt" 2>&1
  row "token_ids 8192, 16 pods, c$c" "$target" "$tmp/wrk-c$c.txt" "$t0" \
    "$(cpu_ticks)"
}
ids_run "$conns" ">= 20000 req/s, p99 < 2 ms"
ids_run 4 "(unsaturated latency)"
ids_run 32 "(saturated throughput)"

if [ -f "$tokjson" ]; then
  # ~8k Qwen3 tokens of English: the GPL-3 text (Debian base system) cut to
  # size; the exact count is measured below.
  head -c 33000 /usr/share/common-licenses/GPL-3 >"$tmp/prompt.txt"
  ntok=$($py -c 'import json,sys,urllib.request
t=open(sys.argv[1]).read()
r=urllib.request.urlopen(urllib.request.Request(sys.argv[2],
  data=json.dumps({"model":sys.argv[3],"prompt":t}).encode()))
print(len(json.load(r)["token_ids"]))' "$tmp/prompt.txt" \
    "http://127.0.0.1:$http_port/v1/tokenize" "$model")
  t0=$(cpu_ticks)
  KVIDX_WRK_PROMPT="$tmp/prompt.txt" KVIDX_WRK_MODEL="$model" \
    wrk -t1 -c32 -d"${secs}s" --latency \
    -s "$src/bench/wrk/score_prompt.lua" "http://127.0.0.1:$http_port" \
    >"$tmp/wrk2.txt" 2>&1
  row "prompt ${ntok} tok, no ps hits, c32" ">= 500 req/s" "$tmp/wrk2.txt" \
    "$t0" "$(cpu_ticks)"
else
  echo "| prompt (Qwen3)               |          - |        - |        - | skipped: scripts/fetch-tokenizers.sh qwen3 |"
fi

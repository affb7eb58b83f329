#!/usr/bin/env bash
# demo.sh BUILD_DIR: the whole kvidx loop in under a minute (`make demo`).
#
#  1. fetches the real Qwen3 tokenizer.json (pinned, checksummed; cached),
#  2. starts kvidxd on free loopback ports,
#  3. tokenizes a few chat-style prompts with kvidxd's tokenizer
#     (POST /v1/tokenize), and has three simulated vLLM pods (`kvidx publish`)
#     cache different parts of them — GPU on pod-a and pod-b, CPU offload on
#     pod-c — publishing BlockStored events over ZeroMQ exactly as vLLM would,
#  4. asks POST /v1/score for each prompt (as text, plus one nobody has seen)
#     and prints which pod holds how much,
#  5. shows GET /v1/pods and a few /metrics lines, and stops kvidxd.
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
src=$(cd "$(dirname "$0")/.." && pwd)
py=/usr/bin/python3
model=Qwen/Qwen3-0.6B

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "fetching the Qwen3 tokenizer (cached after the first run)"
"$src/scripts/fetch-tokenizers.sh" --quiet --no-oracle qwen3 >/dev/null
tokjson="$src/tests/tokenizer/data/cache/qwen3/tokenizer.json"
echo "$tokjson"

tmp=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# shellcheck source=scripts/free-port.sh
. "$src/scripts/free-port.sh"
http=$(free_port)
zmq=$(free_port)
url="http://127.0.0.1:$http"

say "starting kvidxd (HTTP 127.0.0.1:$http, ZeroMQ SUB bound on tcp://127.0.0.1:$zmq)"
"$build/kvidxd" --http "127.0.0.1:$http" --zmq-bind "tcp://127.0.0.1:$zmq" \
  --hash-seed 0 --model-tokenizer "$model=$tokjson" --log-level warn \
  2>"$tmp/kvidxd.log" &
pid=$!
for _ in $(seq 100); do
  curl -sf "$url/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -sf "$url/readyz" >/dev/null || { cat "$tmp/kvidxd.log"; exit 1; }
echo "ready: $(curl -s "$url/readyz")"

# Prompts: a shared system prompt, two conversations on top of it, an
# unrelated document question, and a follow-up turn of conversation 1.
$py - "$tmp" <<'PY'
import json, sys
tmp = sys.argv[1]
system = ("<|im_start|>system\nYou are kvidx-bot, a careful assistant for an "
          "LLM inference platform team. Answer with short, precise sentences, "
          "cite the component that implements each behaviour, and say when "
          "you are unsure. The platform runs vLLM engines with prefix "
          "caching behind a KV-cache-aware router.<|im_end|>\n")
prompts = {
    "chat-1": system + "<|im_start|>user\nWhy does routing a request to the "
              "pod that already holds its prefix make the first token "
              "arrive sooner?<|im_end|>\n<|im_start|>assistant\n",
    "chat-2": system + "<|im_start|>user\nHow are KV-cache blocks identified "
              "across engines, and what happens when two engines use "
              "different hash seeds?<|im_end|>\n<|im_start|>assistant\n",
    "doc-qa": "Summarise the following design note in three bullet points. "
              "The indexer subscribes to KV events published by every engine "
              "over ZeroMQ, keeps a map from block hash to the pods holding "
              "it, and scores candidate pods by the length of the prompt "
              "prefix they already hold, weighting CPU-offloaded blocks "
              "below GPU blocks.",
    "chat-1-turn-2": None,  # filled below
}
prompts["chat-1-turn-2"] = (prompts["chat-1"] + "Because prefill of the "
    "cached prefix is skipped.<|im_end|>\n<|im_start|>user\nAnd what if that "
    "pod is overloaded?<|im_end|>\n<|im_start|>assistant\n")
prompts["unseen"] = ("Write a haiku about garbage collection in a language "
                     "runtime that nobody uses any more.")
json.dump(prompts, open(tmp + "/prompts.json", "w"))
PY

say "tokenizing the prompts with kvidxd (POST /v1/tokenize, Qwen3)"
$py - "$tmp" "$url" "$model" <<'PY'
import json, sys, urllib.request
tmp, url, model = sys.argv[1:4]
prompts = json.load(open(tmp + "/prompts.json"))
for name, text in prompts.items():
    req = urllib.request.Request(url + "/v1/tokenize", data=json.dumps(
        {"model": model, "prompt": text}).encode())
    ids = json.load(urllib.request.urlopen(req))["token_ids"]
    with open("%s/%s.tokens" % (tmp, name), "w") as f:
        f.write(" ".join(map(str, ids)) + "\n")
    print("  %-14s %4d tokens, %3d full blocks of 16" % (name, len(ids),
                                                          len(ids) // 16))
PY
# pod-b caches only the first half of chat-2.
$py -c 'import sys; t=open(sys.argv[1]).read().split(); print(" ".join(t[:len(t)//2]))' \
  "$tmp/chat-2.tokens" >"$tmp/chat-2-half.tokens"
cat "$tmp/chat-1.tokens" "$tmp/chat-2.tokens" >"$tmp/pod-a.tokens"
cat "$tmp/chat-2-half.tokens" "$tmp/doc-qa.tokens" >"$tmp/pod-b.tokens"
cat "$tmp/chat-1-turn-2.tokens" >"$tmp/pod-c.tokens"

say "three simulated vLLM pods publish BlockStored events (kvidx publish)"
publish() { # pod medium tokens-file
  "$build/kvidx" publish --endpoint "tcp://127.0.0.1:$zmq" --connect \
    --pod "$1" --model "$model" --seed 0 --medium "$2" --tokens "$3" \
    --wait-ms 500 --quiet
}
publish pod-a GPU "$tmp/pod-a.tokens" &
publish pod-b GPU "$tmp/pod-b.tokens" &
publish pod-c CPU "$tmp/pod-c.tokens" &
wait %2 %3 %4 2>/dev/null || wait
echo "  pod-a (GPU): chat-1 and chat-2"
echo "  pod-b (GPU): first half of chat-2, and doc-qa"
echo "  pod-c (CPU offload, weight 0.8): chat-1 turn 2 (which extends chat-1)"
sleep 0.3

say "POST /v1/score with each prompt as text: which pod holds how much"
$py - "$tmp" "$url" "$model" <<'PY'
import json, sys, time, urllib.request
tmp, url, model = sys.argv[1:4]
prompts = json.load(open(tmp + "/prompts.json"))
pods = ["pod-a", "pod-b", "pod-c"]
def score(text):
    req = urllib.request.Request(url + "/v1/score", data=json.dumps(
        {"model": model, "prompt": text}).encode())
    return json.load(urllib.request.urlopen(req))
# Events are applied asynchronously: wait until every pod shows up once.
deadline = time.time() + 10
while time.time() < deadline:
    seen = set()
    for t in prompts.values():
        seen |= set(score(t)["scores"])
    if seen >= set(pods):
        break
    time.sleep(0.1)
print("  %-14s %6s %6s   %-8s %-8s %-8s  %s" % ("prompt", "tokens", "blocks",
      *pods, "best pod"))
for name, text in prompts.items():
    r = score(text)
    s = r["scores"]
    best = max(s, key=s.get) if s else "(none: any pod)"
    print("  %-14s %6d %6d   %-8s %-8s %-8s  %s" % (
        name, r["tokens"], r["blocks"],
        *("%g" % s.get(p, 0) for p in pods), best))
print("\n  score = tier-weighted length, in blocks, of the longest prompt "
      "prefix the pod holds.\n  A prompt seen before reuses its tokens from "
      "the prefix store; only the new tail is tokenized.")
PY

say "GET /v1/pods"
curl -s "$url/v1/pods" | $py -c 'import json,sys
for p in json.load(sys.stdin)["pods"]:
    b = {k: v for k, v in p["blocks"].items() if v}
    print("  %-6s blocks=%s state=%s last_seq=%s" % (p["pod"], b, p["state"],
          p.get("last_seq")))'

say "GET /metrics (a few lines)"
curl -s "$url/metrics" | grep -E '^(kvcache_index_lookup_requests_total|kvcache_index_entries|kvidx_events_blocks_added_total|kvcache_tokenization_tokenized_tokens_total|kvidx_http_requests_total\{handler="score")' | sed 's/^/  /'

say "stopping kvidxd (SIGTERM)"
kill "$pid"
wait "$pid"
echo "kvidxd exited with status $?"
pid=

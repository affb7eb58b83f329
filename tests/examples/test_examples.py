#!/usr/bin/env python3
"""test_examples.py: runs the offline examples and checks what they print.

All components are real. The examples run against the Qwen3 tokenizer.json
that scripts/fetch-tokenizers.sh caches, and against the kvidxd binary,
started here on free loopback ports with the block size, hash algorithm and
seed that the examples' simulated vLLM pods use. Events travel over real
ZeroMQ.

- example_indexer: embedded indexer, events applied in-process.
- example_scorer --inproc: the scheduler loop with libkvidx linked in.
- example_kv-events: simulated vLLM pods publishing to kvidxd.
- example_scorer --http: the same scheduler loop against kvidxd. This test
  puts the same warm caches into kvidxd by publishing BlockStored events
  from Python, with block hashes computed independently here (sha256 over
  canonical CBOR, as vLLM's sha256_cbor). The loop must then print exactly
  what it printed in-process.

Prints PASS/FAIL lines (tests/run.sh protocol).
"""
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import cbor2
import msgpack
import zmq

SRC = os.environ.get(
    "KVIDX_SOURCE_DIR",
    os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD = os.environ.get("KVIDX_BUILD_DIR", os.path.join(SRC, "build"))
EXAMPLES = os.path.join(BUILD, "examples")
MODEL = "Qwen/Qwen3-8B"
BLOCK_SIZE = 16
SEED = "0"
RUN_TIMEOUT = 60

failures = 0


def check(name, cond, why=""):
    global failures
    if cond:
        print(f"PASS {name}")
    else:
        failures += 1
        print(f"FAIL {name}: {why}")
    return cond


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT, cwd=SRC, **kw)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def close(a, b):
    return abs(a - b) < 1e-6


def check_readme(name, example, out):
    """The output a README promises ("You will see this:" and the code block
    after it) is what the program printed, so the README cannot rot."""
    path = os.path.join(SRC, "examples", example, "README.md")
    with open(path) as f:
        m = re.search(r"You will see this:\n\n```\n(.*?)```\n", f.read(), re.S)
    shown = m.group(1) if m else None
    diff = [(a, b) for a, b in zip((shown or "").splitlines(),
                                   out.splitlines()) if a != b]
    check(f"{name}_readme_shows_output", shown == out,
          f"{path}: first difference {diff[:1]}" if shown else
          f"{path}: no 'You will see this:' block")


# ---------------------------------------------------------------------------
# example_indexer


def parse_score_sections(out):
    """{title: (tokens, blocks, {pod: (score, blocks)})}."""
    sections, cur = {}, None
    for line in out.splitlines():
        m = re.match(r"^(scores[^(]*) \((\d+) tokens, (\d+) blocks\):$", line)
        if m:
            cur = {}
            sections[m.group(1)] = (int(m.group(2)), int(m.group(3)), cur)
            continue
        m = re.match(r"^  (\S+)\s+([\d.]+)\s+\((\d+) blocks\)$", line)
        if m and cur is not None:
            cur[m.group(1)] = (float(m.group(2)), int(m.group(3)))
    return sections


def test_indexer(tok):
    r = run([os.path.join(EXAMPLES, "example_indexer"), tok])
    if not check("example_indexer_runs", r.returncode == 0,
                 f"exit {r.returncode}: {r.stderr[-500:]}"):
        return
    m = re.search(r"^prompt: (\d+) tokens, (\d+) full blocks of 16$", r.stdout,
                  re.M)
    if not check("example_indexer_prompt_line", m is not None, r.stdout[:300]):
        return
    tokens, nb = int(m.group(1)), int(m.group(2))
    check("example_indexer_blocks_of_prompt", nb == tokens // BLOCK_SIZE,
          f"{nb} blocks for {tokens} tokens")
    s = parse_score_sections(r.stdout)
    text = s.get("scores, prompt as text", (0, 0, {}))
    want = {"pod-a": (nb, nb), "pod-b": (nb // 2, nb // 2),
            "pod-c": (0.8 * nb, nb)}
    check("example_indexer_text_scores",
          text[1] == nb and set(text[2]) == set(want) and
          all(close(text[2][p][0], want[p][0]) and text[2][p][1] == want[p][1]
              for p in want), f"got {text}, want {want}")
    ids = s.get("scores, token ids sharing 3 blocks", (0, 0, {}))
    want = {"pod-a": 3.0, "pod-b": float(min(3, nb // 2)), "pod-c": 2.4}
    check("example_indexer_token_id_scores",
          set(ids[2]) == set(want) and
          all(close(ids[2][p][0], want[p]) for p in want),
          f"got {ids}, want {want}")
    ev = s.get("scores after pod-a evicted 2 blocks", (0, 0, {}))
    check("example_indexer_eviction",
          close(ev[2].get("pod-a", (0, 0))[0], nb - 2),
          f"pod-a after eviction: {ev}")
    only = s.get("scores among pod-b and pod-c only", (0, 0, {}))
    check("example_indexer_candidates", set(only[2]) == {"pod-b", "pod-c"},
          f"got {only}")
    order = list(text[2])
    check("example_indexer_best_first", order == ["pod-a", "pod-c", "pod-b"],
          f"order {order}")
    check_readme("example_indexer", "indexer", r.stdout)


# ---------------------------------------------------------------------------
# example_scorer


def parse_schedule(out):
    """[(blocks, {pod: (cached, prefix, in_flight, total)}, chosen)]."""
    reqs = []
    for line in out.splitlines():
        m = re.match(r"^request \d+: \d+ tokens, (\d+) blocks:", line)
        if m:
            reqs.append([int(m.group(1)), {}, None])
            continue
        m = re.match(r"^  (pod-\S+)\s+([\d.]+)\s+([\d.]+)\s+(\d+)/4\s+([\d.]+)$",
                     line)
        if m and reqs:
            reqs[-1][1][m.group(1)] = (float(m.group(2)), float(m.group(3)),
                                       int(m.group(4)), float(m.group(5)))
            continue
        m = re.match(r"^  -> (\S+):", line)
        if m and reqs:
            reqs[-1][2] = m.group(1)
    return reqs


def check_schedule(name, out):
    """The decisions follow the documented formula, and the scenario shows
    both sides of the trade-off."""
    reqs = parse_schedule(out)
    if not check(f"{name}_all_requests", len(reqs) == 8 and
                 all(r[2] for r in reqs), f"parsed {len(reqs)} requests"):
        return
    consistent, why = True, ""
    for i, (blocks, pods, chosen) in enumerate(reqs):
        for pod, (cached, prefix, inflight, total) in pods.items():
            want_prefix = cached / blocks if blocks else 0.0
            want_total = want_prefix + (1 - inflight / 4)
            if abs(prefix - want_prefix) > 0.006 or \
                    abs(total - want_total) > 0.011:
                consistent, why = False, f"request {i + 1} {pod}: {pods[pod]}"
        best = max(v[3] for v in pods.values() if v[2] < 4)
        if pods[chosen][3] < best - 0.011:
            consistent, why = False, f"request {i + 1}: chose {chosen} {pods}"
    check(f"{name}_formula", consistent, why)
    chosen = [r[2] for r in reqs]
    check(f"{name}_cache_affinity", chosen[0] == "pod-a" and
          chosen[2] == "pod-b", f"decisions {chosen}")
    spill = [i for i, (b, pods, c) in enumerate(reqs)
             if max(v[0] for v in pods.values()) > 0 and pods[c][0] == 0]
    check(f"{name}_load_outweighs_cache", len(spill) >= 1,
          f"no request went to a pod without cache: {chosen}")
    check(f"{name}_no_prefix_request",
          reqs[-1][0] == 0 and all(v[0] == 0 for v in reqs[-1][1].values()),
          f"last request: {reqs[-1]}")


def test_scorer_inproc(tok):
    r = run([os.path.join(EXAMPLES, "example_scorer"), "--inproc", tok])
    if not check("example_scorer_inproc_runs", r.returncode == 0,
                 f"exit {r.returncode}: {r.stderr[-500:]}"):
        return None
    check_schedule("example_scorer_inproc", r.stdout)
    check_readme("example_scorer", "scorer", r.stdout)
    return r.stdout


# ---------------------------------------------------------------------------
# kvidxd, and a publisher written independently of kvidx


class Kvidxd:
    def __init__(self, tok):
        self.zmq_port, self.http_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.zmq = f"tcp://127.0.0.1:{self.zmq_port}"
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("KVIDX_")}
        # A file, not a pipe: a pipe nobody reads could fill and stall it.
        self.log = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(
            [os.path.join(BUILD, "kvidxd"), "--zmq-bind", self.zmq,
             "--http", f"127.0.0.1:{self.http_port}", "--block-size",
             str(BLOCK_SIZE), "--hash-algo", "sha256_cbor", "--hash-seed",
             SEED, "--model-tokenizer", f"{MODEL}={tok}", "--log-level",
             "warn"], stdout=subprocess.DEVNULL, stderr=self.log, env=env)

    def log_tail(self):
        self.log.seek(0)
        return self.log.read()[-800:]

    def wait_ready(self, timeout=20):
        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1):
                    return True
            except OSError:
                time.sleep(0.05)
        return False

    def post(self, path, body):
        req = urllib.request.Request(
            self.url + path, data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.load(resp)

    def last_seq(self, pod):
        with urllib.request.urlopen(self.url + "/v1/pods", timeout=10) as r:
            for p in json.load(r)["pods"]:
                if p["pod"] == pod and "last_seq" in p:
                    return p["last_seq"]
        return -1

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def sha256_cbor(obj):
    return hashlib.sha256(cbor2.dumps(obj, canonical=True)).digest()


def block_keys(tokens):
    """vLLM's sha256_cbor chain with PYTHONHASHSEED=SEED, low 64 bits."""
    parent, keys = sha256_cbor(SEED), []
    for i in range(len(tokens) // BLOCK_SIZE):
        block = tuple(tokens[i * BLOCK_SIZE:(i + 1) * BLOCK_SIZE])
        parent = sha256_cbor((parent, block, None))
        keys.append(int.from_bytes(parent[-8:], "big"))
    return keys


def publish_warm(kd, warm):
    """Each (pod, text): the pod publishes BlockStored for the text's full
    blocks, as a vLLM pod does after serving it."""
    ctx = zmq.Context()
    sent = {}
    try:
        for pod, text in warm:
            ids = kd.post("/v1/tokenize", {"model": MODEL,
                                           "prompt": text})["token_ids"]
            keys = block_keys(ids)
            sock = ctx.socket(zmq.XPUB)
            sock.setsockopt(zmq.LINGER, 1000)
            sock.connect(kd.zmq)
            if not sock.poll(5000):  # kvidxd's subscription
                raise RuntimeError("no subscription from kvidxd")
            sock.recv()
            ev = ["BlockStored", keys, None, ids[:len(keys) * BLOCK_SIZE],
                  BLOCK_SIZE, None, None]
            payload = msgpack.packb([time.time(), [ev], 0], use_bin_type=True)
            sock.send_multipart([f"kv@{pod}@{MODEL}".encode(),
                                 (0).to_bytes(8, "big"), payload])
            sent[pod] = sock
        end = time.time() + 10
        while time.time() < end and any(kd.last_seq(p) < 0 for p in sent):
            time.sleep(0.02)
        return all(kd.last_seq(p) >= 0 for p in sent)
    finally:
        for s in sent.values():
            s.close()
        ctx.term()


def read_warm():
    warm = []
    with open(os.path.join(SRC, "examples", "scorer", "scenario.txt")) as f:
        for line in f:
            if line.startswith("warm "):
                _, pod, text = line.rstrip("\n").split(" ", 2)
                warm.append((pod, text.replace("\\n", "\n")))
    return warm


# ---------------------------------------------------------------------------
# example_kv-events and example_scorer --http


def test_kv_events(kd, tok):
    r = run([os.path.join(EXAMPLES, "example_kv-events"), kd.zmq, kd.url, tok])
    if not check("example_kv_events_runs", r.returncode == 0,
                 f"exit {r.returncode}: {r.stderr[-500:]}"):
        return
    m = re.search(r"^prompt: \d+ tokens, (\d+) full blocks", r.stdout, re.M)
    nb = int(m.group(1)) if m else 0
    steps = []
    for line in r.stdout.splitlines():
        if line.startswith("    scores:"):
            steps.append({k: float(v) for k, v in
                          re.findall(r"(\S+)=([\d.]+)", line)})
    want = [
        {"vllm-0": 0, "vllm-1": 0},                    # before any event
        {"vllm-0": nb, "vllm-1": 0},                   # vllm-0 stores all
        {"vllm-0": nb, "vllm-1": nb // 2},             # vllm-1 the first half
        {"vllm-0": nb - 2, "vllm-1": nb // 2},         # vllm-0 evicts 2
        {"vllm-0": nb - 2 + 1.6, "vllm-1": nb // 2},   # offloaded to CPU
        {"vllm-0": nb - 2 + 1.6, "vllm-1": 0},         # vllm-1 cleared
    ]
    ok = nb >= 4 and len(steps) == len(want) and all(
        set(s) == set(w) and all(close(s[k], w[k]) for k in w)
        for s, w in zip(steps, want))
    check("example_kv_events_scores_follow_events", ok,
          f"{nb} blocks; got {steps}, want {want}")
    check_readme("example_kv_events", "kv-events", r.stdout)
    # Again, against the same kvidxd: the pods restart at seq 0 (kvidxd
    # sees an engine restart) and the output must be the same.
    again = run([os.path.join(EXAMPLES, "example_kv-events"), kd.zmq, kd.url,
                 tok])
    check("example_kv_events_runs_again", again.returncode == 0 and
          again.stdout == r.stdout,
          f"exit {again.returncode}: {again.stderr[-300:]} {again.stdout}")


def publish_warm_cli(kd, warm, tok):
    """As the scorer README does it: `kvidx tokenize | kvidx publish`."""
    kvidx = os.path.join(BUILD, "kvidx")
    for pod, text in warm:
        t = run([kvidx, "tokenize", "--tokenizer", tok], input=text)
        ids = ",".join(str(i) for i in json.loads(t.stdout))
        p = run([kvidx, "publish", "--endpoint", kd.zmq, "--pod", pod,
                 "--model", MODEL, "--algo", "sha256_cbor", "--seed", SEED,
                 "--block-size", str(BLOCK_SIZE), "--tokens", "-", "--quiet"],
                input=ids + "\n")
        if t.returncode != 0 or p.returncode != 0:
            print(t.stderr[-300:], p.stderr[-300:])
            return False
    end = time.time() + 10
    while time.time() < end and any(kd.last_seq(p) < 0 for p, _ in warm):
        time.sleep(0.02)
    return all(kd.last_seq(p) >= 0 for p, _ in warm)


def test_scorer_http(kd, inproc_out, tok=None, name="example_scorer_http"):
    """The warm caches come from the Python publisher, or (tok given) from
    the kvidx CLI as in the README."""
    warm = read_warm()
    ok = publish_warm(kd, warm) if tok is None else \
        publish_warm_cli(kd, warm, tok)
    if not check(f"{name}_warm_state_published", ok,
                 "kvidxd did not apply the warm pods' events"):
        return
    r = run([os.path.join(EXAMPLES, "example_scorer"), "--http", kd.url])
    if not check(f"{name}_runs", r.returncode == 0,
                 f"exit {r.returncode}: {r.stderr[-500:]}"):
        return
    check_schedule(name, r.stdout)
    if inproc_out is not None:
        diff = [(a, b) for a, b in zip(inproc_out.splitlines(),
                                       r.stdout.splitlines()) if a != b]
        check(f"{name}_equals_inproc",
              r.stdout == inproc_out, f"first difference: {diff[:1]}")


def fetch_tokenizer():
    r = run([os.path.join(SRC, "scripts", "fetch-tokenizers.sh"), "--quiet",
             "--no-oracle", "qwen3"])
    path = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
    ok = r.returncode == 0 and os.path.isfile(path)
    check("examples_tokenizer_available", ok,
          f"fetch-tokenizers.sh qwen3: {r.stderr.strip()[-300:]}")
    return path if ok else None


def main():
    tok = fetch_tokenizer()
    if tok is None:
        return 1
    test_indexer(tok)
    inproc_out = test_scorer_inproc(tok)
    # A fresh kvidxd for each example: kvidxd's prefix store remembers the
    # prompts it has tokenized, and the scheduler's output is compared with
    # the in-process run, which starts from an empty store.
    for name, fn in (("kv_events", lambda kd: test_kv_events(kd, tok)),
                     ("scorer_http",
                      lambda kd: test_scorer_http(kd, inproc_out)),
                     ("scorer_http_cli",
                      lambda kd: test_scorer_http(
                          kd, inproc_out, tok, "example_scorer_http_cli"))):
        kd = Kvidxd(tok)
        try:
            if check(f"examples_kvidxd_starts_for_{name}", kd.wait_ready(),
                     kd.log_tail() or "no /healthz"):
                fn(kd)
        finally:
            rc = kd.stop()
        check(f"examples_kvidxd_stops_cleanly_after_{name}", rc == 0,
              f"exit status {rc}: {kd.log_tail()}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

"""test_kvidxd.py: end-to-end tests of the real kvidxd binary.

Each case starts kvidxd on free loopback ports, publishes KV events from
simulated vLLM pods over real ZeroMQ, and checks the HTTP API: scores, pods,
DELETE, metrics, error statuses, bad input, slow clients, graceful shutdown.
Prints PASS/FAIL lines (tests/run.sh protocol).
"""
import http.client
import os
import random
import signal
import socket
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kvidxd_harness import (KVIDXD, SOURCE, Kvidxd, Publisher,  # noqa: E402
                            block_hashes, scores_equal)

MODEL = "test/model"
RESULTS = []


def case(fn):
    RESULTS.append(fn)
    return fn


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def check_scores(resp, want, what):
    if not scores_equal(resp["scores"], want):
        raise AssertionError("%s: got %r, want %r" % (what, resp["scores"],
                                                      want))


def check_eq(got, want, what):
    if got != want:
        raise AssertionError("%s: got %r, want %r" % (what, got, want))


def tokens(n, seed):
    rng = random.Random(seed)
    return [rng.randrange(0, 150000) for _ in range(n)]


# ---- scoring --------------------------------------------------------------

@case
def score_token_ids():
    prompt = tokens(100, 1)  # 6 full blocks of 16
    with Kvidxd() as d:
        ep = "tcp://127.0.0.1:%d" % d.zmq_port
        a = Publisher(ep, "pod-a", MODEL)
        b = Publisher(ep, "pod-b", MODEL)
        c = Publisher(ep, "pod-c", MODEL)
        a.store(prompt[:64])               # 4 blocks on GPU
        b.store(prompt[:32])               # 2 blocks on GPU
        c.store(prompt[:48], medium="CPU")  # 3 blocks on CPU (weight 0.8)
        c.store(tokens(64, 99))            # unrelated blocks
        want = {"pod-a": 4, "pod-b": 2, "pod-c": 2.4}
        status, resp = d.wait_scores(MODEL, prompt, want)
        check_eq(status, 200, "status")
        check_scores(resp, want, "scores")
        check_eq(resp["tokens"], 100, "tokens")
        check_eq(resp["blocks"], 6, "blocks")
        check_eq(resp["model"], MODEL, "model")
        # Candidate restriction; unknown names are not an error.
        status, resp = d.score(MODEL, token_ids=prompt,
                               pods=["pod-b", "no-such-pod"])
        check_eq((status, resp["scores"]), (200, {"pod-b": 2}), "pods filter")
        status, resp = d.score(MODEL, token_ids=prompt, pods=["nobody"])
        check_eq((status, resp["scores"]), (200, {}), "unknown pods only")
        # A different first block: nobody holds a prefix.
        other = [prompt[0] + 1] + prompt[1:]
        status, resp = d.score(MODEL, token_ids=other)
        check_eq((status, resp["scores"]), (200, {}), "different prefix")
        # Another model shares nothing.
        status, resp = d.score("other/model", token_ids=prompt)
        check_eq((status, resp["scores"]), (200, {}), "other model")
        # Removing pod-a's last two blocks shortens its prefix.
        hashes = block_hashes(prompt[:64])
        a.remove(hashes[2:])
        status, resp = d.wait_scores(MODEL, prompt,
                                     {"pod-a": 2, "pod-b": 2, "pod-c": 2.4})
        check_scores(resp, {"pod-a": 2, "pod-b": 2, "pod-c": 2.4},
                     "after remove")
        # AllBlocksCleared empties pod-b.
        b.clear()
        status, resp = d.wait_scores(MODEL, prompt, {"pod-a": 2, "pod-c": 2.4})
        check_scores(resp, {"pod-a": 2, "pod-c": 2.4}, "after clear")
        for p in (a, b, c):
            p.close()


@case
def score_lora():
    prompt = tokens(40, 2)
    with Kvidxd() as d:
        p = Publisher("tcp://127.0.0.1:%d" % d.zmq_port, "pod-l", MODEL)
        p.store(prompt, lora_name="my-lora")
        status, resp = d.wait_scores(MODEL, prompt, {"pod-l": 2},
                                     lora_name="my-lora")
        check_eq((status, resp["scores"]), (200, {"pod-l": 2}), "with lora")
        status, resp = d.score(MODEL, token_ids=prompt)
        check_eq((status, resp["scores"]), (200, {}), "without lora")
        p.close()


def qwen3_tokenizer():
    """Path of the Qwen3 tokenizer.json, fetched (pinned, checksummed) by
    scripts/fetch-tokenizers.sh when missing; None when that fails."""
    path = os.path.join(SOURCE, "tests/tokenizer/data/cache/qwen3/tokenizer.json")
    if not os.path.exists(path):
        subprocess.run([os.path.join(SOURCE, "scripts/fetch-tokenizers.sh"),
                        "--quiet", "--no-oracle", "qwen3"],
                       capture_output=True, timeout=300)
    return path if os.path.exists(path) else None


@case
def score_prompt_text():
    tok = qwen3_tokenizer()
    check(tok is not None, "Qwen3 tokenizer unavailable (fetch failed)")
    model = "Qwen/Qwen3-0.6B"
    text = ("You are a helpful assistant. Answer briefly and cite sources. " * 8
            + "Question: what is a KV cache and why does prefix caching help?")
    with Kvidxd(args=["--model-tokenizer", "%s=%s" % (model, tok)]) as d:
        status, resp = d.request("POST", "/v1/tokenize",
                                 {"model": model, "prompt": text})
        check_eq(status, 200, "tokenize status")
        ids = resp["token_ids"]
        check(len(ids) > 64, "tokens: %d" % len(ids))
        # A pod that cached this prompt's first 4 blocks, as vLLM would hash.
        p = Publisher("tcp://127.0.0.1:%d" % d.zmq_port, "pod-q", model)
        p.store(ids[:64])
        status, resp = d.wait_scores(model, ids, {"pod-q": 4})
        check_scores(resp, {"pod-q": 4}, "token_ids scores")
        for _ in range(2):  # second time: through the prefix store
            try:
                status, resp = d.score(model, prompt=text)
            except OSError as e:
                raise AssertionError("%s; kvidxd log:\n%s" % (e, d.log_text()))
            check_eq(status, 200, "prompt status")
            check_scores(resp, {"pod-q": 4}, "prompt scores")
        check_eq(resp["blocks"], len(ids) // 16, "prompt blocks")
        # Invalid UTF-8 cannot be sent as JSON text; an unknown model is 404.
        status, resp = d.score("no/such-model", prompt=text)
        check_eq(status, 404, "unknown model")
        status, text_m = d.request("GET", "/metrics")
        check('kvcache_tokenization_tokenized_tokens_total{tokenizer="%s"}'
              % model in text_m, "per-model tokenization metrics")
        p.close()


@case
def prefix_store_gives_full_tokenization():
    """Prompts that share prefixes with earlier ones (prefix-store hits) are
    scored on exactly the tokens a full tokenization gives."""
    tok = qwen3_tokenizer()
    check(tok is not None, "Qwen3 tokenizer unavailable (fetch failed)")
    model = "Qwen/Qwen3-0.6B"
    with open("/usr/share/common-licenses/GPL-3", encoding="utf-8") as f:
        base = f.read()[:6000]
    texts = [base, base + "\n\nQuestion: is this a summary?",
             base[:2500] + " but then something else entirely, 12345 times.",
             base[:2500] + "  \t  double  spaces\nand\r\nnewlines 3.14",
             base[:4096], base[:4097] + "x", "short prompt, no chunk at all",
             base.replace("software", "logiciel ✓ 日本語"), base + " " * 300]
    with Kvidxd(args=["--model-tokenizer", "%s=%s" % (model, tok)]) as d:
        # Pod i caches the full tokenization of text i, as vLLM would.
        p = Publisher("tcp://127.0.0.1:%d" % d.zmq_port, "pod-ps", model)
        ids = []
        for i, text in enumerate(texts):
            status, full = d.request("POST", "/v1/tokenize",
                                     {"model": model, "prompt": text})
            check_eq(status, 200, "tokenize %d" % i)
            ids.append(full["token_ids"])
        for rnd in range(2):
            for i, text in enumerate(texts):
                pod = "pod-%d" % i
                if rnd == 0:
                    p.topic = ("kv@%s@%s" % (pod, model)).encode()
                    p.store(ids[i])
                    d.wait_scores(model, ids[i], {pod: len(ids[i]) // 16},
                                  pods=[pod])
                # Block-exact: the pod holds every full block of the prompt
                # only if the ids scored are the full tokenization's.
                status, resp = d.score(model, prompt=text, pods=[pod])
                check_eq(status, 200, "score %d" % i)
                check_eq(resp["tokens"], len(ids[i]),
                         "round %d text %d: tokens scored vs full tokenization"
                         % (rnd, i))
                want = {pod: len(ids[i]) // 16} if len(ids[i]) >= 16 else {}
                check_scores(resp, want, "round %d text %d" % (rnd, i))
        p.close()
        status, text_m = d.request("GET", "/metrics")
        hits = [l for l in text_m.splitlines()
                if l.startswith("kvcache_tokenization_prefix_store_hits_total")]
        check(hits and float(hits[0].split()[-1]) >= len(texts),
              "prefix store used: %r" % hits)


@case
def connect_mode():
    """vLLM binds its PUB with the default empty topic; kvidxd connects
    (--zmq-connect) and names the pod and model itself."""
    from kvidxd_harness import free_port
    prompt = tokens(48, 6)
    port = free_port()
    ep = "tcp://127.0.0.1:%d" % port
    p = Publisher(ep, None, None, bind=True, topic="", wait_subscriber=False)
    try:
        with Kvidxd(zmq_bind=False, args=[
                "--zmq-connect", "%s,pod=pod-bound,model=%s" % (ep, MODEL)]) as d:
            p.wait_subscriber()
            p.store(prompt)
            status, resp = d.wait_scores(MODEL, prompt, {"pod-bound": 3})
            check_scores(resp, {"pod-bound": 3}, "connect-mode scores")
            status, resp = d.request("GET", "/v1/pods")
            check("pod-bound" in [x["pod"] for x in resp["pods"]],
                  "pod listed: %r" % resp)
    finally:
        p.close()


@case
def tokenizer_auto_discovery():
    """--tokenizer-dir: org/name/tokenizer.json is found as model org/name."""
    tok = qwen3_tokenizer()
    check(tok is not None, "Qwen3 tokenizer unavailable (fetch failed)")
    import tempfile
    root = tempfile.mkdtemp(prefix="kvidx-tokdir-")
    os.makedirs(os.path.join(root, "acme/qwen-test"))
    os.symlink(tok, os.path.join(root, "acme/qwen-test/tokenizer.json"))
    with Kvidxd(args=["--tokenizer-dir", root]) as d:
        status, resp = d.request("POST", "/v1/tokenize",
                                 {"model": "acme/qwen-test", "prompt": "Hello"})
        check_eq(status, 200, "discovered model: %r" % (resp,))
        check(len(resp["token_ids"]) >= 1, "tokens")
        status, _ = d.request("POST", "/v1/tokenize",
                              {"model": "acme/other", "prompt": "Hello"})
        check_eq(status, 404, "undiscovered model")


# ---- pods -----------------------------------------------------------------

@case
def first_seq_listed_only_when_applied():
    """A new publisher shows up in GET /v1/pods with its first seq only once
    that batch's blocks are in the index: clients wait on last_seq (the
    kv-events example does). Before the fix a 32k-block first batch was
    listed as seq 0 with 0 blocks for dozens of polls."""
    n_blocks = 32768
    prompt = tokens(16 * n_blocks, 11)
    with Kvidxd() as d:
        ep = "tcp://127.0.0.1:%d" % d.zmq_port
        for round_ in range(3):
            pod = "pod-w%d" % round_
            p = Publisher(ep, pod, MODEL)
            p.store(prompt)  # seq 0, one batch
            deadline = time.time() + 20
            seen = []
            while time.time() < deadline and not seen:
                status, resp = d.request("GET", "/v1/pods")
                # (listed without event fields while its blocks go in)
                seen = [(x["last_seq"], x["blocks"]["gpu"])
                        for x in resp["pods"]
                        if x["pod"] == pod and "last_seq" in x]
            check_eq(seen, [(0, n_blocks)],
                     "%s first listed with a seq as (seq, gpu blocks)" % pod)
            p.close()


@case
def pods_list_and_delete():
    prompt = tokens(64, 3)
    with Kvidxd() as d:
        ep = "tcp://127.0.0.1:%d" % d.zmq_port
        a = Publisher(ep, "pod-a", MODEL)
        b = Publisher(ep, "pod-b", MODEL)
        a.store(prompt)
        b.store(prompt[:32], medium="cpu")
        status, resp = d.wait_scores(MODEL, prompt, {"pod-a": 4, "pod-b": 1.6})
        check_scores(resp, {"pod-a": 4, "pod-b": 1.6}, "scores")
        status, resp = d.request("GET", "/v1/pods")
        check_eq(status, 200, "GET /v1/pods")
        pods = {p["pod"]: p for p in resp["pods"]}
        check("pod-a" in pods and "pod-b" in pods, "pods listed: %r" % resp)
        check_eq(pods["pod-a"]["blocks"]["gpu"], 4, "pod-a gpu blocks")
        check_eq(pods["pod-b"]["blocks"]["cpu"], 2, "pod-b cpu blocks")
        check_eq(pods["pod-a"]["models"], [MODEL], "pod-a models")
        check("last_seq" in pods["pod-a"] and "state" in pods["pod-a"],
              "event fields: %r" % pods["pod-a"])
        status, resp = d.request("DELETE", "/v1/pods/pod-a")
        check_eq((status, resp), (200, {"deleted": "pod-a"}), "DELETE")
        status, resp = d.score(MODEL, token_ids=prompt)
        check_scores(resp, {"pod-b": 1.6}, "scores after DELETE")
        status, resp = d.request("DELETE", "/v1/pods/never-seen")
        check_eq(status, 404, "DELETE unknown pod")
        check("error" in resp, "error body")
        a.close()
        b.close()


# ---- metrics --------------------------------------------------------------

@case
def metrics():
    prompt = tokens(32, 4)
    with Kvidxd() as d:
        p = Publisher("tcp://127.0.0.1:%d" % d.zmq_port, "pod-m", MODEL)
        p.store(prompt)
        status, resp = d.wait_scores(MODEL, prompt, {"pod-m": 2})
        check_scores(resp, {"pod-m": 2}, "scores")
        d.request("POST", "/v1/score", "{bad")
        status, text = d.request("GET", "/metrics")
        check_eq(status, 200, "status")
        for needle in [
                'kvidx_http_requests_total{handler="score",code="200"}',
                'kvidx_http_requests_total{handler="score",code="400"} 1',
                "kvcache_index_lookup_requests_total",
                "kvcache_index_lookup_latency_seconds_bucket",
                'kvcache_index_admissions_total{backend="memory"} 2',
                'kvcache_index_entries{backend="memory"} 2',
                'kvidx_events_total{type="BlockStored"} 1',
                "kvidx_events_blocks_added_total 2",
                "kvidx_events_messages_total 1"]:
            check(needle in text, "metrics lack %r:\n%s" % (needle, text))
        p.close()


# ---- errors and bad input ---------------------------------------------------

@case
def error_statuses():
    cfg = {"httpConfig": {"maxBodyBytes": 100000, "maxTokens": 4096}}
    with Kvidxd(config=cfg) as d:
        cases = [
            ("POST", "/v1/score", "{not json", 400),
            ("POST", "/v1/score", "", 400),
            ("POST", "/v1/score", "[1,2]", 400),
            ("POST", "/v1/score", '{"model": 5, "token_ids": []}', 400),
            ("POST", "/v1/score", '{"token_ids": [1]}', 400),
            ("POST", "/v1/score", '{"model": "m"}', 400),
            ("POST", "/v1/score",
             '{"model": "m", "token_ids": [1], "prompt": "x"}', 400),
            ("POST", "/v1/score", '{"model": "m", "token_ids": "1 2"}', 400),
            ("POST", "/v1/score", '{"model": "m", "token_ids": [1, -1]}', 400),
            ("POST", "/v1/score",
             '{"model": "m", "token_ids": [4294967296]}', 400),
            ("POST", "/v1/score",
             '{"model": "m", "token_ids": [1e400]}', 400),
            ("POST", "/v1/score", '{"model": "m", "token_ids": [1.5]}', 400),
            ("POST", "/v1/score", '{"model": "m", "pods": "a",'
             ' "token_ids": [1]}', 400),
            ("POST", "/v1/score", '{"model": "m", "prompt": "hello"}', 404),
            ("POST", "/v1/tokenize", '{"model": "m", "prompt": "hello"}', 404),
            ("POST", "/v1/tokenize", '{"model": "m"}', 400),
            ("GET", "/v1/score", None, 405),
            ("PUT", "/v1/pods", "{}", 405),
            ("POST", "/healthz", "{}", 405),
            ("GET", "/v1/pods/x", None, 405),
            ("GET", "/nope", None, 404),
            ("DELETE", "/", None, 404),
            ("POST", "/v1/score", '{"model": "m", "token_ids": [%s]}' %
             ",".join(["1"] * 5000), 413),
            ("POST", "/v1/score", "{" + " " * 200000 + "}", 413),
        ]
        for method, path, body, want in cases:
            status, resp = d.request(method, path, body)
            check(status == want, "%s %s %.60r: status %d, want %d (%r)" %
                  (method, path, body, status, want, resp))
            check(isinstance(resp, dict) and isinstance(resp.get("error"), str),
                  "%s %s: JSON error body, got %r" % (method, path, resp))
        status, resp = d.request("GET", "/healthz")
        check_eq(status, 200, "alive after bad input")


@case
def huge_token_array_within_limits():
    """The default limits accept a 128k-token prompt and refuse a body over
    the configured size without reading it."""
    prompt = tokens(131072, 5)
    with Kvidxd() as d:
        p = Publisher("tcp://127.0.0.1:%d" % d.zmq_port, "pod-h", MODEL)
        p.store(prompt[:1600])
        status, resp = d.wait_scores(MODEL, prompt, {"pod-h": 100})
        check_eq((status, resp["blocks"], resp["scores"]),
                 (200, 8192, {"pod-h": 100}), "128k tokens")
        p.close()
    with Kvidxd(config={"httpConfig": {"maxBodyBytes": 1 << 20}}) as d:
        # Announced 64 MiB: refused from the headers alone.
        s = socket.create_connection(("127.0.0.1", d.http_port), timeout=10)
        s.sendall(b"POST /v1/score HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/json\r\n"
                  b"Content-Length: 67108864\r\n\r\n")
        data = s.recv(4096)
        s.close()
        check(data.startswith(b"HTTP/1.1 413"), "413 first: %r" % data[:40])
        # Chunked, growing past the limit.
        s = socket.create_connection(("127.0.0.1", d.http_port), timeout=10)
        s.sendall(b"POST /v1/score HTTP/1.1\r\nHost: x\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"[" + b"1," * 32767 + b"1]"
        try:
            for _ in range(40):
                s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            s.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server may close early: fine
        data = s.recv(4096)
        s.close()
        check(data.startswith(b"HTTP/1.1 413"), "chunked 413: %r" % data[:40])
        check_eq(d.request("GET", "/healthz")[0], 200, "alive")


@case
def slow_clients():
    cfg = {"httpConfig": {"connectionTimeoutSeconds": 1}}
    with Kvidxd(config=cfg) as d:
        idle = []
        for _ in range(20):
            s = socket.create_connection(("127.0.0.1", d.http_port), timeout=10)
            s.sendall(b"POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Le")
            idle.append(s)
        # Others are served while the slow ones dangle.
        status, _ = d.score(MODEL, token_ids=[1] * 32)
        check_eq(status, 200, "served beside slow clients")
        # And the slow ones are disconnected by the idle timeout.
        deadline = time.time() + 8
        closed = 0
        for s in idle:
            s.settimeout(max(0.1, deadline - time.time()))
            try:
                closed += s.recv(100) == b""
            except (socket.timeout, ConnectionResetError):
                closed += 0
            s.close()
        check_eq(closed, len(idle), "slow connections closed by the timeout")


@case
def connection_limit():
    """maxConnections: a connection beyond it is closed at once and counted;
    the open ones keep being served."""
    cfg = {"httpConfig": {"maxConnections": 3, "threads": 2}}
    with Kvidxd(config=cfg) as d:
        keep = []
        for _ in range(2):
            c = http.client.HTTPConnection("127.0.0.1", d.http_port, timeout=5)
            c.request("GET", "/healthz")
            check_eq(c.getresponse().read() is not None, True, "keep-alive")
            keep.append(c)
        def metric_on(c, needle):
            """Reads /metrics on c until needle shows (closes are seen by
            the server asynchronously)."""
            for _ in range(100):
                c.request("GET", "/metrics")
                text = c.getresponse().read().decode()
                if needle in text:
                    return True
                time.sleep(0.05)
            return False

        # With two open, /metrics on a third connection is still served.
        status, text = d.request("GET", "/metrics")
        check_eq(status, 200, "third connection")
        check("kvidx_http_connections_open 3" in text, "3 open:\n%s" % text)
        check(metric_on(keep[0], "kvidx_http_connections_open 2"),
              "back to 2 open")
        # A fourth while three are open (two kept + one held here): closed.
        held = socket.create_connection(("127.0.0.1", d.http_port), timeout=5)
        held.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        check(held.recv(100).startswith(b"HTTP/1.1 200"), "held served")
        extra = socket.create_connection(("127.0.0.1", d.http_port), timeout=5)
        try:
            extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            got = extra.recv(100)
        except ConnectionResetError:
            got = b""
        check_eq(got, b"", "connection over the limit closed")
        extra.close()
        held.close()
        # The kept connections still work, and the refusal was counted.
        for c in keep:
            c.request("GET", "/healthz")
            resp = c.getresponse()
            resp.read()
            check_eq(resp.status, 200, "kept connection served")
        check(metric_on(keep[0], "kvidx_http_connections_refused_total 1"),
              "refusal counted")
        for c in keep:
            c.close()


# ---- process life cycle ---------------------------------------------------

@case
def graceful_shutdown():
    for sig in (signal.SIGTERM, signal.SIGINT):
        with Kvidxd() as d:
            check_eq(d.request("GET", "/readyz")[0], 200, "ready")
            # A keep-alive connection stays open across the signal.
            s = socket.create_connection(("127.0.0.1", d.http_port), timeout=5)
            t0 = time.time()
            rc = d.stop(sig)
            s.close()
            check_eq(rc, 0, "exit status after %s" % sig.name)
            check(time.time() - t0 < 15, "stopped in bounded time")
            log = d.log_text()
            check("shutting down" in log and "stopped" in log,
                  "shutdown logged: %s" % log[-500:])
    # A request in flight when the signal arrives (headers and half of the
    # body sent) is finished and answered before kvidxd exits 0.
    with Kvidxd() as d:
        body = b'{"model": "m", "token_ids": [' + b"1," * 999 + b"1]}"
        s = socket.create_connection(("127.0.0.1", d.http_port), timeout=10)
        s.sendall(b"POST /v1/score HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body) +
                  body[:len(body) // 2])
        time.sleep(0.3)  # the request has begun (headers parsed)
        d.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        check(d.proc.poll() is None, "kvidxd waits for the in-flight request")
        s.sendall(body[len(body) // 2:])
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        s.close()
        check(data.startswith(b"HTTP/1.1 200"), "in-flight answered: %r" %
              data[:60])
        check_eq(d.stop(), 0, "exit status after the in-flight request")


@case
def startup_errors_and_help():
    out = subprocess.run([KVIDXD, "--help"], capture_output=True, text=True,
                         timeout=10)
    check_eq(out.returncode, 0, "--help status")
    for flag in ["--config", "--http", "--zmq-bind", "--zmq-connect",
                 "--block-size", "--hash-algo", "--hash-seed",
                 "--tokenizer-dir", "--model-tokenizer", "--redis",
                 "--log-level"]:
        check(flag in out.stdout, "--help documents %s" % flag)
    bad = [
        (["--block-size", "abc"], "block-size"),
        (["--hash-algo", "md5"], "hash-algo"),
        (["--http", "nowhere"], "http"),
        (["--bogus"], "bogus"),
    ]
    for args, needle in bad:
        out = subprocess.run([KVIDXD] + args, capture_output=True, text=True,
                             timeout=10)
        check(out.returncode == 2 and needle in out.stderr,
              "%r: status %d, stderr %r" % (args, out.returncode, out.stderr))
    import tempfile
    with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
        f.write('{"kvBlockIndexConfig": {"inMemoryConfig": {"sise": 1}}}')
        f.flush()
        out = subprocess.run([KVIDXD, "--config", f.name], capture_output=True,
                             text=True, timeout=10)
        check(out.returncode == 2 and
              "kvBlockIndexConfig.inMemoryConfig.sise" in out.stderr,
              "unknown field named: %r" % out.stderr)
    # The effective configuration: file < environment < flags.
    env = dict(os.environ, KVIDX_BLOCK_SIZE="32", KVIDX_HASH_ALGO="xxhash")
    out = subprocess.run([KVIDXD, "--print-config", "--block-size", "64"],
                         capture_output=True, text=True, timeout=10, env=env)
    check_eq(out.returncode, 0, "--print-config status")
    import json
    eff = json.loads(out.stdout)
    check_eq(eff["tokenProcessorConfig"]["blockSize"], 64, "flag wins")
    check_eq(eff["tokenProcessorConfig"]["hashAlgo"], "xxhash", "env applied")


@case
def redis_down_is_503():
    """A Redis backend that is not there: kvidxd starts, is alive, is not
    ready, and scoring fails fast with 503."""
    port = __import__("kvidxd_harness").free_port()  # nothing listens here
    with Kvidxd(args=["--redis", "redis://127.0.0.1:%d" % port]) as d:
        check_eq(d.request("GET", "/healthz")[0], 200, "healthz")
        status, resp = d.request("GET", "/readyz")
        check_eq(status, 503, "readyz")
        t0 = time.time()
        status, resp = d.score(MODEL, token_ids=list(range(64)))
        check_eq(status, 503, "score status")
        check("unavailable" in resp.get("error", ""), "error: %r" % resp)
        check(time.time() - t0 < 5, "fails fast")
        check_eq(d.stop(), 0, "exit status")


@case
def embedded_default_starts():
    """No flags at all except the HTTP port: the embedded default works,
    logs its effective configuration and binds ZeroMQ."""
    port = None
    with Kvidxd(hash_seed=None, zmq_bind=False) as d:
        status, resp = d.request("GET", "/readyz")
        check_eq(status, 200, "readyz")
        check("section=kvEventsConfig" in d.log_text(), "effective config")
        port = d.http_port
    check(port is not None, "started")


def main():
    if not os.access(KVIDXD, os.X_OK):
        print("FAIL test_kvidxd.py: %s not built" % KVIDXD)
        return 1
    failed = 0
    for fn in RESULTS:
        try:
            fn()
            print("PASS test_kvidxd.py/%s" % fn.__name__, flush=True)
        except Exception as e:  # noqa: BLE001 - report and continue
            failed += 1
            print("FAIL test_kvidxd.py/%s: %s" % (fn.__name__, e), flush=True)
            traceback.print_exc(file=sys.stdout)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

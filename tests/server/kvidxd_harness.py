"""kvidxd_harness.py: helpers for end-to-end tests of the real kvidxd binary.

Starts kvidxd on free loopback ports, waits until /healthz answers, talks
HTTP with http.client, and publishes vLLM KV events over ZeroMQ with an
independent Python publisher (python3-zmq + python3-msgpack) whose block
hashes are computed here with hashlib + pickle exactly as vLLM does — a second
opinion on kvidx's decoder and hasher, not a copy of them.

Usable by any tests/<subsystem>/test_*.py (e.g. the Redis two-replica test):
    sys.path.insert(0, os.path.join(os.environ["KVIDX_SOURCE_DIR"], "tests/server"))
    from kvidxd_harness import Kvidxd, Publisher, block_hashes
Run with /usr/bin/python3 (Debian's, which has zmq and msgpack).
"""
import hashlib
import http.client
import json
import os
import pickle
import random
import signal
import socket
import struct
import subprocess
import tempfile
import time

import msgpack
import zmq

BUILD = os.environ.get("KVIDX_BUILD_DIR", "build")
SOURCE = os.environ.get("KVIDX_SOURCE_DIR", ".")
KVIDXD = os.path.join(BUILD, "kvidxd")
KVIDX = os.path.join(BUILD, "kvidx")


def free_port():
    """A free TCP port on 127.0.0.1, chosen below the kernel's ephemeral range
    (32768+ on Linux) so that no outgoing connection can take it between this
    check and the daemon's bind (bind(0) would pick an ephemeral port, which
    any connect() may reuse meanwhile)."""
    rng = random.Random(os.getpid() ^ int(time.time() * 1e6))
    for _ in range(1000):
        port = rng.randrange(20000, 32000)
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError("no free port")


# ---- vLLM block hashing (sha256 = SHA-256 over pickle protocol 5) ----------

def _h(obj):
    return hashlib.sha256(pickle.dumps(obj, protocol=5)).digest()


def block_hashes(tokens, block_size=16, seed="0", lora_name=None):
    """vLLM's prefix-caching hashes (sha256 algo) of the full blocks of tokens,
    as the 64-bit integers vLLM puts on the wire."""
    parent = _h(seed if seed is not None else "vllm-none-hash")
    extra = (lora_name,) if lora_name is not None else None
    out = []
    for i in range(len(tokens) // block_size):
        blk = tuple(tokens[i * block_size:(i + 1) * block_size])
        parent = _h((parent, blk, extra))
        out.append(int.from_bytes(parent[-8:], "big"))
    return out


def scores_equal(got, want, eps=1e-9):
    """Score maps equal up to floating-point summation error."""
    return (set(got) == set(want) and
            all(abs(got[k] - want[k]) <= eps for k in want))


# ---- kvidxd process -------------------------------------------------------

class Kvidxd:
    """A kvidxd process on free loopback ports. Use as a context manager."""

    def __init__(self, args=(), config=None, env=None, zmq_bind=True,
                 hash_seed="0", wait_ready=True):
        self.http_port = free_port()
        self.zmq_port = free_port() if zmq_bind else None
        self.tmp = tempfile.mkdtemp(prefix="kvidxd-test-")
        self.log_path = os.path.join(self.tmp, "kvidxd.log")
        cmd = [KVIDXD, "--http", "127.0.0.1:%d" % self.http_port,
               "--zmq-bind",
               "tcp://127.0.0.1:%d" % self.zmq_port if zmq_bind else "none"]
        if hash_seed is not None:
            cmd += ["--hash-seed", hash_seed]
        if config is not None:
            path = os.path.join(self.tmp, "config.json")
            with open(path, "w") as f:
                json.dump(config, f)
            cmd += ["--config", path]
        cmd += list(args)
        # KVIDX_TEST_WRAPPER="gdb -batch -ex run -ex bt --args" (or valgrind)
        # runs kvidxd under a debugger; its output goes to the log.
        wrapper = os.environ.get("KVIDX_TEST_WRAPPER")
        if wrapper:
            cmd = wrapper.split() + cmd
        self.cmd = cmd
        full_env = dict(os.environ)
        full_env.setdefault("KVIDX_LOG_LEVEL", "info")
        if env:
            full_env.update(env)
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=self.log,
                                     env=full_env)
        if wait_ready:
            self.wait_healthy()

    def wait_healthy(self, timeout=15.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("kvidxd exited with %d:\n%s" %
                                   (self.proc.returncode, self.log_text()))
            try:
                status, _ = self.request("GET", "/healthz", timeout=1.0)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("kvidxd not healthy after %.0f s:\n%s" %
                           (timeout, self.log_text()))

    def log_text(self):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")[-4000:]

    def request(self, method, path, body=None, timeout=10.0, headers=None):
        """One HTTP request on a fresh connection: (status, parsed JSON or
        text)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.http_port,
                                          timeout=timeout)
        try:
            if body is not None and not isinstance(body, (bytes, str)):
                body = json.dumps(body)
            h = {"Content-Type": "application/json"} if body is not None else {}
            h.update(headers or {})
            conn.request(method, path, body=body, headers=h)
            resp = conn.getresponse()
            data = resp.read()
            ctype = resp.getheader("Content-Type", "")
            if ctype.startswith("application/json"):
                return resp.status, json.loads(data)
            return resp.status, data.decode("utf-8", "replace")
        finally:
            conn.close()

    def score(self, model, token_ids=None, prompt=None, pods=None,
              lora_name=None):
        body = {"model": model}
        if token_ids is not None:
            body["token_ids"] = token_ids
        if prompt is not None:
            body["prompt"] = prompt
        if pods is not None:
            body["pods"] = pods
        if lora_name is not None:
            body["lora_name"] = lora_name
        return self.request("POST", "/v1/score", body)

    def wait_scores(self, model, token_ids, want, timeout=10.0, **kw):
        """Polls /v1/score until the scores equal want (to 1e-9; events are
        applied asynchronously); returns the last response either way."""
        deadline = time.time() + timeout
        while True:
            status, resp = self.score(model, token_ids=token_ids, **kw)
            if status == 200 and scores_equal(resp["scores"], want):
                return status, resp
            if time.time() > deadline:
                return status, resp
            time.sleep(0.05)

    def stop(self, sig=signal.SIGTERM, timeout=20.0):
        """Signals kvidxd and waits; returns its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


# ---- a simulated vLLM pod ----------------------------------------------------

class Publisher:
    """A vLLM-like PUB socket: [topic, seq (8 bytes BE), msgpack EventBatch]."""

    def __init__(self, endpoint, pod, model, ctx=None, wait_subscriber=True,
                 bind=False, topic=None):
        self.ctx = ctx or zmq.Context.instance()
        # XPUB behaves as vLLM's PUB on the wire, and also reports the
        # subscriber's SUBSCRIBE: waiting for it (instead of sleeping) makes
        # sure no event is dropped by PUB/SUB's slow-joiner effect.
        self.sock = self.ctx.socket(zmq.XPUB)
        self.sock.setsockopt(zmq.LINGER, 1000)
        if bind:  # vLLM binding its PUB (connect mode on kvidx's side)
            self.sock.bind(endpoint)
        else:
            self.sock.connect(endpoint)
        self.topic = (topic if topic is not None else
                      "kv@%s@%s" % (pod, model)).encode()
        self.seq = 0
        if wait_subscriber:
            self.wait_subscriber()

    def wait_subscriber(self, timeout_ms=10000):
        if not self.sock.poll(timeout_ms, zmq.POLLIN):
            raise RuntimeError("no subscriber on the publisher's endpoint")
        self.sock.recv()  # b"\x01" + filter

    def send(self, events):
        batch = [time.time(), events, None]
        self.sock.send_multipart([self.topic, struct.pack(">Q", self.seq),
                                  msgpack.packb(batch)])
        self.seq += 1

    def store(self, tokens, block_size=16, seed="0", medium=None,
              lora_name=None):
        hashes = block_hashes(tokens, block_size, seed, lora_name)
        n = len(hashes) * block_size
        self.send([["BlockStored", hashes, None, tokens[:n], block_size, None,
                    medium, lora_name]])
        return hashes

    def remove(self, hashes, medium=None):
        self.send([["BlockRemoved", hashes, medium]])

    def clear(self):
        self.send([["AllBlocksCleared"]])

    def close(self):
        self.sock.close()

"""test_redis_replicas.py: kvidxd replicas sharing one Redis index, end to end.

Real processes only: a redis-server (tests/common/redis_server.py), kvidxd
binaries (tests/server/kvidxd_harness.py) and simulated vLLM pods publishing
KV events over ZeroMQ with an independent Python publisher.

Cases:
  two_replicas      events go to replica A only; /v1/score on replica B gives
                    the same scores as A (stores, tiers, removes, pod filter,
                    DELETE /v1/pods on B seen by A), and so does an llm-d
                    style reader of the same Redis keys
  down_at_start     Redis not running: kvidxd starts, /healthz 200, /readyz
                    and /v1/score 503 with a JSON error; Redis appears: ready
  redis_fault       redis-server is killed and restarted while events and
                    score requests flow; kvidxd stays up, answers 503 while
                    Redis is down, and returns to correct scores after

Prints PASS/FAIL lines (tests/run.sh protocol). Run with /usr/bin/python3.
"""
import os
import sys
import threading
import time
import traceback

SOURCE = os.environ.get("KVIDX_SOURCE_DIR", ".")
sys.path.insert(0, os.path.join(SOURCE, "tests", "server"))
sys.path.insert(0, os.path.join(SOURCE, "tests", "common"))

from kvidxd_harness import (Kvidxd, Publisher, block_hashes,  # noqa: E402
                            scores_equal)
from redis_server import RedisServer, free_port, redis_available  # noqa: E402

MODEL = "test/model"
BLOCK = 16


def tokens(seed, n_blocks):
    """Deterministic token ids for a prompt of n_blocks full blocks."""
    return [(seed * 7919 + i * 31) % 50000 + 1 for i in range(n_blocks * BLOCK)]


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def metrics(text):
    """Unlabelled Prometheus samples of a /metrics page: {name: value}."""
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or "{" in line:
            continue
        parts = line.split()
        if len(parts) == 2:
            try:
                out[parts[0]] = float(parts[1])
            except ValueError:
                pass
    return out


def replica(url, **kw):
    return Kvidxd(args=["--redis", url, "--block-size", str(BLOCK)], **kw)


def wait_until(cond, timeout=10.0):
    """Polls cond() until true or timeout (the caller checks afterwards)."""
    deadline = time.time() + timeout
    while not cond() and time.time() < deadline:
        time.sleep(0.02)


def wait_status(fn, want, timeout=10.0):
    """Polls fn() -> (status, body) until status == want."""
    deadline = time.time() + timeout
    while True:
        status, body = fn()
        if status == want or time.time() > deadline:
            return status, body
        time.sleep(0.05)


def llmd_reader_scores(r, hashes, weights=None):
    """Scores as an llm-d kv-cache-manager replica would compute them from
    the same Redis: its RedisIndex.Lookup (HKEYS per block key
    "<model>@<decimal hash>", fields split at the first '@', stop at the
    first empty key) and its LongestPrefixScorer (pods active from block 0,
    intersected per block, each adding its best tier's weight). An
    independent reader of the layout kvidx writes."""
    weights = weights or {"gpu": 1.0, "cpu": 0.8}
    scores, active = {}, None
    for h in hashes:
        fields = r.cmd("HKEYS", "%s@%d" % (MODEL, h))
        if not fields:
            break
        best = {}
        for f in fields:
            pod, tier = f.split("@", 1)
            best[pod] = max(best.get(pod, 0.0), weights.get(tier, 0.0))
        active = set(best) if active is None else active & set(best)
        if not active:
            break
        for pod in active:
            scores[pod] = scores.get(pod, 0.0) + best[pod]
    return scores


def same_scores(a, b, toks, want, pods=None):
    """Scores of A reach want; B then answers exactly the same."""
    sa, ra = a.wait_scores(MODEL, toks, want, pods=pods)
    check(sa == 200 and scores_equal(ra["scores"], want),
          "replica A: status %s scores %r, want %r" % (sa, ra, want))
    sb, rb = b.score(MODEL, token_ids=toks, pods=pods)
    check(sb == 200, "replica B: status %s %r" % (sb, rb))
    check(scores_equal(rb["scores"], ra["scores"]),
          "replica B scores %r != replica A scores %r" %
          (rb["scores"], ra["scores"]))


def case_two_replicas():
    with RedisServer() as r, replica(r.url) as a, \
            replica(r.url, zmq_bind=False) as b:
        ep = "tcp://127.0.0.1:%d" % a.zmq_port
        pa = Publisher(ep, "pod-a", MODEL)
        pb = Publisher(ep, "pod-b", MODEL)
        pc = Publisher(ep, "pod-c", MODEL)
        t = tokens(1, 8)
        pa.store(t)                        # 8 blocks on GPU
        pb.store(t[:4 * BLOCK], medium="CPU")  # 4 blocks on CPU: 0.8 each
        hc = pc.store(t[:2 * BLOCK])
        same_scores(a, b, t, {"pod-a": 8.0, "pod-b": 3.2, "pod-c": 2.0})
        # An llm-d replica reading the same Redis agrees.
        ha = block_hashes(t, BLOCK, "0")
        got = llmd_reader_scores(r, ha)
        check(scores_equal(got, {"pod-a": 8.0, "pod-b": 3.2, "pod-c": 2.0}),
              "llm-d reader scores %r" % got)
        # Restricted to candidates, on both replicas.
        same_scores(a, b, t, {"pod-b": 3.2}, pods=["pod-b"])
        # A remove applied by A is seen by B.
        pc.remove(hc[1:])
        same_scores(a, b, t, {"pod-a": 8.0, "pod-b": 3.2, "pod-c": 1.0})
        got = llmd_reader_scores(r, ha)
        check(scores_equal(got, {"pod-a": 8.0, "pod-b": 3.2, "pod-c": 1.0}),
              "llm-d reader scores after remove %r" % got)
        # AllBlocksCleared through A.
        pb.clear()
        same_scores(a, b, t, {"pod-a": 8.0, "pod-c": 1.0})
        # DELETE /v1/pods on B (a scheduler talking to another replica)
        # clears the pod for A too.
        status, body = b.request("DELETE", "/v1/pods/pod-a")
        check(status in (200, 204), "DELETE on B: %s %r" % (status, body))
        same_scores(a, b, t, {"pod-c": 1.0})
        # The layout in Redis is llm-d's: <model>@<decimal hash>, <pod>@<tier>.
        fields = r.cmd("HKEYS", "%s@%d" % (MODEL, hc[0]))
        check(fields == ["pod-c@gpu"], "llm-d layout: HKEYS = %r" % fields)
        for p in (pa, pb, pc):
            p.close()
        check(a.stop() == 0 and b.stop() == 0, "graceful shutdown")


def case_down_at_start():
    port = free_port()
    url = "redis://127.0.0.1:%d" % port
    with replica(url) as d:
        status, _ = d.request("GET", "/healthz")
        check(status == 200, "/healthz %s while Redis is down" % status)
        status, body = d.request("GET", "/readyz")
        check(status == 503, "/readyz %s %r while Redis is down" %
              (status, body))
        status, body = d.score(MODEL, token_ids=tokens(2, 2))
        check(status == 503 and isinstance(body, dict) and "error" in body,
              "/v1/score while Redis is down: %s %r" % (status, body))
        with RedisServer(port=port) as r:
            status, body = wait_status(lambda: d.request("GET", "/readyz"),
                                       200)
            check(status == 200, "/readyz after Redis started: %s %r" %
                  (status, body))
            p = Publisher("tcp://127.0.0.1:%d" % d.zmq_port, "pod-x", MODEL)
            t = tokens(3, 3)
            p.store(t)
            status, resp = d.wait_scores(MODEL, t, {"pod-x": 3.0})
            check(status == 200 and scores_equal(resp["scores"],
                                                 {"pod-x": 3.0}),
                  "scores after Redis started: %s %r" % (status, resp))
            p.close()
            check(r.cmd("EXISTS", "kvidx:pod:pod-x@gpu") == 1,
                  "pod set written")


def case_redis_fault():
    with RedisServer() as r, replica(r.url) as d:
        ep = "tcp://127.0.0.1:%d" % d.zmq_port
        stop = threading.Event()
        seen = {"ok": 0, "unavail": 0, "other": []}

        def scorer():
            t = tokens(10, 16)
            while not stop.is_set():
                try:
                    status, body = d.score(MODEL, token_ids=t)
                except OSError as e:  # kvidxd must never drop the connection
                    seen["other"].append(repr(e))
                    continue
                if status == 200:
                    seen["ok"] += 1
                elif status == 503:
                    seen["unavail"] += 1
                else:
                    seen["other"].append((status, body))
                time.sleep(0.005)

        def publisher():
            p = Publisher(ep, "pod-busy", MODEL)
            i = 0
            while not stop.is_set():
                p.store(tokens(100 + i % 50, 4))
                i += 1
                time.sleep(0.002)
            p.close()

        threads = [threading.Thread(target=scorer),
                   threading.Thread(target=publisher)]
        for th in threads:
            th.start()
        try:
            # Traffic flows (bounded waits, not fixed sleeps: the machine may
            # be loaded) before and during the outage.
            wait_until(lambda: seen["ok"] > 0)
            r.kill()
            # Down: scoring fails fast with 503, the daemon stays alive.
            status, body = wait_status(lambda: d.score(MODEL,
                                                       token_ids=tokens(4, 2)),
                                       503)
            check(status == 503, "score while Redis is dead: %s %r" %
                  (status, body))
            status, _ = d.request("GET", "/readyz")
            check(status == 503, "/readyz while Redis is dead: %s" % status)
            # Failed writes are counted as the publisher's batches arrive:
            # poll until one has been attempted while Redis is dead.
            deadline = time.time() + 10
            while True:
                status, text = d.request("GET", "/metrics")
                check(status == 200, "/metrics while Redis is dead: %s" %
                      status)
                m = metrics(text)
                if (m.get("kvidx_index_backend_errors_total", 0) > 0 or
                        time.time() > deadline):
                    break
                time.sleep(0.05)
            check(m.get("kvidx_redis_up") == 0, "kvidx_redis_up while dead: %r"
                  % m.get("kvidx_redis_up"))
            check(m.get("kvidx_index_backend_errors_total", 0) > 0,
                  "backend errors while dead: %r" %
                  m.get("kvidx_index_backend_errors_total"))
            wait_until(lambda: seen["unavail"] > 0)
            r.restart()
            status, body = wait_status(lambda: d.request("GET", "/readyz"),
                                       200)
            check(status == 200, "/readyz after restart: %s %r" %
                  (status, body))
            time.sleep(0.3)
        finally:
            stop.set()
            for th in threads:
                th.join(10)
        check(d.proc.poll() is None, "kvidxd exited during the fault")
        check(not seen["other"], "unexpected answers: %r" % seen["other"][:5])
        check(seen["ok"] > 0 and seen["unavail"] > 0,
              "scores ok=%d unavailable=%d" % (seen["ok"], seen["unavail"]))
        # Back to correct scores: a pod that stores after the restart is
        # scored exactly; the busy pod keeps working too.
        p = Publisher(ep, "pod-after", MODEL)
        t = tokens(7, 5)
        p.store(t)
        p.store(t[:2 * BLOCK], medium="cpu")
        want = {"pod-after": 5.0}
        status, resp = d.wait_scores(MODEL, t, want)
        check(status == 200 and scores_equal(resp["scores"], want),
              "scores after restart: %s %r, want %r" % (status, resp, want))
        p.close()
        status, text = d.request("GET", "/metrics")
        check(status == 200, "/metrics %s" % status)
        m = metrics(text)
        check(m.get("kvidx_redis_up") == 1 and
              m.get("kvidx_redis_reconnects_total", 0) >= 1 and
              m.get("kvidx_redis_resync_pods_total", 0) >= 1 and
              m.get("kvidx_redis_resync_pending_pods") == 0,
              "redis metrics after recovery: %r" %
              {k: v for k, v in m.items() if k.startswith("kvidx_redis")})
        check(d.stop() == 0, "graceful shutdown after the fault")


CASES = [("two_replicas", case_two_replicas),
         ("down_at_start", case_down_at_start),
         ("redis_fault", case_redis_fault)]


def main():
    name = "test_redis_replicas"
    build = os.environ.get("KVIDX_BUILD_DIR", "build")
    if not redis_available():
        for case, _ in CASES:
            print("SKIP %s/%s: redis-server not installed" % (name, case))
        return 0
    if not os.access(os.path.join(build, "kvidxd"), os.X_OK):
        print("FAIL %s: kvidxd not built in %s" % (name, build))
        return 1
    failed = 0
    for case, fn in CASES:
        try:
            fn()
            print("PASS %s/%s" % (name, case), flush=True)
        except Exception as e:  # report and continue with the next case
            failed += 1
            print("FAIL %s/%s: %s" % (name, case, e), flush=True)
            traceback.print_exc()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

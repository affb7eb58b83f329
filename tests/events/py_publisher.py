#!/usr/bin/python3
"""An independent vLLM-style KV-event publisher for test_python_publisher.c,
written from the wire description only (msgpack-python + pyzmq, not kvidx's
encoder): it checks kvidx's decoder and ingestor against a second encoder.

usage: py_publisher.py ENDPOINT
Connects a PUB socket to ENDPOINT (the ingestor's bound SUB), sends probe
batches on pod "py-probe" until a line "go" arrives on stdin (ZeroMQ's slow
joiner), then publishes one scenario per pod and prints, per pod, a line
"<pod> <blocks expected held> <key> <key> ..." with the 64-bit keys, then
"done".
"""
import select
import struct
import sys
import time

import msgpack
import zmq

MODEL = "py-model"


def be64(n):
    return struct.pack(">Q", n)


def send(pub, pod, seq, batch):
    pub.send_multipart([f"kv@{pod}@{MODEL}".encode(), be64(seq),
                        msgpack.packb(batch, use_bin_type=True)])


def keys(base, n):
    # values spread over the whole uint64 range, many >= 2**63
    return [((base * 0x9E3779B97F4A7C15) + i * 0xD1B54A32D192ED03) % 2**64 for i in range(n)]


def low64(b):
    return int.from_bytes(b[-8:], "big")


def main():
    ctx = zmq.Context()
    pub = ctx.socket(zmq.PUB)
    pub.connect(sys.argv[1])
    seq = 0
    while True:
        send(pub, "py-probe", seq, [time.time(), [["AllBlocksCleared"]]])
        seq += 1
        r, _, _ = select.select([sys.stdin], [], [], 0.01)
        if r and sys.stdin.readline().strip() == "go":
            break
    out = []
    toks = list(range(1, 65))

    # py-0: the oldest layout, 2-element batch, 6-element BlockStored
    k = keys(1, 4)
    send(pub, "py-0", 0, [time.time(), [["BlockStored", k, None, toks, 16, None]]])
    out.append(("py-0", 4, k))

    # py-1: 3-element batch, 12-element arrays, sha256-sized bytes hashes,
    # lowercase medium, two events (second chained from the first)
    d = [bytes(range(i, i + 32)) for i in range(0, 4)]
    ev1 = ["BlockStored", d[:2], None, toks[:32], 16, None, "gpu", None, None, 0,
           "full_attention", None]
    ev2 = ["BlockStored", d[2:], d[1], toks[32:], 16, None, None, None, [None, None], 0,
           "full_attention", None]
    send(pub, "py-1", 0, [time.time(), [ev1, ev2], 0])
    out.append(("py-1", 4, [low64(x) for x in d]))

    # py-2: map-form events, xxhash-sized bytes, an unknown key, then a
    # BlockRemoved of the last two blocks in the next batch
    x = [bytes([0xA0 + i]) * 16 for i in range(4)]
    st = {"type": "BlockStored", "block_hashes": x, "parent_block_hash": None,
          "token_ids": toks, "block_size": 16, "lora_id": None, "medium": "GPU",
          "lora_name": None, "group_idx": 0, "kv_cache_spec_kind": "full_attention",
          "locality": "local"}
    send(pub, "py-2", 0, [time.time(), [st], 0])
    send(pub, "py-2", 1, [time.time(), [{"type": "BlockRemoved", "block_hashes": x[2:],
                                          "medium": None, "group_idx": 0}], 0])
    out.append(("py-2", 2, [low64(v) for v in x]))

    # py-3: the batch itself a map (msgspec Struct without array_like)
    k3 = keys(3, 3)
    send(pub, "py-3", 0, {"ts": time.time(), "events": [
        {"type": "BlockStored", "block_hashes": k3, "parent_block_hash": None,
         "token_ids": toks[:48], "block_size": 16, "lora_id": None, "medium": None,
         "lora_name": None}], "data_parallel_rank": 0})
    out.append(("py-3", 3, k3))

    # py-4: stored then AllBlocksCleared in one batch, unknown tag in between
    k4 = keys(4, 2)
    send(pub, "py-4", 0, [time.time(), [["BlockStored", k4, None, toks[:32], 16, None, None],
                                        ["SomethingNew", 1, 2],
                                        ["AllBlocksCleared"]], 0])
    out.append(("py-4", 0, k4))

    for pod, held, ks in out:
        print(pod, held, " ".join(str(v) for v in ks), flush=True)
    print("done", flush=True)
    time.sleep(0.2)  # let the PUB flush before the context closes
    pub.close(linger=1000)
    ctx.term()


if __name__ == "__main__":
    main()

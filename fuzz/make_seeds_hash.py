#!/usr/bin/python3
"""Regenerates the seed corpus of fuzz_hash (layout in fuzz/fuzz_hash.c):
every algorithm with plain tokens, with LoRA + salt + mm items spanning
blocks, token ids at the encoding boundaries, singleton strings, and invalid
UTF-8. Run from anywhere: /usr/bin/python3 fuzz/make_seeds_hash.py."""
import os
import struct

os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz_hash"))


def s(b):
    b = b.encode() if isinstance(b, str) else b
    return bytes([len(b)]) + b


def seed(algo, bs, flags, sd, lora, salt, mm, tokens):
    out = bytes([algo, bs - 1, flags]) + s(sd) + s(lora) + s(salt) + bytes([len(mm)])
    for ident, off, length in mm:
        out += s(ident) + bytes([off, length])
    return out + b"".join(struct.pack("<I", t) for t in tokens)


BOUND = [0, 23, 24, 255, 256, 65535, 65536, 2**31 - 1, 2**31, 2**32 - 1]
seeds = {
    "plain_%d" % a: seed(a, 16, 1 | 8, "0", "", "", [], range(1, 49)) for a in range(4)
}
seeds.update({
    "extras_%d" % a: seed(a, 8, 1 | 2 | 4 | 16, "", "my-lora", "salt", [("img0", 3, 7), ("img1", 12, 20)],
                          [BOUND[i % len(BOUND)] for i in range(40)]) for a in range(4)
})
seeds["singletons"] = seed(0, 4, 1 | 2 | 4, "é", "a", "a", [("a", 0, 2)], range(12))
seeds["unset_seed"] = seed(1, 1, 2, "", "x", "", [], range(5))
seeds["bad_utf8"] = seed(2, 2, 3, "\xff".encode("latin-1"), b"\xc0\x80", "", [], range(6))
seeds["unsorted_mm"] = seed(3, 3, 1, "1", "", "", [("b", 9, 1), ("a", 1, 1)], range(9))
for name, data in seeds.items():
    with open(name + ".bin", "wb") as f:
        f.write(data)

#!/usr/bin/python3
"""Regenerates the seed corpus of fuzz_decode: vLLM's reference encodings and
the same events in every layout, written with msgpack-python. Run from the
repository root: /usr/bin/python3 fuzz/make_seeds_decode.py."""
import os

import msgpack

os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz_decode"))

REF = {
    "ref_oldest": "92cb3ff80000000000009196ab426c6f636b53746f72656491cf0123456789abcdefc0940102030404c0",
    "ref_dp_medium": "93cb3ff80000000000009197ab426c6f636b53746f72656491cf0123456789abcdefc0940102030404c0a347505500",
    "ref_removed_cleared": "93cb3ff80000000000009294ac426c6f636b52656d6f76656491cf0123456789abcdefa34750550091b0416c6c426c6f636b73436c656172656400",
    "ref_map": "93cb3ff8000000000000918ba474797065ab426c6f636b53746f726564ac626c6f636b5f68617368657391cf0123456789abcdefb1706172656e745f626c6f636b5f68617368c0a9746f6b656e5f6964739401020304aa626c6f636b5f73697a6504a76c6f72615f6964c0a66d656469756da3475055a96c6f72615f6e616d65c0aa65787472615f6b65797391c0a967726f75705f69647800b26b765f63616368655f737065635f6b696e64ae66756c6c5f617474656e74696f6e00",
}
for name, hx in REF.items():
    open(name + ".bin", "wb").write(bytes.fromhex(hx))

h = [2**64 - 1, 5, 2**63]
hb = [bytes(24) + x.to_bytes(8, "big") for x in h]
toks = list(range(1, 49))
full = ["BlockStored", h, 7, toks, 16, None, "CPU", "lora", [None, ["mm", 3], None], 0,
        "full_attention", None]
seeds = {
    "array_full": [1.5, [full, ["BlockRemoved", h, "cpu", 1], ["AllBlocksCleared"]], 3],
    "array_bytes": [1.5, [["BlockStored", hb, hb[0], toks, 16, None, None],
                          ["BlockRemoved", hb]]],
    "map_events": [2.0, [{"type": "BlockStored", "block_hashes": h, "parent_block_hash": None,
                          "token_ids": toks, "block_size": 16, "lora_id": None,
                          "medium": "GPU", "lora_name": None, "group_idx": 1,
                          "kv_cache_spec_kind": "sliding_window",
                          "kv_cache_spec_sliding_window": 128},
                         {"type": "BlockRemoved", "block_hashes": hb, "medium": None},
                         {"type": "Unknown", "x": {"y": [1, 2.5]}}], None],
    "map_batch": {"ts": 3.0, "events": [{"type": "AllBlocksCleared"},
                                        {"type": "BlockStored", "block_hashes": [1],
                                         "token_ids": [], "block_size": 0, "medium": "cpu"}],
                  "data_parallel_rank": 2},
}
for name, obj in seeds.items():
    open(name + ".bin", "wb").write(msgpack.packb(obj, use_bin_type=True))

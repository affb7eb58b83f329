"""test_fuzz_short.py: a short, bounded run of the differential fuzzer
(scripts/tokenizer-fuzz.js) for every test tokenizer: 60 random texts of up
to 400 characters, with and without special tokens, kvidx against the
reference (ids); then 30 more comparing ids and byte offsets (--offsets);
then ids and offsets of every line of tests/tokenizer/corpus/handwritten.jsonl
(the golden files hold no offsets).
The seeds are fixed so that the suite stays deterministic; longer runs with
fresh seeds are for development (docs/tokenizer-testing.md).
Prints PASS/FAIL fuzz/<model>/<mode>, fuzz-offsets/... and
handwritten-offsets/...; a model listed in KNOWN_OFFSET_DIVERGENCE reports
SKIP with the difference instead of FAIL on the offset checks (set
KVIDX_FUZZ_STRICT=1 to make it FAIL).
"""
import os
import re
import subprocess
import sys

SRC = os.environ.get("KVIDX_SOURCE_DIR",
                     os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD = os.environ.get("KVIDX_BUILD_DIR", os.path.join(SRC, "build"))
SEED = "5150"
SEED_OFFSETS = "5151"
# qwen3: the char added by an NFC decomposition (U+0958, U+0F73, U+FB2A ...)
# gets the next char's span instead of the previous one's; ids are right.
# Reported to the engine's author (docs/tokenizer-testing.md).
KNOWN_OFFSET_DIVERGENCE = {"qwen3"}


def main():
    f = subprocess.run([os.path.join(SRC, "scripts", "fetch-tokenizers.sh"), "--quiet"],
                       capture_output=True, check=False)
    if f.returncode != 0:
        print("FAIL fuzz/fetch: %s" % f.stderr.decode("utf-8", "replace")[-300:])
        return 1
    status = 0
    handwritten = os.path.join(SRC, "tests", "tokenizer", "corpus", "handwritten.jsonl")
    for prefix, extra in (("fuzz", ["--cases", "60", "--seed", SEED]),
                          ("fuzz-offsets", ["--cases", "30", "--seed", SEED_OFFSETS,
                                            "--offsets"]),
                          ("handwritten-offsets", ["--texts", handwritten, "--offsets",
                                                   "--no-shrink"])):
        status |= run(prefix, extra)
    return status


def run(prefix, extra):
    p = subprocess.run(["node", os.path.join(SRC, "scripts", "tokenizer-fuzz.js"), "--build", BUILD,
                        "--max-len", "400"] + extra,
                       capture_output=True, check=False, timeout=600)
    out = p.stdout.decode("utf-8", "replace")
    bad_known = []
    results = re.findall(r"^(OK|FAIL) (\S+): (.*)$", out, re.M)
    for status, name, msg in results:
        if status == "OK":
            print("PASS %s/%s (%s)" % (prefix, name, msg))
        else:
            diffs = [l for l in out.splitlines() if l.startswith("DIFF %s " % name)]
            known = ("offsets" in prefix and name.split("/")[0] in KNOWN_OFFSET_DIVERGENCE
                     and os.environ.get("KVIDX_FUZZ_STRICT") != "1")
            print("%s %s/%s: %s%s; %s" % ("SKIP" if known else "FAIL", prefix, name,
                                          "known divergence: " if known else "", msg,
                                          diffs[0][:600] if diffs else ""))
            if known:
                bad_known.append(name)
    for line in out.splitlines():
        if line.startswith("ERROR"):
            print("FAIL %s/%s" % (prefix, line[6:]))
    if p.returncode == 2 or not results:
        print("FAIL %s/run: exit %d: %s" % (prefix, p.returncode,
                                            p.stderr.decode("utf-8", "replace")[-300:]))
        return 1
    failed = sum(1 for st, _, _ in results if st == "FAIL") - len(bad_known)
    return 1 if failed or any(l.startswith("ERROR") for l in out.splitlines()) else 0

if __name__ == "__main__":
    sys.exit(main())

"""test_fuzz_short.py: a short, bounded run of the differential fuzzer
(scripts/tokenizer-fuzz.js) for every test tokenizer: 60 random texts of up
to 400 characters, with and without special tokens, kvidx against the
reference. The seed is fixed so that the suite stays deterministic; longer
runs with fresh seeds are for development (docs/tokenizer-testing.md).
Prints PASS/FAIL fuzz/<model>/<mode>.
"""
import os
import re
import subprocess
import sys

SRC = os.environ.get("KVIDX_SOURCE_DIR",
                     os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD = os.environ.get("KVIDX_BUILD_DIR", os.path.join(SRC, "build"))
SEED = "5150"


def main():
    f = subprocess.run([os.path.join(SRC, "scripts", "fetch-tokenizers.sh"), "--quiet"],
                       capture_output=True, check=False)
    if f.returncode != 0:
        print("FAIL fuzz/fetch: %s" % f.stderr.decode("utf-8", "replace")[-300:])
        return 1
    p = subprocess.run(["node", os.path.join(SRC, "scripts", "tokenizer-fuzz.js"), "--build", BUILD,
                        "--cases", "60", "--max-len", "400", "--seed", SEED],
                       capture_output=True, check=False, timeout=600)
    out = p.stdout.decode("utf-8", "replace")
    results = re.findall(r"^(OK|FAIL) (\S+): (.*)$", out, re.M)
    for status, name, msg in results:
        if status == "OK":
            print("PASS fuzz/%s (%s)" % (name, msg))
        else:
            diffs = [l for l in out.splitlines() if l.startswith("DIFF %s " % name)]
            print("FAIL fuzz/%s: %s; %s" % (name, msg, diffs[0][:600] if diffs else ""))
    for line in out.splitlines():
        if line.startswith("ERROR"):
            print("FAIL fuzz/%s" % line[6:])
    if p.returncode == 2 or not results:
        print("FAIL fuzz/run: exit %d: %s" % (p.returncode,
                                              p.stderr.decode("utf-8", "replace")[-300:]))
        return 1
    return 0 if p.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

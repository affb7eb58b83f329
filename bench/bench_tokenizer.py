"""bench_tokenizer.py: kvidx's tokenizer against the reference (HF tokenizers
0.22.2 through @anush008/tokenizers), measured in the same run on the same
~2 MB of mixed text, for Qwen3 and Llama-3. Run by bench/bench_tokenizer.sh
(`make bench`).

Method (docs/tokenizer-testing.md):
- Input: 2 MiB of text from scripts/tokenizer-textgen.js (seed fixed: 70%
  English prose, 15% code, 15% multi-script/emoji/whitespace mixes) cut into
  256 documents of ~8 KiB, one {"text"} JSON line each.
- kvidx: `kvidx tokenize --tokenizer F --jsonl --no-special` over the file,
  best of REPEATS wall times, minus the best wall time of the same command on
  empty input (process start + tokenizer load). What remains also includes
  reading/parsing the JSON lines and printing the ids, so it understates the
  encoder's own speed. One thread.
- Reference: bench_tokenizer_ref.js, encode() per document, best of REPEATS
  passes after a warm-up pass, one thread (RAYON_RS_NUM_CPUS=1,
  TOKENIZERS_PARALLELISM=false, UV_THREADPOOL_SIZE=1).
- Load time: kvidx = the empty-input run's wall time (an upper bound: it
  includes exec and exit); reference = Tokenizer.fromFile in-process.
- Memory: kvidx = peak RSS of the empty-input run (wait4); reference = RSS
  growth of node across fromFile.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

SRC = os.environ.get("KVIDX_SOURCE_DIR",
                     os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))
BUILD = os.environ.get("KVIDX_BUILD_DIR", os.path.join(SRC, "build-release"))
MODELS = [("qwen3", "Qwen3"), ("llama3", "Llama-3")]
REPEATS = int(os.environ.get("KVIDX_BENCH_REPEATS", "3"))
TARGET_RATIO = 10.0
TARGET_QWEN3_LOAD_MS = 300.0

GEN = r"""
const { Rng, randomText, longText } = require(process.argv[1] + '/scripts/tokenizer-textgen.js');
const rng = new Rng(424242);
const docs = [];
for (let i = 0; i < 256; i++) {
  let t = '';
  while (Buffer.byteLength(t, 'utf8') < 8192) {
    const r = rng.next();
    if (r < 0.85) t += longText(rng, 600, { english: 0.82, code: 0.18 });
    else t += randomText(rng, 200);
  }
  docs.push(JSON.stringify({ text: t }));
}
process.stdout.write(docs.join('\n') + '\n');
"""


def run_timed(cmd, stdin_path):
    """(wall seconds, peak RSS MiB, stdout bytes) of one run."""
    with open(stdin_path, "rb") as fin, tempfile.TemporaryFile() as fout:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdin=fin, stdout=fout, stderr=subprocess.PIPE)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        err = p.stderr.read().decode("utf-8", "replace")
        p.returncode = os.waitstatus_to_exitcode(status)
        if p.returncode != 0:
            raise RuntimeError("%s: exit %d: %s" % (" ".join(cmd), p.returncode, err[-300:]))
        fout.seek(0)
        return wall, ru.ru_maxrss / 1024.0, fout.read()


def bench_kvidx(tok_json, input_path, empty_path):
    cmd = [os.path.join(BUILD, "kvidx"), "tokenize", "--tokenizer", tok_json,
           "--jsonl", "--no-special"]
    empties = [run_timed(cmd, empty_path) for _ in range(REPEATS)]
    fulls = [run_timed(cmd, input_path) for _ in range(REPEATS)]
    load = min(w for w, _, _ in empties)
    rss = min(r for _, r, _ in empties)
    full = min(w for w, _, _ in fulls)
    tokens = sum(len(json.loads(l)["ids"]) for l in fulls[0][2].splitlines() if l.strip())
    return {"load_ms": load * 1e3, "rss_mb": rss, "encode_s": max(full - load, 1e-9),
            "tokens": tokens}


def bench_ref(tok_json, input_path):
    env = dict(os.environ, RAYON_RS_NUM_CPUS="1", RAYON_NUM_THREADS="1",
               TOKENIZERS_PARALLELISM="false", UV_THREADPOOL_SIZE="1")
    out = subprocess.run(["node", os.path.join(SRC, "bench", "bench_tokenizer_ref.js"),
                          tok_json, input_path, str(REPEATS)],
                         env=env, capture_output=True, check=True).stdout
    r = json.loads(out)
    return {"load_ms": r["load_ms"], "rss_mb": r["rss_load_mb"], "encode_s": r["best_s"],
            "tokens": r["tokens"]}


def main():
    fetch = subprocess.run([os.path.join(SRC, "scripts", "fetch-tokenizers.sh"), "--quiet",
                            "qwen3", "llama3"], capture_output=True)
    if fetch.returncode != 0:
        print("bench_tokenizer: fetch-tokenizers.sh failed: %s" % fetch.stderr.decode()[-300:])
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        input_path = os.path.join(tmp, "input.jsonl")
        empty_path = os.path.join(tmp, "empty.jsonl")
        with open(input_path, "wb") as f:
            f.write(subprocess.run(["node", "-e", GEN, SRC], capture_output=True,
                                   check=True).stdout)
        open(empty_path, "wb").close()
        with open(input_path, encoding="utf-8") as f:
            nbytes = sum(len(json.loads(l)["text"].encode("utf-8")) for l in f)
        print("input: %.2f MB of mixed text in 256 documents; best of %d runs; one thread"
              % (nbytes / 1e6, REPEATS))
        print("%-8s %-10s %9s %9s %9s %10s %8s  %s" % ("model", "impl", "load_ms", "rss_MB",
                                                      "MB/s", "Mtokens/s", "ratio", "target"))
        status = 0
        for key, name in MODELS:
            tok_json = os.path.join(SRC, "tests", "tokenizer", "data", "cache", key,
                                    "tokenizer.json")
            try:
                k = bench_kvidx(tok_json, input_path, empty_path)
            except RuntimeError as e:
                print("%-8s kvidx      error: %s" % (name, e))
                status = 1
                continue
            r = bench_ref(tok_json, input_path)
            ratio = r["encode_s"] / k["encode_s"]
            for impl, m in (("kvidx", k), ("reference", r)):
                target = ""
                if impl == "kvidx":
                    target = "ratio >= %.0fx: %s" % (TARGET_RATIO, "met" if ratio >= TARGET_RATIO else "NOT met")
                    if key == "qwen3":
                        target += "; load < %.0f ms: %s" % (
                            TARGET_QWEN3_LOAD_MS, "met" if m["load_ms"] < TARGET_QWEN3_LOAD_MS else "NOT met")
                print("%-8s %-10s %9.0f %9.0f %9.2f %10.3f %8s  %s" % (
                    name, impl, m["load_ms"], m["rss_mb"], nbytes / 1e6 / m["encode_s"],
                    m["tokens"] / 1e6 / m["encode_s"], "%.1fx" % ratio if impl == "kvidx" else "",
                    target))
            if k["tokens"] != r["tokens"]:
                print("%-8s note: token counts differ (kvidx %d, reference %d)" % (
                    name, k["tokens"], r["tokens"]))
        return status


if __name__ == "__main__":
    sys.exit(main())

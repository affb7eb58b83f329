#!/usr/bin/env bash
# bench_tokenizer.sh: kvidx tokenize against the reference (HF tokenizers via
# @anush008/tokenizers) on the same ~2 MB of mixed text, Qwen3 and Llama-3:
# throughput (MB/s, tokens/s, one thread), their ratio (target >= 10x), load
# time (target: Qwen3 < 300 ms) and resident memory. Method: the docstring of
# bench_tokenizer.py and docs/tokenizer-testing.md.
set -euo pipefail
exec /usr/bin/python3 "$(dirname "$0")/bench_tokenizer.py" "$@"

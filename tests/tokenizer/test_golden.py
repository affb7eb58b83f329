"""test_golden.py: kvidx tokenize against the golden ids of the reference,
for the eight test tokenizers with and without special tokens. The work is
done by golden.py (also usable standalone, see its docstring); this wrapper
is what tests/run.sh runs. Fetches the tokenizer files first (idempotent).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import golden  # noqa: E402

if __name__ == "__main__":
    sys.exit(golden.main())

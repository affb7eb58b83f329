#!/usr/bin/env node
// bench_tokenizer_ref.js TOKENIZER_JSON INPUT_JSONL REPEATS: the reference
// side of bench_tokenizer.sh. Loads the tokenizer with the Rust library
// (@anush008/tokenizers), encodes every {"text"} line of INPUT_JSONL one at a
// time without special tokens, REPEATS times, and prints one JSON line:
//   {"load_ms":..,"rss_load_mb":..,"best_s":..,"bytes":..,"tokens":..}
// best_s is the fastest pass. Single-threaded: encode() of one text does not
// use Rayon (only encodeBatch does), and the caller also sets
// RAYON_RS_NUM_CPUS=1, TOKENIZERS_PARALLELISM=false and UV_THREADPOOL_SIZE=1.
'use strict';
const fs = require('fs');
const path = require('path');

const [file, input, repeatsArg] = process.argv.slice(2);
const { Tokenizer } = require(path.join(__dirname, '..', 'tests', 'tokenizer', 'oracle', 'node_modules',
  '@anush008', 'tokenizers'));
const texts = fs.readFileSync(input, 'utf8').split('\n').filter((l) => l).map((l) => JSON.parse(l).text);
const bytes = texts.reduce((a, t) => a + Buffer.byteLength(t, 'utf8'), 0);

(async () => {
  const rss0 = process.memoryUsage().rss;
  const t0 = process.hrtime.bigint();
  const tok = Tokenizer.fromFile(file);
  const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const rssLoad = (process.memoryUsage().rss - rss0) / 1048576;
  // Warm-up pass (fills the reference's word cache, as kvidx's runs are warm too).
  let tokens = 0;
  for (const t of texts) tokens += (await tok.encode(t, null, { addSpecialTokens: false })).getIds().length;
  let best = Infinity;
  for (let r = 0; r < Number(repeatsArg || 3); r++) {
    const s = process.hrtime.bigint();
    for (const t of texts) await tok.encode(t, null, { addSpecialTokens: false });
    best = Math.min(best, Number(process.hrtime.bigint() - s) / 1e9);
  }
  console.log(JSON.stringify({ load_ms: loadMs, rss_load_mb: rssLoad, best_s: best, bytes, tokens }));
})();

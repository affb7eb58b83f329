#!/usr/bin/env node
// tokenizer-golden.js: writes tests/tokenizer/golden/<model>.jsonl, the ids
// the reference (HF tokenizers 0.22.2 through @anush008/tokenizers, installed
// by scripts/fetch-tokenizers.sh) gives for every corpus line, with and
// without special tokens.
//
// Input: tests/tokenizer/corpus/*.jsonl in file-name order, every line
// {"text": ...}. Output, one line per input line in the same order:
//   {"src":"handwritten.jsonl:12","sha":"<12 hex of sha256(text)>",
//    "special":[...],"nospecial":[...]}
// "special" is what vLLM (transformers v4) computes, which is the Rust
// library's encode(add_special_tokens=True) except where tokenizer_config.json
// overrides the post-processor: transformers' LlamaTokenizerFast and
// GemmaTokenizerFast rebuild it from add_bos_token/add_eos_token
// (update_post_processor). Of the eight files only DeepSeek-V3 changes (its
// tokenizer.json has no BOS, its config says add_bos_token: true); for
// Llama-2 and Gemma-3 the rebuilt ids are checked to equal the Rust ones.
// To keep the committed files small, when the special ids are the no-special
// ids with tokens around them (BOS, [CLS] ... [SEP]) "special" is replaced by
// "wrap":[[prefix ids],[suffix ids]]; tests/tokenizer/golden.py expands it.
//
// Usage: scripts/fetch-tokenizers.sh && scripts/tokenizer-golden.js [model...]
'use strict';
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');

const root = path.join(__dirname, '..');
const tdir = path.join(root, 'tests', 'tokenizer');
const { Tokenizer } = require(path.join(tdir, 'oracle', 'node_modules', '@anush008', 'tokenizers'));
const MODELS = ['qwen3', 'llama3', 'llama3_1', 'deepseek_v3', 'gptoss', 'gemma3', 'llama2', 'bert'];

function corpus() {
  const dir = path.join(tdir, 'corpus');
  const out = [];
  for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.jsonl')).sort()) {
    const lines = fs.readFileSync(path.join(dir, f), 'utf8').split('\n');
    lines.forEach((l, i) => {
      if (l !== '') out.push({ src: `${f}:${i + 1}`, text: JSON.parse(l).text });
    });
  }
  return out;
}

function sha(text) {
  return crypto.createHash('sha256').update(Buffer.from(text, 'utf8')).digest('hex').slice(0, 12);
}

// [prefix, suffix] when special = prefix ++ nospecial ++ suffix, else null.
function wrap(special, nospecial) {
  const extra = special.length - nospecial.length;
  if (extra < 0) return null;
  for (let p = 0; p <= extra; p++) {
    let ok = true;
    for (let i = 0; i < nospecial.length && ok; i++) ok = special[p + i] === nospecial[i];
    if (ok) return [special.slice(0, p), special.slice(p + nospecial.length)];
  }
  return null;
}

// The ids transformers v4 adds around a sequence when it rebuilds the
// post-processor from tokenizer_config.json, or null when it keeps the
// tokenizer.json one.
function configTemplate(tok, model) {
  const p = path.join(tdir, 'data', 'cache', model, 'tokenizer_config.json');
  if (!fs.existsSync(p)) return null;
  const cfg = JSON.parse(fs.readFileSync(p, 'utf8'));
  if (!/^(Llama|Gemma)Tokenizer(Fast)?$/.test(cfg.tokenizer_class || '')) return null;
  const id = (t) => {
    const c = typeof t === 'string' ? t : t && t.content;
    const v = c == null ? undefined : tok.tokenToId(c);
    if (v == null) throw new Error(`${model}: special token ${JSON.stringify(t)} not in the vocab`);
    return v;
  };
  // transformers' defaults for these classes: add_bos_token=True, add_eos_token=False.
  const bos = cfg.add_bos_token === false ? [] : [id(cfg.bos_token)];
  const eos = cfg.add_eos_token === true ? [id(cfg.eos_token)] : [];
  return [bos, eos];
}

async function golden(model, lines) {
  const tok = Tokenizer.fromFile(path.join(tdir, 'data', 'cache', model, 'tokenizer.json'));
  const tmpl = configTemplate(tok, model);
  let rebuilt = 0;
  const out = [];
  for (const { src, text } of lines) {
    let s = Array.from((await tok.encode(text, null, { addSpecialTokens: true })).getIds());
    const n = Array.from((await tok.encode(text, null, { addSpecialTokens: false })).getIds());
    if (tmpl) {
      const t = [...tmpl[0], ...n, ...tmpl[1]];
      if (t.length !== s.length || t.some((v, i) => v !== s[i])) {
        if (model !== 'deepseek_v3') throw new Error(`${model} ${src}: config template differs from tokenizer.json`);
        rebuilt++;
        s = t;
      }
    }
    const rec = { src, sha: sha(text) };
    const w = wrap(s, n);
    if (w) rec.wrap = w;
    else rec.special = s;
    rec.nospecial = n;
    out.push(JSON.stringify(rec) + '\n');
  }
  const dir = path.join(tdir, 'golden');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, `${model}.jsonl`), out.join(''));
  const note = rebuilt ? ` (${rebuilt} special encodings rebuilt from tokenizer_config.json)` : '';
  console.log(`golden/${model}.jsonl: ${lines.length} lines${note}`);
}

(async () => {
  const models = process.argv.length > 2 ? process.argv.slice(2) : MODELS;
  const lines = corpus();
  for (const m of models) await golden(m, lines);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});

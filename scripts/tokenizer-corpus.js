#!/usr/bin/env node
// tokenizer-corpus.js: writes the tokenizer test corpus,
// tests/tokenizer/corpus/*.jsonl, one {"text": ...} object per line.
//
//   handwritten.jsonl  the cases below (known pitfalls, each written on
//                      purpose) and every atom of every pool of
//                      tokenizer-textgen.js alone and between words
//   random.jsonl       600 seeded random mixes of the pools (1-400 chars)
//   long.jsonl         three long inputs: 100 KB of prose+code, 64 KB of
//                      multi-script mix, 64 KB whitespace/digit heavy (sizes
//                      chosen to keep the golden files near 6 MB in total)
//
// Deterministic: the same script writes the same bytes (seed below). After
// changing it, regenerate the golden files (scripts/tokenizer-golden.js, see
// docs/tokenizer-testing.md). Usage: tokenizer-corpus.js [OUT_DIR]
'use strict';
const fs = require('fs');
const path = require('path');
const { Rng, randomText, longText, pools } = require('./tokenizer-textgen.js');

const SEED = 20260517;
const outDir = process.argv[2] || path.join(__dirname, '..', 'tests', 'tokenizer', 'corpus');

const HANDWRITTEN = [
  // Empty and tiny inputs.
  '', ' ', 'a', 'A', '\n', '\u0000', '0', '.', "'", '▁',
  // English and contractions (the regex's (?i:'s|'t|...) part, incl. ſ folding to s).
  'Hello world', 'Hello, world!', "I'm sure you're right, they've said it'll work and we'd agree.",
  "DON'T SHOUT, I'M HERE; HE'S GONE; YOU'LL SEE; WE'D GO; THEY'VE LEFT",
  "it'S It'ſ it'ſ it’s it''s 's 'S 'ſ 'ſt", "rock'n'roll o'clock y'all ma'am",
  'The year 2024 had 366 days; π ≈ 3.14159265358979 and e ≈ 2.718.',
  '1 12 123 1234 12345 123456 1234567 12345678 123456789 1234567890 12345678901234567890',
  'a1b22c333d4444e55555', '٠١٢٣٤٥٦٧٨٩ ۰۱۲ ०१२३ ๐๑๒ ０１２３ ①②③ ¹²³ ½¼',
  // Whitespace runs and the \s+(?!\S) lookahead.
  'a  b   c    d', 'a\tb\t\tc', 'line1\nline2\n\nline4\n\n\n', 'crlf\r\nline\r\n\r\nend', 'lone\rcr',
  '   leading spaces', 'trailing spaces   ', '\t\t\ttabs first', ' \n \n ', '  \n\n  x',
  'nbsp\u00A0here\u00A0\u00A0twice', 'ideographic\u3000space\u3000\u3000', 'nel\u0085next',
  'ls\u2028ps\u2029end', 'mongolian\u180Evowel\u180E\u180Esep', 'ogham\u1680space', 'zwsp\u200Bword\uFEFFbom',
  'narrow\u202Fnbsp\u205Fmath', 'vt\u000Bff\u000Cfs\u001Cus\u001F', 'en\u2002em\u2003thin\u2009hair\u200A',
  ' \u00A0 \u3000 \u0085 \u2028 x', '\u3000\u3000全角', 'x \ny', 'x  \n  y', 'x\n\n\ty',
  ' '.repeat(300), '\n'.repeat(100), '\t'.repeat(50) + 'x', ' \t'.repeat(64),
  // Code.
  'def hello_world():\n    print("Hello, World!")\n    return 0\n',
  'int main(int argc, char **argv) {\n\tfor (int i = 0; i < argc; i++) puts(argv[i]);\n\treturn 0;\n}\n',
  '    if x:\n        y = [i**2 for i in range(10) if i % 2 == 0]\n',
  'https://example.com/path/to/page?query=1&b=two#frag', 'user.name+tag@example.co.uk',
  '/usr/local/bin/python3 -m pip install --upgrade "tokenizers>=0.22"', '0x1F600 0b1010 1e-10 -3.5E+7',
  '// comment\n/* block */\n#define MAX(a,b) ((a)>(b)?(a):(b))', 'a/b//c///d', '----====****####', '!!!???...',
  // Scripts.
  '你好，世界！', '我爱自然语言处理。', '日本語のテキストとカタカナ、ひらがな。', '한국어 텍스트', 'Привет, как дела?',
  'Ελληνικά κείμενα', 'العربية: مرحبا بك', 'עברית', 'हिन्दी भाषा', 'ภาษาไทยไม่มีช่องว่าง', 'Tiếng Việt: việc',
  'mixed中文English日本語한국어Русский', '中文123数字456', 'Ａｂｃ全角ＡＢＣ', 'カタカナーテスト', '𠀀𠀁𠀂',
  // Unicode 16 letters (\p{L} must follow Unicode 16, like Oniguruma 6.9.10).
  '\u{1E5D0}\u{1E5D1}\u{1E5D2} \u{2EBF0}\u{2EBF1} \u{31350}', 'x\u{1E5D0}y',
  // Emoji.
  '😀😃😄', 'I ❤️ NY 🗽', '👨‍👩‍👧‍👦 family', '🏳️‍🌈🏳️‍⚧️', '👍🏻👍🏼👍🏽👍🏾👍🏿', '🇺🇸🇬🇧🇯🇵', '#️⃣ *️⃣ 0️⃣',
  '🧑‍🤝‍🧑', 'text😀text', '🏴󠁧󠁢󠁥󠁮󠁧󠁿',
  // Combining marks and NFC (Qwen3 normalizes with Unicode 9 NFC tables).
  'cafe\u0301 café', 'A\u030A \u00C5 \u212B', 'o\u0323\u0302 o\u0302\u0323 ộ', '\u1100\u1161\u11A8 각',
  'a\u1DF9\u0301 a\u0301\u1DF9', 'e\u0301\u0301\u0301', '\u0301leading mark', 'x\u20DD \u20E3',
  '\u0915\u094D\u0937 \u0958 \u0915\u093C', 'ǅ ǆ Ǆ ǈ', 'ﬁ ﬂ ﬃ ℌ ℍ Ⅻ ㍿ ㈱', '\u1E9B\u0323',
  'Z\u0351\u036B\u0343\u036A\u0302\u036B\u033D\u034F\u0334\u0319\u0324\u031E\u0349\u035A\u032F\u031E\u0320\u034DA\u036B\u0357\u0334\u0362\u0335\u031C\u0330\u0354L\u0368\u0367\u0369\u0358\u0320G\u0311\u0357\u030E\u0305\u035B\u0341\u0334\u033B\u0348\u034D\u0354\u0339O',
  'Straße STRASSE ẞ', 'İstanbul ıiIİ', 'ΣΊΣΥΦΟΣ σίσυφος', 'ǰ ΐ ᾳ',
  // Added tokens written inside text (each model sees the others' tokens as plain text).
  '<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n', '<|im_start|>x', 'a<|im_start|>b<|im_end|>c',
  '<think>\nreasoning\n</think>\n\nanswer', '<tool_call>{"name": "f"}</tool_call>', '<|endoftext|><|endoftext|>',
  '<|begin_of_text|>Hi', '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are helpful.<|eot_id|>',
  '<|reserved_special_token_5|> <|reserved_special_token_250|> <|reserved_special_token_999|>',
  '<｜begin▁of▁sentence｜><｜User｜>Hi<｜Assistant｜>Hello<｜end▁of▁sentence｜>', '<｜tool▁calls▁begin｜><｜fim▁hole｜><|EOT|>',
  '<|start|>system<|message|>You are ChatGPT.<|end|><|start|>user<|message|>hi<|end|>', '<|channel|>final<|constrain|>json<|return|>',
  '<bos><start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\n', '<unused0><unused99><mask>[multimodal]<b>bold</b>',
  'Hello</s>world <s> x', '<s>[INST] hi [/INST]</s>', '<unk> <s></s>', '[CLS] hello [SEP] world [MASK] [UNK] [PAD]',
  '<|im_start', 'im_end|>', '<|IM_START|>', '< |im_start|>', '<<|im_start|>>', '<|im_start|><|im_start|>',
  '<|im_start|> leading space', 'trailing space <|im_end|>', '\n<|im_end|>\n', '<|im_start|>\u00A0<|im_end|>',
  // Control characters and NUL bytes.
  'nul\u0000inside', '\u0000\u0000\u0000', 'a\u0001b\u0002c\u0003', 'bell\u0007 esc\u001B[31mred\u001B[0m',
  'del\u007F c1\u0080\u0085\u009F', 'bom\uFEFFstart', 'replacement\uFFFDchar', 'nonchar\uFFFE\uFFFF', 'pua\uE000\u{F0000}',
  'rtl\u202Eoverride\u202C', 'soft\u00ADhyphen', 'zwj\u200Dzwnj\u200C', 'tag\u{E0041}\u{E007F}', '\u{10FFFF}',
  // BERT specifics: accents stripped, CJK padded, punctuation isolated, 100-char words -> [UNK].
  'Héllo WÖRLD Ñandú', '東京tokyo大阪', 'hello!!!world???', 'a'.repeat(100), 'a'.repeat(101), 'word' + 'x'.repeat(150),
  // Byte fallback (Llama-2, Gemma-3): characters missing from the vocab.
  '\u{1F9CC}\u{1FAE8}\u{1FAF8}', '𓀀𓀁𓀂 ꙮ', '\u{E0020}', '\u0D9E\u0DA4', '\u13A0\u13A1',
  // Things that look like the byte-level alphabet.
  'ĠĊ Ġhello Ċ', 'Ã©', '▁▁▁hello▁world', '<0x41> <0xE4>',
  // Long runs inside one pre-token.
  'x'.repeat(1000), '1'.repeat(500), '!'.repeat(300), 'ab'.repeat(400), '中'.repeat(300), '😀'.repeat(100),
  'é'.repeat(200), 'e\u0301'.repeat(200), '\u00A0'.repeat(200), 'a \u00A0'.repeat(100),
];

function line(text) {
  return JSON.stringify({ text }) + '\n';
}

function handwritten() {
  const out = HANDWRITTEN.map(line);
  for (const [name, pool] of Object.entries(pools)) {
    for (const a of pool) {
      out.push(line(a));
      out.push(line(`Hello${a}world ${a} end`));
    }
    out.push(line(pool.join(name === 'ENGLISH' ? ' ' : '')));
  }
  return out.join('');
}

function random() {
  const rng = new Rng(SEED);
  const out = [];
  for (let i = 0; i < 600; i++) {
    const n = rng.chance(0.2) ? rng.range(100, 400) : rng.range(1, 100);
    out.push(line(randomText(rng, n)));
  }
  return out.join('');
}

function long() {
  const rng = new Rng(SEED + 1);
  const texts = [
    longText(rng, 100 * 1024, { english: 0.7, code: 0.2 }),
    longText(rng, 64 * 1024, { english: 0.2, code: 0.1 }),
  ];
  // Whitespace and digit heavy: long runs that stress the lookahead and \p{N}{1,3}.
  const parts = [];
  let bytes = 0;
  while (bytes < 64 * 1024) {
    const r = rng.next();
    let s;
    if (r < 0.3) s = rng.pick(pools.SPACES).repeat(rng.range(1, 40));
    else if (r < 0.6) s = String(rng.int(1e9)).repeat(rng.range(1, 5));
    else s = rng.pick(pools.ENGLISH);
    parts.push(s);
    bytes += Buffer.byteLength(s, 'utf8');
  }
  texts.push(parts.join(''));
  return texts.map(line).join('');
}

fs.mkdirSync(outDir, { recursive: true });
fs.writeFileSync(path.join(outDir, 'handwritten.jsonl'), handwritten());
fs.writeFileSync(path.join(outDir, 'random.jsonl'), random());
fs.writeFileSync(path.join(outDir, 'long.jsonl'), long());

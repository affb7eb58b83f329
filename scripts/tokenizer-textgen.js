// tokenizer-textgen.js: seeded random text for the tokenizer corpus
// (scripts/tokenizer-corpus.js) and the differential fuzzer
// (scripts/tokenizer-fuzz.js).
//
// Text is built from "atoms" drawn from pools that aim at the places where a
// re-implementation of HF tokenizers goes wrong: regex classes (\p{L}, \p{N},
// \s as White_Space, lookahead), case-insensitive contractions, NFC, byte
// fallback, added tokens written inside text, BERT's control-char cleaning and
// CJK padding, WordPiece's 100-char limit. The generator is a pure function of
// its seed (mulberry32), so a corpus can be regenerated bit for bit.
'use strict';

function mulberry32(seed) {
  let a = seed >>> 0;
  return function next() {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Rng {
  constructor(seed) {
    this.next = mulberry32(seed);
  }
  int(n) {
    return Math.floor(this.next() * n);
  }
  range(lo, hi) {
    return lo + this.int(hi - lo + 1);
  }
  pick(arr) {
    return arr[this.int(arr.length)];
  }
  chance(p) {
    return this.next() < p;
  }
}

const ENGLISH = (
  'the quick brown fox jumps over the lazy dog while a tokenizer splits ' +
  'every word into pieces that a language model can read Hello World ' +
  "HTTPServer getHTTPResponseCode iPhone McDonald's O'Reilly naïve café " +
  'résumé coöperate rock’n’roll state-of-the-art e-mail U.S.A. Dr. Mr. ' +
  'approximately 3.14159 1,000,000 2024-05-17 12:30:45 v1.2.3 ID_42 ' +
  'antidisestablishmentarianism supercalifragilisticexpialidocious'
).split(' ');

const CODE = [
  'def f(x):\n    return x**2 + 1\n',
  'for (int i = 0; i < n; ++i) { sum += a[i]; }',
  'if (x != NULL && *x == \'\\0\') return -1;',
  'const y = await fetch(`/api/v1/items?id=${id}`);',
  '#include <stdio.h>\nint main(void) {\n\tprintf("%d\\n", 42);\n}\n',
  'SELECT id, name FROM users WHERE age >= 18 ORDER BY name;',
  '<div class="a">&nbsp;&lt;b&gt;</div>',
  '{"key": [1, 2.5, true, null], "nested": {"k": "v"}}',
  'x <<= 2; y >>>= 3; z ||= w ?? v; a => b; c -> d; e :: f',
  '    \t\tindented();\r\n',
  '$ ls -la | grep "^d" > /dev/null 2>&1 && echo ok',
  'λx.λy.x y // lambda   /* block */',
];

// One entry per script: a few words or a sentence.
const SCRIPTS = [
  '你好，世界！我们今天讨论分词器。', '東京都渋谷区で会いましょう。カタカナ ひらがな',
  '한국어 문장입니다. 안녕하세요', 'Привет, мир! Ёжик в тумане. ЩЕКА', 'Γειά σου Κόσμε, ΑΒΓ αβγ ς',
  'مرحبا بالعالم، هذا اختبار ١٢٣٤٥', 'שלום עולם, זה מבחן', 'नमस्ते दुनिया, यह परीक्षा है। क्षत्रिय',
  'สวัสดีชาวโลก นี่คือการทดสอบ', 'ສະບາຍດີ', 'မင်္ဂလာပါ', 'សួស្តី', 'გამარჯობა მსოფლიო',
  'Բարև աշխարհ', 'ሰላም ዓለም', 'வணக்கம் உலகம்', 'నమస్కారం', 'ನಮಸ್ಕಾರ', 'നമസ്കാരം', 'ਸਤ ਸ੍ਰੀ ਅਕਾਲ',
  'হ্যালো বিশ্ব', 'ཀུན་ལ་བདེ་ལེགས།', 'ᠮᠣᠩᠭᠣᠯ', 'ᏣᎳᎩ', 'ᚠᚢᚦᚨᚱᚲ', 'Tiếng Việt có dấu: Nguyễn, việc',
  'Ünïcödé ẞtraße Straße İstanbul ıi', 'Ωμέγα ΣΊΣΥΦΟΣ', '𝐁𝐨𝐥𝐝 𝔉𝔯𝔞𝔨𝔱𝔲𝔯 𝟙𝟚𝟛', '𠀀𠀁𪚥 𝕏',
  'ꦧꦱꦗꦮ', 'ߒߞߏ', 'ⴰⵣⵓⵍ', '𐌰𐌱𐌲', '\u{1E5D0}\u{1E5D1} \u{2EBF0}\u{31350}',
];

const EMOJI = [
  '😀', '👍🏽', '👨‍👩‍👧‍👦', '🏳️‍🌈', '🇫🇷🇯🇵', '1️⃣', '❤️', '🧑🏿‍💻', '👩‍❤️‍💋‍👨', '🫠', '☺︎',
  '🏴󠁧󠁢󠁳󠁣󠁴󠁿', '👁️‍🗨️', '🐈‍⬛',
];

// Combining marks, NFC / non-NFC pairs (Qwen3 normalizes with Unicode 9 NFC).
const COMBINING = [
  'e\u0301', 'é', 'a\u0308\u0301', 'A\u030A', 'Å', '\u212B', 'o\u0323\u0302', 'ộ',
  '\u1100\u1161\u11A8', '각', 'n\u0303', 'ñ', 'a\u1DF9\u0301', 'a\u0301\u1DF9',
  '\u0915\u093C', '\u0958', 'x\u0300\u0301\u0302\u0303\u0304', 'Z\u0351\u036B\u0343\u036A\u0302',
  '\u0041\u030A\u0301', 'ﬁ', 'ℌ', '①', '²', 'Ⅻ', '\uFB2A', '\u0F73', '\u1E9B\u0323',
];

const DIGITS = ['0', '7', '42', '123', '1234', '12345', '1234567890', '٣٤٥', '१२३', '௧௨', '３４５', '½', '⅞', '𝟗𝟘'];

const CONTRACTIONS = ["'s", "'S", "'ſ", "'t", "'T", "'re", "'RE", "'Re", "'ve", "'VE", "'m", "'M", "'ll", "'LL", "'Ll", "'d", "'D", "’s", "'x", "''s"];

const SPACES = [
  ' ', '  ', '   ', '        ', '\t', '\t\t', '\n', '\n\n', '\n\n\n', '\r\n', '\r', '\r\n\r\n', ' \n', '\n ', ' \t\n',
  '\u00A0', '\u3000', '\u0085', '\u2028', '\u2029', '\u180E', '\u1680', '\u2000', '\u2003', '\u2009', '\u200A',
  '\u200B', '\u202F', '\u205F', '\uFEFF', '\u000B', '\u000C', '\u001C', '\u001F', ' \u00A0 ', '\u3000\u3000',
];

const CONTROLS = [
  '\u0000', '\u0001', '\u0007', '\u0008', '\u001B', '\u007F', '\u0080', '\u009F', '\uFFFD', '\uFFFE', '\uFFFF',
  '\u200D', '\u200C', '\u200E', '\u202E', '\u2060', '\u00AD', '\uE000', '\u{10FFFF}', '\u{E0001}',
];

const PUNCT = [
  '.', ',', '!', '?', '...', '…', '—', '–', '-', '--', '"', "'", '`', '(', ')', '[', ']', '{', '}', '<', '>', '/',
  '\\', '|', '@', '#', '$', '%', '^', '&', '*', '+', '=', '~', '_', ':', ';', '«»', '「」', '、', '。', '！', '？',
  '¿¡', '§', '©', '®', '™', '€', '£', '¥', '→', '∑', '∞', '≠', '√', '♥', '★', '▁', '▁▁', 'Ġ', 'Ċ',
];

// Added tokens of the eight test tokenizers, plus near misses.
const SPECIALS = [
  '<|im_start|>', '<|im_end|>', '<|endoftext|>', '<think>', '</think>', '<tool_call>', '</tool_call>',
  '<|fim_prefix|>', '<|vision_pad|>', '<|begin_of_text|>', '<|end_of_text|>', '<|eot_id|>', '<|start_header_id|>',
  '<|end_header_id|>', '<|reserved_special_token_0|>', '<|reserved_special_token_250|>', '<｜begin▁of▁sentence｜>',
  '<｜end▁of▁sentence｜>', '<｜User｜>', '<｜Assistant｜>', '<｜tool▁calls▁begin｜>', '<｜fim▁hole｜>', '<|EOT|>',
  '<|startoftext|>', '<|return|>', '<|channel|>', '<|message|>', '<|start|>', '<|end|>', '<|constrain|>',
  '<bos>', '<eos>', '<pad>', '<start_of_turn>', '<end_of_turn>', '<unused0>', '<unused42>', '<mask>', '[multimodal]',
  '<b>', '</b>', '<table>', '<s>', '</s>', '<unk>', '[CLS]', '[SEP]', '[MASK]', '[UNK]', '[PAD]',
  '<|im_start', 'im_start|>', '<|IM_START|>', '< |im_start|>', '<<|im_end|>>', '<s><s>', '</s></s>',
];

// Random code points from blocks chosen for their categories.
const BLOCKS = [
  [0x20, 0x7e], [0xa0, 0x24f], [0x300, 0x36f], [0x370, 0x3ff], [0x400, 0x4ff], [0x590, 0x6ff], [0x900, 0x97f],
  [0xe00, 0xe7f], [0x1100, 0x11ff], [0x1e00, 0x1eff], [0x2000, 0x206f], [0x2070, 0x22ff], [0x2e80, 0x2fdf],
  [0x3000, 0x30ff], [0x3400, 0x4dbf], [0x4e00, 0x9fff], [0xa000, 0xa4cf], [0xac00, 0xd7a3], [0xe000, 0xe0ff],
  [0xf900, 0xfaff], [0xfb00, 0xfdff], [0xfe00, 0xfe6f], [0xff00, 0xffef], [0x10000, 0x100ff], [0x1d400, 0x1d7ff],
  [0x1e5d0, 0x1e5ff], [0x1f300, 0x1faff], [0x20000, 0x2a6df], [0x2ebf0, 0x2ee5d], [0x31350, 0x323af],
  [0xe0000, 0xe007f],
];

function randomCodePoints(rng, n) {
  let s = '';
  for (let i = 0; i < n; i++) {
    const [lo, hi] = rng.pick(BLOCKS);
    s += String.fromCodePoint(rng.range(lo, hi));
  }
  return s;
}

const POOLS = [
  [ENGLISH, 30], [CODE, 6], [SCRIPTS, 12], [EMOJI, 5], [COMBINING, 6], [DIGITS, 6], [CONTRACTIONS, 5],
  [SPACES, 16], [CONTROLS, 3], [PUNCT, 8], [SPECIALS, 4],
];
const POOL_TOTAL = POOLS.reduce((a, p) => a + p[1], 0);

function atom(rng) {
  let r = rng.int(POOL_TOTAL + 4);
  if (r >= POOL_TOTAL) return randomCodePoints(rng, rng.range(1, 6));
  for (const [pool, w] of POOLS) {
    if (r < w) return rng.pick(pool);
    r -= w;
  }
  return '';
}

// A random text of about `target` UTF-16 units. Atoms are joined by a space
// most of the time so that the text looks like prose, but often not, so that
// the pools also meet without a separator.
function randomText(rng, target) {
  const parts = [];
  let len = 0;
  while (len < target) {
    const a = atom(rng);
    parts.push(a);
    len += a.length;
    if (rng.chance(0.6)) {
      parts.push(' ');
      len += 1;
    }
  }
  return parts.join('');
}

// Prose-like long text: mostly English and code with some of everything.
function longText(rng, targetBytes, mix) {
  const parts = [];
  let bytes = 0;
  while (bytes < targetBytes) {
    let s;
    const r = rng.next();
    if (r < mix.english) s = Array.from({ length: rng.range(5, 25) }, () => rng.pick(ENGLISH)).join(' ') + '. ';
    else if (r < mix.english + mix.code) s = rng.pick(CODE) + '\n';
    else s = randomText(rng, rng.range(10, 80)) + rng.pick(SPACES);
    parts.push(s);
    bytes += Buffer.byteLength(s, 'utf8');
  }
  return parts.join('');
}

module.exports = {
  Rng, randomText, longText, randomCodePoints,
  pools: { ENGLISH, CODE, SCRIPTS, EMOJI, COMBINING, DIGITS, CONTRACTIONS, SPACES, CONTROLS, PUNCT, SPECIALS },
};

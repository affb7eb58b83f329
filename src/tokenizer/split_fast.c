/*
 * split_fast.c: hand-written matchers for the Split regexes of the main
 * models (Llama-3, Qwen2/3, gpt-oss, DeepSeek-V3, GPT-2's ByteLevel regex).
 *
 * Each function returns the end of the match of its pattern starting exactly
 * at byte i (leftmost-first alternation, greedy quantifiers with the
 * backtracking the regex engine would do), or i when no alternative matches
 * there; the caller scans forward, as a regex search does. Character classes
 * come from unicode.h, i.e. the reference's own Unicode 16 classes, and \s is
 * White_Space. pretok.c selects a matcher only when the pattern string is
 * byte-identical to the one written here; the differential tests compare
 * the results with the reference.
 *
 * Why: PCRE2 JIT with these patterns runs at ~25 MB/s on this machine while
 * the whole encode budget at 10x the reference is a few ns per byte.
 */
#include <stdint.h>
#include <string.h>

#include "tokenizer/tokenizer_internal.h"
#include "tokenizer/unicode.h"

/* Class bits of the char at i (n > i), its length in *len. \r and \n get an
 * extra private bit so "[^\r\n...]" is one test. */
#define CR_LF (1u << 16)

static inline unsigned cls_at(const uint8_t *s, size_t i, size_t *len) {
  uint8_t b = s[i];
  if (b < 0x80) {
    *len = 1;
    unsigned k = kvidx__uc_blocks[0][b];
    if (b == '\r' || b == '\n')
      k |= CR_LF;
    return k;
  }
  uint32_t c;
  *len = kvidx__utf8_decode(s + i, &c);
  return kvidx__uc_class(c);
}

/* End of the run of chars matching any bit of `want` from i. */
static inline size_t run(const uint8_t *s, size_t n, size_t i, unsigned want) {
  size_t l;
  while (i < n && (cls_at(s, i, &l) & want))
    i += l;
  return i;
}

/* Same, but at most max chars. */
static inline size_t run_max(const uint8_t *s, size_t n, size_t i,
                             unsigned want, int max) {
  size_t l;
  while (max-- > 0 && i < n && (cls_at(s, i, &l) & want))
    i += l;
  return i;
}

/* End of the run of chars matching none of `avoid` from i. */
static inline size_t run_not(const uint8_t *s, size_t n, size_t i,
                             unsigned avoid) {
  size_t l;
  while (i < n && !(cls_at(s, i, &l) & avoid))
    i += l;
  return i;
}

/* (?i:'s|'t|'re|'ve|'m|'ll|'d) at i: end or i. Case folding as Oniguruma:
 * 's' also matches U+017F (long s, folds to s); 'k' is not involved. */
static size_t contraction(const uint8_t *s, size_t n, size_t i, int icase) {
  if (i >= n || s[i] != '\'' || i + 1 >= n)
    return i;
  uint8_t c = s[i + 1];
  if (icase && c >= 'A' && c <= 'Z')
    c = (uint8_t)(c + 32);
  if (c == 's' || c == 't' || c == 'm' || c == 'd')
    return i + 2;
  if (icase && s[i + 1] == 0xC5 && i + 2 < n && s[i + 2] == 0xBF)
    return i + 3; /* U+017F */
  if ((c == 'r' || c == 'v' || c == 'l') && i + 2 < n) {
    uint8_t d = s[i + 2];
    if (icase && d >= 'A' && d <= 'Z')
      d = (uint8_t)(d + 32);
    if ((c == 'l' && d == 'l') || (c != 'l' && d == 'e'))
      return i + 3;
  }
  return i;
}

/* The whitespace alternatives shared by all patterns:
 * \s*[\r\n]+ | \s+(?!\S) | \s+ (and for GPT-2 only the last two). */
static size_t whitespace_alts(const uint8_t *s, size_t n, size_t i,
                              int with_newline_alt) {
  size_t l;
  if (!(cls_at(s, i, &l) & KVIDX_UC_WS))
    return i;
  /* The whitespace run [i, j) and the end of its last \r or \n. */
  size_t j = i, last_nl_end = 0, last_start = i;
  while (j < n) {
    unsigned k = cls_at(s, j, &l);
    if (!(k & KVIDX_UC_WS))
      break;
    if (k & CR_LF)
      last_nl_end = j + l;
    last_start = j;
    j += l;
  }
  if (with_newline_alt && last_nl_end)
    return last_nl_end;
  if (j == n)
    return j; /* \s+(?!\S) at the end of the piece */
  if (last_start > i)
    return last_start; /* \s+(?!\S): give back the last char */
  return j;            /* \s+ */
}

/* Llama-3 / Qwen: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|
 * \p{N}{1,3} (Qwen: \p{N})| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 */
static size_t match_llama3(const uint8_t *s, size_t n, size_t i, int digits) {
  size_t e = contraction(s, n, i, 1);
  if (e > i)
    return e;
  size_t l, l2;
  unsigned k = cls_at(s, i, &l);
  if (k & KVIDX_UC_L)
    return run(s, n, i + l, KVIDX_UC_L);
  if (!(k & (CR_LF | KVIDX_UC_N)) && i + l < n &&
      (cls_at(s, i + l, &l2) & KVIDX_UC_L))
    return run(s, n, i + l + l2, KVIDX_UC_L);
  if (k & KVIDX_UC_N)
    return run_max(s, n, i + l, KVIDX_UC_N, digits - 1);
  /* ` ?[^\s\p{L}\p{N}]+[\r\n]*` */
  size_t p = i;
  if (s[i] == ' ' && i + 1 < n) {
    unsigned k2 = cls_at(s, i + 1, &l2);
    if (!(k2 & (KVIDX_UC_WS | KVIDX_UC_L | KVIDX_UC_N)))
      p = i + 1;
  }
  if (!(cls_at(s, p, &l) & (KVIDX_UC_WS | KVIDX_UC_L | KVIDX_UC_N))) {
    e = run_not(s, n, p, KVIDX_UC_WS | KVIDX_UC_L | KVIDX_UC_N);
    return run(s, n, e, CR_LF);
  }
  return whitespace_alts(s, n, i, 1);
}

#define O_UPPER                                                                \
  (KVIDX_UC_LU | KVIDX_UC_LT | KVIDX_UC_LM | KVIDX_UC_LO | KVIDX_UC_M)
#define O_LOWER (KVIDX_UC_LL | KVIDX_UC_LM | KVIDX_UC_LO | KVIDX_UC_M)

/* gpt-oss alternatives 1 and 2 (see the pattern in pretok.c). */
static size_t oss_words(const uint8_t *s, size_t n, size_t i) {
  size_t l;
  unsigned k0 = cls_at(s, i, &l);
  int can_opt = !(k0 & (CR_LF | KVIDX_UC_L | KVIDX_UC_N));
  /* Alt 1: opt? [U]* [W]+ contraction?. U* may give back chars: W+ starts
   * at the end of the U run if that char is Ll, else at the last char of
   * the run that is also in W (Lm, Lo or M). */
  for (int opt = can_opt; opt >= 0; opt--) {
    size_t q = opt ? i + l : i, lq;
    size_t last_uw = SIZE_MAX;
    unsigned kq = 0;
    while (q < n && ((kq = cls_at(s, q, &lq)) & O_UPPER)) {
      if (kq & O_LOWER)
        last_uw = q;
      q += lq;
    }
    size_t k = SIZE_MAX;
    if (q < n && (kq & O_LOWER))
      k = q;
    else if (last_uw != SIZE_MAX)
      k = last_uw;
    if (k != SIZE_MAX)
      return contraction(s, n, run(s, n, k, O_LOWER), 1);
  }
  /* Alt 2: opt? [U]+ [W]* contraction? */
  for (int opt = can_opt; opt >= 0; opt--) {
    size_t p = opt ? i + l : i, lq;
    if (p < n && (cls_at(s, p, &lq) & O_UPPER)) {
      size_t e = run(s, n, p, O_UPPER);
      e = run(s, n, e, O_LOWER);
      return contraction(s, n, e, 1);
    }
  }
  return i;
}

static size_t match_oss(const uint8_t *s, size_t n, size_t i) {
  size_t e = oss_words(s, n, i);
  if (e > i)
    return e;
  size_t l, l2;
  unsigned k = cls_at(s, i, &l);
  if (k & KVIDX_UC_N)
    return run_max(s, n, i + l, KVIDX_UC_N, 2);
  /* ` ?[^\s\p{L}\p{N}]+[\r\n/]*` */
  size_t p = i;
  if (s[i] == ' ' && i + 1 < n) {
    unsigned k2 = cls_at(s, i + 1, &l2);
    if (!(k2 & (KVIDX_UC_WS | KVIDX_UC_L | KVIDX_UC_N)))
      p = i + 1;
  }
  if (!(cls_at(s, p, &l) & (KVIDX_UC_WS | KVIDX_UC_L | KVIDX_UC_N))) {
    e = run_not(s, n, p, KVIDX_UC_WS | KVIDX_UC_L | KVIDX_UC_N);
    while (e < n && (s[e] == '\r' || s[e] == '\n' || s[e] == '/'))
      e++;
    return e;
  }
  return whitespace_alts(s, n, i, 1);
}

static int ascii_punct(uint8_t b) {
  return (b >= 0x21 && b <= 0x2F) || (b >= 0x3A && b <= 0x40) ||
         (b >= 0x5B && b <= 0x60) || (b >= 0x7B && b <= 0x7E);
}

static int ascii_alpha(uint8_t b) {
  return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z');
}

/* DeepSeek-V3: [ASCII punct][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+|
 * ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
static size_t match_ds_main(const uint8_t *s, size_t n, size_t i) {
  if (ascii_punct(s[i]) && i + 1 < n && ascii_alpha(s[i + 1])) {
    size_t e = i + 1;
    while (e < n && ascii_alpha(s[e]))
      e++;
    return e;
  }
  size_t l, l2;
  unsigned k = cls_at(s, i, &l);
  const unsigned LM = KVIDX_UC_L | KVIDX_UC_M;
  if (!(k & (CR_LF | KVIDX_UC_L | KVIDX_UC_P | KVIDX_UC_S)) && i + l < n &&
      (cls_at(s, i + l, &l2) & LM))
    return run(s, n, i + l, LM);
  if (k & LM)
    return run(s, n, i + l, LM);
  const unsigned PS = KVIDX_UC_P | KVIDX_UC_S;
  size_t p = i;
  if (s[i] == ' ' && i + 1 < n && (cls_at(s, i + 1, &l2) & PS))
    p = i + 1;
  if (cls_at(s, p, &l) & PS) {
    size_t e = run(s, n, p, PS);
    return run(s, n, e, CR_LF);
  }
  return whitespace_alts(s, n, i, 1);
}

/* GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|
 * \s+(?!\S)|\s+ */
static size_t match_gpt2(const uint8_t *s, size_t n, size_t i) {
  size_t e = contraction(s, n, i, 0);
  if (e > i)
    return e;
  size_t p = i, l;
  if (s[i] == ' ' && i + 1 < n)
    p = i + 1;
  for (int pass = 0; pass < 2; pass++) {
    if (p < n) {
      unsigned k = cls_at(s, p, &l);
      if (k & KVIDX_UC_L)
        return run(s, n, p, KVIDX_UC_L);
      if (k & KVIDX_UC_N)
        return run(s, n, p, KVIDX_UC_N);
      if (!(k & (KVIDX_UC_WS | KVIDX_UC_L | KVIDX_UC_N)))
        return run_not(s, n, p, KVIDX_UC_WS | KVIDX_UC_L | KVIDX_UC_N);
    }
    if (p == i)
      break;
    p = i; /* without the optional space */
  }
  return whitespace_alts(s, n, i, 0);
}

static int ds_cjk(uint32_t c) {
  return (c >= 0x4E00 && c <= 0x9FA5) || (c >= 0x3040 && c <= 0x30FF);
}

size_t kvidx__fast_match(int which, const uint8_t *s, size_t n, size_t i) {
  switch (which) {
  case KVIDX__FAST_L3:
    return match_llama3(s, n, i, 3);
  case KVIDX__FAST_QWEN:
    return match_llama3(s, n, i, 1);
  case KVIDX__FAST_OSS:
    return match_oss(s, n, i);
  case KVIDX__FAST_DIGITS3: {
    size_t l;
    if (!(cls_at(s, i, &l) & KVIDX_UC_N))
      return i;
    return run_max(s, n, i, KVIDX_UC_N, 3);
  }
  case KVIDX__FAST_DS_CJK: {
    size_t e = i;
    while (e < n) {
      uint32_t c;
      size_t l = kvidx__utf8_decode(s + e, &c);
      if (!ds_cjk(c))
        break;
      e += l;
    }
    return e;
  }
  case KVIDX__FAST_DS_MAIN:
    return match_ds_main(s, n, i);
  case KVIDX__FAST_GPT2:
    return match_gpt2(s, n, i);
  default:
    return i;
  }
}

/*
 * unicode.h: UTF-8 decoding and the character classes the tokenizer needs.
 *
 * The classes are those of the reference's regex engine (Oniguruma, Unicode
 * 16), measured on the reference itself by scripts/gen-unicode-tables.js and
 * stored as a two-stage table in unicode_tables.c. A class lookup is two
 * loads. Rust-side predicates (char::is_whitespace, is_numeric, the regex
 * crate's \w) come from the same table.
 */
#ifndef KVIDX_TOKENIZER_UNICODE_H
#define KVIDX_TOKENIZER_UNICODE_H

#include <stddef.h>
#include <stdint.h>

/* Class bits, in the order gen-unicode-tables.js writes them. */
enum {
  KVIDX_UC_L = 1u << 0,    /* \p{L} */
  KVIDX_UC_N = 1u << 1,    /* \p{N} */
  KVIDX_UC_LU = 1u << 2,   /* \p{Lu} */
  KVIDX_UC_LT = 1u << 3,   /* \p{Lt} */
  KVIDX_UC_LM = 1u << 4,   /* \p{Lm} */
  KVIDX_UC_LO = 1u << 5,   /* \p{Lo} */
  KVIDX_UC_LL = 1u << 6,   /* \p{Ll} */
  KVIDX_UC_M = 1u << 7,    /* \p{M} */
  KVIDX_UC_P = 1u << 8,    /* \p{P} */
  KVIDX_UC_S = 1u << 9,    /* \p{S} */
  KVIDX_UC_WS = 1u << 10,  /* \s = White_Space (Oniguruma and Rust agree) */
  KVIDX_UC_W = 1u << 11,   /* \w of the Rust regex crate */
  KVIDX_UC_NUM = 1u << 12, /* Rust char::is_numeric: Nd | Nl | No */
  KVIDX_UC_CC = 1u << 13,  /* Cc */
  KVIDX_UC_CF = 1u << 14,  /* Cf */
  KVIDX_UC_MN = 1u << 15,  /* Mn */
};

extern const uint16_t kvidx__uc_index[0x110000 / 256];
extern const uint16_t kvidx__uc_blocks[][256];

/* Class bits of code point c (0 for c > U+10FFFF). */
static inline unsigned kvidx__uc_class(uint32_t c) {
  if (c > 0x10FFFF)
    return 0;
  return kvidx__uc_blocks[kvidx__uc_index[c >> 8]][c & 0xFF];
}

/*
 * Decodes one code point of valid UTF-8 at s (at least one byte available,
 * the sequence complete: the text was validated on entry). Returns the
 * sequence length and stores the code point in *cp.
 */
static inline size_t kvidx__utf8_decode(const uint8_t *s, uint32_t *cp) {
  uint8_t b = s[0];
  if (b < 0x80) {
    *cp = b;
    return 1;
  }
  if (b < 0xE0) {
    *cp = ((uint32_t)(b & 0x1F) << 6) | (s[1] & 0x3Fu);
    return 2;
  }
  if (b < 0xF0) {
    *cp = ((uint32_t)(b & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) |
          (s[2] & 0x3Fu);
    return 3;
  }
  *cp = ((uint32_t)(b & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
        ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3Fu);
  return 4;
}

/* Length of the UTF-8 sequence starting with lead byte b (1 for others). */
static inline size_t kvidx__utf8_len(uint8_t b) {
  return b < 0xC0 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
}

/* Was c assigned after Unicode 9.0? (unicode_age.c) */
int kvidx__uc_after9(uint32_t c);

/* Categories as the reference's unicode_categories crate (Unicode 9.0) sees
 * them: is_other (Cc, Cf, Co; not Cn), is_punctuation, is_mark_nonspacing. */
static inline int kvidx__uc9_other(uint32_t c) {
  unsigned k = kvidx__uc_class(c);
  int co = (c >= 0xE000 && c <= 0xF8FF) || (c >= 0xF0000 && c <= 0xFFFFD) ||
           (c >= 0x100000 && c <= 0x10FFFD);
  return ((k & (KVIDX_UC_CC | KVIDX_UC_CF)) || co) &&
         (c < 0x80 || !kvidx__uc_after9(c));
}
static inline int kvidx__uc9_punct(uint32_t c) {
  return (kvidx__uc_class(c) & KVIDX_UC_P) &&
         (c < 0x80 || !kvidx__uc_after9(c));
}
static inline int kvidx__uc9_mn(uint32_t c) {
  return (kvidx__uc_class(c) & KVIDX_UC_MN) && !kvidx__uc_after9(c);
}

/* Encodes c into out (4 bytes room); returns the length. */
size_t kvidx__utf8_encode(uint32_t c, uint8_t *out);

/* Length of the longest valid UTF-8 prefix of s[0..len) (strict: no
 * overlongs, surrogates or code points above U+10FFFF). */
size_t kvidx__utf8_valid_prefix(const uint8_t *s, size_t len);

#endif

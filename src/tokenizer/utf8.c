/*
 * utf8.c: UTF-8 encoding and strict validation. Text entering the tokenizer
 * is validated once (invalid input is rejected with KVIDX_EUTF8, see
 * docs/tokenizer.md), so every later stage decodes without checks.
 */
#include "tokenizer/unicode.h"

size_t kvidx__utf8_encode(uint32_t c, uint8_t *out) {
  if (c < 0x80) {
    out[0] = (uint8_t)c;
    return 1;
  }
  if (c < 0x800) {
    out[0] = (uint8_t)(0xC0 | (c >> 6));
    out[1] = (uint8_t)(0x80 | (c & 0x3F));
    return 2;
  }
  if (c < 0x10000) {
    out[0] = (uint8_t)(0xE0 | (c >> 12));
    out[1] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
    out[2] = (uint8_t)(0x80 | (c & 0x3F));
    return 3;
  }
  out[0] = (uint8_t)(0xF0 | (c >> 18));
  out[1] = (uint8_t)(0x80 | ((c >> 12) & 0x3F));
  out[2] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
  out[3] = (uint8_t)(0x80 | (c & 0x3F));
  return 4;
}

size_t kvidx__utf8_valid_prefix(const uint8_t *s, size_t len) {
  size_t i = 0;
  while (i < len) {
    /* ASCII fast path: 8 bytes at a time. */
    while (i + 8 <= len) {
      uint64_t w;
      __builtin_memcpy(&w, s + i, 8);
      if (w & 0x8080808080808080ull)
        break;
      i += 8;
    }
    if (i >= len)
      break;
    uint8_t b = s[i];
    if (b < 0x80) {
      i++;
      continue;
    }
    size_t n;
    uint32_t min;
    if (b >= 0xC2 && b <= 0xDF) {
      n = 2;
      min = 0x80;
    } else if (b >= 0xE0 && b <= 0xEF) {
      n = 3;
      min = 0x800;
    } else if (b >= 0xF0 && b <= 0xF4) {
      n = 4;
      min = 0x10000;
    } else {
      return i;
    }
    if (i + n > len)
      return i;
    uint32_t c = b & (0x7Fu >> n);
    for (size_t k = 1; k < n; k++) {
      if ((s[i + k] & 0xC0) != 0x80)
        return i;
      c = (c << 6) | (s[i + k] & 0x3Fu);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
      return i;
    i += n;
  }
  return i;
}

/*
 * buf.c: growable byte buffer with sticky allocation failure (see buf.h).
 */
#include "server/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void kvidx__buf_init(kvidx__buf *b) {
  memset(b, 0, sizeof *b);
}

void kvidx__buf_free(kvidx__buf *b) {
  free(b->data);
  memset(b, 0, sizeof *b);
}

void kvidx__buf_reset(kvidx__buf *b) {
  b->len = 0;
  b->failed = 0;
}

static int grow(kvidx__buf *b, size_t extra) {
  if (b->failed)
    return -1;
  if (b->len + extra + 1 <= b->cap)
    return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + extra + 1)
    cap *= 2;
  char *d = realloc(b->data, cap);
  if (d == NULL) {
    b->failed = 1;
    return -1;
  }
  b->data = d;
  b->cap = cap;
  return 0;
}

void kvidx__buf_append(kvidx__buf *b, const char *s, size_t n) {
  if (grow(b, n))
    return;
  memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = '\0';
}

void kvidx__buf_puts(kvidx__buf *b, const char *s) {
  kvidx__buf_append(b, s, strlen(s));
}

void kvidx__buf_printf(kvidx__buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0 || grow(b, (size_t)n))
    return;
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

void kvidx__buf_u64(kvidx__buf *b, uint64_t v) {
  char tmp[24];
  size_t i = sizeof tmp;
  do {
    tmp[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  kvidx__buf_append(b, tmp + i, sizeof tmp - i);
}

void kvidx__buf_double(kvidx__buf *b, double v) {
  if (v >= 0 && v < 1e15 && v == (double)(uint64_t)v) {
    kvidx__buf_u64(b, (uint64_t)v);
    return;
  }
  char tmp[32];
  for (int prec = 6; prec <= 17; prec++) {
    snprintf(tmp, sizeof tmp, "%.*g", prec, v);
    if (strtod(tmp, NULL) == v)
      break;
  }
  kvidx__buf_puts(b, tmp);
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when invalid. */
static size_t utf8_len(const unsigned char *s, size_t n) {
  unsigned char c = s[0];
  size_t len;
  uint32_t min;
  if (c < 0x80)
    return 1;
  if (c >= 0xC2 && c <= 0xDF)
    len = 2, min = 0x80;
  else if (c >= 0xE0 && c <= 0xEF)
    len = 3, min = 0x800;
  else if (c >= 0xF0 && c <= 0xF4)
    len = 4, min = 0x10000;
  else
    return 0;
  if (n < len)
    return 0;
  uint32_t cp = c & (0x3Fu >> (len - 1));
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80)
      return 0;
    cp = cp << 6 | (s[i] & 0x3Fu);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return len;
}

void kvidx__buf_json_str(kvidx__buf *b, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char *u = (const unsigned char *)s;
  kvidx__buf_append(b, "\"", 1);
  size_t i = 0;
  while (i < n) {
    size_t run = i;
    while (run < n && u[run] >= 0x20 && u[run] < 0x80 && u[run] != '"' &&
           u[run] != '\\')
      run++;
    kvidx__buf_append(b, s + i, run - i);
    i = run;
    if (i >= n)
      break;
    unsigned char c = u[i];
    if (c == '"' || c == '\\') {
      char esc[2] = {'\\', (char)c};
      kvidx__buf_append(b, esc, 2);
      i++;
    } else if (c < 0x20) {
      char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
      kvidx__buf_append(b, esc, 6);
      i++;
    } else {
      size_t len = utf8_len(u + i, n - i);
      if (len == 0) {
        kvidx__buf_append(b, "\\ufffd", 6);
        i++;
      } else {
        kvidx__buf_append(b, s + i, len);
        i += len;
      }
    }
  }
  kvidx__buf_append(b, "\"", 1);
}

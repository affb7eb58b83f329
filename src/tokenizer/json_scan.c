/*
 * json_scan.c: a minimal JSON scanner for the two big members of a
 * tokenizer.json, model.vocab and model.merges.
 *
 * Why not jansson for everything: building a jansson DOM of Qwen3's 11 MB file
 * takes ~230 ms plus ~45 ms to free it (measured on this machine), over the
 * whole 300 ms load budget. The scanner finds the byte spans of the two
 * members in one pass without allocating; load.c parses the rest of the file
 * (a few kB once the spans are blanked out) with jansson, and reads the spans
 * with the iterators below, which decode strings into a reused buffer.
 *
 * Every function checks bounds on every byte; malformed input is an error
 * with a message giving the byte offset, never a read past the end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json_escape.h"
#include "tokenizer/tokenizer_internal.h"
#include "tokenizer/unicode.h"

#define MAX_DEPTH 64

typedef struct {
  const char *s;
  size_t n, i;
  kvidx__errbuf *err;
} scan;

static int fail(scan *sc, const char *what) {
  kvidx__errf(sc->err, "tokenizer.json: %s at byte %zu", what, sc->i);
  return KVIDX_EPARSE;
}

static void ws(scan *sc) {
  while (sc->i < sc->n) {
    char c = sc->s[sc->i];
    if (c != ' ' && c != '\n' && c != '\r' && c != '\t')
      break;
    sc->i++;
  }
}

static int expect(scan *sc, char c) {
  ws(sc);
  if (sc->i >= sc->n || sc->s[sc->i] != c) {
    char msg[32];
    snprintf(msg, sizeof msg, "expected '%c'", c);
    return fail(sc, msg);
  }
  sc->i++;
  return 0;
}

static int hex4(scan *sc, uint32_t *out) {
  if (sc->i + 4 > sc->n)
    return fail(sc, "truncated \\u escape");
  uint32_t v = 0;
  for (int k = 0; k < 4; k++) {
    char c = sc->s[sc->i++];
    v <<= 4;
    if (c >= '0' && c <= '9')
      v |= (uint32_t)(c - '0');
    else if (c >= 'a' && c <= 'f')
      v |= (uint32_t)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
      v |= (uint32_t)(c - 'A' + 10);
    else
      return fail(sc, "bad \\u escape");
  }
  *out = v;
  return 0;
}

/* Decodes a string at sc->i (which must be '"') into buf (when not NULL;
 * cap bytes; longer strings are an error). Without buf it only skips. */
static int string(scan *sc, char *buf, size_t cap, size_t *out_len) {
  ws(sc);
  if (sc->i >= sc->n || sc->s[sc->i] != '"')
    return fail(sc, "expected a string");
  sc->i++;
  size_t o = 0;
  for (;;) {
    /* Copy the run of plain bytes up to the next quote or backslash. */
    size_t start = sc->i;
    while (sc->i < sc->n) {
      unsigned char c = (unsigned char)sc->s[sc->i];
      if (c == '"' || c == '\\' || c < 0x20)
        break;
      sc->i++;
    }
    size_t run = sc->i - start;
    if (buf) {
      if (o + run > cap)
        return fail(sc, "string too long");
      memcpy(buf + o, sc->s + start, run);
    }
    o += run;
    if (sc->i >= sc->n)
      return fail(sc, "unterminated string");
    char c = sc->s[sc->i++];
    if (c == '"')
      break;
    if (c != '\\')
      return fail(sc, "control character in string");
    if (sc->i >= sc->n)
      return fail(sc, "unterminated string");
    char e = sc->s[sc->i++];
    uint8_t tmp[4];
    size_t tl = 1;
    if (e == 'u') {
      uint32_t cp;
      int rc = hex4(sc, &cp);
      if (rc)
        return rc;
      if (cp >= 0xD800 && cp <= 0xDBFF) {
        uint32_t lo;
        if (sc->i + 2 > sc->n || sc->s[sc->i] != '\\' ||
            sc->s[sc->i + 1] != 'u')
          return fail(sc, "lone surrogate in \\u escape");
        sc->i += 2;
        if ((rc = hex4(sc, &lo)) != 0)
          return rc;
        if (lo < 0xDC00 || lo > 0xDFFF)
          return fail(sc, "bad surrogate pair");
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
        return fail(sc, "lone surrogate in \\u escape");
      }
      tl = kvidx__utf8_encode(cp, tmp);
    } else {
      int byte = kvidx__json_simple_escape(e);
      if (byte < 0)
        return fail(sc, "bad escape");
      tmp[0] = (uint8_t)byte;
    }
    if (buf) {
      if (o + tl > cap)
        return fail(sc, "string too long");
      memcpy(buf + o, tmp, tl);
    }
    o += tl;
  }
  if (buf && kvidx__utf8_valid_prefix((const uint8_t *)buf, o) != o)
    return fail(sc, "invalid UTF-8 in string");
  if (out_len)
    *out_len = o;
  return 0;
}

static int skip_value(scan *sc, int depth);

static int skip_container(scan *sc, int depth, char close, int is_obj) {
  sc->i++;
  ws(sc);
  if (sc->i < sc->n && sc->s[sc->i] == close) {
    sc->i++;
    return 0;
  }
  for (;;) {
    int rc;
    if (is_obj) {
      if ((rc = string(sc, NULL, 0, NULL)) != 0 || (rc = expect(sc, ':')) != 0)
        return rc;
    }
    if ((rc = skip_value(sc, depth + 1)) != 0)
      return rc;
    ws(sc);
    if (sc->i >= sc->n)
      return fail(sc, "truncated");
    char c = sc->s[sc->i++];
    if (c == close)
      return 0;
    if (c != ',')
      return fail(sc, "expected ',' or end of container");
  }
}

static int skip_value(scan *sc, int depth) {
  if (depth > MAX_DEPTH)
    return fail(sc, "nesting too deep");
  ws(sc);
  if (sc->i >= sc->n)
    return fail(sc, "truncated");
  char c = sc->s[sc->i];
  if (c == '"')
    return string(sc, NULL, 0, NULL);
  if (c == '{')
    return skip_container(sc, depth, '}', 1);
  if (c == '[')
    return skip_container(sc, depth, ']', 0);
  /* number, true, false, null: a run of literal characters. */
  size_t start = sc->i;
  while (sc->i < sc->n) {
    char d = sc->s[sc->i];
    if (!((d >= '0' && d <= '9') || (d >= 'a' && d <= 'z') || d == '-' ||
          d == '+' || d == '.' || d == 'E'))
      break;
    sc->i++;
  }
  if (sc->i == start)
    return fail(sc, "unexpected character");
  return 0;
}

/* Is the key at sc->i exactly `name`? Consumes the key. */
static int key_is(scan *sc, const char *name, int *is) {
  char buf[64];
  size_t len = 0;
  size_t save = sc->i;
  int rc = string(sc, buf, sizeof buf, &len);
  if (rc == KVIDX_EPARSE && sc->i > save) {
    /* Longer than any name we look for: skip it normally. */
    sc->i = save;
    *is = 0;
    return string(sc, NULL, 0, NULL);
  }
  if (rc)
    return rc;
  *is = len == strlen(name) && memcmp(buf, name, len) == 0;
  return 0;
}

static int scan_model(scan *sc, kvidx__json_spans *out) {
  ws(sc);
  if (sc->i >= sc->n || sc->s[sc->i] != '{')
    return skip_value(sc, 1);
  sc->i++;
  ws(sc);
  if (sc->i < sc->n && sc->s[sc->i] == '}') {
    sc->i++;
    return 0;
  }
  for (;;) {
    int is_vocab, is_merges, rc;
    size_t save = sc->i;
    if ((rc = key_is(sc, "vocab", &is_vocab)) != 0)
      return rc;
    size_t after = sc->i;
    sc->i = save;
    if ((rc = key_is(sc, "merges", &is_merges)) != 0)
      return rc;
    sc->i = after;
    if ((rc = expect(sc, ':')) != 0)
      return rc;
    ws(sc);
    size_t vs = sc->i;
    if ((rc = skip_value(sc, 2)) != 0)
      return rc;
    if (is_vocab) {
      out->vocab_start = vs;
      out->vocab_end = sc->i;
    } else if (is_merges) {
      out->merges_start = vs;
      out->merges_end = sc->i;
    }
    ws(sc);
    if (sc->i >= sc->n)
      return fail(sc, "truncated");
    char c = sc->s[sc->i++];
    if (c == '}')
      return 0;
    if (c != ',')
      return fail(sc, "expected ',' or '}'");
  }
}

int kvidx__json_find_spans(const char *s, size_t n, kvidx__json_spans *out,
                           kvidx__errbuf *err) {
  scan sc = {s, n, 0, err};
  memset(out, 0, sizeof *out);
  int rc = expect(&sc, '{');
  if (rc)
    return rc;
  ws(&sc);
  if (sc.i < n && s[sc.i] == '}')
    return 0;
  for (;;) {
    int is_model;
    if ((rc = key_is(&sc, "model", &is_model)) != 0 ||
        (rc = expect(&sc, ':')) != 0)
      return rc;
    rc = is_model ? scan_model(&sc, out) : skip_value(&sc, 1);
    if (rc)
      return rc;
    ws(&sc);
    if (sc.i >= n)
      return fail(&sc, "truncated");
    char c = s[sc.i++];
    if (c == '}')
      break;
    if (c != ',')
      return fail(&sc, "expected ',' or '}'");
  }
  ws(&sc);
  if (sc.i != n)
    return fail(&sc, "trailing data");
  return 0;
}

static int parse_int(scan *sc, int64_t *v) {
  ws(sc);
  size_t start = sc->i;
  int64_t x = 0;
  while (sc->i < sc->n && sc->s[sc->i] >= '0' && sc->s[sc->i] <= '9') {
    if (x > (int64_t)UINT32_MAX)
      return fail(sc, "id out of range");
    x = x * 10 + (sc->s[sc->i] - '0');
    sc->i++;
  }
  if (sc->i == start)
    return fail(sc, "expected a non-negative integer id");
  if (sc->i < sc->n &&
      (sc->s[sc->i] == '.' || sc->s[sc->i] == 'e' || sc->s[sc->i] == 'E'))
    return fail(sc, "expected an integer id");
  *v = x;
  return 0;
}

int kvidx__json_each_vocab(const char *s, size_t n,
                           int (*cb)(void *ud, const char *k, size_t klen,
                                     int64_t v),
                           void *ud, kvidx__errbuf *err) {
  scan sc = {s, n, 0, err};
  char *buf = malloc(KVIDX_TOK_MAX_TOKEN_BYTES);
  if (!buf)
    return KVIDX_ENOMEM;
  int rc = expect(&sc, '{');
  ws(&sc);
  if (!rc && sc.i < n && s[sc.i] == '}') {
    free(buf);
    return 0;
  }
  while (!rc) {
    size_t len;
    int64_t v;
    if ((rc = string(&sc, buf, KVIDX_TOK_MAX_TOKEN_BYTES, &len)) != 0 ||
        (rc = expect(&sc, ':')) != 0 || (rc = parse_int(&sc, &v)) != 0)
      break;
    if ((rc = cb(ud, buf, len, v)) != 0)
      break;
    ws(&sc);
    if (sc.i >= n) {
      rc = fail(&sc, "truncated vocab");
      break;
    }
    char c = s[sc.i++];
    if (c == '}')
      break;
    if (c != ',')
      rc = fail(&sc, "expected ',' or '}' in vocab");
  }
  free(buf);
  return rc;
}

int kvidx__json_each_merge(const char *s, size_t n,
                           int (*cb)(void *ud, const char *a, size_t alen,
                                     const char *b, size_t blen),
                           void *ud, kvidx__errbuf *err) {
  scan sc = {s, n, 0, err};
  char *buf = malloc(2 * KVIDX_TOK_MAX_TOKEN_BYTES);
  if (!buf)
    return KVIDX_ENOMEM;
  char *b2 = buf + KVIDX_TOK_MAX_TOKEN_BYTES;
  int rc = expect(&sc, '[');
  ws(&sc);
  if (!rc && sc.i < n && s[sc.i] == ']') {
    free(buf);
    return 0;
  }
  while (!rc) {
    size_t la, lb;
    ws(&sc);
    if (sc.i < n && s[sc.i] == '[') {
      sc.i++;
      if ((rc = string(&sc, buf, KVIDX_TOK_MAX_TOKEN_BYTES, &la)) != 0 ||
          (rc = expect(&sc, ',')) != 0 ||
          (rc = string(&sc, b2, KVIDX_TOK_MAX_TOKEN_BYTES, &lb)) != 0 ||
          (rc = expect(&sc, ']')) != 0)
        break;
      rc = cb(ud, buf, la, b2, lb);
    } else {
      size_t len;
      if ((rc = string(&sc, buf, KVIDX_TOK_MAX_TOKEN_BYTES, &len)) != 0)
        break;
      /* "a b": exactly two parts separated by one space. */
      char *sp = memchr(buf, ' ', len);
      if (!sp || memchr(sp + 1, ' ', len - (size_t)(sp - buf) - 1)) {
        rc = fail(&sc, "merge is not two space-separated tokens");
        break;
      }
      la = (size_t)(sp - buf);
      rc = cb(ud, buf, la, sp + 1, len - la - 1);
    }
    if (rc)
      break;
    ws(&sc);
    if (sc.i >= n) {
      rc = fail(&sc, "truncated merges");
      break;
    }
    char c = s[sc.i++];
    if (c == ']')
      break;
    if (c != ',')
      rc = fail(&sc, "expected ',' or ']' in merges");
  }
  free(buf);
  return rc;
}

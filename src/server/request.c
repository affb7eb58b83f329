/*
 * request.c: single-pass parser of the /v1/score and /v1/tokenize bodies
 * (see request.h for why it is not jansson).
 *
 * Buffers are sized from the body length before parsing starts, so pointers
 * handed out during the parse never move: the unescaped strings together are
 * never longer than the body plus one NUL each, and an array of n numbers or
 * strings needs at least 2n - 1 bytes of body. Growth happens only when a
 * request is bigger than any earlier one on the same thread.
 */
#include "server/request.h"
#include "common/json_escape.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  const char *p, *start, *end;
  kvidx__request *r;
  size_t max_tokens, max_pods;
} cursor;

static int fail(cursor *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(cursor *c, int status, const char *fmt, ...) {
  char what[120];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  snprintf(c->r->error, sizeof c->r->error, "%s (at byte %zu)", what,
           (size_t)(c->p - c->start));
  return status;
}

static void skip_ws(cursor *c) {
  while (c->p < c->end &&
         (*c->p == ' ' || *c->p == '\n' || *c->p == '\r' || *c->p == '\t'))
    c->p++;
}

static int hex4(const char *s, unsigned *out) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char ch = s[i];
    unsigned d;
    if (ch >= '0' && ch <= '9')
      d = (unsigned)(ch - '0');
    else if (ch >= 'a' && ch <= 'f')
      d = (unsigned)(ch - 'a' + 10);
    else if (ch >= 'A' && ch <= 'F')
      d = (unsigned)(ch - 'A' + 10);
    else
      return -1;
    v = v << 4 | d;
  }
  *out = v;
  return 0;
}

static size_t put_utf8(char *o, unsigned cp) {
  if (cp < 0x80) {
    o[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (char)(0xC0 | cp >> 6);
    o[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (char)(0xE0 | cp >> 12);
    o[1] = (char)(0x80 | (cp >> 6 & 0x3F));
    o[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (char)(0xF0 | cp >> 18);
  o[1] = (char)(0x80 | (cp >> 12 & 0x3F));
  o[2] = (char)(0x80 | (cp >> 6 & 0x3F));
  o[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* Decodes one \u escape (c->p after the 'u'), with surrogate pairs. */
static int unicode_escape(cursor *c, char *o, size_t *n) {
  unsigned cp, lo;
  if (c->end - c->p < 4 || hex4(c->p, &cp))
    return fail(c, KVIDX_REQ_BAD_JSON, "bad \\u escape");
  c->p += 4;
  if (cp >= 0xDC00 && cp <= 0xDFFF)
    return fail(c, KVIDX_REQ_BAD_JSON, "lone low surrogate in \\u escape");
  if (cp >= 0xD800 && cp <= 0xDBFF) {
    if (c->end - c->p < 6 || c->p[0] != '\\' || c->p[1] != 'u' ||
        hex4(c->p + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF)
      return fail(c, KVIDX_REQ_BAD_JSON, "lone high surrogate in \\u escape");
    c->p += 6;
    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
  }
  *n = put_utf8(o, cp);
  return 0;
}

/*
 * Parses a string at c->p (on the opening quote). When keep, the unescaped
 * bytes + NUL are appended to strbuf and out, out_len describe them.
 */
static int parse_string(cursor *c, int keep, const char **out,
                        size_t *out_len) {
  kvidx__request *r = c->r;
  char *o = r->strbuf_ + r->strbuf_len_;
  size_t n = 0;
  c->p++; /* opening quote */
  for (;;) {
    /* Copy the run of plain bytes in one go: most strings have no escapes. */
    const char *run = c->p;
    while (c->p < c->end && *c->p != '"' && *c->p != '\\' &&
           (unsigned char)*c->p >= 0x20)
      c->p++;
    if (keep)
      memcpy(o + n, run, (size_t)(c->p - run));
    n += (size_t)(c->p - run);
    if (c->p >= c->end)
      return fail(c, KVIDX_REQ_BAD_JSON, "unterminated string");
    char ch = *c->p;
    if (ch == '"') {
      c->p++;
      break;
    }
    if (ch != '\\')
      return fail(c, KVIDX_REQ_BAD_JSON, "control character in string");
    if (++c->p >= c->end)
      return fail(c, KVIDX_REQ_BAD_JSON, "unterminated string");
    char esc = *c->p++;
    char tmp[4];
    size_t m = 1;
    if (esc == 'u') {
      int rc = unicode_escape(c, tmp, &m);
      if (rc)
        return rc;
    } else {
      int byte = kvidx__json_simple_escape(esc);
      if (byte < 0) {
        c->p--;
        return fail(c, KVIDX_REQ_BAD_JSON, "bad escape in string");
      }
      tmp[0] = (char)byte;
    }
    if (keep)
      memcpy(o + n, tmp, m);
    n += m;
  }
  if (keep) {
    o[n] = '\0';
    r->strbuf_len_ += n + 1;
    *out = o;
    *out_len = n;
  }
  return 0;
}

/* Skips a JSON number (grammar checked). */
static int skip_number(cursor *c) {
  const char *p = c->p;
  if (p < c->end && *p == '-')
    p++;
  if (p >= c->end || *p < '0' || *p > '9')
    return fail(c, KVIDX_REQ_BAD_JSON, "invalid value");
  if (*p == '0')
    p++;
  else
    while (p < c->end && *p >= '0' && *p <= '9')
      p++;
  if (p < c->end && *p == '.') {
    p++;
    if (p >= c->end || *p < '0' || *p > '9')
      return fail(c, KVIDX_REQ_BAD_JSON, "invalid number");
    while (p < c->end && *p >= '0' && *p <= '9')
      p++;
  }
  if (p < c->end && (*p == 'e' || *p == 'E')) {
    p++;
    if (p < c->end && (*p == '+' || *p == '-'))
      p++;
    if (p >= c->end || *p < '0' || *p > '9')
      return fail(c, KVIDX_REQ_BAD_JSON, "invalid number");
    while (p < c->end && *p >= '0' && *p <= '9')
      p++;
  }
  c->p = p;
  return 0;
}

static int skip_literal(cursor *c, const char *lit) {
  size_t n = strlen(lit);
  if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
    return fail(c, KVIDX_REQ_BAD_JSON, "invalid value");
  c->p += n;
  return 0;
}

static int skip_value(cursor *c, int depth);

/* Skips an array or object (c->p on '[' or '{'). */
static int skip_container(cursor *c, int depth) {
  char close = *c->p == '[' ? ']' : '}';
  int is_obj = close == '}';
  if (depth >= KVIDX_REQUEST_MAX_DEPTH)
    return fail(c, KVIDX_REQ_BAD_JSON, "nesting deeper than %d",
                KVIDX_REQUEST_MAX_DEPTH);
  c->p++;
  skip_ws(c);
  if (c->p < c->end && *c->p == close) {
    c->p++;
    return 0;
  }
  for (;;) {
    int rc;
    skip_ws(c);
    if (is_obj) {
      if (c->p >= c->end || *c->p != '"')
        return fail(c, KVIDX_REQ_BAD_JSON, "expected a key");
      if ((rc = parse_string(c, 0, NULL, NULL)))
        return rc;
      skip_ws(c);
      if (c->p >= c->end || *c->p != ':')
        return fail(c, KVIDX_REQ_BAD_JSON, "expected ':'");
      c->p++;
      skip_ws(c);
    }
    if ((rc = skip_value(c, depth + 1)))
      return rc;
    skip_ws(c);
    if (c->p < c->end && *c->p == ',') {
      c->p++;
      continue;
    }
    if (c->p < c->end && *c->p == close) {
      c->p++;
      return 0;
    }
    return fail(c, KVIDX_REQ_BAD_JSON, "expected ',' or '%c'", close);
  }
}

static int skip_value(cursor *c, int depth) {
  if (c->p >= c->end)
    return fail(c, KVIDX_REQ_BAD_JSON, "unexpected end of input");
  switch (*c->p) {
  case '"':
    return parse_string(c, 0, NULL, NULL);
  case '{':
  case '[':
    return skip_container(c, depth);
  case 't':
    return skip_literal(c, "true");
  case 'f':
    return skip_literal(c, "false");
  case 'n':
    return skip_literal(c, "null");
  default:
    return skip_number(c);
  }
}

/* A token id: a JSON integer in [0, 2^32). The fast path of the parser. */
static int parse_token(cursor *c, uint32_t *out) {
  const char *p = c->p;
  if (p < c->end && *p == '-') {
    if (skip_number(c) == 0)
      return fail(c, KVIDX_REQ_BAD_FIELD,
                  "token_ids: negative token id (expected integers in "
                  "[0, 4294967295])");
    return KVIDX_REQ_BAD_JSON;
  }
  uint64_t v = 0;
  const char *digits = p;
  while (p < c->end && *p >= '0' && *p <= '9' && p - digits < 11)
    v = v * 10 + (uint64_t)(*p++ - '0');
  int more = p < c->end &&
             (*p == '.' || *p == 'e' || *p == 'E' || (*p >= '0' && *p <= '9'));
  if (p == digits || (digits[0] == '0' && p - digits > 1) || more ||
      v > UINT32_MAX) {
    if (skip_number(c))
      return KVIDX_REQ_BAD_JSON;
    return fail(c, KVIDX_REQ_BAD_FIELD,
                "token_ids: expected integers in [0, 4294967295]");
  }
  c->p = p;
  *out = (uint32_t)v;
  return 0;
}

static int is_ws(char ch) {
  return ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t';
}

/*
 * SWAR decimal parsing (8 bytes at a time, no per-digit branch): reads the 8
 * bytes at p (the caller guarantees they exist), finds the run of leading
 * ASCII digits and converts it. Returns the run length (0..8); *out is set
 * when it is 1..7. A non-digit below '0' borrows into the bytes above it and
 * one above '9' carries into them, but only bytes after the first non-digit
 * are disturbed, and only the first one matters.
 */
static int swar_digits(const char *p, uint64_t *out) {
  uint64_t chunk;
  memcpy(&chunk, p, 8); /* little-endian: p[0] is the low byte */
  uint64_t nondigit =
      ((chunk + 0x4646464646464646ull) | (chunk - 0x3030303030303030ull)) &
      0x8080808080808080ull;
  int len = nondigit ? __builtin_ctzll(nondigit) / 8 : 8;
  if (len == 0 || len == 8)
    return len;
  uint64_t v = (chunk - 0x3030303030303030ull) << (8 * (8 - len));
  v = (v * 10 + (v >> 8)) & 0x00FF00FF00FF00FFull;
  v = (v * 100 + (v >> 16)) & 0x0000FFFF0000FFFFull;
  v = (v * 10000 + (v >> 32)) & 0xFFFFFFFFull;
  *out = v;
  return len;
}

/*
 * One id of a fast-path segment at *pp (segment end seg_end, buffer end
 * end): digits, then optional whitespace and one ',' unless the segment ends.
 * Returns 1 and advances *pp, 0 at the segment's end, -1 on anything the
 * careful parser should look at (which then also produces the error).
 */
static inline int fast_id(const char **pp, const char *seg_end, const char *end,
                          uint32_t *out) {
  const char *p = *pp;
  while (p < seg_end && is_ws(*p))
    p++;
  if (p >= seg_end)
    return 0;
  unsigned d = (unsigned)(unsigned char)*p - '0';
  if (d > 9)
    return -1;
  uint64_t v;
  int len = end - p >= 8 ? swar_digits(p, &v) : 0;
  if (len > 0 && len < 8 && (*p != '0' || len == 1)) {
    p += len;
  } else {
    const char *start = p++;
    v = d;
    while (p < seg_end && (d = (unsigned)(unsigned char)*p - '0') <= 9 &&
           p - start < 11) {
      v = v * 10 + d;
      p++;
    }
    if (v > UINT32_MAX || (*start == '0' && p - start > 1))
      return -1;
  }
  if (p < seg_end && (unsigned)(unsigned char)*p - '0' <= 9)
    return -1;
  while (p < seg_end && is_ws(*p))
    p++;
  if (p < seg_end) {
    if (*p != ',')
      return -1;
    p++;
    /* a ',' must be followed by another id in this segment */
    const char *q = p;
    while (q < seg_end && is_ws(*q))
      q++;
    if (q >= seg_end)
      return -1;
  }
  *out = (uint32_t)v;
  *pp = p;
  return 1;
}

/*
 * Fast path for long arrays of plain ids: the array is cut in two at a
 * comma near its middle and both halves are parsed in the same loop, so the
 * two chains of dependent loads (each id's position depends on the previous
 * id's length) overlap. Returns the number of ids (the array's ']' consumed)
 * or -1 to let the careful loop handle the array (unusual input, errors,
 * too many ids).
 */
static long parse_ids_two_way(cursor *c) {
  kvidx__request *r = c->r;
  const char *open = c->p, *end = c->end;
  const char *close = memchr(open, ']', (size_t)(end - open));
  if (close == NULL || close - open < 256)
    return -1;
  const char *split = memchr(open + (close - open) / 2, ',',
                             (size_t)(close - (open + (close - open) / 2)));
  if (split == NULL)
    return -1;
  const char *a = open + 1, *b = split + 1;
  uint32_t *oa = r->tokens_, *ob = r->tokens2_;
  size_t na = 0, nb = 0, cap = r->tokens_cap_;
  int ra = 1, rb = 1;
  while (ra > 0 && rb > 0 && na < cap && nb < cap) {
    ra = fast_id(&a, split, end, &oa[na]);
    rb = fast_id(&b, close, end, &ob[nb]);
    na += ra > 0;
    nb += rb > 0;
  }
  while (ra > 0 && na < cap)
    na += (ra = fast_id(&a, split, end, &oa[na])) > 0;
  while (rb > 0 && nb < cap)
    nb += (rb = fast_id(&b, close, end, &ob[nb])) > 0;
  /* Both halves must end exactly at their ends, each non-empty. */
  if (ra != 0 || rb != 0 || na == 0 || nb == 0 || na + nb > c->max_tokens ||
      na + nb > cap)
    return -1;
  memcpy(oa + na, ob, nb * sizeof *ob);
  r->n_tokens = na + nb;
  r->has_token_ids = 1;
  r->token_ids = r->tokens_;
  c->p = close + 1;
  return (long)(na + nb);
}

/*
 * The token_ids array: the hot loop of the whole read path (8,192 ids per
 * typical request). Plain decimal integers are handled inline with local
 * cursor variables; anything unusual (a sign, a fraction, an exponent, a
 * non-number) leaves the loop for parse_token's careful path, which produces
 * the error message.
 */
static int parse_token_ids(cursor *c) {
  kvidx__request *r = c->r;
  if (*c->p != '[')
    return fail(c, KVIDX_REQ_BAD_FIELD, "token_ids: expected an array");
  if (parse_ids_two_way(c) >= 0)
    return 0;
  const char *p = c->p + 1, *end = c->end;
  uint32_t *out = r->tokens_;
  size_t n = 0, max = c->max_tokens;
  r->n_tokens = 0;
  r->has_token_ids = 1;
  r->token_ids = r->tokens_;
  while (p < end && is_ws(*p))
    p++;
  if (p < end && *p == ']') {
    c->p = p + 1;
    return 0;
  }
  for (;;) {
    while (p < end && is_ws(*p))
      p++;
    c->p = p;
    if (p >= end)
      return fail(c, KVIDX_REQ_BAD_JSON, "unterminated array");
    unsigned d = (unsigned)(unsigned char)*p - '0';
    if (d > 9 || n >= max) {
      if (n >= max)
        return fail(c, KVIDX_REQ_TOO_MANY, "token_ids: more than %zu tokens",
                    max);
      if (*p == '-') {
        uint32_t ignored;
        return parse_token(c, &ignored);
      }
      int rc = skip_value(c, 1);
      return rc ? rc
                : fail(c, KVIDX_REQ_BAD_FIELD,
                       "token_ids: expected integers in [0, 4294967295]");
    }
    uint64_t v;
    const char *start = p;
    int len = end - p >= 8 ? swar_digits(p, &v) : 0;
    if (len > 0 && len < 8 && (*p != '0' || len == 1)) {
      p += len; /* p[len] is known not to be a digit */
      if (*p == '.' || *p == 'e' || *p == 'E') {
        uint32_t ignored;
        return parse_token(c, &ignored);
      }
    } else {
      /* Short tail of the body, 8+ digits or a leading zero: byte loop. */
      v = d;
      p++;
      while (p < end && (d = (unsigned)(unsigned char)*p - '0') <= 9 &&
             p - start < 11) {
        v = v * 10 + d;
        p++;
      }
      if (v > UINT32_MAX || (*start == '0' && p - start > 1) ||
          (p < end && (*p == '.' || *p == 'e' || *p == 'E' ||
                       (unsigned)(unsigned char)*p - '0' <= 9))) {
        uint32_t ignored;
        return parse_token(c, &ignored); /* reports the exact error */
      }
    }
    out[n++] = (uint32_t)v;
    r->n_tokens = n;
    while (p < end && is_ws(*p))
      p++;
    if (p < end && *p == ',') {
      p++;
      continue;
    }
    if (p < end && *p == ']') {
      c->p = p + 1;
      return 0;
    }
    c->p = p;
    return fail(c, KVIDX_REQ_BAD_JSON, "expected ',' or ']'");
  }
}

static int parse_pods(cursor *c) {
  kvidx__request *r = c->r;
  if (*c->p != '[')
    return fail(c, KVIDX_REQ_BAD_FIELD, "pods: expected an array of strings");
  c->p++;
  r->n_pods = 0;
  r->pods = r->pods_;
  skip_ws(c);
  if (c->p < c->end && *c->p == ']') {
    c->p++;
    return 0;
  }
  for (;;) {
    skip_ws(c);
    if (c->p >= c->end)
      return fail(c, KVIDX_REQ_BAD_JSON, "unterminated array");
    if (*c->p != '"') {
      int rc = skip_value(c, 1);
      return rc ? rc
                : fail(c, KVIDX_REQ_BAD_FIELD,
                       "pods: expected an array of strings");
    }
    if (r->n_pods >= c->max_pods)
      return fail(c, KVIDX_REQ_TOO_MANY, "pods: more than %zu pods",
                  c->max_pods);
    size_t len;
    int rc = parse_string(c, 1, &r->pods_[r->n_pods], &len);
    if (rc)
      return rc;
    r->n_pods++;
    skip_ws(c);
    if (c->p < c->end && *c->p == ',') {
      c->p++;
      continue;
    }
    if (c->p < c->end && *c->p == ']') {
      c->p++;
      return 0;
    }
    return fail(c, KVIDX_REQ_BAD_JSON, "expected ',' or ']'");
  }
}

/* A string field (null allowed only when nullable: same as absent). */
static int parse_str_field(cursor *c, const char *name, int nullable,
                           const char **out, size_t *out_len) {
  if (nullable && *c->p == 'n') {
    int rc = skip_literal(c, "null");
    if (rc == 0)
      *out = NULL;
    return rc;
  }
  if (*c->p != '"') {
    int rc = skip_value(c, 1);
    return rc ? rc
              : fail(c, KVIDX_REQ_BAD_FIELD, "%s: expected a string", name);
  }
  size_t len;
  int rc = parse_string(c, 1, out, &len);
  if (rc == 0 && out_len != NULL)
    *out_len = len;
  else if (rc == 0 && strlen(*out) != len)
    return fail(c, KVIDX_REQ_BAD_FIELD, "%s: NUL character in string", name);
  return rc;
}

static int parse_member(cursor *c, const char *key, size_t key_len) {
  kvidx__request *r = c->r;
  if (c->p >= c->end)
    return fail(c, KVIDX_REQ_BAD_JSON, "unexpected end of input");
#define KEY_IS_(lit)                                                           \
  (key_len == sizeof(lit) - 1 && memcmp(key, lit, key_len) == 0)
  if (KEY_IS_("model"))
    return parse_str_field(c, "model", 0, &r->model, NULL);
  if (KEY_IS_("prompt"))
    return parse_str_field(c, "prompt", 0, &r->prompt, &r->prompt_len);
  if (KEY_IS_("lora_name"))
    return parse_str_field(c, "lora_name", 1, &r->lora_name, NULL);
  if (KEY_IS_("token_ids"))
    return parse_token_ids(c);
  if (KEY_IS_("pods"))
    return *c->p == 'n' ? skip_literal(c, "null") : parse_pods(c);
#undef KEY_IS_
  return skip_value(c, 1);
}

/* Makes sure no pointer handed out during a parse of len bytes can move. */
static int reserve(kvidx__request *r, size_t len, size_t max_tokens,
                   size_t max_pods) {
  size_t str_need = len + 8;
  size_t tok_need = len / 2 + 1 < max_tokens ? len / 2 + 1 : max_tokens;
  size_t pod_need = len / 3 + 1 < max_pods ? len / 3 + 1 : max_pods;
  if (tok_need == 0)
    tok_need = 1;
  if (pod_need == 0)
    pod_need = 1;
  if (str_need > r->strbuf_cap_) {
    char *b = realloc(r->strbuf_, str_need);
    if (b == NULL)
      return -1;
    r->strbuf_ = b;
    r->strbuf_cap_ = str_need;
  }
  if (tok_need > r->tokens_cap_) {
    uint32_t *t = realloc(r->tokens_, tok_need * sizeof *t);
    if (t == NULL)
      return -1;
    r->tokens_ = t;
    uint32_t *t2 = realloc(r->tokens2_, tok_need * sizeof *t2);
    if (t2 == NULL)
      return -1;
    r->tokens2_ = t2;
    r->tokens_cap_ = tok_need;
  }
  if (pod_need > r->pods_cap_) {
    const char **p = realloc(r->pods_, pod_need * sizeof *p);
    if (p == NULL)
      return -1;
    r->pods_ = p;
    r->pods_cap_ = pod_need;
  }
  return 0;
}

void kvidx__request_init(kvidx__request *r) {
  memset(r, 0, sizeof *r);
}

void kvidx__request_free(kvidx__request *r) {
  free(r->strbuf_);
  free(r->tokens_);
  free(r->tokens2_);
  free(r->pods_);
  memset(r, 0, sizeof *r);
}

static void reset_fields(kvidx__request *r) {
  r->model = r->prompt = r->lora_name = NULL;
  r->prompt_len = 0;
  r->has_token_ids = 0;
  r->token_ids = NULL;
  r->n_tokens = 0;
  r->pods = NULL;
  r->n_pods = 0;
  r->error[0] = '\0';
  r->strbuf_len_ = 0;
}

int kvidx__request_parse(kvidx__request *r, const char *body, size_t len,
                         size_t max_tokens, size_t max_pods) {
  reset_fields(r);
  if (reserve(r, len, max_tokens, max_pods)) {
    snprintf(r->error, sizeof r->error, "out of memory");
    return KVIDX_REQ_NOMEM;
  }
  cursor c = {body, body, body + len, r, max_tokens, max_pods};
  skip_ws(&c);
  if (c.p >= c.end || *c.p != '{')
    return fail(&c, KVIDX_REQ_BAD_JSON, "expected a JSON object");
  c.p++;
  skip_ws(&c);
  if (c.p < c.end && *c.p == '}') {
    c.p++;
  } else {
    for (;;) {
      int rc;
      const char *key;
      size_t key_len;
      skip_ws(&c);
      if (c.p >= c.end || *c.p != '"')
        return fail(&c, KVIDX_REQ_BAD_JSON, "expected a key");
      /* Keys are unescaped into strbuf too; they are few and short. */
      if ((rc = parse_string(&c, 1, &key, &key_len)))
        return rc;
      skip_ws(&c);
      if (c.p >= c.end || *c.p != ':')
        return fail(&c, KVIDX_REQ_BAD_JSON, "expected ':'");
      c.p++;
      skip_ws(&c);
      if ((rc = parse_member(&c, key, key_len)))
        return rc;
      skip_ws(&c);
      if (c.p < c.end && *c.p == ',') {
        c.p++;
        continue;
      }
      if (c.p < c.end && *c.p == '}') {
        c.p++;
        break;
      }
      return fail(&c, KVIDX_REQ_BAD_JSON, "expected ',' or '}'");
    }
  }
  skip_ws(&c);
  if (c.p != c.end)
    return fail(&c, KVIDX_REQ_BAD_JSON, "trailing characters after the object");
  return KVIDX_REQ_OK;
}

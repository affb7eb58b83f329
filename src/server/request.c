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
#include <stdatomic.h>
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
 * The fast paths below are picked once per process (kvidx__request_simd);
 * tests force each level in turn to check that they agree.
 */
static atomic_int simd_level = -1;

/*
 * One 64-byte block of an id array's body, given its bit masks of digits,
 * commas and spaces (bits past in_range are ignored; *carry_d is the digit
 * bit of the previous block's last byte, updated here). Returns the bits
 * where an id starts, and ORs into *bad any sign that the block is not of
 * the shape [id,id] / [id, id]: another character, or a comma anywhere but
 * right after a digit run (which also keeps spaces after commas and commas
 * from repeating).
 */
static inline uint64_t block_starts(uint64_t d, uint64_t cm, uint64_t sp,
                                    uint64_t in_range, uint64_t *carry_d,
                                    uint64_t *bad) {
  uint64_t prev_d = d << 1 | *carry_d;
  *carry_d = d >> 63;
  *bad |= ((d | cm | sp) & in_range) ^ in_range;
  *bad |= (~d & prev_d & in_range) ^ (cm & in_range);
  return d & ~prev_d & in_range;
}

#if defined(__SSE2__)
#include <emmintrin.h>

/* Bit i of *digits / *commas / *spaces: byte p[i] (of 64) is an ASCII
 * digit / ',' / ' '. */
static inline void class_masks64(const char *p, uint64_t *digits,
                                 uint64_t *commas, uint64_t *spaces) {
  const __m128i zero = _mm_set1_epi8('0'), nine = _mm_set1_epi8(9),
                comma = _mm_set1_epi8(','), space = _mm_set1_epi8(' ');
  uint64_t d = 0, c = 0, s = 0;
  for (int k = 0; k < 4; k++) {
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * k));
    __m128i v = _mm_sub_epi8(x, zero); /* digit: 0..9 unsigned */
    __m128i isd = _mm_cmpeq_epi8(_mm_min_epu8(v, nine), v);
    d |= (uint64_t)(uint16_t)_mm_movemask_epi8(isd) << (16 * k);
    c |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(x, comma))
         << (16 * k);
    s |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(x, space))
         << (16 * k);
  }
  *digits = d;
  *commas = c;
  *spaces = s;
}

/* An id at s whose digit run ends before stop (slow, exact): 1..10 digits,
 * no leading zero, <= UINT32_MAX. Returns 0 or -1. */
static int id_bytewise(const char *s, const char *stop, uint32_t *out) {
  uint64_t v = 0;
  const char *p = s;
  while (p < stop && (unsigned)(unsigned char)*p - '0' <= 9 && p - s < 11)
    v = v * 10 + (uint64_t)(*p++ - '0');
  if (p - s > 10 || v > UINT32_MAX || (*s == '0' && p - s > 1))
    return -1;
  *out = (uint32_t)v;
  return 0;
}

/* Converts the ids starting at the set bits of starts (bit i: blk[i]), one
 * at a time. Returns how many were written to out, or -1 (a leading zero or
 * an id the others should report). */
static long ids_scalar(const char *blk, uint64_t starts, const char *close,
                       const char *end, uint32_t *out) {
  long n = 0;
  uint64_t bad = 0;
  while (starts) {
    const char *s = blk + __builtin_ctzll(starts);
    starts &= starts - 1;
    uint64_t v;
    int dl = end - s >= 8 ? swar_digits(s, &v) : 0;
    if (dl > 0 && dl < 8) {
      bad |= (uint64_t)(*s == '0' && dl > 1); /* leading zero */
      out[n++] = (uint32_t)v;
    } else {
      uint32_t v32;
      if (id_bytewise(s, close, &v32))
        return -1;
      out[n++] = v32;
    }
  }
  return bad ? -1 : n;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define KVIDX_REQ_AVX512 1
/*
 * The whole id array with AVX-512 (F, BW, CD, VL, VBMI), branch-free but
 * for the rare failures. Pass 1 classifies each 64-byte block with three
 * compares, validates it as parse_ids_masks does, and appends the block's
 * id start offsets to pos (vpcompressd, 16 at a time: pos needs 16 entries
 * of slack). Pass 2 converts eight ids at a time: the 8 bytes at each start
 * are permuted (vpermi2b) out of a 128-byte window that begins at the
 * group's first id; each lane's digit count comes from its first non-digit
 * byte (lzcnt of that byte's isolated high bit); the digits are shifted to
 * the top of the lane and converted with two multiply-adds and a multiply,
 * as swar_digits does for one id. Returns the number of ids, or -1 for the
 * other parsers to handle (another shape, 8+ digit ids, leading zeros).
 * Masked loads never touch a byte at or past end.
 */
__attribute__((
    target("avx512f,avx512bw,avx512cd,avx512vl,avx512vbmi,popcnt"))) static long
ids_array_avx512(const char *body, size_t len, const char *end, uint32_t *pos,
                 uint32_t *out) {
  const __m512i c30 = _mm512_set1_epi8(0x30), c10 = _mm512_set1_epi8(10),
                comma = _mm512_set1_epi8(','), space = _mm512_set1_epi8(' '),
                iota = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5,
                                        4, 3, 2, 1, 0);
  uint64_t carry_d = 0, bad = 0;
  size_t n = 0;
  for (size_t off = 0; off < len; off += 64) {
    uint64_t in_range = len - off >= 64 ? ~0ull : (1ull << (len - off)) - 1;
    __m512i x = _mm512_maskz_loadu_epi8(in_range, body + off);
    uint64_t d = _mm512_cmplt_epu8_mask(_mm512_sub_epi8(x, c30), c10);
    uint64_t cm = _mm512_cmpeq_epi8_mask(x, comma);
    uint64_t sp = _mm512_cmpeq_epi8_mask(x, space);
    uint64_t starts = block_starts(d, cm, sp, in_range, &carry_d, &bad);
    __m512i at = _mm512_add_epi32(iota, _mm512_set1_epi32((int)off));
    for (int j = 0; j < 4; j++) {
      __mmask16 mj = (__mmask16)(starts >> (16 * j));
      _mm512_storeu_si512(
          (void *)(pos + n),
          _mm512_maskz_compress_epi32(
              mj, _mm512_add_epi32(at, _mm512_set1_epi32(16 * j))));
      n += (size_t)__builtin_popcount(mj);
    }
  }
  if (bad)
    return -1;

  const __m512i c46 = _mm512_set1_epi8(0x46),
                c80 = _mm512_set1_epi8((char)0x80),
                zero = _mm512_setzero_si512(), b0 = _mm512_set1_epi64(0xff),
                w10 = _mm512_set1_epi16(0x010a), /* bytes: x10, x1 */
      w100 = _mm512_set1_epi32(0x00010064),      /* words: x100, x1 */
      k10000 = _mm512_set1_epi64(10000), k8 = _mm512_set1_epi64(8),
                k48 = _mm512_set1_epi64(48), k30 = _mm512_set1_epi64(0x30),
                /* byte 8i+j: i (which start), and j (offset after it) */
      lane = _mm512_set_epi64(0x0707070707070707, 0x0606060606060606,
                              0x0505050505050505, 0x0404040404040404,
                              0x0303030303030303, 0x0202020202020202,
                              0x0101010101010101, 0x0000000000000000),
                step = _mm512_set1_epi64(0x0706050403020100);
  for (size_t g = 0; g < n; g += 8) {
    size_t k = n - g < 8 ? n - g : 8;
    __mmask8 m = (__mmask8)((1u << k) - 1);
    uint32_t first = pos[g];
    /* every id's 8 bytes must lie in the 128-byte window (ids of 8+
     * digits can spread a group wider: the other parsers take those) */
    if (pos[g + k - 1] - first > 120)
      return -1;
    const char *w = body + first;
    size_t avail = (size_t)(end - w);
    __m512i lo, hi;
    if (avail >= 128) {
      lo = _mm512_loadu_si512((const void *)w);
      hi = _mm512_loadu_si512((const void *)(w + 64));
    } else {
      uint64_t ml = avail >= 64 ? ~0ull : (1ull << avail) - 1;
      uint64_t mh = avail <= 64 ? 0 : (1ull << (avail - 64)) - 1;
      lo = _mm512_maskz_loadu_epi8(ml, w);
      hi = _mm512_maskz_loadu_epi8(mh, w + 64);
    }
    __m256i rel = _mm256_sub_epi32(_mm256_maskz_loadu_epi32(m, pos + g),
                                   _mm256_set1_epi32((int)first));
    __m512i idx = _mm512_add_epi8(
        _mm512_permutexvar_epi8(
            lane, _mm512_castsi128_si512(_mm256_cvtepi32_epi8(rel))),
        step);
    __m512i x =
        _mm512_maskz_mov_epi64(m, _mm512_permutex2var_epi8(lo, idx, hi));
    /* high bit of each byte that is not a digit */
    __m512i nd = _mm512_and_si512(
        _mm512_or_si512(_mm512_add_epi8(x, c46), _mm512_sub_epi8(x, c30)), c80);
    __m512i low = _mm512_and_si512(nd, _mm512_sub_epi64(zero, nd));
    __m512i lz = _mm512_lzcnt_epi64(low); /* 56 - 8 * digits */
    __mmask8 nok = _mm512_mask_cmpeq_epi64_mask(m, nd, zero); /* 8+ digits */
    nok |= _mm512_mask_cmpeq_epi64_mask(m, _mm512_and_si512(x, b0), k30) &
           _mm512_cmplt_epu64_mask(lz, k48); /* '0' and more digits */
    if (nok)
      return -1;
    __m512i dg =
        _mm512_sllv_epi64(_mm512_sub_epi8(x, c30), _mm512_add_epi64(lz, k8));
    __m512i v = _mm512_madd_epi16(_mm512_maddubs_epi16(dg, w10), w100);
    v = _mm512_add_epi64(_mm512_mul_epu32(v, k10000), _mm512_srli_epi64(v, 32));
    _mm256_mask_storeu_epi32(out + g, m, _mm512_cvtepi64_epi32(v));
  }
  return (long)n;
}
#endif

/*
 * Fast path for the shape every JSON encoder writes for an id array:
 * [id,id,...] or [id, id, ...] (spaces only after commas).
 * The array body is classified 64 bytes at a time into bit masks of digits,
 * commas and spaces (SSE2), which validate the whole grammar at once:
 * only those three classes occur, a comma stands exactly where a digit run
 * ends (so spaces can only follow commas, and commas cannot repeat), and
 * the body starts and ends with a digit. Ids are then converted from their
 * start positions (the set bits of "digit not preceded by a digit"), so no id
 * waits for the previous one to be found, unlike a byte-by-byte walk; with
 * AVX-512, eight at a time. Returns the number of ids (the ']' consumed) or -1
 * to let the other parsers handle the array (another shape, errors, too many
 * ids).
 */
static long parse_ids_masks(cursor *c) {
  kvidx__request *r = c->r;
  const char *body = c->p + 1, *end = c->end;
  const char *close = memchr(body, ']', (size_t)(end - body));
  if (close == NULL || close - body < 64)
    return -1;
  size_t len = (size_t)(close - body);
  /* An array of n ids takes >= 2n - 1 bytes, and the id buffer is sized
   * from the body length: checked anyway, as the writes below rely on it. */
  if (len / 2 + 1 > r->tokens_cap_)
    return -1;
  if ((unsigned)(unsigned char)body[0] - '0' > 9 ||
      (unsigned)(unsigned char)close[-1] - '0' > 9)
    return -1;
  uint32_t *out = r->tokens_;
  size_t n = 0;
#ifdef KVIDX_REQ_AVX512
  if (atomic_load_explicit(&simd_level, memory_order_relaxed) >= 2) {
    long k = ids_array_avx512(body, len, end, r->tokens2_, out);
    if (k < 0)
      return -1;
    n = (size_t)k;
    goto done;
  }
#endif
  uint64_t carry_d = 0;
  char tail[64];
  for (size_t off = 0; off < len; off += 64) {
    const char *blk = body + off;
    uint64_t in_range = ~0ull;
    if (len - off < 64) {
      /* Last piece: classify a padded copy (padding is no class). */
      memset(tail, 'x', sizeof tail);
      memcpy(tail, blk, len - off);
      in_range = (1ull << (len - off)) - 1;
      blk = tail;
    }
    uint64_t d, cm, sp;
    class_masks64(blk, &d, &cm, &sp);
    blk = body + off;
    uint64_t bad = 0;
    uint64_t starts = block_starts(d, cm, sp, in_range, &carry_d, &bad);
    if (bad)
      return -1;
    long k = ids_scalar(blk, starts, close, end, out + n);
    if (k < 0)
      return -1;
    n += (size_t)k;
  }
#ifdef KVIDX_REQ_AVX512
done:
#endif
  if (n > c->max_tokens)
    return -1; /* the careful loop reports it */
  r->n_tokens = n;
  r->has_token_ids = 1;
  r->token_ids = r->tokens_;
  c->p = close + 1;
  return (long)n;
}
#else
static long parse_ids_masks(cursor *c) {
  (void)c;
  return -1; /* no SSE2: the two-way SWAR parser below */
}
#endif

int kvidx__request_simd(int level) {
  int cur = atomic_load_explicit(&simd_level, memory_order_relaxed);
  if (cur < 0 || level >= 0) {
    int best = 0;
#if defined(__SSE2__)
    best = 1;
#endif
#ifdef KVIDX_REQ_AVX512
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") &&
        __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512cd") &&
        __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512vbmi"))
      best = 2;
#endif
    cur = level >= 0 && level < best ? level : best;
    atomic_store_explicit(&simd_level, cur, memory_order_relaxed);
  }
  return cur;
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
  if ((atomic_load_explicit(&simd_level, memory_order_relaxed) >= 1 &&
       parse_ids_masks(c) >= 0) ||
      parse_ids_two_way(c) >= 0)
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
    /* tokens2_ is also the id start list of the AVX-512 path, which
     * stores 16 entries past its last one */
    uint32_t *t2 = realloc(r->tokens2_, (tok_need + 16) * sizeof *t2);
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
  if (atomic_load_explicit(&simd_level, memory_order_relaxed) < 0)
    kvidx__request_simd(-1);
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

/*
 * pickle.c: Python pickle protocol 5, exactly as CPython's _pickle writes
 * pickle.dumps((parent, tuple(tokens), extra_keys), protocol=5), for the
 * "sha256" and "xxhash" algorithms.
 *
 * Only what that tuple can contain is supported: bytes, str, non-negative
 * token ints, signed mm offsets, tuples and None. The details that matter
 * (all checked against CPython by tests/hash/test_hash_diff.py):
 *  - PROTO 5, then one FRAME (8-byte little-endian length) holding the body
 *    and the final STOP. CPython frames any body of >= 4 bytes; it starts a
 *    new frame when one reaches 64 KiB, which kvidx refuses (ETOOBIG).
 *  - ints: BININT1 (0..255), BININT2 (..65535), BININT (signed 32-bit, so
 *    every negative int >= -2^31), else LONG1 with the shortest two's
 *    complement (2^31..2^32-1 take 5 bytes: 8a 05 xx xx xx xx 00).
 *  - tuples of 1..3 items: items, TUPLE1/2/3; longer: MARK items TUPLE.
 *    Every str, bytes and tuple is followed by MEMOIZE (protocol 4+), ints
 *    and None are not.
 *  - Pickle memoizes by object identity, so the same object twice becomes a
 *    BINGET of its memo index. In vLLM the strings of a block are distinct
 *    objects except CPython's cached singletons: "" and one-character strings
 *    below U+0100. kvidx models exactly that: a repeated singleton string is
 *    written as BINGET (e.g. LoRA name "a" and cache_salt "a").
 */
#include "hash/hash_internal.h"

enum {
  OP_MARK = 0x28,           /* ( */
  OP_STOP = 0x2e,           /* . */
  OP_SHORT_BINBYTES = 0x43, /* C */
  OP_BINBYTES = 0x42,       /* B */
  OP_BININT = 0x4a,         /* J */
  OP_BININT1 = 0x4b,        /* K */
  OP_BININT2 = 0x4d,        /* M */
  OP_NONE = 0x4e,           /* N */
  OP_BINUNICODE = 0x58,     /* X */
  OP_BINGET = 0x68,         /* h */
  OP_LONG_BINGET = 0x6a,    /* j */
  OP_TUPLE = 0x74,          /* t */
  OP_PROTO = 0x80,
  OP_LONG1 = 0x8a,
  OP_TUPLE1 = 0x85,
  OP_TUPLE2 = 0x86,
  OP_TUPLE3 = 0x87,
  OP_SHORT_BINUNICODE = 0x8c,
  OP_MEMOIZE = 0x94,
  OP_FRAME = 0x95
};

#define PICKLE_HEADER_LEN 11 /* PROTO 5 FRAME u64 */
/* A token id takes at most 7 bytes (LONG1 of 5 bytes). */
#define PICKLE_MAX_TOKEN_LEN 7
/* Tokens are written in runs of this many per buffer check. */
#define PICKLE_TOKEN_RUN 64
/* Largest fixed-size piece (opcode + length / int / memo reference). */
#define PICKLE_MAX_OP_LEN 16

/* Memo index of a CPython singleton string (""=256, or a code point
 * < 256) already written in this pickle. */
typedef struct {
  uint16_t key;
  uint32_t memo;
} singleton_seen;

typedef struct {
  kvidx__emitter *e;
  uint32_t memo; /* index the next MEMOIZE assigns */
  uint32_t n_seen;
  singleton_seen seen[KVIDX_HASH_MAX_MM_PER_BLOCK + 2];
} pickler;

static uint8_t *put_u32le(uint8_t *d, uint32_t v) {
  d[0] = (uint8_t)v;
  d[1] = (uint8_t)(v >> 8);
  d[2] = (uint8_t)(v >> 16);
  d[3] = (uint8_t)(v >> 24);
  return d + 4;
}

static uint8_t *put_header(uint8_t *d, uint64_t body_len) {
  d[0] = OP_PROTO;
  d[1] = 5;
  d[2] = OP_FRAME;
  kvidx__store_le64(d + 3, body_len);
  return d + PICKLE_HEADER_LEN;
}

/* One token id by table, indexed by its bit length: opcode (16 bits), the
 * shift that puts the id after it, and the record length. Real ids
 * (vocabularies of 32k-256k) fall in the classes at random, so a branch per
 * token would mispredict; ids >= 2^31 (LONG1, 8a 05 u32 00) are a table
 * entry like the others. */
#define TOKEN_CLASS(op, shift, len)                                            \
  ((uint32_t)(op) | (uint32_t)(shift) << 16 | (uint32_t)(len) << 24)
#define BININT1_CLASS TOKEN_CLASS(OP_BININT1, 8, 2)
#define BININT2_CLASS TOKEN_CLASS(OP_BININT2, 8, 3)
#define BININT_CLASS TOKEN_CLASS(OP_BININT, 8, 5)
static const uint32_t token_class_of_bits[33] = {
    BININT1_CLASS, BININT1_CLASS, BININT1_CLASS,
    BININT1_CLASS, BININT1_CLASS, BININT1_CLASS,
    BININT1_CLASS, BININT1_CLASS, BININT1_CLASS,
    BININT2_CLASS, BININT2_CLASS, BININT2_CLASS,
    BININT2_CLASS, BININT2_CLASS, BININT2_CLASS,
    BININT2_CLASS, BININT2_CLASS, BININT_CLASS,
    BININT_CLASS,  BININT_CLASS,  BININT_CLASS,
    BININT_CLASS,  BININT_CLASS,  BININT_CLASS,
    BININT_CLASS,  BININT_CLASS,  BININT_CLASS,
    BININT_CLASS,  BININT_CLASS,  BININT_CLASS,
    BININT_CLASS,  BININT_CLASS,  TOKEN_CLASS(OP_LONG1 | 5u << 8, 16, 7)};

/* Stores 8 bytes at d. */
static inline uint8_t *put_token(uint8_t *d, uint32_t v) {
  uint32_t c = token_class_of_bits[kvidx__bit_length(v)];
  kvidx__store_le64(d, (uint64_t)v << ((c >> 16) & 31) | (c & 0xffffu));
  return d + (c >> 24);
}

uint8_t *kvidx__pickle_tokens_scalar(uint8_t *d, const uint32_t *tok,
                                     size_t n) {
  for (const uint32_t *end = tok + n; tok < end; tok++)
    d = put_token(d, *tok);
  return d;
}

/* Any signed 64-bit int (mm offsets relative to the block start). */
static uint8_t *put_int64(uint8_t *d, int64_t v) {
  if (v >= 0 && v <= 0xff) {
    d[0] = OP_BININT1;
    d[1] = (uint8_t)v;
    return d + 2;
  }
  if (v >= 0 && v <= 0xffff) {
    d[0] = OP_BININT2;
    d[1] = (uint8_t)v;
    d[2] = (uint8_t)(v >> 8);
    return d + 3;
  }
  if (v >= INT32_MIN && v <= INT32_MAX) {
    d[0] = OP_BININT;
    return put_u32le(d + 1, (uint32_t)v);
  }
  /* LONG1: little-endian two's complement, the shortest that keeps the
   * sign (CPython's encode_long). */
  uint8_t b[8];
  kvidx__store_le64(b, (uint64_t)v);
  size_t k = 8;
  while (k > 1 && ((b[k - 1] == 0x00 && !(b[k - 2] & 0x80)) ||
                   (b[k - 1] == 0xff && (b[k - 2] & 0x80))))
    k--;
  d[0] = OP_LONG1;
  d[1] = (uint8_t)k;
  memcpy(d + 2, b, k);
  return d + 2 + k;
}

/* Ends a memoized object (str, bytes, tuple). */
static inline uint8_t *put_memoize(pickler *pk, uint8_t *d) {
  *d++ = OP_MEMOIZE;
  pk->memo++;
  return d;
}

static uint8_t *put_memo_get(uint8_t *d, uint32_t idx) {
  if (idx < 256) {
    d[0] = OP_BINGET;
    d[1] = (uint8_t)idx;
    return d + 2;
  }
  d[0] = OP_LONG_BINGET;
  return put_u32le(d + 1, idx);
}

/* The singleton key of a UTF-8 string CPython caches, or -1. */
static int singleton_key(const char *s, uint32_t len) {
  const uint8_t *u = (const uint8_t *)s;
  if (len == 0)
    return 256;
  if (len == 1 && u[0] < 0x80)
    return u[0];
  if (len == 2 && (u[0] == 0xc2 || u[0] == 0xc3))
    return ((u[0] & 0x1f) << 6) | (u[1] & 0x3f);
  return -1;
}

/* SHORT_BINUNICODE / BINUNICODE and the UTF-8 bytes (no MEMOIZE). */
static uint8_t *put_str_body(kvidx__emitter *e, uint8_t *p, const char *s,
                             uint32_t len) {
  p = kvidx__emit_ensure(e, p, PICKLE_MAX_OP_LEN);
  if (len < 256) {
    p[0] = OP_SHORT_BINUNICODE;
    p[1] = (uint8_t)len;
    p += 2;
  } else {
    p[0] = OP_BINUNICODE;
    p = put_u32le(p + 1, len);
  }
  return kvidx__emit_copy(e, p, s, len);
}

static uint8_t *put_str(pickler *pk, uint8_t *p, const char *s, uint32_t len) {
  int key = singleton_key(s, len);
  if (key >= 0) {
    for (uint32_t i = 0; i < pk->n_seen; i++) {
      if (pk->seen[i].key == key) {
        p = kvidx__emit_ensure(pk->e, p, PICKLE_MAX_OP_LEN);
        return put_memo_get(p, pk->seen[i].memo);
      }
    }
    /* Bounded by the number of strings in one tuple (never exceeded). */
    if (pk->n_seen < sizeof pk->seen / sizeof pk->seen[0]) {
      pk->seen[pk->n_seen].key = (uint16_t)key;
      pk->seen[pk->n_seen].memo = pk->memo;
      pk->n_seen++;
    }
  }
  p = put_str_body(pk->e, p, s, len);
  p = kvidx__emit_ensure(pk->e, p, PICKLE_MAX_OP_LEN);
  return put_memoize(pk, p);
}

static uint8_t *put_parent(pickler *pk, uint8_t *p, const uint8_t *b,
                           size_t len) {
  p = kvidx__emit_ensure(pk->e, p, 3 + len);
  p[0] = OP_SHORT_BINBYTES; /* len <= KVIDX_DIGEST_MAX < 256 */
  p[1] = (uint8_t)len;
  memcpy(p + 2, b, len);
  return put_memoize(pk, p + 2 + len);
}

static uint8_t *put_tokens(pickler *pk, uint8_t *p, const uint32_t *tok,
                           size_t n) {
  kvidx__token_encoder put_ints = kvidx__token_encoder_for(1);
  p = kvidx__emit_ensure(pk->e, p, PICKLE_MAX_OP_LEN);
  if (n > 3)
    *p++ = OP_MARK;
  for (size_t i = 0; i < n;) {
    size_t run = n - i < PICKLE_TOKEN_RUN ? n - i : PICKLE_TOKEN_RUN;
    p = kvidx__emit_ensure(pk->e, p, run * PICKLE_MAX_TOKEN_LEN);
    p = put_ints(p, tok + i, run);
    i += run;
  }
  p = kvidx__emit_ensure(pk->e, p, PICKLE_MAX_OP_LEN);
  *p++ = n > 3 ? OP_TUPLE : (uint8_t)(OP_TUPLE1 + n - 1);
  return put_memoize(pk, p);
}

static uint8_t *put_extra(pickler *pk, uint8_t *p, const kvidx__extra_key *x,
                          size_t n) {
  p = kvidx__emit_ensure(pk->e, p, PICKLE_MAX_OP_LEN);
  if (n == 0) {
    *p++ = OP_NONE;
    return p;
  }
  if (n > 3)
    *p++ = OP_MARK;
  for (size_t i = 0; i < n; i++) {
    p = put_str(pk, p, x[i].str, x[i].len);
    if (x[i].is_mm) {
      p = kvidx__emit_ensure(pk->e, p, PICKLE_MAX_OP_LEN);
      p = put_int64(p, x[i].offset);
      *p++ = OP_TUPLE2;
      p = put_memoize(pk, p);
    }
  }
  p = kvidx__emit_ensure(pk->e, p, PICKLE_MAX_OP_LEN);
  *p++ = n > 3 ? OP_TUPLE : (uint8_t)(OP_TUPLE1 + n - 1);
  return put_memoize(pk, p);
}

static void put_tuple(kvidx__emitter *e, const kvidx__block_tuple *t,
                      uint64_t body_len) {
  pickler pk;
  pk.e = e;
  pk.memo = 0;
  pk.n_seen = 0;
  uint8_t *p = kvidx__emit_begin(e);
  p = kvidx__emit_ensure(e, p, PICKLE_HEADER_LEN);
  p = put_header(p, body_len);
  p = put_parent(&pk, p, t->parent, t->parent_len);
  p = put_tokens(&pk, p, t->tokens, t->n_tokens);
  p = put_extra(&pk, p, t->extra, t->n_extra);
  p = kvidx__emit_ensure(e, p, PICKLE_MAX_OP_LEN);
  *p++ = OP_TUPLE3;
  p = put_memoize(&pk, p);
  *p++ = OP_STOP;
  kvidx__emit_end(e, p);
}

/* An upper bound of the whole pickle, cheap to compute. */
static size_t upper_bound(const kvidx__block_tuple *t) {
  size_t n = PICKLE_HEADER_LEN + 2 + t->parent_len + 1;
  n += 3 + t->n_tokens * PICKLE_MAX_TOKEN_LEN;
  n += 3;
  for (size_t i = 0; i < t->n_extra; i++)
    n += 6 + t->extra[i].len + (t->extra[i].is_mm ? 12 : 0);
  return n + 3 + PICKLE_MAX_OP_LEN;
}

int kvidx__pickle_tuple(kvidx__emitter *e, const kvidx__block_tuple *t) {
  if (upper_bound(t) <= KVIDX_HASH_EMIT_BUF) {
    /* Fits the buffer, so nothing is digested before the end: write a
     * placeholder frame length and patch it. */
    put_tuple(e, t, 0);
    if (e->flushed == 0) { /* always, by the bound; checked to stay safe */
      kvidx__store_le64(e->buf + 3, (uint64_t)(e->len - PICKLE_HEADER_LEN));
      return 0;
    }
  }
  /* Long block: measure the body first, then stream it. */
  kvidx_hash_algo algo = e->algo;
  kvidx__emit_init(e, algo, KVIDX__EMIT_COUNT);
  put_tuple(e, t, 0);
  size_t body = kvidx__emit_total(e) - PICKLE_HEADER_LEN;
  if (body > KVIDX_HASH_PICKLE_MAX_FRAME)
    return KVIDX_ETOOBIG;
  kvidx__emit_init(e, algo, KVIDX__EMIT_DIGEST);
  put_tuple(e, t, body);
  return 0;
}

void kvidx__pickle_str_object(kvidx__emitter *e, const char *s, size_t len) {
  /* PROTO FRAME | str MEMOIZE | STOP. The body (>= 4 bytes) is always
   * framed; a str below 64 KiB is never split out of the frame. */
  uint32_t n = (uint32_t)len;
  uint64_t body = (n < 256 ? 2u : 5u) + (uint64_t)n + 2;
  uint8_t *p = kvidx__emit_begin(e);
  p = kvidx__emit_ensure(e, p, PICKLE_HEADER_LEN);
  p = put_header(p, body);
  p = put_str_body(e, p, s, n);
  p = kvidx__emit_ensure(e, p, PICKLE_MAX_OP_LEN);
  p[0] = OP_MEMOIZE;
  p[1] = OP_STOP;
  kvidx__emit_end(e, p + 2);
}

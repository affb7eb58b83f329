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
/* Tokens are written in runs of this many per buffer reservation. */
#define PICKLE_TOKEN_RUN 64

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

static void put_u32le(uint8_t *d, uint32_t v) {
  d[0] = (uint8_t)v;
  d[1] = (uint8_t)(v >> 8);
  d[2] = (uint8_t)(v >> 16);
  d[3] = (uint8_t)(v >> 24);
}

static void put_op(pickler *p, uint8_t op) {
  uint8_t *d = kvidx__emit_reserve(p->e, 1);
  d[0] = op;
  kvidx__emit_commit(p->e, 1);
}

static void put_memoize(pickler *p) {
  put_op(p, OP_MEMOIZE);
  p->memo++;
}

static void put_header(kvidx__emitter *e, uint64_t body_len) {
  uint8_t *d = kvidx__emit_reserve(e, PICKLE_HEADER_LEN);
  d[0] = OP_PROTO;
  d[1] = 5;
  d[2] = OP_FRAME;
  kvidx__store_le64(d + 3, body_len);
  kvidx__emit_commit(e, PICKLE_HEADER_LEN);
}

/* Writes one token id; returns its length. Branch-free because real token
 * ids (vocabularies of 32k-256k) fall in all size classes at random. Writes
 * 8 bytes at d. */
static inline size_t put_token(uint8_t *d, uint32_t v) {
  static const uint8_t len[4] = {2, 3, 5, 7};
  static const uint8_t shift[4] = {8, 8, 8, 16};
  static const uint16_t op[4] = {OP_BININT1, OP_BININT2, OP_BININT,
                                 OP_LONG1 | (5 << 8)};
  unsigned cls = (unsigned)(v > 0xffu) + (unsigned)(v > 0xffffu) +
                 (unsigned)(v > 0x7fffffffu);
  kvidx__store_le64(d, op[cls] | ((uint64_t)v << shift[cls]));
  return len[cls];
}

/* Any signed 64-bit int (mm offsets relative to the block start). */
static void put_int64(pickler *p, int64_t v) {
  uint8_t *d = kvidx__emit_reserve(p->e, 10);
  size_t n;
  if (v >= 0 && v <= 0xff) {
    d[0] = OP_BININT1;
    d[1] = (uint8_t)v;
    n = 2;
  } else if (v >= 0 && v <= 0xffff) {
    d[0] = OP_BININT2;
    d[1] = (uint8_t)v;
    d[2] = (uint8_t)(v >> 8);
    n = 3;
  } else if (v >= INT32_MIN && v <= INT32_MAX) {
    d[0] = OP_BININT;
    put_u32le(d + 1, (uint32_t)v);
    n = 5;
  } else {
    /* LONG1: little-endian two's complement, shortest that keeps the sign
     * (CPython's encode_long). */
    uint8_t b[8];
    kvidx__store_le64(b, (uint64_t)v);
    size_t k = 8;
    while (k > 1 && ((b[k - 1] == 0x00 && !(b[k - 2] & 0x80)) ||
                     (b[k - 1] == 0xff && (b[k - 2] & 0x80))))
      k--;
    d[0] = OP_LONG1;
    d[1] = (uint8_t)k;
    memcpy(d + 2, b, k);
    n = 2 + k;
  }
  kvidx__emit_commit(p->e, n);
}

static void put_memo_get(pickler *p, uint32_t idx) {
  uint8_t *d = kvidx__emit_reserve(p->e, 5);
  if (idx < 256) {
    d[0] = OP_BINGET;
    d[1] = (uint8_t)idx;
    kvidx__emit_commit(p->e, 2);
  } else {
    d[0] = OP_LONG_BINGET;
    put_u32le(d + 1, idx);
    kvidx__emit_commit(p->e, 5);
  }
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

static void put_str_body(kvidx__emitter *e, const char *s, uint32_t len) {
  uint8_t *d = kvidx__emit_reserve(e, 5);
  if (len < 256) {
    d[0] = OP_SHORT_BINUNICODE;
    d[1] = (uint8_t)len;
    kvidx__emit_commit(e, 2);
  } else {
    d[0] = OP_BINUNICODE;
    put_u32le(d + 1, len);
    kvidx__emit_commit(e, 5);
  }
  kvidx__emit_bytes(e, s, len);
}

static void put_str(pickler *p, const char *s, uint32_t len) {
  int key = singleton_key(s, len);
  if (key >= 0) {
    for (uint32_t i = 0; i < p->n_seen; i++) {
      if (p->seen[i].key == key) {
        put_memo_get(p, p->seen[i].memo);
        return;
      }
    }
    /* Bounded by the number of strings in one tuple (NEVER exceeded). */
    if (p->n_seen < sizeof p->seen / sizeof p->seen[0]) {
      p->seen[p->n_seen].key = (uint16_t)key;
      p->seen[p->n_seen].memo = p->memo;
      p->n_seen++;
    }
  }
  put_str_body(p->e, s, len);
  put_memoize(p);
}

static void put_parent(pickler *p, const uint8_t *b, size_t len) {
  uint8_t *d = kvidx__emit_reserve(p->e, 5);
  if (len < 256) {
    d[0] = OP_SHORT_BINBYTES;
    d[1] = (uint8_t)len;
    kvidx__emit_commit(p->e, 2);
  } else {
    d[0] = OP_BINBYTES;
    put_u32le(d + 1, (uint32_t)len);
    kvidx__emit_commit(p->e, 5);
  }
  kvidx__emit_bytes(p->e, b, len);
  put_memoize(p);
}

static void put_tokens(pickler *p, const uint32_t *tok, size_t n) {
  if (n > 3)
    put_op(p, OP_MARK);
  for (size_t i = 0; i < n;) {
    size_t run = n - i < PICKLE_TOKEN_RUN ? n - i : PICKLE_TOKEN_RUN;
    uint8_t *d = kvidx__emit_reserve(p->e, run * PICKLE_MAX_TOKEN_LEN);
    size_t off = 0;
    for (size_t j = 0; j < run; j++)
      off += put_token(d + off, tok[i + j]);
    kvidx__emit_commit(p->e, off);
    i += run;
  }
  put_op(p, n > 3 ? OP_TUPLE : (uint8_t)(OP_TUPLE1 + n - 1));
  put_memoize(p);
}

static void put_extra(pickler *p, const kvidx__extra_key *x, size_t n) {
  if (n == 0) {
    put_op(p, OP_NONE);
    return;
  }
  if (n > 3)
    put_op(p, OP_MARK);
  for (size_t i = 0; i < n; i++) {
    put_str(p, x[i].str, x[i].len);
    if (x[i].is_mm) {
      put_int64(p, x[i].offset);
      put_op(p, OP_TUPLE2);
      put_memoize(p);
    }
  }
  put_op(p, n > 3 ? OP_TUPLE : (uint8_t)(OP_TUPLE1 + n - 1));
  put_memoize(p);
}

static void put_tuple(kvidx__emitter *e, const kvidx__block_tuple *t,
                      uint64_t body_len) {
  pickler p;
  p.e = e;
  p.memo = 0;
  p.n_seen = 0;
  put_header(e, body_len);
  put_parent(&p, t->parent, t->parent_len);
  put_tokens(&p, t->tokens, t->n_tokens);
  put_extra(&p, t->extra, t->n_extra);
  put_op(&p, OP_TUPLE3);
  put_memoize(&p);
  put_op(&p, OP_STOP);
}

/* An upper bound of the whole pickle, cheap to compute. */
static size_t upper_bound(const kvidx__block_tuple *t) {
  size_t n = PICKLE_HEADER_LEN + 5 + t->parent_len + 1;
  n += 3 + t->n_tokens * PICKLE_MAX_TOKEN_LEN;
  n += 3;
  for (size_t i = 0; i < t->n_extra; i++)
    n += 6 + t->extra[i].len + (t->extra[i].is_mm ? 12 : 0);
  return n + 3;
}

int kvidx__pickle_tuple(kvidx__emitter *e, const kvidx__block_tuple *t) {
  if (upper_bound(t) <= KVIDX_HASH_EMIT_BUF) {
    /* Fits the buffer, so nothing is digested before the end: write a
     * placeholder frame length and patch it. */
    put_tuple(e, t, 0);
    kvidx__store_le64(e->buf + 3, (uint64_t)(e->len - PICKLE_HEADER_LEN));
    return 0;
  }
  /* Long block: measure the body first, then stream it. */
  kvidx__emitter *count = e;
  kvidx_hash_algo algo = e->algo;
  kvidx__emit_init(count, algo, KVIDX__EMIT_COUNT);
  put_tuple(count, t, 0);
  size_t body = kvidx__emit_total(count) - PICKLE_HEADER_LEN;
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
  put_header(e, body);
  put_str_body(e, s, n);
  uint8_t *d = kvidx__emit_reserve(e, 2);
  d[0] = OP_MEMOIZE;
  d[1] = OP_STOP;
  kvidx__emit_commit(e, 2);
}

/*
 * cbor.c: canonical CBOR (RFC 8949 core deterministic encoding), exactly as
 * cbor2.dumps((parent, tuple(tokens), extra_keys), canonical=True) writes
 * it, for the "sha256_cbor" and "xxhash_cbor" algorithms.
 *
 * Tuples are definite-length arrays, bytes and str are definite-length byte
 * and text strings, None is simple value 22 (f6), and every integer and
 * length uses its shortest head (immediate below 24, then 1/2/4/8 bytes,
 * big-endian). Negative mm offsets are major type 1 carrying -1-v. cbor2's
 * value sharing and string references are off by default, so repeated
 * strings are written out in full (unlike pickle).
 */
#include "hash/hash_internal.h"

enum {
  MAJOR_UINT = 0,
  MAJOR_NEGINT = 1,
  MAJOR_BYTES = 2,
  MAJOR_TEXT = 3,
  MAJOR_ARRAY = 4
};
#define CBOR_NULL 0xf6
/* A token id takes at most 5 bytes (1a + 4). */
#define CBOR_MAX_TOKEN_LEN 5
#define CBOR_TOKEN_RUN 64

/* Writes the shortest head of (major, v) at d; returns its length. */
static size_t head(uint8_t *d, unsigned major, uint64_t v) {
  uint8_t m = (uint8_t)(major << 5);
  size_t k;
  if (v < 24) {
    d[0] = (uint8_t)(m | v);
    return 1;
  }
  if (v <= 0xff) {
    d[0] = m | 24;
    k = 1;
  } else if (v <= 0xffff) {
    d[0] = m | 25;
    k = 2;
  } else if (v <= 0xffffffffu) {
    d[0] = m | 26;
    k = 4;
  } else {
    d[0] = m | 27;
    k = 8;
  }
  for (size_t i = 0; i < k; i++)
    d[1 + i] = (uint8_t)(v >> (8 * (k - 1 - i)));
  return 1 + k;
}

static void put_head(kvidx__emitter *e, unsigned major, uint64_t v) {
  uint8_t *d = kvidx__emit_reserve(e, 9);
  kvidx__emit_commit(e, head(d, major, v));
}

static uint32_t bswap32(uint32_t v) {
  return (v >> 24) | ((v >> 8) & 0xff00u) | ((v << 8) & 0xff0000u) | (v << 24);
}

/* Writes one token id (an unsigned int); returns its length. Branch-free
 * like pickle.c's; writes 8 bytes at d. */
static inline size_t put_token(uint8_t *d, uint32_t v) {
  static const uint8_t len[4] = {1, 2, 3, 5};
  static const uint8_t drop[4] = {32, 24, 16, 0}; /* bits of bswap32 unused */
  unsigned cls =
      (unsigned)(v > 23u) + (unsigned)(v > 0xffu) + (unsigned)(v > 0xffffu);
  uint64_t be = (uint64_t)bswap32(v) >> drop[cls];
  uint64_t first = cls == 0 ? v : 0x17u + cls; /* 0x18/0x19/0x1a */
  kvidx__store_le64(d, first | (be << 8));
  return len[cls];
}

static void put_int64(kvidx__emitter *e, int64_t v) {
  if (v >= 0)
    put_head(e, MAJOR_UINT, (uint64_t)v);
  else
    put_head(e, MAJOR_NEGINT, (uint64_t)(-(v + 1)));
}

static void put_string(kvidx__emitter *e, unsigned major, const void *s,
                       size_t len) {
  put_head(e, major, len);
  kvidx__emit_bytes(e, s, len);
}

static void put_tokens(kvidx__emitter *e, const uint32_t *tok, size_t n) {
  put_head(e, MAJOR_ARRAY, n);
  for (size_t i = 0; i < n;) {
    size_t run = n - i < CBOR_TOKEN_RUN ? n - i : CBOR_TOKEN_RUN;
    uint8_t *d = kvidx__emit_reserve(e, run * CBOR_MAX_TOKEN_LEN);
    size_t off = 0;
    for (size_t j = 0; j < run; j++)
      off += put_token(d + off, tok[i + j]);
    kvidx__emit_commit(e, off);
    i += run;
  }
}

void kvidx__cbor_tuple(kvidx__emitter *e, const kvidx__block_tuple *t) {
  put_head(e, MAJOR_ARRAY, 3);
  put_string(e, MAJOR_BYTES, t->parent, t->parent_len);
  put_tokens(e, t->tokens, t->n_tokens);
  if (t->n_extra == 0) {
    uint8_t *d = kvidx__emit_reserve(e, 1);
    d[0] = CBOR_NULL;
    kvidx__emit_commit(e, 1);
    return;
  }
  put_head(e, MAJOR_ARRAY, t->n_extra);
  for (size_t i = 0; i < t->n_extra; i++) {
    const kvidx__extra_key *x = &t->extra[i];
    if (x->is_mm)
      put_head(e, MAJOR_ARRAY, 2);
    put_string(e, MAJOR_TEXT, x->str, x->len);
    if (x->is_mm)
      put_int64(e, x->offset);
  }
}

void kvidx__cbor_str_object(kvidx__emitter *e, const char *s, size_t len) {
  put_string(e, MAJOR_TEXT, s, len);
}

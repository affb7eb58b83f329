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

/* Largest head: initial byte + 8-byte argument. */
#define CBOR_MAX_HEAD_LEN 9

/* Writes the shortest head of (major, v) at d; returns the new cursor. */
static uint8_t *put_head(uint8_t *d, unsigned major, uint64_t v) {
  uint8_t m = (uint8_t)(major << 5);
  size_t k;
  if (v < 24) {
    d[0] = (uint8_t)(m | v);
    return d + 1;
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
  return d + 1 + k;
}

static uint32_t bswap32(uint32_t v) {
#if defined(__GNUC__)
  return __builtin_bswap32(v);
#else
  return (v >> 24) | ((v >> 8) & 0xff00u) | ((v << 8) & 0xff0000u) | (v << 24);
#endif
}

/* One token id, its head and length picked by table (indexed by bit
 * length), not by branches: real ids fall in the size classes at random.
 * The record is (bswap(v) << 8 >> shift) | head: the shift drops the
 * leading zero bytes, and for an immediate (v < 24, picked by a compare the
 * compiler makes a cmov) takes v down into the head byte itself. */
#define TOKEN_CLASS(head, shift, len)                                          \
  ((uint32_t)(head) | (uint32_t)(shift) << 8 | (uint32_t)(len) << 16)
#define UINT8_CLASS TOKEN_CLASS(0x18, 24, 2)
#define UINT16_CLASS TOKEN_CLASS(0x19, 16, 3)
#define UINT32_CLASS TOKEN_CLASS(0x1a, 0, 5)
#define IMMEDIATE_CLASS TOKEN_CLASS(0, 32, 1)
static const uint32_t token_class_of_bits[33] = {
    UINT8_CLASS,  UINT8_CLASS,  UINT8_CLASS,  UINT8_CLASS,  UINT8_CLASS,
    UINT8_CLASS,  UINT8_CLASS,  UINT8_CLASS,  UINT8_CLASS,  UINT16_CLASS,
    UINT16_CLASS, UINT16_CLASS, UINT16_CLASS, UINT16_CLASS, UINT16_CLASS,
    UINT16_CLASS, UINT16_CLASS, UINT32_CLASS, UINT32_CLASS, UINT32_CLASS,
    UINT32_CLASS, UINT32_CLASS, UINT32_CLASS, UINT32_CLASS, UINT32_CLASS,
    UINT32_CLASS, UINT32_CLASS, UINT32_CLASS, UINT32_CLASS, UINT32_CLASS,
    UINT32_CLASS, UINT32_CLASS, UINT32_CLASS};

/* Stores 8 bytes at d. */
static inline uint8_t *put_token(uint8_t *d, uint32_t v) {
  uint32_t c = token_class_of_bits[kvidx__bit_length(v)];
  c = v < 24 ? IMMEDIATE_CLASS : c;
  uint64_t rec = ((uint64_t)bswap32(v) << 8 >> ((c >> 8) & 63)) | (c & 0xffu);
  kvidx__store_le64(d, rec);
  return d + (c >> 16);
}

uint8_t *kvidx__cbor_tokens_scalar(uint8_t *d, const uint32_t *tok, size_t n) {
  for (const uint32_t *end = tok + n; tok < end; tok++)
    d = put_token(d, *tok);
  return d;
}

static uint8_t *put_int64(uint8_t *d, int64_t v) {
  if (v >= 0)
    return put_head(d, MAJOR_UINT, (uint64_t)v);
  return put_head(d, MAJOR_NEGINT, (uint64_t)(-(v + 1)));
}

static uint8_t *put_string(kvidx__emitter *e, uint8_t *p, unsigned major,
                           const void *s, size_t len) {
  p = kvidx__emit_ensure(e, p, CBOR_MAX_HEAD_LEN);
  p = put_head(p, major, len);
  return kvidx__emit_copy(e, p, s, len);
}

static uint8_t *put_tokens(kvidx__emitter *e, uint8_t *p, const uint32_t *tok,
                           size_t n) {
  kvidx__token_encoder put_uints = kvidx__token_encoder_for(0);
  p = kvidx__emit_ensure(e, p, CBOR_MAX_HEAD_LEN);
  p = put_head(p, MAJOR_ARRAY, n);
  for (size_t i = 0; i < n;) {
    size_t run = n - i < CBOR_TOKEN_RUN ? n - i : CBOR_TOKEN_RUN;
    p = kvidx__emit_ensure(e, p, run * CBOR_MAX_TOKEN_LEN);
    p = put_uints(p, tok + i, run);
    i += run;
  }
  return p;
}

void kvidx__cbor_tuple(kvidx__emitter *e, const kvidx__block_tuple *t) {
  uint8_t *p = kvidx__emit_begin(e);
  p = kvidx__emit_ensure(e, p, 1);
  *p++ = 0x83; /* array(3) */
  p = put_string(e, p, MAJOR_BYTES, t->parent, t->parent_len);
  p = put_tokens(e, p, t->tokens, t->n_tokens);
  p = kvidx__emit_ensure(e, p, CBOR_MAX_HEAD_LEN);
  if (t->n_extra == 0) {
    *p++ = CBOR_NULL;
    kvidx__emit_end(e, p);
    return;
  }
  p = put_head(p, MAJOR_ARRAY, t->n_extra);
  for (size_t i = 0; i < t->n_extra; i++) {
    const kvidx__extra_key *x = &t->extra[i];
    if (x->is_mm) {
      p = kvidx__emit_ensure(e, p, 1);
      *p++ = 0x82; /* array(2) */
    }
    p = put_string(e, p, MAJOR_TEXT, x->str, x->len);
    if (x->is_mm) {
      p = kvidx__emit_ensure(e, p, CBOR_MAX_HEAD_LEN);
      p = put_int64(p, x->offset);
    }
  }
  kvidx__emit_end(e, p);
}

void kvidx__cbor_str_object(kvidx__emitter *e, const char *s, size_t len) {
  uint8_t *p = kvidx__emit_begin(e);
  p = put_string(e, p, MAJOR_TEXT, s, len);
  kvidx__emit_end(e, p);
}

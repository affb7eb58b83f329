/*
 * emit.c: the byte sink the serializers write into.
 *
 * An emitter collects bytes in its stack buffer. If the buffer never fills,
 * kvidx__emit_final() digests it with one one-shot call (XXH3_128bits() is
 * about 3x faster than its streaming API on 100 bytes). If it fills, the
 * bytes so far are fed to an incremental SHA-256 / XXH3 state and the buffer
 * is reused, so an encoding of any length costs no allocation. In COUNT mode
 * the same serializer code runs only to measure its output (pickle needs its
 * frame length before the body).
 */
#include "hash/hash_internal.h"

void kvidx__emit_init(kvidx__emitter *e, kvidx_hash_algo algo,
                      kvidx__emit_mode mode) {
  /* Only the header fields: the 4 KiB buffer and the digest state are
   * written before they are read. */
  e->algo = algo;
  e->mode = mode;
  e->streaming = 0;
  e->len = 0;
  e->flushed = 0;
}

static int is_sha(kvidx_hash_algo algo) {
  return algo == KVIDX_HASH_SHA256 || algo == KVIDX_HASH_SHA256_CBOR;
}

uint8_t *kvidx__emit_flush(kvidx__emitter *e, uint8_t *p) {
  size_t n = (size_t)(p - e->buf);
  if (e->mode == KVIDX__EMIT_DIGEST) {
    if (!e->streaming) {
      if (is_sha(e->algo)) {
        SHA256_Init(&e->st.sha);
      } else {
        XXH3_INITSTATE(&e->st.xxh);
        XXH3_128bits_reset(&e->st.xxh);
      }
      e->streaming = 1;
    }
    if (is_sha(e->algo))
      SHA256_Update(&e->st.sha, e->buf, n);
    else
      XXH3_128bits_update(&e->st.xxh, e->buf, n);
  }
  e->flushed += n;
  e->len = 0;
  return e->buf;
}

uint8_t *kvidx__emit_copy(kvidx__emitter *e, uint8_t *p, const void *src,
                          size_t n) {
  const uint8_t *s = src;
  while (n > 0) {
    size_t room = KVIDX_HASH_EMIT_BUF - (size_t)(p - e->buf);
    if (room == 0) {
      p = kvidx__emit_flush(e, p);
      room = KVIDX_HASH_EMIT_BUF;
    }
    size_t k = n < room ? n : room;
    memcpy(p, s, k);
    p += k;
    s += k;
    n -= k;
  }
  return p;
}

static uint64_t to_be64(uint64_t v) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  return __builtin_bswap64(v);
#else
  return v;
#endif
}

/* XXH3-128's canonical digest: high 64 bits big-endian, then low 64 bits
 * big-endian (what Python's xxhash.xxh3_128_digest() returns). */
static void xxh128_to_digest(XXH128_hash_t h, kvidx_digest *out) {
  uint64_t hi = to_be64(h.high64), lo = to_be64(h.low64), zero = 0;
  memcpy(out->bytes, &hi, 8);
  memcpy(out->bytes + 8, &lo, 8);
  memcpy(out->bytes + 16, &zero, 8);
  memcpy(out->bytes + 24, &zero, 8);
  out->len = 16;
}

void kvidx__emit_final(kvidx__emitter *e, kvidx_digest *out) {
  if (is_sha(e->algo)) {
    SHA256_CTX ctx;
    SHA256_CTX *c = &e->st.sha;
    if (!e->streaming) {
      c = &ctx;
      SHA256_Init(c);
    }
    SHA256_Update(c, e->buf, e->len);
    SHA256_Final(out->bytes, c);
    out->len = 32;
    return;
  }
  if (!e->streaming) {
    xxh128_to_digest(XXH3_128bits(e->buf, e->len), out);
    return;
  }
  XXH3_128bits_update(&e->st.xxh, e->buf, e->len);
  xxh128_to_digest(XXH3_128bits_digest(&e->st.xxh), out);
}

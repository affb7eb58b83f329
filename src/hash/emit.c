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

void kvidx__emit_flush(kvidx__emitter *e) {
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
      SHA256_Update(&e->st.sha, e->buf, e->len);
    else
      XXH3_128bits_update(&e->st.xxh, e->buf, e->len);
  }
  e->flushed += e->len;
  e->len = 0;
}

void kvidx__emit_bytes(kvidx__emitter *e, const void *p, size_t n) {
  const uint8_t *src = p;
  while (n > 0) {
    size_t room = KVIDX_HASH_EMIT_BUF - e->len;
    if (room == 0) {
      kvidx__emit_flush(e);
      room = KVIDX_HASH_EMIT_BUF;
    }
    size_t k = n < room ? n : room;
    memcpy(e->buf + e->len, src, k);
    e->len += k;
    src += k;
    n -= k;
  }
}

/* XXH3-128's canonical digest: high 64 bits big-endian, then low 64 bits
 * big-endian (what Python's xxhash.xxh3_128_digest() returns). */
static void xxh128_to_digest(XXH128_hash_t h, kvidx_digest *out) {
  XXH128_canonical_t c;
  XXH128_canonicalFromHash(&c, h);
  memcpy(out->bytes, c.digest, 16);
  memset(out->bytes + 16, 0, KVIDX_DIGEST_MAX - 16);
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

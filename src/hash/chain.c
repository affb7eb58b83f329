/*
 * chain.c: the hot path of kvidx_hash_blocks(): a chain of blocks without
 * extra keys (no LoRA, no multimodal items, no cache salt on the block).
 *
 * Such a block's encoding has a fixed shape, so instead of the general
 * serializers (pickle.c / cbor.c, which check the buffer before every piece
 * and track the pickle memo), it is laid out once per call:
 *
 *   pickle: 80 05 95 <frame u64> 43 <n> <parent> 94 28 <tokens>
 *           74 94 4e 87 94 2e
 *   CBOR:   83 <bytes head> <parent> <array head> <tokens> f6
 *
 * The constant bytes are written into the buffer once; per block only the
 * parent digest, the tokens, the tail and (pickle) the frame length are
 * stored, and the digest is taken in one call. The bytes are exactly those
 * of the general path (tests/hash/test_hash.c compares the two).
 */
#include <assert.h>

#include "hash/chain_loop.h"

typedef kvidx__chain_layout layout;

/* Writes the constant prefix bytes for a parent of parent_len bytes into b
 * and fills L. */
static void layout_init(layout *L, uint8_t *b, kvidx_hash_algo algo, size_t bs,
                        size_t parent_len) {
  int pickle = algo == KVIDX_HASH_SHA256 || algo == KVIDX_HASH_XXHASH;
  int sha = algo == KVIDX_HASH_SHA256 || algo == KVIDX_HASH_SHA256_CBOR;
  kvidx__chain_layout_fill(L, pickle, sha, bs, parent_len);
  L->put_tokens = kvidx__token_encoder_for(pickle);
  /* put_head16 reads back the first 32 bytes before the parent is there. */
  memset(b, 0, 32);
  size_t p = 0;
  if (pickle) {
    /* PROTO 5, FRAME (length patched per block), SHORT_BINBYTES n. */
    b[p++] = 0x80, b[p++] = 5, b[p++] = 0x95;
    p += 8;
    b[p++] = 0x43, b[p++] = (uint8_t)parent_len;
    p += parent_len;
    b[p++] = 0x94; /* MEMOIZE */
    if (bs > 3)
      b[p++] = 0x28; /* MARK */
  } else {
    b[p++] = 0x83; /* array(3) */
    if (parent_len < 24) {
      b[p++] = (uint8_t)(0x40 | parent_len);
    } else {
      b[p++] = 0x58, b[p++] = (uint8_t)parent_len;
    }
    p += parent_len;
    if (bs < 24) { /* array head of the tokens, shortest form */
      b[p++] = (uint8_t)(0x80 | bs);
    } else if (bs <= 0xff) {
      b[p++] = 0x98, b[p++] = (uint8_t)bs;
    } else {
      b[p++] = 0x99, b[p++] = (uint8_t)(bs >> 8), b[p++] = (uint8_t)bs;
    }
  }
  /* The bytes written must end where the shared layout says. */
  assert(p == L->tokens_at);
  (void)p;
}

/* The token encoder of SIMD level `simd`, called directly (no indirect call
 * per block). */
CHAIN_INLINE uint8_t *put_tokens(int pickle, int simd, uint8_t *d,
                                 const uint32_t *tok, size_t n) {
#if defined(KVIDX_HASH_HAVE_AVX512)
  if (simd == KVIDX__SIMD_AVX512)
    return pickle ? kvidx__pickle_tokens_avx512(d, tok, n)
                  : kvidx__cbor_tokens_avx512(d, tok, n);
  if (simd == KVIDX__SIMD_AVX2)
    return pickle ? kvidx__pickle_tokens_avx2(d, tok, n)
                  : kvidx__cbor_tokens_avx2(d, tok, n);
#else
  (void)simd;
#endif
  return pickle ? kvidx__pickle_tokens_scalar(d, tok, n)
                : kvidx__cbor_tokens_scalar(d, tok, n);
}

/* Stores the tokens and tail of one block (and the pickle frame length)
 * in b; returns the block's encoded length. */
CHAIN_INLINE size_t put_body(const layout *L, int pickle, int simd, uint8_t *b,
                             const uint32_t *tok) {
  uint8_t *end = put_tokens(pickle, simd, b + L->tokens_at, tok, L->bs);
  kvidx__store_le64(end, L->tail);
  size_t len = (size_t)(end - b) + L->tail_len;
  if (pickle)
    kvidx__store_le64(b + 3, (uint64_t)(len - 11));
  return len;
}

static inline void put_parent(const layout *L, uint8_t *b,
                              const uint8_t *parent) {
  /* Digest-sized copies are fixed-size moves. */
  if (L->parent_len == 16)
    memcpy(b + L->parent_at, parent, 16);
  else if (L->parent_len == 32)
    memcpy(b + L->parent_at, parent, 32);
  else
    memcpy(b + L->parent_at, parent, L->parent_len);
}

#if defined(KVIDX_CHAIN_XXH)
/* The portable XXH3 chain: the template with the portable encoders. */
KVIDX_CHAIN_XXH_INSTANCE(static, chain_xxh_portable,
                         kvidx__pickle_tokens_scalar, kvidx__cbor_tokens_scalar,
                         kvidx__put_parent_words)
#endif

static inline void store_be64(uint8_t *p, uint64_t v) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  v = __builtin_bswap64(v);
#endif
  memcpy(p, &v, 8);
}

/* Digests b[0..len) into out (all 32 bytes written, as kvidx_digest wants
 * zeros past len); returns the wire key (low 64 bits). */
CHAIN_INLINE uint64_t digest_block(int sha, const uint8_t *b, size_t len,
                                   kvidx_digest *out) {
  if (sha) {
    SHA256_CTX c;
    SHA256_Init(&c);
    SHA256_Update(&c, b, len);
    SHA256_Final(out->bytes, &c);
    out->len = 32;
    return kvidx__load_be64(out->bytes + 24);
  }
  XXH128_hash_t h = XXH3_128bits(b, len);
  store_be64(out->bytes, h.high64);
  store_be64(out->bytes + 8, h.low64);
  memset(out->bytes + 16, 0, 16);
  out->len = 16;
  return h.low64;
}

/*
 * Hashes blocks i..n_blocks-1, whose parents all have the layout L (in
 * both buffers). Only the parent bytes of block i + 1 depend on block i's
 * digest, so the body of block i + 1 is encoded (into the other buffer)
 * before block i is digested: the encoding runs while the digest's
 * dependency chain is in flight, and its stores have long been written when
 * the next digest reads them.
 */
CHAIN_INLINE void chain_loop(const layout *L, int pickle, int sha, int simd,
                             uint8_t (*buf)[CHAIN_BUF], const uint8_t *parent,
                             const uint32_t *tokens, size_t i, size_t n_blocks,
                             kvidx_digest *out_digests, uint64_t *out_keys) {
  kvidx_digest scratch[2];
  size_t bs = L->bs;
  size_t next_len = put_body(L, pickle, simd, buf[i & 1], tokens + i * bs);
  for (; i < n_blocks; i++) {
    uint8_t *b = buf[i & 1];
    size_t len = next_len;
    if (i + 1 < n_blocks)
      next_len =
          put_body(L, pickle, simd, buf[(i + 1) & 1], tokens + (i + 1) * bs);
    put_parent(L, b, parent);
    kvidx_digest *d = out_digests ? &out_digests[i] : &scratch[i & 1];
    uint64_t key = digest_block(sha, b, len, d);
    if (out_keys)
      out_keys[i] = key;
    parent = d->bytes;
  }
}

void kvidx__hash_chain_plain(kvidx_hash_algo algo, const uint8_t *parent,
                             size_t parent_len, const uint32_t *tokens,
                             size_t bs, size_t n_blocks,
                             kvidx_digest *out_digests, uint64_t *out_keys) {
  _Alignas(64) uint8_t buf[2][CHAIN_BUF];
  layout L;
  kvidx_digest first;
  int sha = algo == KVIDX_HASH_SHA256 || algo == KVIDX_HASH_SHA256_CBOR;
  int pickle = algo == KVIDX_HASH_SHA256 || algo == KVIDX_HASH_XXHASH;
  int simd = kvidx__hash_simd_level();
  size_t digest_len = sha ? 32 : 16;
  if (n_blocks == 0)
    return;
  size_t i = 0;
  if (parent_len != digest_len) {
    /* A caller's parent of another length shifts block 0's layout (a
     * cold path: not specialized). */
    layout_init(&L, buf[0], algo, bs, parent_len);
    uint8_t *end = L.put_tokens(buf[0] + L.tokens_at, tokens, bs);
    kvidx__store_le64(end, L.tail);
    size_t len = (size_t)(end - buf[0]) + L.tail_len;
    if (pickle)
      kvidx__store_le64(buf[0] + 3, (uint64_t)(len - 11));
    put_parent(&L, buf[0], parent);
    kvidx_digest *d = out_digests ? &out_digests[0] : &first;
    uint64_t key = digest_block(sha, buf[0], len, d);
    if (out_keys)
      out_keys[0] = key;
    parent = d->bytes;
    i = 1;
    if (n_blocks == 1)
      return;
  }
  layout_init(&L, buf[0], algo, bs, digest_len);
  layout_init(&L, buf[1], algo, bs, digest_len);
#if defined(KVIDX_CHAIN_XXH)
  if (!sha) {
#if defined(KVIDX_HASH_HAVE_AVX512)
    if (simd == KVIDX__SIMD_AVX512) {
      kvidx__chain_xxh_avx512(&L, buf, parent, tokens, i, n_blocks, out_digests,
                              out_keys);
      return;
    }
    if (simd == KVIDX__SIMD_AVX2) {
      kvidx__chain_xxh_avx2(&L, buf, parent, tokens, i, n_blocks, out_digests,
                            out_keys);
      return;
    }
#endif
    chain_xxh_portable(&L, buf, parent, tokens, i, n_blocks, out_digests,
                       out_keys);
    return;
  }
#endif
  chain_loop(&L, pickle, sha, simd, buf, parent, tokens, i, n_blocks,
             out_digests, out_keys);
}

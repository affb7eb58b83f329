/*
 * chain_loop.h: the fixed block layout of chain.c and the XXH3 chain loop,
 * shared by chain.c (portable token encoders) and tokens_avx512.c (the same
 * loop compiled for AVX-512 with its encoder inlined). Internal.
 */
#ifndef KVIDX_HASH_CHAIN_LOOP_H
#define KVIDX_HASH_CHAIN_LOOP_H

#include "hash/hash_internal.h"

/* Longest prefix: pickle header (11) + SHORT_BINBYTES head (2) + parent +
 * MEMOIZE + MARK. */
#define CHAIN_PREFIX_MAX (11 + 2 + KVIDX_DIGEST_MAX + 2)
/* Longest tail (pickle TUPLE MEMOIZE NONE TUPLE3 MEMOIZE STOP), stored as
 * one 8-byte word. */
#define CHAIN_TAIL_STORE 8
/* One block's buffer, a whole number of cache lines. */
#define CHAIN_BUF                                                              \
  ((CHAIN_PREFIX_MAX + 7 * KVIDX_HASH_CHAIN_MAX_TOKENS + CHAIN_TAIL_STORE +    \
    KVIDX_HASH_TOKEN_SLACK + 63) /                                             \
   64 * 64)

typedef struct {
  int pickle;
  int sha;
  size_t bs;
  size_t parent_len;
  size_t parent_at; /* offset of the parent digest bytes */
  size_t tokens_at; /* offset of the first token */
  uint64_t tail;    /* the bytes after the tokens, little-endian */
  size_t tail_len;
  kvidx__token_encoder put_tokens;
} kvidx__chain_layout;

#if defined(__GNUC__)
#define CHAIN_INLINE static inline __attribute__((always_inline))
#else
#define CHAIN_INLINE static inline
#endif

/* Fills L's offsets, tail and flags for blocks of bs tokens after a parent
 * of parent_len bytes (not put_tokens). The one definition of the layout:
 * chain.c's layout_init() writes the prefix bytes from it, and the XXH3
 * chain loop calls it with constant arguments, so that its offsets are
 * immediates there. */
CHAIN_INLINE void kvidx__chain_layout_fill(kvidx__chain_layout *L, int pickle,
                                           int sha, size_t bs,
                                           size_t parent_len) {
  L->pickle = pickle;
  L->sha = sha;
  L->bs = bs;
  L->parent_len = parent_len;
  if (pickle) {
    /* PROTO 5, FRAME u64, SHORT_BINBYTES n <parent> MEMOIZE [MARK] */
    L->parent_at = 3 + 8 + 2;
    L->tokens_at = L->parent_at + parent_len + 1 + (bs > 3);
    /* TUPLE or TUPLE1..3, MEMOIZE, NONE, TUPLE3, MEMOIZE, STOP */
    uint64_t close = bs > 3 ? 0x74 : 0x84 + bs;
    L->tail = close | 0x94u << 8 | 0x4eu << 16 | 0x87ull << 24 | 0x94ull << 32 |
              0x2eull << 40;
    L->tail_len = 6;
    return;
  }
  /* array(3), bytes head <parent>, array head of the tokens (shortest) */
  L->parent_at = 1 + (parent_len < 24 ? 1 : 2);
  L->tokens_at = L->parent_at + parent_len + (bs < 24 ? 1 : bs <= 0xff ? 2 : 3);
  L->tail = 0xf6; /* None */
  L->tail_len = 1;
}

/* Stores the tokens and tail of one block (and the pickle frame length)
 * in b; returns the block's encoded length. */
CHAIN_INLINE size_t kvidx__chain_put_body(const kvidx__chain_layout *L,
                                          int pickle,
                                          kvidx__token_encoder put_tokens,
                                          uint8_t *b, const uint32_t *tok,
                                          size_t bs) {
  uint8_t *end = put_tokens(b + L->tokens_at, tok, bs);
  kvidx__store_le64(end, L->tail);
  size_t len = (size_t)(end - b) + L->tail_len;
  if (pickle)
    kvidx__store_le64(b + 3, (uint64_t)(len - 11));
  return len;
}

#if defined(__SIZEOF_INT128__) && defined(__SSE2__)
#include <emmintrin.h>
__extension__ typedef unsigned __int128 u128;

/*
 * Writes a 16-byte parent at byte `at` (at + 16 <= 32) by rewriting the
 * whole first 32 bytes of b with two 16-byte stores. XXH3 reads its input
 * with 8-byte loads at offsets 0, 8, 16, 24 (and 16-byte loads at 0, 16 for
 * long inputs); a load that spans two stores still in flight cannot be
 * forwarded and waits for them to reach the cache, which put the digest's
 * latency chain behind every store of the block. Loads contained in one
 * store are forwarded. The other 16 bytes are read back from b, where they
 * were written a block earlier.
 */
static inline void kvidx__put_head16(uint8_t *b, unsigned at, u128 par) {
  u128 lo, hi;
  memcpy(&lo, b, 16);
  memcpy(&hi, b + 16, 16);
  unsigned sh = 8 * at;
  u128 ones = ~(u128)0;
  lo = (lo & ~(ones << sh)) | par << sh;
  if (sh != 0)
    hi = (hi & ~(ones >> (128 - sh))) | par >> (128 - sh);
  _mm_storeu_si128(
      (__m128i *)(void *)b,
      _mm_set_epi64x((long long)(uint64_t)(lo >> 64), (long long)(uint64_t)lo));
  _mm_storeu_si128(
      (__m128i *)(void *)(b + 16),
      _mm_set_epi64x((long long)(uint64_t)(hi >> 64), (long long)(uint64_t)hi));
}

/* The XXH3 layouts put the 16-byte parent at 13 (pickle) or 2 (CBOR);
 * called with the offset constant so that the shifts are. */
static inline void kvidx__put_parent_xxh(const kvidx__chain_layout *L,
                                         uint8_t *b, u128 par) {
  if (L->parent_at == 13)
    kvidx__put_head16(b, 13, par);
  else
    kvidx__put_head16(b, 2, par);
}

static inline u128 kvidx__bswap_words(uint64_t high64, uint64_t low64) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  high64 = __builtin_bswap64(high64);
  low64 = __builtin_bswap64(low64);
#endif
  return (u128)low64 << 64 | high64;
}

/* Writes the digest (lo, hi: XXH3's two result words) of the previous block
 * as the parent of block buffer b. */
typedef void (*kvidx__chain_put_parent)(const kvidx__chain_layout *L,
                                        uint8_t *b, uint64_t lo, uint64_t hi);

/* The portable put_parent: the canonical (big-endian) digest by two 16-byte
 * stores. */
static inline void kvidx__put_parent_words(const kvidx__chain_layout *L,
                                           uint8_t *b, uint64_t lo,
                                           uint64_t hi) {
  kvidx__put_parent_xxh(L, b, kvidx__bswap_words(hi, lo));
}

/*
 * The chain loop of the XXH3 algorithms (see chain.c's chain_loop() for the
 * pipelining), with the digest passed from XXH3's result registers straight
 * into the next block's head, not through memory, which would add a
 * store-to-load round trip to every block's dependency chain. A template:
 * `put_tokens` and `put_parent` are constants where it is instantiated, so
 * they are inlined (chain.c: portable; tokens_avx512.c: AVX-512, its
 * constants then loaded once per chain instead of once per block).
 */
CHAIN_INLINE void
kvidx__chain_xxh_run(int pickle, kvidx__token_encoder put_tokens,
                     kvidx__chain_put_parent put_parent, size_t bs,
                     uint8_t (*buf)[CHAIN_BUF], const uint8_t *parent,
                     const uint32_t *tokens, size_t i, size_t n_blocks,
                     kvidx_digest *out_digests, uint64_t *out_keys) {
  /* The layout of the buffers (laid out by the same function), recomputed
   * here: with pickle and bs constant, its offsets are immediates. */
  kvidx__chain_layout layout = {0};
  kvidx__chain_layout_fill(&layout, pickle, 0, bs, 16);
  const kvidx__chain_layout *L = &layout;
  /* The canonical digest is hi then lo, each big-endian. */
  uint64_t lo = kvidx__load_be64(parent + 8), hi = kvidx__load_be64(parent);
  size_t next_len = kvidx__chain_put_body(L, pickle, put_tokens, buf[i & 1],
                                          tokens + i * bs, bs);
  for (; i < n_blocks; i++) {
    uint8_t *b = buf[i & 1];
    size_t len = next_len;
    if (i + 1 < n_blocks)
      next_len = kvidx__chain_put_body(L, pickle, put_tokens, buf[(i + 1) & 1],
                                       tokens + (i + 1) * bs, bs);
    put_parent(L, b, lo, hi);
    XXH128_hash_t h = XXH3_128bits(b, len);
    lo = h.low64;
    hi = h.high64;
    if (out_digests) {
      kvidx_digest *d = &out_digests[i];
      u128 par = kvidx__bswap_words(hi, lo);
      memcpy(d->bytes, &par, 16);
      memset(d->bytes + 16, 0, 16);
      d->len = 16;
    }
    if (out_keys)
      out_keys[i] = lo;
  }
}

/* One chain loop with pickle and bs constant: for the block sizes vLLM
 * offers from 16 on (16, 32, 64, 128) the whole block layout, the steps of
 * the token encoder and its masks are constants, and the loop over the
 * steps is unrolled (64-token xxhash blocks: 37.3 -> 35.7 ns); any other
 * size takes the loop with bs a variable. */
#define KVIDX_CHAIN_XXH_RUN(pickle, enc, put_parent, bs)                       \
  kvidx__chain_xxh_run(pickle, enc, put_parent, bs, buf, parent, tokens, i,    \
                       n_blocks, out_digests, out_keys)
#define KVIDX_CHAIN_XXH_RUN_BS(pickle, enc, put_parent)                        \
  switch (L->bs) {                                                             \
  case 16:                                                                     \
    KVIDX_CHAIN_XXH_RUN(pickle, enc, put_parent, 16);                          \
    break;                                                                     \
  case 32:                                                                     \
    KVIDX_CHAIN_XXH_RUN(pickle, enc, put_parent, 32);                          \
    break;                                                                     \
  case 64:                                                                     \
    KVIDX_CHAIN_XXH_RUN(pickle, enc, put_parent, 64);                          \
    break;                                                                     \
  case 128:                                                                    \
    KVIDX_CHAIN_XXH_RUN(pickle, enc, put_parent, 128);                         \
    break;                                                                     \
  default:                                                                     \
    KVIDX_CHAIN_XXH_RUN(pickle, enc, put_parent, L->bs);                       \
  }

/* Defines `name`, an instance of the XXH3 chain loop (the signature
 * below) with the given pickle and CBOR encoders and put_parent, compiled
 * with the function attributes `attrs` (a target, or nothing). */
#define KVIDX_CHAIN_XXH_INSTANCE(attrs, name, pickle_enc, cbor_enc,            \
                                 put_parent)                                   \
  attrs void name(const kvidx__chain_layout *L, uint8_t(*buf)[CHAIN_BUF],      \
                  const uint8_t *parent, const uint32_t *tokens, size_t i,     \
                  size_t n_blocks, kvidx_digest *out_digests,                  \
                  uint64_t *out_keys) {                                        \
    if (L->pickle) {                                                           \
      KVIDX_CHAIN_XXH_RUN_BS(1, pickle_enc, put_parent)                        \
    } else {                                                                   \
      KVIDX_CHAIN_XXH_RUN_BS(0, cbor_enc, put_parent)                          \
    }                                                                          \
  }

/* The AVX-512 and AVX2 instances (tokens_avx512.c, tokens_avx2.c); call
 * only at that SIMD level (kvidx__hash_simd_level()). */
void kvidx__chain_xxh_avx512(const kvidx__chain_layout *L,
                             uint8_t (*buf)[CHAIN_BUF], const uint8_t *parent,
                             const uint32_t *tokens, size_t i, size_t n_blocks,
                             kvidx_digest *out_digests, uint64_t *out_keys);
void kvidx__chain_xxh_avx2(const kvidx__chain_layout *L,
                           uint8_t (*buf)[CHAIN_BUF], const uint8_t *parent,
                           const uint32_t *tokens, size_t i, size_t n_blocks,
                           kvidx_digest *out_digests, uint64_t *out_keys);
#define KVIDX_CHAIN_XXH 1
#endif

#endif

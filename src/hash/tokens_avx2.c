/*
 * tokens_avx2.c: the token encoders with AVX2, for x86-64 CPUs without the
 * AVX-512 subset of tokens_avx512.c (AMD before Zen 4, Intel before Ice
 * Lake, Skylake-SP / Cascade Lake servers), and the XXH3 chain loop
 * compiled with them.
 *
 * AVX2 has no byte compress, so the records are packed by one in-lane byte
 * shuffle from a table: 3 ids per 16-byte lane, 6 per step. Ids below 2^24
 * (every real vocabulary) have records of at most 5 bytes, so 3 of them fit
 * a lane; the lane's 4th dword is replaced by the constants the records
 * need (pickle's opcodes and 0, CBOR's heads and 0). Two or three compares
 * give each id's class (2 bits); the three classes of a lane index a
 * 64-entry table of shuffle masks and record lengths. A step is 2 loads, a
 * blend, 2-3 compares and movemasks, 2 table loads, one shuffle and two
 * 16-byte stores; one lane (3 ids) more where 4 ids are left. A run with an
 * id >= 2^24 and the last 1 to 3 ids of a run take the portable encoder. The
 * records are bit for bit those of pickle.c / cbor.c: test_hash_paths.c
 * compares them.
 *
 * Compiled for x86-64 with GCC or clang only; the functions carry their own
 * target attribute and are called only after tokens.c has checked the CPU
 * and called kvidx__hash_avx2_init().
 */
#include <pthread.h>

#include "hash/chain_loop.h"

#if defined(KVIDX_HASH_HAVE_AVX512)
#include <immintrin.h>

#define AVX2_TARGET __attribute__((target("avx2")))

/* Byte 4k..4k+3 of a lane: id k (b0 b1 b2 0); bytes 12..15: the constants
 * (pickle BININT1 4b, BININT2 4d, BININT 4a, 0; CBOR 18, 19, 1a, 0). */
#define CONST_AT 12
static const uint32_t lane_consts[2] = {0x004a4d4bu, 0x001a1918u};

/* [format][classes of the lane's 3 ids, 2 bits each]: the shuffle (0x80:
 * zero) and the length. pickle classes: 0 BININT1, 1 BININT2, 2 BININT;
 * CBOR: 0 immediate, 1 one byte, 2 two, 3 four. */
static _Alignas(16) uint8_t lut_shuffle[2][64][16];
static uint8_t lut_len[2][64];
static pthread_once_t lut_once = PTHREAD_ONCE_INIT;

static void build_luts(void) {
  for (int cbor = 0; cbor < 2; cbor++) {
    for (int idx = 0; idx < 64; idx++) {
      uint8_t *s = lut_shuffle[cbor][idx];
      uint8_t n = 0;
      memset(s, 0x80, 16);
      for (int k = 0; k < 3; k++) {
        int cls = idx >> (2 * k) & 3;
        uint8_t b = (uint8_t)(4 * k);
        if (!cbor) { /* opcode, then little-endian; class 3 never occurs */
          s[n++] = (uint8_t)(CONST_AT + (cls == 0 ? 0 : cls == 1 ? 1 : 2));
          s[n++] = b;
          if (cls >= 1)
            s[n++] = (uint8_t)(b + 1);
          if (cls >= 2) {
            s[n++] = (uint8_t)(b + 2);
            s[n++] = CONST_AT + 3;
          }
        } else { /* head (none for an immediate), then big-endian */
          if (cls >= 1)
            s[n++] = (uint8_t)(CONST_AT + cls - 1);
          if (cls == 3) {
            s[n++] = CONST_AT + 3;
            s[n++] = (uint8_t)(b + 2);
          }
          if (cls >= 2)
            s[n++] = (uint8_t)(b + 1);
          s[n++] = b;
        }
      }
      lut_len[cbor][idx] = n;
    }
  }
}

void kvidx__hash_avx2_init(void) {
  pthread_once(&lut_once, build_luts);
}

/* The 2-bit class fields of three ids from the low 3 bits of a movemask. */
static const uint8_t spread3[8] = {0, 1, 4, 5, 16, 17, 20, 21};

/* The table index of each 16-byte lane of y (ids in dwords 0..2, the
 * constants in 3): each id's class is the number of the compares > 255,
 * > 65535 and (CBOR) > 23 it passes. */
AVX2_TARGET CHAIN_INLINE void lane_indexes(__m256i y, int cbor,
                                           unsigned idx[2]) {
  unsigned m8 = (unsigned)_mm256_movemask_ps(
      _mm256_castsi256_ps(_mm256_cmpgt_epi32(y, _mm256_set1_epi32(255))));
  unsigned m16 = (unsigned)_mm256_movemask_ps(
      _mm256_castsi256_ps(_mm256_cmpgt_epi32(y, _mm256_set1_epi32(65535))));
  unsigned m5 = cbor ? (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(
                           _mm256_cmpgt_epi32(y, _mm256_set1_epi32(23))))
                     : 0;
  for (unsigned lane = 0; lane < 2; lane++) {
    unsigned sh = 4 * lane;
    idx[lane] = (unsigned)spread3[m8 >> sh & 7] + spread3[m16 >> sh & 7] +
                spread3[m5 >> sh & 7];
  }
}

/* Encodes tok[0..6) (all < 2^24; tok[6] is read too) at d; returns the
 * end. Stores up to 16 bytes past the last record's start. */
AVX2_TARGET CHAIN_INLINE uint8_t *encode6(uint8_t *d, const uint32_t *tok,
                                          __m256i consts, int cbor) {
  __m256i v = _mm256_inserti128_si256(
      _mm256_castsi128_si256(
          _mm_loadu_si128((const __m128i *)(const void *)tok)),
      _mm_loadu_si128((const __m128i *)(const void *)(tok + 3)), 1);
  __m256i y = _mm256_blend_epi32(v, consts, 0x88);
  unsigned idx[2];
  lane_indexes(y, cbor, idx);
  __m256i shuffle = _mm256_inserti128_si256(
      _mm256_castsi128_si256(_mm_load_si128(
          (const __m128i *)(const void *)lut_shuffle[cbor][idx[0]])),
      _mm_load_si128((const __m128i *)(const void *)lut_shuffle[cbor][idx[1]]),
      1);
  __m256i rec = _mm256_shuffle_epi8(y, shuffle);
  _mm_storeu_si128((__m128i *)(void *)d, _mm256_castsi256_si128(rec));
  d += lut_len[cbor][idx[0]];
  _mm_storeu_si128((__m128i *)(void *)d, _mm256_extracti128_si256(rec, 1));
  return d + lut_len[cbor][idx[1]];
}

/* Encodes tok[0..3) (all < 2^24; tok[3] is read too) at d: one lane. */
AVX2_TARGET CHAIN_INLINE uint8_t *encode3(uint8_t *d, const uint32_t *tok,
                                          __m256i consts, int cbor) {
  __m128i y =
      _mm_blend_epi32(_mm_loadu_si128((const __m128i *)(const void *)tok),
                      _mm256_castsi256_si128(consts), 0x8);
  unsigned idx[2];
  lane_indexes(_mm256_zextsi128_si256(y), cbor, idx);
  _mm_storeu_si128(
      (__m128i *)(void *)d,
      _mm_shuffle_epi8(y, _mm_load_si128((const __m128i *)(const void *)
                                             lut_shuffle[cbor][idx[0]])));
  return d + lut_len[cbor][idx[0]];
}

/* 1 if any of tok[0..n) is >= 2^24. */
AVX2_TARGET CHAIN_INLINE int any_id_over_24_bits(const uint32_t *tok,
                                                 size_t n) {
  __m256i seen = _mm256_setzero_si256();
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    seen = _mm256_or_si256(
        seen, _mm256_loadu_si256((const __m256i *)(const void *)(tok + i)));
  uint32_t rest = 0;
  for (size_t k = n - i; k > 0; k--) /* the last n % 8 */
    rest |= tok[n - k];
  return !_mm256_testz_si256(seen, _mm256_set1_epi32((int)0xff000000u)) ||
         rest >= 1u << 24;
}

AVX2_TARGET CHAIN_INLINE uint8_t *tokens6(uint8_t *d, const uint32_t *tok,
                                          size_t n, int cbor) {
  size_t i = 0;
  if (n >= 7 && !any_id_over_24_bits(tok, n)) {
    __m256i consts = _mm256_set1_epi32((int)lane_consts[cbor]);
    for (; i + 7 <= n; i += 6)
      d = encode6(d, tok + i, consts, cbor);
    if (i + 4 <= n) {
      d = encode3(d, tok + i, consts, cbor);
      i += 3;
    }
  }
  return cbor ? kvidx__cbor_tokens_scalar(d, tok + i, n - i)
              : kvidx__pickle_tokens_scalar(d, tok + i, n - i);
}

AVX2_TARGET CHAIN_INLINE uint8_t *pickle_tokens(uint8_t *d, const uint32_t *tok,
                                                size_t n) {
  return tokens6(d, tok, n, 0);
}

AVX2_TARGET CHAIN_INLINE uint8_t *cbor_tokens(uint8_t *d, const uint32_t *tok,
                                              size_t n) {
  return tokens6(d, tok, n, 1);
}

AVX2_TARGET uint8_t *kvidx__pickle_tokens_avx2(uint8_t *d, const uint32_t *tok,
                                               size_t n) {
  return pickle_tokens(d, tok, n);
}

AVX2_TARGET uint8_t *kvidx__cbor_tokens_avx2(uint8_t *d, const uint32_t *tok,
                                             size_t n) {
  return cbor_tokens(d, tok, n);
}

#if defined(KVIDX_CHAIN_XXH)
KVIDX_CHAIN_XXH_INSTANCE(AVX2_TARGET, kvidx__chain_xxh_avx2, pickle_tokens,
                         cbor_tokens, kvidx__put_parent_words)
#endif

#endif

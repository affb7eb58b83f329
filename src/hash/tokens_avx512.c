/*
 * tokens_avx512.c: the token encoders with AVX-512 (F, BW, VL, VBMI2).
 *
 * Serializing token ids is a sequence of variable-length records (pickle:
 * 2, 3, 5 or 7 bytes; CBOR: 1, 2, 3 or 5), so a scalar encoder pays a class
 * computation, a store and a pointer step per token. Here 8 tokens are
 * widened to 8 qword lanes; each lane is turned into its record padded to 8
 * bytes (class by three compares, then a shift and the opcode or head
 * looked up per class), and one VPCOMPRESSB squeezes out the padding, so 8
 * tokens cost one 64-byte store and no branch. The records are bit for bit
 * those of pickle.c / cbor.c (put_token): the tests run both.
 *
 * Compiled for x86-64 with GCC or clang only; the functions carry their own
 * target attribute and are called only after tokens.c has checked the CPU.
 */
#include "hash/hash_internal.h"

#if defined(KVIDX_HASH_HAVE_AVX512)
#include <immintrin.h>

#define AVX512_TARGET                                                          \
  __attribute__((                                                              \
      target("popcnt,avx2,avx512f,avx512bw,avx512vl,avx512vbmi,avx512vbmi2")))

/* One format: a token is in class c + 1 when it exceeds bound[c]; per class
 * the record is ((prepared token) << shl >> shr) | head, its bytes marked
 * 0xff in keep. The tables are 8 qwords (one vector; 4 classes used). */
typedef struct {
  uint64_t bound[3];
  uint64_t shl[8], shr[8], head[8];
  uint64_t keep[8];
} record_format;

/* pickle: BININT1 (4b b), BININT2 (4d u16), BININT (4a i32), LONG1 of 5
 * bytes (8a 05 u32 00) for ids >= 2^31. */
static const record_format pickle_format = {
    {0xff, 0xffff, 0x7fffffff},
    {8, 8, 8, 16},
    {0, 0, 0, 0},
    {0x4b, 0x4d, 0x4a, 0x058a},
    {0xffff, 0xffffff, 0xffffffffffull, 0xffffffffffffffull},
};

/* CBOR: immediate (v < 24), 18 b, 19 u16be, 1a u32be. The token arrives
 * byte-swapped into bytes 1..4 of its lane (b3 b2 b1 b0 at 1, 2, 3, 4), and
 * the right shift drops the leading zero bytes; an immediate takes b0 down
 * to byte 0, where it is its own head. */
static const record_format cbor_format = {
    {23, 0xff, 0xffff},
    {0, 0, 0, 0},
    {32, 24, 16, 0},
    {0, 0x18, 0x19, 0x1a},
    {0xff, 0xffff, 0xffffff, 0xffffffffffull},
};

/* Encodes tok[0..r) (1 <= r <= 8) at d; returns the end. */
AVX512_TARGET static inline uint8_t *encode8(uint8_t *d, const uint32_t *tok,
                                             unsigned r, const record_format *f,
                                             int bswap) {
  const __m512i one = _mm512_set1_epi64(1);
  const __m512i shl = _mm512_loadu_si512(f->shl);
  const __m512i shr = _mm512_loadu_si512(f->shr);
  const __m512i head = _mm512_loadu_si512(f->head);
  const __m512i keep = _mm512_loadu_si512(f->keep);
  __mmask8 lanes = (__mmask8)((1u << r) - 1);
  __m512i v =
      _mm512_cvtepu32_epi64(_mm256_maskz_loadu_epi32(lanes, (const void *)tok));
  __m512i cls = _mm512_maskz_mov_epi64(
      _mm512_cmpgt_epu64_mask(v, _mm512_set1_epi64((long long)f->bound[0])),
      one);
  cls = _mm512_mask_add_epi64(
      cls,
      _mm512_cmpgt_epu64_mask(v, _mm512_set1_epi64((long long)f->bound[1])),
      cls, one);
  cls = _mm512_mask_add_epi64(
      cls,
      _mm512_cmpgt_epu64_mask(v, _mm512_set1_epi64((long long)f->bound[2])),
      cls, one);
  if (bswap) {
    /* b3 b2 b1 b0 into bytes 1..4 of each qword lane (-1: zero). */
    const __m512i to_be = _mm512_set_epi8(
        -1, -1, -1, 8, 9, 10, 11, -1, -1, -1, -1, 0, 1, 2, 3, -1, -1, -1, -1, 8,
        9, 10, 11, -1, -1, -1, -1, 0, 1, 2, 3, -1, -1, -1, -1, 8, 9, 10, 11, -1,
        -1, -1, -1, 0, 1, 2, 3, -1, -1, -1, -1, 8, 9, 10, 11, -1, -1, -1, -1, 0,
        1, 2, 3, -1);
    v = _mm512_shuffle_epi8(v, to_be);
  }
  __m512i rec = _mm512_srlv_epi64(
      _mm512_sllv_epi64(v, _mm512_permutexvar_epi64(cls, shl)),
      _mm512_permutexvar_epi64(cls, shr));
  rec = _mm512_or_si512(rec, _mm512_permutexvar_epi64(cls, head));
  __mmask64 bytes = _mm512_test_epi8_mask(_mm512_permutexvar_epi64(cls, keep),
                                          _mm512_set1_epi8(-1));
  if (r < 8)
    bytes &= (1ull << (8 * r)) - 1;
  _mm512_storeu_si512((void *)d, _mm512_maskz_compress_epi8(bytes, rec));
  return d + _mm_popcnt_u64(bytes);
}

AVX512_TARGET uint8_t *
kvidx__pickle_tokens_avx512(uint8_t *d, const uint32_t *tok, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    d = encode8(d, tok + i, 8, &pickle_format, 0);
  if (i < n)
    d = encode8(d, tok + i, (unsigned)(n - i), &pickle_format, 0);
  return d;
}

AVX512_TARGET uint8_t *
kvidx__cbor_tokens_avx512(uint8_t *d, const uint32_t *tok, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    d = encode8(d, tok + i, 8, &cbor_format, 1);
  if (i < n)
    d = encode8(d, tok + i, (unsigned)(n - i), &cbor_format, 1);
  return d;
}

#endif

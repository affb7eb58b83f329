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
#include "hash/chain_loop.h"

#if defined(KVIDX_HASH_HAVE_AVX512)
#include <immintrin.h>

#define AVX512_TARGET                                                          \
  __attribute__((target("popcnt,avx2,avx512f,avx512bw,avx512vl,avx512cd,"      \
                        "avx512vbmi,avx512vbmi2,avx512bitalg")))

/*
 * A record class is described by one qword, looked up per lane:
 *   bits 0..15   constant bytes (pickle opcode(s) / CBOR head)
 *   bits 40..47  one bit per byte of the record (its length)
 *   bits 56..63  shift count of the token bytes (pickle: left, CBOR: right)
 * Every instruction that writes a mask register, and every cross-lane
 * permute, runs on one port (p5) of the Intel cores this targets, and that
 * port is the bottleneck: hence the class is found with one leading-zero
 * count and one byte permute (not three compares and three adds), the
 * record's length mask comes straight out of the class qword by
 * VPSHUFBITQMB, and the opcode is merged by one ternary-logic OR-AND.
 */
#define CLASS(head, len, shift)                                                \
  ((uint64_t)(head) | ((1ull << (len)) - 1) << 40 | (uint64_t)(shift) << 56)
#define CLASS_KEEP_BIT 40
#define CLASS_SHIFT_BIT 56

/* pickle: BININT1 (4b b), BININT2 (4d u16le), BININT (4a i32le), LONG1 of 5
 * bytes (8a 05 u32le 00) for ids >= 2^31; the token is shifted left past the
 * opcode. */
static const uint64_t pickle_classes[8] = {CLASS(0x4b, 2, 8), CLASS(0x4d, 3, 8),
                                           CLASS(0x4a, 5, 8),
                                           CLASS(0x058a, 7, 16)};
/* CBOR: immediate (< 24), 18 b, 19 u16be, 1a u32be. The token arrives
 * byte-swapped in bytes 1..4 of its lane (b3 b2 b1 b0) and is shifted right
 * to drop its leading zero bytes; an immediate takes b0 down to byte 0, where
 * it is its own head. */
static const uint64_t cbor_classes[8] = {CLASS(0, 1, 32), CLASS(0x18, 2, 24),
                                         CLASS(0x19, 3, 16), CLASS(0x1a, 5, 0)};

/* The class of an id by the leading zeros of its zero-extended qword, lz in
 * 32..64 (64, the id 0, wraps to index 0 in VPERMB): pickle by significant
 * bits <= 8 / <= 16 / <= 31 / 32; CBOR by <= 8 / <= 16 / more, the
 * immediates (< 24) being sorted out by a compare. */
static const uint8_t pickle_class_of_lz[64] = {
    0, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0};
static const uint8_t cbor_class_of_lz[64] = {
    1, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1};

/* Encodes tok[0..r) (1 <= r <= 8) at d; returns the end. */
AVX512_TARGET static inline uint8_t *encode8(uint8_t *d, const uint32_t *tok,
                                             unsigned r, __m512i class_of_lz,
                                             __m512i classes, int cbor) {
  __mmask8 lanes = (__mmask8)((1u << r) - 1);
  __m512i v =
      _mm512_cvtepu32_epi64(_mm256_maskz_loadu_epi32(lanes, (const void *)tok));
  __m512i idx = _mm512_permutexvar_epi8(_mm512_lzcnt_epi64(v), class_of_lz);
  __m512i body, cls;
  if (cbor) {
    idx = _mm512_mask_mov_epi64(
        idx, _mm512_cmplt_epu64_mask(v, _mm512_set1_epi64(24)),
        _mm512_setzero_si512());
    cls = _mm512_permutexvar_epi64(idx, classes);
    /* b3 b2 b1 b0 into bytes 1..4 of each qword lane (-1: zero). */
    const __m512i to_be = _mm512_set_epi8(
        -1, -1, -1, 8, 9, 10, 11, -1, -1, -1, -1, 0, 1, 2, 3, -1, -1, -1, -1, 8,
        9, 10, 11, -1, -1, -1, -1, 0, 1, 2, 3, -1, -1, -1, -1, 8, 9, 10, 11, -1,
        -1, -1, -1, 0, 1, 2, 3, -1, -1, -1, -1, 8, 9, 10, 11, -1, -1, -1, -1, 0,
        1, 2, 3, -1);
    body = _mm512_srlv_epi64(_mm512_shuffle_epi8(v, to_be),
                             _mm512_srli_epi64(cls, CLASS_SHIFT_BIT));
  } else {
    cls = _mm512_permutexvar_epi64(idx, classes);
    body = _mm512_sllv_epi64(v, _mm512_srli_epi64(cls, CLASS_SHIFT_BIT));
  }
  /* body | (cls & 0xffff); 0xf8 is A | (B & C). */
  __m512i rec =
      _mm512_ternarylogic_epi64(body, cls, _mm512_set1_epi64(0xffff), 0xf8);
  /* Byte j of a lane is kept if bit CLASS_KEEP_BIT + j of its class is. */
  __mmask64 bytes = _mm512_bitshuffle_epi64_mask(
      cls,
      _mm512_set1_epi64((long long)(0x0706050403020100ull +
                                    0x0101010101010101ull * CLASS_KEEP_BIT)));
  if (r < 8)
    bytes &= (1ull << (8 * r)) - 1;
  _mm512_storeu_si512((void *)d, _mm512_maskz_compress_epi8(bytes, rec));
  return d + _mm_popcnt_u64(bytes);
}

/* The encoders, inlined into the AVX-512 chain loop below and wrapped as
 * kvidx__*_tokens_avx512 for the general serializers. */
AVX512_TARGET static inline uint8_t *
pickle_tokens(uint8_t *d, const uint32_t *tok, size_t n) {
  const __m512i class_of_lz = _mm512_loadu_si512(pickle_class_of_lz);
  const __m512i classes = _mm512_loadu_si512(pickle_classes);
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    d = encode8(d, tok + i, 8, class_of_lz, classes, 0);
  if (i < n)
    d = encode8(d, tok + i, (unsigned)(n - i), class_of_lz, classes, 0);
  return d;
}

AVX512_TARGET static inline uint8_t *
cbor_tokens(uint8_t *d, const uint32_t *tok, size_t n) {
  const __m512i class_of_lz = _mm512_loadu_si512(cbor_class_of_lz);
  const __m512i classes = _mm512_loadu_si512(cbor_classes);
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    d = encode8(d, tok + i, 8, class_of_lz, classes, 1);
  if (i < n)
    d = encode8(d, tok + i, (unsigned)(n - i), class_of_lz, classes, 1);
  return d;
}

AVX512_TARGET uint8_t *
kvidx__pickle_tokens_avx512(uint8_t *d, const uint32_t *tok, size_t n) {
  return pickle_tokens(d, tok, n);
}

AVX512_TARGET uint8_t *
kvidx__cbor_tokens_avx512(uint8_t *d, const uint32_t *tok, size_t n) {
  return cbor_tokens(d, tok, n);
}

#if defined(KVIDX_CHAIN_XXH)
AVX512_TARGET void
kvidx__chain_xxh_avx512(const kvidx__chain_layout *L, uint8_t (*buf)[CHAIN_BUF],
                        const uint8_t *parent, const uint32_t *tokens, size_t i,
                        size_t n_blocks, kvidx_digest *out_digests,
                        uint64_t *out_keys) {
  if (L->pickle)
    kvidx__chain_xxh_run(L, 1, pickle_tokens, buf, parent, tokens, i, n_blocks,
                         out_digests, out_keys);
  else
    kvidx__chain_xxh_run(L, 0, cbor_tokens, buf, parent, tokens, i, n_blocks,
                         out_digests, out_keys);
}
#endif

#endif

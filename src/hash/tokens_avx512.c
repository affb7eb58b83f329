/*
 * tokens_avx512.c: the token encoders with AVX-512 (F, BW, VL, CD, VBMI,
 * VBMI2, BITALG), and the XXH3 chain loop compiled with them.
 *
 * Serializing token ids is a sequence of variable-length records (pickle:
 * 2, 3, 5 or 7 bytes; CBOR: 1, 2, 3 or 5), so a scalar encoder pays a class
 * computation, a store and a pointer step per token. Two vector encoders:
 *  - 8 ids per step (encode8, any id): each id widened to a qword lane and
 *    turned into its record padded to 8 bytes; one VPCOMPRESSB squeezes
 *    out the padding.
 *  - 13 ids per step (encode13, ids < 2^24, runs of >= TOKENS13_MIN ids):
 *    records spread into 5-byte slots, 13 to a vector, then compressed.
 * Either way a step is one 64-byte store and no branch per id. The records
 * are bit for bit those of pickle.c / cbor.c (put_token): the tests run
 * both, on every size-class edge in every lane.
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

/* Encodes tok[0..r) (1 <= r <= 8, any ids) at d; returns the end. */
AVX512_TARGET CHAIN_INLINE uint8_t *encode8(uint8_t *d, const uint32_t *tok,
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

/* The 8-ids-per-step encoder: any id; the fallback of the 13-ids one. */
AVX512_TARGET CHAIN_INLINE uint8_t *tokens8(uint8_t *d, const uint32_t *tok,
                                            size_t n, int cbor) {
  const __m512i class_of_lz =
      _mm512_loadu_si512(cbor ? cbor_class_of_lz : pickle_class_of_lz);
  const __m512i classes =
      _mm512_loadu_si512(cbor ? cbor_classes : pickle_classes);
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    d = encode8(d, tok + i, 8, class_of_lz, classes, cbor);
  if (i < n)
    d = encode8(d, tok + i, (unsigned)(n - i), class_of_lz, classes, cbor);
  return d;
}

/* ---- 13 ids per step ---------------------------------------------------- */

/*
 * Ids below 2^24 (every real vocabulary) have records of at most 5 bytes
 * that fit a 5-byte slot of the id's three low bytes, its opcode or head,
 * and a constant 0:
 *   pickle [opcode, b0, b1, b2, 0]   CBOR [head, 0, b2, b1, b0]
 * 12 slots and the first 4 bytes of a 13th fill one 64-byte vector:
 *  - the opcode / head goes into the free byte 3 of its id's lane, looked
 *    up by the id's leading-zero count (one two-table VPERMT2D);
 *  - one byte permute spreads the lanes into the slots;
 *  - a second one spreads the leading-zero counts the same way, and one
 *    compare with a threshold per slot byte gives the bytes to keep
 *    (pickle keeps b1 from 256 on, b2 and the 0 from 65536 on; CBOR keeps
 *    the head from 24 on, b1 from 256, the 0 and b2 from 65536, and b0
 *    always, an immediate being its own b0);
 *  - one compress packs them, and one store writes them.
 * The 13th record's missing last byte is written after: pickle's 0 (there
 * if the id took 5 bytes; then the mask's last bit is set), CBOR's b0
 * (always there). For CBOR the leading zeros are those of
 * v | ((v + 8) & 32), which equal v's except that 24..31 moves up with
 * 32..255, so that the immediates (< 24) are a leading-zero class too.
 * Per step that is 9 vector instructions, 6 of them on port 5 (the two
 * permutes, the compare, the table lookup and the 2-uop compress), for 13
 * ids, against 6 port-5 uops for 8 ids in encode8 (docs/hashing.md).
 */
#define P13(k) 4 * (k) + 3, 4 * (k), 4 * (k) + 1, 4 * (k) + 2, 52
#define C13(k) 4 * (k) + 3, 52, 4 * (k) + 2, 4 * (k) + 1, 4 * (k)
#define L13(k) 4 * (k), 4 * (k), 4 * (k), 4 * (k), 4 * (k)
#define PKEEP 255, 255, 23, 15, 15
#define CKEEP 26, 15, 15, 23, 255
/* Byte 52 is lane 13, never loaded: 0. */
static const uint8_t pickle13_slots[64] = {
    P13(0), P13(1), P13(2),  P13(3),  P13(4), P13(5), P13(6), P13(7),
    P13(8), P13(9), P13(10), P13(11), 51,     48,     49,     50};
static const uint8_t cbor13_slots[64] = {
    C13(0), C13(1), C13(2),  C13(3),  C13(4), C13(5), C13(6), C13(7),
    C13(8), C13(9), C13(10), C13(11), 51,     52,     50,     49};
static const uint8_t lz13_slots[64] = {
    L13(0), L13(1), L13(2),  L13(3),  L13(4), L13(5), L13(6), L13(7),
    L13(8), L13(9), L13(10), L13(11), 48,     48,     48,     48};
/* A byte is kept if its id's leading-zero count is <= this. */
static const uint8_t pickle13_keep[64] = {
    PKEEP, PKEEP, PKEEP, PKEEP, PKEEP, PKEEP, PKEEP, PKEEP,
    PKEEP, PKEEP, PKEEP, PKEEP, 255,   255,   23,    15};
static const uint8_t cbor13_keep[64] = {
    CKEEP, CKEEP, CKEEP, CKEEP, CKEEP, CKEEP, CKEEP, CKEEP,
    CKEEP, CKEEP, CKEEP, CKEEP, 26,    15,    15,    23};
/* Opcode / head << 24 by leading zeros 0..31 (32, the id 0, wraps to 0):
 * 8..15 three bytes, 16..23 two, 24..31 one (and 0..7 never get here).
 * pickle: BININT (4a), BININT2 (4d), BININT1 (4b); CBOR: 1a, 19, 18 (an
 * immediate's head is dropped). */
#define R8(x) x, x, x, x, x, x, x, x
static const uint32_t op_tab[2][32] = {
    {R8(0x4b000000u), R8(0x4a000000u), R8(0x4d000000u), R8(0x4b000000u)},
    {R8(0x18000000u), R8(0x1a000000u), R8(0x19000000u), R8(0x18000000u)}};

typedef struct {
  __m512i slots, lz, keep, op_lo, op_hi;
} enc13_consts;

/* Encodes tok[0..r) (1 <= r <= 13, all < 2^24) at d; returns the end.
 * Stores up to 65 bytes at d. */
AVX512_TARGET CHAIN_INLINE uint8_t *encode13(uint8_t *d, const uint32_t *tok,
                                             unsigned r, const enc13_consts *c,
                                             int cbor) {
  __m512i v = _mm512_maskz_loadu_epi32((__mmask16)((1u << r) - 1), tok);
  __m512i u = v;
  if (cbor) /* v | ((v + 8) & 32); 0xf8 is A | (B & C) */
    u = _mm512_ternarylogic_epi32(v, _mm512_add_epi32(v, _mm512_set1_epi32(8)),
                                  _mm512_set1_epi32(32), 0xf8);
  __m512i lz = _mm512_lzcnt_epi32(u);
  __m512i y =
      _mm512_or_si512(v, _mm512_permutex2var_epi32(c->op_lo, lz, c->op_hi));
  __m512i rec = _mm512_permutexvar_epi8(c->slots, y);
  __m512i lzs = _mm512_permutexvar_epi8(c->lz, lz);
  uint64_t keep = r == 13 ? _cvtmask64_u64(_mm512_cmple_epu8_mask(lzs, c->keep))
                          : _cvtmask64_u64(_mm512_mask_cmple_epu8_mask(
                                (1ull << (5 * r)) - 1, lzs, c->keep));
  _mm512_storeu_si512((void *)d,
                      _mm512_maskz_compress_epi8(_cvtu64_mask64(keep), rec));
  size_t n = (size_t)_mm_popcnt_u64(keep);
  if (r < 13)
    return d + n;
  if (cbor) {
    d[n] = (uint8_t)tok[12];
    return d + n + 1;
  }
  if (n == 64) /* else byte n, the compressed vector's, is 0 already */
    d[64] = 0;
  return d + n + (keep >> 63);
}

/* 1 if any of tok[0..n) is >= 2^24. */
AVX512_TARGET CHAIN_INLINE int any_id_over_24_bits(const uint32_t *tok,
                                                   size_t n) {
  __m512i seen = _mm512_setzero_si512();
  size_t i = 0;
  for (; i + 16 <= n; i += 16)
    seen = _mm512_or_si512(seen, _mm512_loadu_si512((const void *)(tok + i)));
  if (i < n)
    seen = _mm512_or_si512(
        seen, _mm512_maskz_loadu_epi32((__mmask16)((1u << (n - i)) - 1),
                                       (const void *)(tok + i)));
  return _mm512_cmpge_epu32_mask(seen, _mm512_set1_epi32(1 << 24)) != 0;
}

/* The 13-ids encoder for a run with ids >= 2^24 falls back to encode8. The
 * check is made per run, not once per chain up front, which measured
 * 2.5 ns per 64-token block slower: probably because the check's loads
 * also bring the run's ids into L1 just before encode13 reads them. */
AVX512_TARGET CHAIN_INLINE uint8_t *tokens13(uint8_t *d, const uint32_t *tok,
                                             size_t n, int cbor) {
  if (__builtin_expect(any_id_over_24_bits(tok, n), 0))
    return tokens8(d, tok, n, cbor);
  enc13_consts c = {_mm512_loadu_si512(cbor ? cbor13_slots : pickle13_slots),
                    _mm512_loadu_si512(lz13_slots),
                    _mm512_loadu_si512(cbor ? cbor13_keep : pickle13_keep),
                    _mm512_loadu_si512(op_tab[cbor]),
                    _mm512_loadu_si512(op_tab[cbor] + 16)};
  size_t i = 0;
  for (; i + 13 <= n; i += 13)
    d = encode13(d, tok + i, 13, &c, cbor);
  if (i < n)
    d = encode13(d, tok + i, (unsigned)(n - i), &c, cbor);
  return d;
}

/* 13 ids per step from two steps on: for 16-token blocks (13 + 3) two
 * 8-id steps measured faster (xxhash 16: 13.2 vs 14.1 ns per block). */
#define TOKENS13_MIN 26

/* The encoders, inlined into the AVX-512 chain loop below and wrapped as
 * kvidx__*_tokens_avx512 for the general serializers. */
AVX512_TARGET CHAIN_INLINE uint8_t *
pickle_tokens(uint8_t *d, const uint32_t *tok, size_t n) {
  return n >= TOKENS13_MIN ? tokens13(d, tok, n, 0) : tokens8(d, tok, n, 0);
}

AVX512_TARGET CHAIN_INLINE uint8_t *cbor_tokens(uint8_t *d, const uint32_t *tok,
                                                size_t n) {
  return n >= TOKENS13_MIN ? tokens13(d, tok, n, 1) : tokens8(d, tok, n, 1);
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
/*
 * The parent of the next block, written as one 32-byte store of the whole
 * head: the digest words go into a vector register and one two-source byte
 * permute both reverses them into the canonical byte order and places them
 * at parent_at between the bytes already in the buffer. The digest's path
 * into the next XXH3 call is then register moves, one permute and one
 * store, which XXH3's loads (8 or 16 bytes, all within the first 32) take
 * by store forwarding; no general-purpose shifts, no spill.
 */
#define HEAD_IDX(at, j)                                                        \
  ((j) >= (at) && (j) < (at) + 16 ? 32 + 15 - ((j) - (at)) : (j))
#define HEAD_IDX8(at, j)                                                       \
  HEAD_IDX(at, j), HEAD_IDX(at, j + 1), HEAD_IDX(at, j + 2),                   \
      HEAD_IDX(at, j + 3), HEAD_IDX(at, j + 4), HEAD_IDX(at, j + 5),           \
      HEAD_IDX(at, j + 6), HEAD_IDX(at, j + 7)
#define HEAD_IDX32(at)                                                         \
  { HEAD_IDX8(at, 0), HEAD_IDX8(at, 8), HEAD_IDX8(at, 16), HEAD_IDX8(at, 24) }
static const uint8_t head_idx_pickle[32] = HEAD_IDX32(13);
static const uint8_t head_idx_cbor[32] = HEAD_IDX32(2);

AVX512_TARGET static inline void put_parent_vbmi(const kvidx__chain_layout *L,
                                                 uint8_t *b, uint64_t lo,
                                                 uint64_t hi) {
  __m128i p =
      _mm_insert_epi64(_mm_cvtsi64_si128((long long)lo), (long long)hi, 1);
  __m256i idx = _mm256_loadu_si256(
      (const void *)(L->parent_at == 13 ? head_idx_pickle : head_idx_cbor));
  __m256i cur = _mm256_loadu_si256((const void *)b);
  _mm256_storeu_si256(
      (void *)b, _mm256_permutex2var_epi8(cur, idx, _mm256_castsi128_si256(p)));
}

KVIDX_CHAIN_XXH_INSTANCE(AVX512_TARGET, kvidx__chain_xxh_avx512, pickle_tokens,
                         cbor_tokens, put_parent_vbmi)
#endif

#endif

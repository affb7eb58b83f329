/*
 * test_hash_paths.c: kvidx's two ways to encode a block give the same bytes.
 *
 * White-box (src/hash/hash_internal.h): the AVX-512 and AVX2 token encoders
 * against the portable ones on ids at every size boundary of pickle and
 * CBOR, and the fixed-layout chain of blocks without extra keys (chain.c)
 * against the general serializers (pickle.c / cbor.c), at every SIMD level
 * the CPU has. The general serializers are checked against CPython by
 * test_hash.c's vectors and test_hash_diff.py, which also runs with
 * KVIDX_HASH_SIMD=avx2 and KVIDX_HASH_NO_SIMD=1.
 */
#include <stdlib.h>

#include "hash/hash_internal.h"
#include "test.h"

/* Ids at the edges of the pickle (255/256, 65535/65536, 2^31) and CBOR (23/24
 * too) size classes. */
static const uint32_t edge_ids[] = {
    0,          1,          23,         24,         255,        256,
    65535,      65536,      16777215u,  16777216u,  0x7ffffffe, 0x7fffffff,
    0x80000000, 0x80000001, 0xfffffffe, 0xffffffff, 128255,     151935};

static uint64_t rng_state = 0x2545f4914f6cdd1dull;
static uint32_t rng(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (uint32_t)(rng_state >> 16);
}

/* An id of a random kind: an edge id, a vocabulary id, or any u32. */
static uint32_t rand_id(void) {
  switch (rng() % 4) {
  case 0:
    return edge_ids[rng() % (sizeof edge_ids / sizeof edge_ids[0])];
  case 1:
    return rng() % 128256u;
  case 2:
    return rng() % 300u;
  default:
    return rng();
  }
}

#define MAX_TOKENS 300
#define ENC_BUF (7 * MAX_TOKENS + KVIDX_HASH_TOKEN_SLACK)

static void check_encoders_agree(kvidx__token_encoder a, kvidx__token_encoder b,
                                 const uint32_t *tok, size_t n) {
  static uint8_t out_a[ENC_BUF], out_b[ENC_BUF];
  memset(out_a, 0xaa, sizeof out_a);
  memset(out_b, 0x55, sizeof out_b);
  /* The ids in a heap block of exactly their size, so that a read past
   * them is an error under ASan (make check). */
  uint32_t *ids = malloc(n * sizeof *ids + 1);
  CHECK(ids != NULL);
  memcpy(ids, tok, n * sizeof *ids);
  size_t len_a = (size_t)(a(out_a, ids, n) - out_a);
  size_t len_b = (size_t)(b(out_b, ids, n) - out_b);
  free(ids);
  CHECK_EQ_U64(len_a, len_b);
  if (memcmp(out_a, out_b, len_a) != 0) {
    size_t i = 0;
    while (out_a[i] == out_b[i])
      i++;
    fprintf(stderr, "n=%zu: first difference at byte %zu: %02x vs %02x\n", n, i,
            out_a[i], out_b[i]);
    CHECK(0);
  }
}

/* The SIMD encoders under test (set by each TEST) against the portable
 * ones, pickle and CBOR. */
static kvidx__token_encoder simd_pickle, simd_cbor;

static void check_both_formats(const uint32_t *tok, size_t n) {
  check_encoders_agree(kvidx__pickle_tokens_scalar, simd_pickle, tok, n);
  check_encoders_agree(kvidx__cbor_tokens_scalar, simd_cbor, tok, n);
}

/* Each edge id in each of the first `lanes` positions of runs of n_min..
 * n_max ids (the others i * step). */
static void check_edges_in_lanes(const uint32_t *edges, size_t n_edges,
                                 size_t lanes, size_t n_min, size_t n_max,
                                 uint32_t step) {
  uint32_t tok[MAX_TOKENS];
  for (size_t e = 0; e < n_edges; e++) {
    for (size_t lane = 0; lane < lanes; lane++) {
      for (size_t i = 0; i < n_max; i++)
        tok[i] = i == lane ? edges[e] : (uint32_t)i * step;
      for (size_t n = n_min; n <= n_max; n++)
        check_both_formats(tok, n);
    }
  }
}

/* Runs of every length up to MAX_TOKENS of id() (all tails of both step
 * sizes); with_large: each again with one id >= 2^24 at a random place. */
static void check_random_runs(uint32_t (*id)(void), int with_large) {
  uint32_t tok[MAX_TOKENS];
  for (size_t n = 0; n <= MAX_TOKENS; n++) {
    for (int rep = 0; rep < 4; rep++) {
      for (size_t i = 0; i < n; i++)
        tok[i] = id();
      check_both_formats(tok, n);
      if (with_large && n > 0) {
        tok[rng() % n] = rng() % 2 ? 16777216u : 0xffffffffu;
        check_both_formats(tok, n);
      }
    }
  }
}

/* Ids of any size: every edge id alone and in every lane position of a
 * group of 8, and random runs. */
static void check_any_id_runs(void) {
  check_edges_in_lanes(edge_ids, sizeof edge_ids / sizeof edge_ids[0], 9, 1, 9,
                       40);
  check_random_runs(rand_id, 0);
}

TEST(avx512_token_encoders_match_portable) {
  if (!kvidx__hash_avx512_usable()) {
    printf("note: no AVX-512 VBMI2 on this CPU, its encoders not run\n");
    return;
  }
  simd_pickle = kvidx__pickle_tokens_avx512;
  simd_cbor = kvidx__cbor_tokens_avx512;
  check_any_id_runs();
}

/* Ids below 2^24 (the 13-ids-per-step encoder's range) at its edges: the
 * pickle and CBOR classes, the CBOR head boundary 23/24 within one leading-
 * zero count (16..31), the (v + 8) mapping's carries (248..263), 2^24 - 1. */
static const uint32_t small_edges[] = {
    0,     1,      15,       16,        22,        23,     24,     25,    31,
    32,    247,    248,      255,       256,       263,    264,    65535, 65536,
    65543, 131071, 1u << 23, 16777214u, 16777215u, 128255, 151935, 201087};

static uint32_t rand_small_id(void) {
  switch (rng() % 3) {
  case 0:
    return small_edges[rng() % (sizeof small_edges / sizeof small_edges[0])];
  case 1:
    return rng() % 262144u;
  default:
    return rng() % (1u << 24);
  }
}

/* The 13-ids-per-step encoder (runs of >= 26 ids, all < 2^24): every edge id
 * in every lane of the first two groups and of a tail, runs whose 13 ids are
 * all 5-byte records (the compressed vector then fills all 64 bytes), and an
 * id >= 2^24 at any position sending the run to the 8-ids encoder. */
static void check_small_id_runs(size_t n_min) {
  check_edges_in_lanes(small_edges, sizeof small_edges / sizeof small_edges[0],
                       40, n_min, 40, 997);
  uint32_t tok[MAX_TOKENS];
  for (size_t n = n_min; n <= 80; n++) {
    for (size_t i = 0; i < n; i++)
      tok[i] = 65536u + (uint32_t)(rng() % 1000000u);
    check_both_formats(tok, n);
  }
  check_random_runs(rand_small_id, 1);
}

TEST(avx512_wide_encoder_match_portable) {
  if (!kvidx__hash_avx512_usable())
    return;
  simd_pickle = kvidx__pickle_tokens_avx512;
  simd_cbor = kvidx__cbor_tokens_avx512;
  check_small_id_runs(26);
}

/* The AVX2 encoder (6 ids per step for ids < 2^24, the portable one for the
 * rest): the same edges in every lane of runs from 1 id on, all-5-byte
 * runs, random runs of small and of any ids. */
TEST(avx2_encoder_match_portable) {
  if (kvidx__hash_simd_usable() < KVIDX__SIMD_AVX2) {
    printf("note: no AVX2 on this CPU, its encoders not run\n");
    return;
  }
  int was = kvidx__hash_set_simd(KVIDX__SIMD_AVX2); /* builds its tables */
  simd_pickle = kvidx__pickle_tokens_avx2;
  simd_cbor = kvidx__cbor_tokens_avx2;
  check_small_id_runs(1);
  check_any_id_runs();
  kvidx__hash_set_simd(was);
}

TEST(simd_switch) {
  int was = kvidx__hash_set_simd(KVIDX__SIMD_NONE);
  CHECK_EQ_INT(kvidx__hash_simd_level(), KVIDX__SIMD_NONE);
  CHECK(kvidx__token_encoder_for(1) == kvidx__pickle_tokens_scalar);
  CHECK(kvidx__token_encoder_for(0) == kvidx__cbor_tokens_scalar);
  int usable = kvidx__hash_simd_usable();
  CHECK_EQ_INT(kvidx__hash_set_simd(KVIDX__SIMD_AVX2), KVIDX__SIMD_NONE);
  CHECK_EQ_INT(kvidx__hash_simd_level(),
               usable < KVIDX__SIMD_AVX2 ? usable : KVIDX__SIMD_AVX2);
  CHECK_EQ_INT(kvidx__token_encoder_for(1) == kvidx__pickle_tokens_avx2,
               usable >= KVIDX__SIMD_AVX2);
  kvidx__hash_set_simd(KVIDX__SIMD_AVX512);
  CHECK_EQ_INT(kvidx__hash_simd_level(), usable);
  CHECK_EQ_INT(kvidx__token_encoder_for(1) == kvidx__pickle_tokens_avx512,
               usable == KVIDX__SIMD_AVX512);
  CHECK_EQ_INT(kvidx__token_encoder_for(0) == kvidx__cbor_tokens_avx512,
               usable == KVIDX__SIMD_AVX512);
  kvidx__hash_set_simd(was);
}

/* One block through the general serializer (pickle.c / cbor.c). */
static void general_block(kvidx_hash_algo algo, const uint8_t *parent,
                          size_t parent_len, const uint32_t *tok, size_t n,
                          kvidx_digest *out) {
  kvidx__block_tuple t = {parent, parent_len, tok, n, NULL, 0};
  kvidx__emitter e;
  kvidx__emit_init(&e, algo, KVIDX__EMIT_DIGEST);
  if (algo == KVIDX_HASH_SHA256 || algo == KVIDX_HASH_XXHASH)
    CHECK_OK(kvidx__pickle_tuple(&e, &t));
  else
    kvidx__cbor_tuple(&e, &t);
  kvidx__emit_final(&e, out);
}

static void check_chain(kvidx_hash_algo algo, size_t bs, size_t parent_len,
                        uint32_t (*id)(void)) {
  enum { BLOCKS = 3 };
  static uint32_t tok[BLOCKS * KVIDX_HASH_CHAIN_MAX_TOKENS];
  for (size_t i = 0; i < BLOCKS * bs; i++)
    tok[i] = id();
  uint8_t parent[KVIDX_DIGEST_MAX];
  for (size_t i = 0; i < parent_len; i++)
    parent[i] = (uint8_t)rng();
  kvidx_digest got[BLOCKS], want[BLOCKS];
  uint64_t keys[BLOCKS];
  memset(got, 0xee, sizeof got);
  kvidx__hash_chain_plain(algo, parent, parent_len, tok, bs, BLOCKS, got, keys);
  const uint8_t *p = parent;
  size_t plen = parent_len;
  for (size_t b = 0; b < BLOCKS; b++) {
    memset(&want[b], 0, sizeof want[b]);
    general_block(algo, p, plen, tok + b * bs, bs, &want[b]);
    p = want[b].bytes;
    plen = want[b].len;
    if (memcmp(&got[b], &want[b], sizeof got[b]) != 0) {
      fprintf(stderr, "algo %d bs %zu parent_len %zu block %zu differs\n",
              (int)algo, bs, parent_len, b);
      CHECK(0);
    }
    CHECK_EQ_U64(keys[b], kvidx_digest_low64(&want[b]));
  }
  /* Keys only (no digest output). */
  uint64_t keys_only[BLOCKS];
  kvidx__hash_chain_plain(algo, parent, parent_len, tok, bs, BLOCKS, NULL,
                          keys_only);
  CHECK(memcmp(keys_only, keys, sizeof keys) == 0);
}

TEST(plain_chain_matches_general_path) {
  static const size_t sizes[] = {1,  2,  3,  4,   5,   7,   8,   9,
                                 15, 16, 17, 23,  24,  25,  31,  32,
                                 33, 64, 65, 100, 128, 200, 255, 256};
  static const size_t parents[] = {1, 8, 16, 23, 24, 31, 32};
  for (int simd = KVIDX__SIMD_NONE; simd <= KVIDX__SIMD_AVX512; simd++) {
    int was = kvidx__hash_set_simd(simd);
    for (int a = 0; a < 4; a++)
      for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (size_t p = 0; p < sizeof parents / sizeof parents[0]; p++) {
          /* Ids of any size, and ids < 2^24 only (so that runs of them
           * take the 13-ids-per-step encoder). */
          check_chain((kvidx_hash_algo)a, sizes[s], parents[p], rand_id);
          check_chain((kvidx_hash_algo)a, sizes[s], parents[p], rand_small_id);
        }
    kvidx__hash_set_simd(was);
  }
}

/* The wire key: the last 8 bytes big-endian, or all of a shorter digest. */
TEST(digest_low64_lengths) {
  kvidx_digest d;
  CHECK_OK(kvidx_digest_from_hex("0102", &d));
  CHECK_EQ_U64(kvidx_digest_low64(&d), 0x0102u);
  CHECK_OK(kvidx_digest_from_hex("01020304050607", &d));
  CHECK_EQ_U64(kvidx_digest_low64(&d), 0x01020304050607ull);
  CHECK_OK(kvidx_digest_from_hex("0102030405060708", &d));
  CHECK_EQ_U64(kvidx_digest_low64(&d), 0x0102030405060708ull);
  CHECK_OK(kvidx_digest_from_hex(
      "ff0000000000000000000000000000000000000000000000a1a2a3a4a5a6a7a8", &d));
  CHECK_EQ_U64(kvidx_digest_low64(&d), 0xa1a2a3a4a5a6a7a8ull);
  d.len = 0;
  CHECK_EQ_U64(kvidx_digest_low64(&d), 0);
  CHECK_EQ_U64(kvidx_digest_low64(NULL), 0);
}

TEST_MAIN(TEST_CASE(avx512_token_encoders_match_portable),
          TEST_CASE(avx512_wide_encoder_match_portable),
          TEST_CASE(avx2_encoder_match_portable), TEST_CASE(simd_switch),
          TEST_CASE(plain_chain_matches_general_path),
          TEST_CASE(digest_low64_lengths))

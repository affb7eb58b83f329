/*
 * test_hash.c: kvidx/hash.h against fixed vectors.
 *
 * The first vectors are the ones in shared/reference/vllm-kv-events.md
 * (collected from vLLM). The "mix", "empty seed" and "singleton" vectors
 * were produced once with Debian's python3 (pickle.dumps(protocol=5),
 * cbor2.dumps(canonical=True), hashlib.sha256, xxhash.xxh3_128_digest) as
 * vLLM's hashing.py does; tests/hash/test_hash_diff.py checks thousands more
 * against the live oracle.
 */
#include "test.h"

static kvidx_hasher *make(kvidx_hash_algo algo, const char *seed, uint32_t bs) {
  kvidx_hasher_opts o;
  kvidx_hasher_opts_init(&o);
  o.algo = algo;
  o.seed = seed;
  o.block_size = bs;
  kvidx_hasher *h = NULL;
  CHECK_OK(kvidx_hasher_new(&o, &h));
  return h;
}

static void check_hex(const kvidx_digest *d, const char *want) {
  char hex[2 * KVIDX_DIGEST_MAX + 1];
  CHECK(kvidx_digest_to_hex(d, hex, sizeof hex) > 0);
  CHECK_EQ_STR(hex, want);
}

static void check_prefix(const kvidx_digest *d, const char *want) {
  char hex[2 * KVIDX_DIGEST_MAX + 1];
  CHECK(kvidx_digest_to_hex(d, hex, sizeof hex) > 0);
  hex[strlen(want)] = '\0';
  CHECK_EQ_STR(hex, want);
}

static uint32_t tok_1_32[32];

static void init_tokens(void) {
  for (uint32_t i = 0; i < 32; i++)
    tok_1_32[i] = i + 1;
}

typedef struct {
  kvidx_hash_algo algo;
  const char *seed;
  const char *none_hash;
  uint64_t b1, b2;
} ref_vector;

/* shared/reference/vllm-kv-events.md, "Vectors". */
static const ref_vector ref[] = {
    {KVIDX_HASH_SHA256, "0",
     "1973e23848344dc43a988a9b478663803cfffe1243480253f9a3cf004b14aa7c",
     7536218907325174565ull, 9048537298590080561ull},
    {KVIDX_HASH_SHA256_CBOR, "0",
     "4e1195df020de59e0d65a33a4279f1183e7ae4e5d980e309f8b55adff2e61c3e",
     3236607068019569386ull, 2758186210834249151ull},
    {KVIDX_HASH_XXHASH, "0", "6fb31cc38bba6066183f7f2104b9c051",
     11844795890135418255ull, 14253768906014549686ull},
    {KVIDX_HASH_XXHASH_CBOR, "0", "1ebe36576dcb573f26b99533a20aaeca",
     882618318818381833ull, 12890060145260523405ull},
    {KVIDX_HASH_SHA256_CBOR, NULL,
     "9bd96a485ad84efdafb72ee48a1d7a69bcead0f8f0433173941b276b9581eef0",
     8866452693264111234ull, 807986237951177663ull},
};

TEST(reference_vectors) {
  init_tokens();
  for (size_t i = 0; i < sizeof ref / sizeof ref[0]; i++) {
    kvidx_hasher *h = make(ref[i].algo, ref[i].seed, 16);
    check_hex(kvidx_hasher_root(h), ref[i].none_hash);
    uint64_t keys[2];
    kvidx_digest d[2];
    CHECK_EQ_INT(kvidx_hash_blocks(h, NULL, 0, tok_1_32, 32, NULL, d, keys, 2),
                 2);
    CHECK_EQ_U64(keys[0], ref[i].b1);
    CHECK_EQ_U64(keys[1], ref[i].b2);
    CHECK_EQ_U64(kvidx_digest_low64(&d[1]), ref[i].b2);
    CHECK_EQ_INT(d[0].len, ref[i].algo <= KVIDX_HASH_SHA256_CBOR ? 32 : 16);
    kvidx_hasher_free(h);
  }
}

TEST(reference_lora_vectors) {
  init_tokens();
  kvidx_hash_extra x = {"my-lora", NULL, NULL, 0};
  kvidx_digest d;
  kvidx_hasher *h = make(KVIDX_HASH_SHA256, "0", 16);
  CHECK_EQ_INT(kvidx_hash_blocks(h, NULL, 0, tok_1_32, 16, &x, &d, NULL, 1), 1);
  check_prefix(&d, "61e7a34deac79976");
  kvidx_hasher_free(h);
  h = make(KVIDX_HASH_SHA256_CBOR, "0", 16);
  CHECK_EQ_INT(kvidx_hash_blocks(h, NULL, 0, tok_1_32, 16, &x, &d, NULL, 1), 1);
  check_hex(&d,
            "07df9ef1b6800860b8c8d385e23a8a5b0eba8e3b5390de25d657793dd7c611fd");
  kvidx_hasher_free(h);
}

TEST(unset_seed_is_vllm_none_hash) {
  kvidx_hasher *a = make(KVIDX_HASH_SHA256, NULL, 16);
  kvidx_hasher *b = make(KVIDX_HASH_SHA256, KVIDX_HASH_SEED_VLLM_NONE, 16);
  CHECK(memcmp(kvidx_hasher_root(a)->bytes, kvidx_hasher_root(b)->bytes, 32) ==
        0);
  CHECK_EQ_STR(kvidx_hasher_seed(a), "vllm-none-hash");
  CHECK_EQ_INT(kvidx_hasher_reproducible(a), 1);
  kvidx_hasher *x = make(KVIDX_HASH_XXHASH, NULL, 16);
  CHECK_EQ_INT(kvidx_hasher_reproducible(x), 0);
  kvidx_hasher *y = make(KVIDX_HASH_XXHASH, "", 16);
  CHECK_EQ_INT(kvidx_hasher_reproducible(y), 1);
  kvidx_hasher_free(a);
  kvidx_hasher_free(b);
  kvidx_hasher_free(x);
  kvidx_hasher_free(y);
}

TEST(empty_seed_vectors) {
  init_tokens();
  kvidx_digest d;
  kvidx_hasher *h = make(KVIDX_HASH_SHA256, "", 16);
  check_hex(kvidx_hasher_root(h),
            "3279c4b947f331d055c47442171c9ea17712596bd7fe094c31d4a5d432b42d68");
  CHECK_EQ_INT(kvidx_hash_blocks(h, NULL, 0, tok_1_32, 16, NULL, &d, NULL, 1),
               1);
  check_hex(&d,
            "f2fc3e5a419b0b01356d6038570bcb3e853f2e1d0bc00a43e395e2413d9ea970");
  kvidx_hasher_free(h);
  h = make(KVIDX_HASH_XXHASH, "", 16);
  check_hex(kvidx_hasher_root(h), "6b3b164a79fc6c08c6efa28fc1922294");
  CHECK_EQ_INT(kvidx_hash_blocks(h, NULL, 0, tok_1_32, 16, NULL, &d, NULL, 1),
               1);
  check_hex(&d, "c3b65e1c01481275735fb2b98dc0fdd6");
  kvidx_hasher_free(h);
}

/* Token ids at every encoding boundary, LoRA + mm item [3, 10) + salt,
 * block size 8: the mm item overlaps blocks 0 (offset 3) and 1 (offset -5). */
static const char *const mix_vectors[4][4] = {
    {"d2cb75f3b45e8130b7cb3a1708edd4def8a52ca123f7d742dfed7b26086c3ceb",
     "410b9d95f4daa97ec2e0ad78a106d4b371de1e1a6e167466e24cf8e4cd051111",
     "9528536d5ffd7e582d51ded943ae8bcc8ee6e6980251f348f028b4bf701fb1e6",
     "b5bb5aa85f4c51c0cd4dae2785b94222ab958eed3bcef482d4f0687cf55b029d"},
    {"b2c638bc15d81cc7ab1c0c3db5f343c79ee3fcf8b66cc4fe1c5241c9621bae61",
     "e75d37bcaffcb74dcf848a65168e3e4aceb41dfe50fd2eb3227655f8e386f0f7",
     "801c4f6a7f0c4db262d4e6f44ce3a57a6dc933959cc568b83678f6fe1ca46d25",
     "9a25118a9c4dec189c53f52f3cc77d6bfea81d57fc9367b849b1721f19ad369d"},
    {"8b7df17d07191145bed49f09f82602a3", "0655078aac13e2eb4c7f872a87e71b30",
     "5ff14d1ac6f5b2c49dd86b1b091351f3", "ebcbac97e053e5f8c368ce9efb63f841"},
    {"d99e11eb0ee16cd26a186c158a9d0b59", "72108d17451704a9cc78ae987a184777",
     "7288cefb6aaa0828c2a5a1b9c1b79aae", "4c85a6809e799e48f32806f9f6cc29de"},
};

TEST(mixed_extra_keys_and_boundaries) {
  static const uint32_t pattern[8] = {
      0, 255, 256, 65535, 65536, 2147483647u, 2147483648u, 4294967295u};
  uint32_t tok[32];
  for (int i = 0; i < 32; i++)
    tok[i] = pattern[i % 8];
  kvidx_mm_item mm = {"img0", 3, 7};
  kvidx_hash_extra x = {"lora-x", "salt!", &mm, 1};
  for (int a = 0; a < 4; a++) {
    kvidx_hasher *h = make((kvidx_hash_algo)a, "0", 8);
    kvidx_digest d[4];
    CHECK_EQ_INT(kvidx_hash_blocks(h, NULL, 0, tok, 32, &x, d, NULL, 4), 4);
    for (int b = 0; b < 4; b++)
      check_hex(&d[b], mix_vectors[a][b]);
    kvidx_hasher_free(h);
  }
}

/* LoRA name "a" and cache_salt "a" are one CPython object (a cached
 * one-character string), so pickle writes the second as a memo reference. */
TEST(singleton_strings_pickle_memo) {
  init_tokens();
  static const char *const want[2][2] = {
      {"eafeebfb968568354d93284e48f3d1cd2f213c33e27b181f2ddaf39cccd8bab7",
       "dca5f6e199902b3d97ae5c00840aecb5051b6ddc642d48b5702303e273cef965"},
      {"9c7f09ee897e5482aaf93f0d13cf3ec3", "29285b9c9ae2899d330a7faad80b220a"},
  };
  kvidx_hash_extra x = {"a", "a", NULL, 0};
  for (int i = 0; i < 2; i++) {
    kvidx_hasher *h =
        make(i == 0 ? KVIDX_HASH_SHA256 : KVIDX_HASH_XXHASH, "0", 16);
    kvidx_digest d[2];
    CHECK_EQ_INT(kvidx_hash_blocks(h, NULL, 0, tok_1_32, 32, &x, d, NULL, 2),
                 2);
    check_hex(&d[0], want[i][0]);
    check_hex(&d[1], want[i][1]);
    kvidx_hasher_free(h);
  }
}

TEST(partial_block_and_max_blocks) {
  init_tokens();
  kvidx_hasher *h = make(KVIDX_HASH_SHA256, "0", 16);
  uint64_t keys[3] = {0, 0, 0};
  CHECK_EQ_INT(kvidx_hash_blocks(h, NULL, 0, tok_1_32, 31, NULL, NULL, keys, 3),
               1);
  CHECK_EQ_U64(keys[0], 7536218907325174565ull);
  CHECK_EQ_U64(keys[1], 0);
  CHECK_EQ_INT(kvidx_hash_blocks(h, NULL, 0, tok_1_32, 15, NULL, NULL, keys, 3),
               0);
  CHECK_EQ_INT(kvidx_hash_blocks(h, NULL, 0, tok_1_32, 32, NULL, NULL, keys, 1),
               1);
  CHECK_EQ_INT(kvidx_hash_blocks(h, NULL, 0, NULL, 0, NULL, NULL, NULL, 0), 0);
  kvidx_hasher_free(h);
}

TEST(chain_continues_from_parent) {
  init_tokens();
  kvidx_hasher *h = make(KVIDX_HASH_XXHASH_CBOR, "0", 16);
  kvidx_digest d[2], cont;
  uint64_t k;
  CHECK_EQ_INT(kvidx_hash_blocks(h, NULL, 0, tok_1_32, 32, NULL, d, NULL, 2),
               2);
  CHECK_EQ_INT(
      kvidx_hash_blocks(h, &d[0], 16, tok_1_32 + 16, 16, NULL, &cont, &k, 1),
      1);
  CHECK(memcmp(&cont, &d[1], sizeof cont) == 0);
  CHECK_EQ_U64(k, 12890060145260523405ull);
  /* An empty parent is vLLM's falsy parent: the root. */
  kvidx_digest empty = {{0}, 0};
  CHECK_EQ_INT(kvidx_hash_blocks(h, &empty, 0, tok_1_32, 16, NULL, NULL, &k, 1),
               1);
  CHECK_EQ_U64(k, 882618318818381833ull);
  kvidx_hasher_free(h);
}

/* cache_salt only on the block that starts at token 0; "" is no salt. */
TEST(cache_salt_first_block_only) {
  init_tokens();
  kvidx_hasher *h = make(KVIDX_HASH_SHA256, "0", 16);
  kvidx_hash_extra salt = {NULL, "s", NULL, 0}, empty = {NULL, "", NULL, 0};
  uint64_t plain[2], salted[2], k;
  kvidx_digest d[2];
  CHECK_EQ_INT(
      kvidx_hash_blocks(h, NULL, 0, tok_1_32, 32, NULL, NULL, plain, 2), 2);
  CHECK_EQ_INT(kvidx_hash_blocks(h, NULL, 0, tok_1_32, 32, &salt, d, salted, 2),
               2);
  CHECK(salted[0] != plain[0]);
  CHECK_EQ_INT(kvidx_hash_blocks(h, NULL, 0, tok_1_32, 16, &empty, NULL, &k, 1),
               1);
  CHECK_EQ_U64(k, plain[0]);
  /* Continuing after the salted block adds no salt to block 1. */
  uint64_t k1;
  kvidx_digest d1;
  CHECK_EQ_INT(
      kvidx_hash_blocks(h, &d[0], 16, tok_1_32 + 16, 16, &salt, &d1, &k1, 1),
      1);
  CHECK_EQ_U64(k1, salted[1]);
  kvidx_hasher_free(h);
}

TEST(large_blocks_stream_and_limit) {
  /* 2000 tokens >= 2^31 need 14000 bytes of pickle: the streamed path. */
  size_t n = 2000;
  uint32_t *tok = malloc(n * sizeof *tok);
  for (size_t i = 0; i < n; i++)
    tok[i] = 4000000000u + (uint32_t)i;
  for (int a = 0; a < 4; a++) {
    kvidx_hasher *h = make((kvidx_hash_algo)a, "0", (uint32_t)n);
    kvidx_digest d;
    CHECK_EQ_INT(kvidx_hash_blocks(h, NULL, 0, tok, n, NULL, &d, NULL, 1), 1);
    kvidx_hasher_free(h);
  }
  /* 10000 such tokens exceed one pickle frame: refused, not mis-hashed. */
  size_t big = 10000;
  uint32_t *tb = calloc(big, sizeof *tb);
  for (size_t i = 0; i < big; i++)
    tb[i] = 4000000000u;
  kvidx_hasher *h = make(KVIDX_HASH_SHA256, "0", (uint32_t)big);
  CHECK_EQ_INT(kvidx_hash_blocks(h, NULL, 0, tb, big, NULL, NULL, NULL, 1),
               KVIDX_ETOOBIG);
  kvidx_hasher_free(h);
  h = make(KVIDX_HASH_SHA256_CBOR, "0", (uint32_t)big);
  CHECK_EQ_INT(kvidx_hash_blocks(h, NULL, 0, tb, big, NULL, NULL, NULL, 1), 1);
  kvidx_hasher_free(h);
  free(tok);
  free(tb);
}

TEST(bad_input_is_an_error) {
  init_tokens();
  kvidx_hasher_opts o;
  kvidx_hasher_opts_init(&o);
  kvidx_hasher *h = NULL;
  o.block_size = 0;
  CHECK_EQ_INT(kvidx_hasher_new(&o, &h), KVIDX_EINVAL);
  o.block_size = 16;
  o.algo = (kvidx_hash_algo)7;
  CHECK_EQ_INT(kvidx_hasher_new(&o, &h), KVIDX_EINVAL);
  o.algo = KVIDX_HASH_SHA256;
  o.seed = "\xff";
  CHECK_EQ_INT(kvidx_hasher_new(&o, &h), KVIDX_EUTF8);
  o.seed = "\xed\xa0\x80"; /* a UTF-16 surrogate */
  CHECK_EQ_INT(kvidx_hasher_new(&o, &h), KVIDX_EUTF8);
  char *long_seed = malloc(KVIDX_HASH_MAX_STR_LEN + 2);
  memset(long_seed, 'x', KVIDX_HASH_MAX_STR_LEN + 1);
  long_seed[KVIDX_HASH_MAX_STR_LEN + 1] = '\0';
  o.seed = long_seed;
  CHECK_EQ_INT(kvidx_hasher_new(&o, &h), KVIDX_ETOOBIG);
  free(long_seed);
  CHECK(h == NULL);
  CHECK_EQ_INT(kvidx_hasher_new(NULL, NULL), KVIDX_EINVAL);
  CHECK_OK(kvidx_hasher_new(NULL, &h));
  kvidx_hash_extra bad_lora = {"\xc0\x80", NULL, NULL, 0};
  CHECK_EQ_INT(
      kvidx_hash_blocks(h, NULL, 0, tok_1_32, 16, &bad_lora, NULL, NULL, 1),
      KVIDX_EUTF8);
  kvidx_mm_item unsorted[2] = {{"b", 10, 2}, {"a", 1, 2}};
  kvidx_hash_extra bad_mm = {NULL, NULL, unsorted, 2};
  CHECK_EQ_INT(
      kvidx_hash_blocks(h, NULL, 0, tok_1_32, 16, &bad_mm, NULL, NULL, 1),
      KVIDX_EINVAL);
  CHECK_EQ_INT(kvidx_hash_blocks(h, NULL, 0, NULL, 16, NULL, NULL, NULL, 1),
               KVIDX_EINVAL);
  CHECK_EQ_INT(
      kvidx_hash_blocks(NULL, NULL, 0, tok_1_32, 16, NULL, NULL, NULL, 1),
      KVIDX_EINVAL);
  kvidx_hasher_free(h);
}

TEST(algo_names_and_hex) {
  kvidx_hash_algo a;
  static const char *const names[] = {"sha256", "sha256_cbor", "xxhash",
                                      "xxhash_cbor"};
  for (int i = 0; i < 4; i++) {
    CHECK_OK(kvidx_hash_algo_parse(names[i], &a));
    CHECK_EQ_INT(a, i);
    CHECK_EQ_STR(kvidx_hash_algo_name(a), names[i]);
  }
  CHECK_EQ_INT(kvidx_hash_algo_parse("SHA256", &a), KVIDX_EINVAL);
  CHECK(kvidx_hash_algo_name((kvidx_hash_algo)9) == NULL);
  kvidx_digest d;
  CHECK_OK(kvidx_digest_from_hex("00ff0102030405060708", &d));
  CHECK_EQ_INT(d.len, 10);
  CHECK_EQ_U64(kvidx_digest_low64(&d), 0x0102030405060708ull);
  char small[4];
  CHECK_EQ_INT(kvidx_digest_to_hex(&d, small, sizeof small), KVIDX_ERANGE);
  CHECK_EQ_INT(kvidx_digest_from_hex("abc", &d), KVIDX_EPARSE);
  CHECK_EQ_INT(kvidx_digest_from_hex("zz", &d), KVIDX_EPARSE);
}

TEST_MAIN(TEST_CASE(reference_vectors), TEST_CASE(reference_lora_vectors),
          TEST_CASE(unset_seed_is_vllm_none_hash),
          TEST_CASE(empty_seed_vectors),
          TEST_CASE(mixed_extra_keys_and_boundaries),
          TEST_CASE(singleton_strings_pickle_memo),
          TEST_CASE(partial_block_and_max_blocks),
          TEST_CASE(chain_continues_from_parent),
          TEST_CASE(cache_salt_first_block_only),
          TEST_CASE(large_blocks_stream_and_limit),
          TEST_CASE(bad_input_is_an_error), TEST_CASE(algo_names_and_hex))

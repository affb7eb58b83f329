/*
 * test_indexer.c: the indexer facade in-process — scores from token ids
 * against an index filled directly, with and without the block-key cache
 * (which must never change a result: shared prefixes, diverging suffixes,
 * LoRA, a cache small enough to thrash), pod restriction, DELETE, limits.
 */
#include "test.h"

#define BS 16

static kvidx_indexer *make(size_t cache_slots) {
  kvidx_indexer_opts o;
  kvidx_indexer_opts_init(&o);
  o.hasher.seed = "0";
  o.use_events = 0;
  o.use_prefix_store = 0;
  o.key_cache_slots = cache_slots;
  o.max_tokens = 4096;
  kvidx_indexer *ix;
  CHECK_OK(kvidx_indexer_new(&o, &ix));
  return ix;
}

/* pod holds the first n_blocks blocks of tokens (hashed with lora). */
static void hold(kvidx_indexer *ix, const char *pod, const uint32_t *tokens,
                 size_t n_blocks, const char *lora) {
  uint64_t keys[256];
  kvidx_hash_extra ex;
  memset(&ex, 0, sizeof ex);
  ex.lora_name = lora;
  int n = kvidx_hash_blocks(kvidx_indexer_hasher(ix), NULL, 0, tokens,
                            n_blocks * BS, lora ? &ex : NULL, NULL, keys, 256);
  CHECK_EQ_INT(n, n_blocks);
  kvidx_index *idx = kvidx_indexer_index(ix);
  uint32_t m, p;
  CHECK_OK(kvidx_index_model_id(idx, "m", &m));
  CHECK_OK(kvidx_index_pod_id(idx, pod, &p));
  CHECK_OK(kvidx_index_add(idx, m, p, KVIDX_TIER_GPU, keys, (size_t)n));
}

static double score_of(const kvidx_score_result *r, const char *pod) {
  for (size_t i = 0; i < r->n_scores; i++) {
    if (strcmp(r->scores[i].pod, pod) == 0)
      return r->scores[i].score;
  }
  return 0;
}

static uint32_t P[64 * BS], Q[64 * BS], R[64 * BS];

static void prompts(void) {
  uint32_t x = 7;
  for (size_t i = 0; i < 64 * BS; i++) {
    x = x * 1664525u + 1013904223u;
    P[i] = x >> 12;
    Q[i] = i < 20 * BS ? P[i] : (x >> 8) + 1;
    R[i] = i < 30 * BS ? P[i] : (x >> 4) + 2;
  }
}

static void fill(kvidx_indexer *ix) {
  hold(ix, "a", P, 40, NULL);
  hold(ix, "b", Q, 50, NULL);
  hold(ix, "c", P, 12, "my-lora");
}

TEST(key_cache_never_changes_scores) {
  prompts();
  size_t sizes[] = {0, 4, 65536};
  kvidx_indexer *ix[3];
  for (int k = 0; k < 3; k++) {
    ix[k] = make(sizes[k]);
    fill(ix[k]);
  }
  const uint32_t *const inputs[] = {P, Q, R, P, Q, R, P};
  /* expected scores of a, b, c for P, Q, R without LoRA, and with it */
  const double want[3][3] = {{40, 20, 0}, {20, 50, 0}, {30, 20, 0}};
  const double want_lora[3][3] = {{0, 0, 12}, {0, 0, 12}, {0, 0, 12}};
  kvidx_score_result r;
  kvidx_score_result_init(&r);
  for (int round = 0; round < 2; round++) {
    const char *lora = round ? "my-lora" : NULL;
    for (size_t t = 0; t < sizeof inputs / sizeof inputs[0]; t++) {
      int which = inputs[t] == P ? 0 : inputs[t] == Q ? 1 : 2;
      for (int k = 0; k < 3; k++) {
        kvidx_score_request req = {"m", NULL, 0, lora};
        CHECK_OK(
            kvidx_indexer_score_tokens(ix[k], &req, inputs[t], 64 * BS, &r));
        CHECK_EQ_INT(r.blocks, 64);
        const double *w = round ? want_lora[which] : want[which];
        if (score_of(&r, "a") != w[0] || score_of(&r, "b") != w[1] ||
            score_of(&r, "c") != w[2])
          FAILF("cache %zu, input %zu, lora %d: a=%g b=%g c=%g, want %g %g %g",
                sizes[k], t, round, score_of(&r, "a"), score_of(&r, "b"),
                score_of(&r, "c"), w[0], w[1], w[2]);
      }
    }
  }
  kvidx_indexer_stats st;
  CHECK_OK(kvidx_indexer_get_stats(ix[2], &st));
  CHECK(st.counters.key_cache_hits > 0);
  CHECK_OK(kvidx_indexer_get_stats(ix[0], &st));
  CHECK_EQ_U64(st.counters.key_cache_hits, 0);
  kvidx_score_result_free(&r);
  for (int k = 0; k < 3; k++)
    kvidx_indexer_free(ix[k]);
}

TEST(pods_filter_delete_and_limits) {
  prompts();
  kvidx_indexer *ix = make(1024);
  fill(ix);
  kvidx_score_result r;
  kvidx_score_result_init(&r);
  const char *only_b[] = {"b", "nobody"};
  kvidx_score_request req = {"m", only_b, 2, NULL};
  CHECK_OK(kvidx_indexer_score_tokens(ix, &req, P, 64 * BS, &r));
  CHECK_EQ_INT(r.n_scores, 1);
  CHECK_EQ_STR(r.scores[0].pod, "b");
  const char *nobody[] = {"nobody"};
  kvidx_score_request req2 = {"m", nobody, 1, NULL};
  CHECK_OK(kvidx_indexer_score_tokens(ix, &req2, P, 64 * BS, &r));
  CHECK_EQ_INT(r.n_scores, 0);
  kvidx_score_request req3 = {"unknown-model", NULL, 0, NULL};
  CHECK_OK(kvidx_indexer_score_tokens(ix, &req3, P, 64 * BS, &r));
  CHECK_EQ_INT(r.n_scores, 0);
  CHECK_EQ_INT(r.blocks, 64);
  /* A partial block is not hashed. */
  kvidx_score_request req4 = {"m", NULL, 0, NULL};
  CHECK_OK(kvidx_indexer_score_tokens(ix, &req4, P, 5 * BS + 3, &r));
  CHECK_EQ_INT(r.blocks, 5);
  CHECK_EQ_DBL(score_of(&r, "a"), 5, 0);
  static uint32_t big[4097];
  CHECK_EQ_INT(kvidx_indexer_score_tokens(ix, &req4, big, 4097, &r),
               KVIDX_ELIMIT);
  CHECK_OK(kvidx_indexer_delete_pod(ix, "a"));
  CHECK_EQ_INT(kvidx_indexer_delete_pod(ix, "never"), KVIDX_ENOTFOUND);
  CHECK_OK(kvidx_indexer_score_tokens(ix, &req4, P, 64 * BS, &r));
  CHECK_EQ_DBL(score_of(&r, "a"), 0, 0);
  CHECK_EQ_DBL(score_of(&r, "b"), 20, 0);
  kvidx_score_result_free(&r);
  kvidx_indexer_free(ix);
}

TEST_MAIN(TEST_CASE(key_cache_never_changes_scores),
          TEST_CASE(pods_filter_delete_and_limits))

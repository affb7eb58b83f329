/*
 * test_score.c: the longest-prefix scorer. Hand-computed cases first, then a
 * differential test against a direct transcription of llm-d's
 * LongestPrefixScorer (active-set intersection, max tier weight per pod and
 * block) over random index contents.
 */
#include "test.h"

static kvidx_index *idx_new(uint32_t *m, uint32_t *pods, int n_pods) {
  kvidx_index *idx = NULL;
  CHECK_OK(kvidx_index_new_memory(NULL, &idx));
  CHECK_OK(kvidx_index_model_id(idx, "model", m));
  for (int i = 0; i < n_pods; i++) {
    char name[16];
    snprintf(name, sizeof name, "pod-%d", i);
    CHECK_OK(kvidx_index_pod_id(idx, name, &pods[i]));
  }
  return idx;
}

static void add(kvidx_index *idx, uint32_t m, uint32_t pod, kvidx_tier t,
                const uint64_t *keys, size_t n) {
  CHECK_OK(kvidx_index_add(idx, m, pod, t, keys, n));
}

TEST(weights_defaults_and_set) {
  kvidx_tier_weights w;
  kvidx_tier_weights_init(&w);
  CHECK_EQ_DBL(w.weight[KVIDX_TIER_GPU], 1.0, 0);
  CHECK_EQ_DBL(w.weight[KVIDX_TIER_CPU], 0.8, 0);
  CHECK_EQ_DBL(w.weight[KVIDX_TIER_FS], 0.4, 0);
  CHECK_EQ_DBL(w.weight[KVIDX_TIER_STORAGE], 0.3, 0);
  CHECK_EQ_DBL(w.weight[KVIDX_TIER_OBJ], 0.2, 0);
  CHECK_OK(kvidx_tier_weights_set(&w, "CPU", 0.5));
  CHECK_EQ_DBL(w.weight[KVIDX_TIER_CPU], 0.5, 0);
  CHECK_EQ_INT(kvidx_tier_weights_set(&w, "disk", 0.5), KVIDX_ENOTFOUND);
  CHECK_EQ_INT(kvidx_tier_weights_set(&w, "gpu", -1), KVIDX_EINVAL);
  CHECK_EQ_INT(kvidx_tier_weights_set(&w, "", 1), KVIDX_ENOTFOUND);
}

TEST(empty_and_unknown) {
  uint32_t m, p[2];
  kvidx_index *idx = idx_new(&m, p, 2);
  uint64_t k[] = {1, 2};
  kvidx_pod_score out[4];
  size_t n = 99;
  CHECK_OK(kvidx_score_prefix(idx, NULL, m, k, 0, NULL, 0, out, 4, &n));
  CHECK_EQ_INT(n, 0);
  CHECK_OK(kvidx_score_prefix(idx, NULL, m, k, 2, NULL, 0, out, 4, &n));
  CHECK_EQ_INT(n, 0); /* nothing stored */
  CHECK_EQ_INT(kvidx_score_prefix(idx, NULL, m + 7, k, 2, NULL, 0, out, 4, &n),
               KVIDX_EINVAL);
  uint32_t bad[] = {p[1] + 50};
  CHECK_EQ_INT(kvidx_score_prefix(idx, NULL, m, k, 2, bad, 1, out, 4, &n),
               KVIDX_EINVAL);
  kvidx_index_free(idx);
}

TEST(hand_computed_prefixes) {
  uint32_t m, p[5];
  kvidx_index *idx = idx_new(&m, p, 5);
  uint64_t k[] = {10, 11, 12, 13, 14, 15};
  /* p0: gpu 0..5 (6 blocks)                      -> 6.0
   * p1: cpu 0..3, gpu 1 too                      -> 0.8 + 1 + 0.8 + 0.8 = 3.4
   * p2: gpu 0,1 then a hole at 2, gpu 3..5       -> 2.0 (stops at the hole)
   * p3: storage 0..4                             -> 5 x 0.3 = 1.5
   * p4: gpu 1..5 (no block 0)                    -> not listed            */
  add(idx, m, p[0], KVIDX_TIER_GPU, k, 6);
  add(idx, m, p[1], KVIDX_TIER_CPU, k, 4);
  add(idx, m, p[1], KVIDX_TIER_GPU, &k[1], 1);
  add(idx, m, p[2], KVIDX_TIER_GPU, k, 2);
  add(idx, m, p[2], KVIDX_TIER_GPU, &k[3], 3);
  add(idx, m, p[3], KVIDX_TIER_STORAGE, k, 5);
  add(idx, m, p[4], KVIDX_TIER_GPU, &k[1], 5);
  kvidx_pod_score out[8];
  size_t n = 0;
  CHECK_OK(kvidx_score_prefix(idx, NULL, m, k, 6, NULL, 0, out, 8, &n));
  CHECK_EQ_INT(n, 4);
  CHECK_EQ_INT(out[0].pod, p[0]);
  CHECK_EQ_DBL(out[0].score, 6.0, 1e-9);
  CHECK_EQ_INT(out[0].blocks, 6);
  CHECK_EQ_INT(out[1].pod, p[1]);
  CHECK_EQ_DBL(out[1].score, 3.4, 1e-9);
  CHECK_EQ_INT(out[1].blocks, 4);
  CHECK_EQ_INT(out[2].pod, p[2]);
  CHECK_EQ_DBL(out[2].score, 2.0, 1e-9);
  CHECK_EQ_INT(out[2].blocks, 2);
  CHECK_EQ_INT(out[3].pod, p[3]);
  CHECK_EQ_DBL(out[3].score, 1.5, 1e-9);
  CHECK_EQ_INT(out[3].blocks, 5);
  /* max_out truncates to the best ones. */
  CHECK_OK(kvidx_score_prefix(idx, NULL, m, k, 6, NULL, 0, out, 2, &n));
  CHECK_EQ_INT(n, 2);
  CHECK_EQ_INT(out[1].pod, p[1]);
  /* Custom weights: cpu 1.5 makes p1 0 -> 1.5+1.5+1.5+1.5 = 6.0 (best tier
   * of block 1 is now cpu), tying with p0; ties go to the longer prefix. */
  kvidx_tier_weights w;
  kvidx_tier_weights_init(&w);
  CHECK_OK(kvidx_tier_weights_set(&w, "cpu", 1.5));
  CHECK_OK(kvidx_score_prefix(idx, &w, m, k, 6, NULL, 0, out, 8, &n));
  CHECK_EQ_INT(out[0].pod, p[0]);
  CHECK_EQ_INT(out[1].pod, p[1]);
  CHECK_EQ_DBL(out[1].score, 6.0, 1e-9);
  /* A pod set: only p2, p4. p4 lacks block 0; p2 scores 2. */
  uint32_t set[] = {p[4], p[2]};
  CHECK_OK(kvidx_score_prefix(idx, NULL, m, k, 6, set, 2, out, 8, &n));
  CHECK_EQ_INT(n, 1);
  CHECK_EQ_INT(out[0].pod, p[2]);
  CHECK_EQ_DBL(out[0].score, 2.0, 1e-9);
  /* A prompt starting later in the chain: p4 now leads. */
  CHECK_OK(kvidx_score_prefix(idx, NULL, m, &k[1], 5, NULL, 0, out, 8, &n));
  CHECK_EQ_INT(out[0].pod, p[0]);
  CHECK_EQ_DBL(out[0].score, 5.0, 1e-9);
  CHECK_EQ_INT(out[1].pod, p[4]);
  CHECK_EQ_DBL(out[1].score, 5.0, 1e-9);
  kvidx_index_free(idx);
}

TEST(cleared_pod_scores_zero) {
  uint32_t m, p[2];
  kvidx_index *idx = idx_new(&m, p, 2);
  uint64_t k[] = {1, 2, 3};
  add(idx, m, p[0], KVIDX_TIER_GPU, k, 3);
  add(idx, m, p[1], KVIDX_TIER_GPU, k, 1);
  CHECK_OK(kvidx_index_clear_pod(idx, p[0]));
  kvidx_pod_score out[4];
  size_t n = 0;
  CHECK_OK(kvidx_score_prefix(idx, NULL, m, k, 3, NULL, 0, out, 4, &n));
  CHECK_EQ_INT(n, 1);
  CHECK_EQ_INT(out[0].pod, p[1]);
  CHECK_EQ_DBL(out[0].score, 1.0, 0);
  kvidx_index_free(idx);
}

/* ---- differential against llm-d's algorithm ----------------------------*/

enum { DK = 24, DP = 9 };

/* tiers[k][p]: bit set of the tiers pod p holds key k in (the model). */
static double llmd_max_weight(unsigned tiers, const kvidx_tier_weights *w) {
  double best = 0;
  for (unsigned t = 0; t < KVIDX_TIER_COUNT; t++)
    if ((tiers >> t) & 1u && w->weight[t] > best)
      best = w->weight[t];
  return best;
}

/* llm-d: active = holders(key 0); score = max weight; then for each key,
 * active &= holders(key), each active pod adds its max weight. */
static void llmd_score(unsigned tiers[DK][DP], const int *eligible,
                       const kvidx_tier_weights *w, double score[DP],
                       int blocks[DP]) {
  int active[DP];
  for (int p = 0; p < DP; p++) {
    active[p] = eligible[p] && tiers[0][p] != 0;
    score[p] = active[p] ? llmd_max_weight(tiers[0][p], w) : 0;
    blocks[p] = active[p];
  }
  for (int k = 1; k < DK; k++) {
    for (int p = 0; p < DP; p++) {
      active[p] = active[p] && tiers[k][p] != 0;
      if (active[p]) {
        score[p] += llmd_max_weight(tiers[k][p], w);
        blocks[p]++;
      }
    }
  }
}

TEST(differential_llmd) {
  uint64_t rng = 0x1234567ull;
  for (int iter = 0; iter < 300; iter++) {
    uint32_t m, p[DP];
    kvidx_index *idx = idx_new(&m, p, DP);
    static unsigned tiers[DK][DP];
    memset(tiers, 0, sizeof tiers);
    uint64_t keys[DK];
    for (int k = 0; k < DK; k++)
      keys[k] = (uint64_t)iter * 1000003u + (uint64_t)k * 7777u;
    for (int q = 0; q < DP; q++) {
      rng = rng * 6364136223846793005ull + 1442695040888963407ull;
      int len = (int)((rng >> 33) % (DK + 1)); /* prefix held */
      for (int k = 0; k < DK; k++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        unsigned r = (unsigned)(rng >> 33);
        /* Mostly the prefix, plus random holes and extra blocks. */
        int hold = k < len ? (r % 10 != 0) : (r % 7 == 0);
        if (!hold)
          continue;
        unsigned t1 = (r >> 8) % KVIDX_TIER_COUNT;
        tiers[k][q] |= 1u << t1;
        add(idx, m, p[q], (kvidx_tier)t1, &keys[k], 1);
        if ((r >> 16) % 4 == 0) {
          unsigned t2 = (r >> 20) % KVIDX_TIER_COUNT;
          tiers[k][q] |= 1u << t2;
          add(idx, m, p[q], (kvidx_tier)t2, &keys[k], 1);
        }
      }
    }
    kvidx_tier_weights w;
    kvidx_tier_weights_init(&w);
    if (iter % 3 == 1)
      CHECK_OK(kvidx_tier_weights_set(&w, "storage", 2.0));
    int eligible[DP];
    uint32_t set[DP];
    size_t n_set = 0;
    for (int q = 0; q < DP; q++) {
      eligible[q] = iter % 2 == 0 || q % 3 != 0;
      if (iter % 2 != 0 && eligible[q])
        set[n_set++] = p[q];
    }
    double want[DP];
    int want_blocks[DP];
    llmd_score(tiers, eligible, &w, want, want_blocks);
    kvidx_pod_score out[DP];
    size_t n = 0;
    CHECK_OK(kvidx_score_prefix(idx, &w, m, keys, DK, set, n_set, out, DP, &n));
    size_t n_want = 0;
    for (int q = 0; q < DP; q++)
      n_want += want_blocks[q] > 0;
    CHECK_EQ_INT(n, n_want);
    for (size_t j = 0; j < n; j++) {
      int q = (int)(out[j].pod - p[0]);
      CHECK(q >= 0 && q < DP);
      CHECK_EQ_DBL(out[j].score, want[q], 1e-9);
      CHECK_EQ_INT(out[j].blocks, want_blocks[q]);
      if (j > 0)
        CHECK(out[j - 1].score >= out[j].score);
    }
    kvidx_index_free(idx);
  }
}

TEST_MAIN(TEST_CASE(weights_defaults_and_set), TEST_CASE(empty_and_unknown),
          TEST_CASE(hand_computed_prefixes), TEST_CASE(cleared_pod_scores_zero),
          TEST_CASE(differential_llmd))

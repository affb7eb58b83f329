/* test_index_memory.c: the backend contract (contract.h) on the memory
 * backend, plus memory-specific behaviour (bounds, eviction, sweeping). */
#include "contract.h"
#include "test.h"

static kvidx_index *make(void) {
  kvidx_index *idx = NULL;
  CHECK_OK(kvidx_index_new_memory(NULL, &idx));
  CHECK_EQ_STR(kvidx_index_backend(idx), "memory");
  return idx;
}

#define WIRE_(name)                                                            \
  TEST(name) {                                                                 \
    contract_##name(make);                                                     \
  }
CONTRACT_CASES(WIRE_)
#undef WIRE_

/* ---- memory-specific ----------------------------------------------------*/

static kvidx_index *make_opts(size_t max_keys, size_t max_bytes,
                              uint32_t max_pods) {
  kvidx_index_opts o;
  kvidx_index_opts_init(&o);
  o.max_keys = max_keys;
  o.max_bytes = max_bytes;
  o.max_pods_per_key = max_pods;
  kvidx_index *idx = NULL;
  CHECK_OK(kvidx_index_new_memory(&o, &idx));
  return idx;
}

static int count_cb(void *ud, size_t i, const kvidx_holder *h, size_t n) {
  (void)i;
  (void)h;
  *(size_t *)ud += n;
  return 0;
}

/* Number of keys[0..n) that are held, looked up one at a time. */
static size_t held(kvidx_index *idx, uint32_t m, const uint64_t *keys,
                   size_t n) {
  size_t c = 0;
  for (size_t i = 0; i < n; i++) {
    size_t holders = 0;
    int rc =
        kvidx_index_lookup(idx, m, &keys[i], 1, NULL, 0, count_cb, &holders);
    CHECK(rc >= 0);
    c += (size_t)rc;
  }
  return c;
}

TEST(tier_names) {
  kvidx_tier t;
  CHECK_OK(kvidx_tier_parse("GPU", 3, &t));
  CHECK_EQ_INT(t, KVIDX_TIER_GPU);
  CHECK_OK(kvidx_tier_parse("cpu", 3, &t));
  CHECK_EQ_INT(t, KVIDX_TIER_CPU);
  CHECK_OK(kvidx_tier_parse("Storage", 7, &t));
  CHECK_EQ_INT(t, KVIDX_TIER_STORAGE);
  CHECK_OK(kvidx_tier_parse("OBJxx", 3, &t)); /* length-bounded */
  CHECK_EQ_INT(t, KVIDX_TIER_OBJ);
  CHECK_OK(kvidx_tier_parse(NULL, 0, &t));
  CHECK_EQ_INT(t, KVIDX_TIER_GPU); /* nil medium */
  CHECK_EQ_INT(kvidx_tier_parse("disk", 4, &t), KVIDX_ENOTFOUND);
  CHECK_EQ_INT(kvidx_tier_parse("gp", 2, &t), KVIDX_ENOTFOUND);
  CHECK_EQ_STR(kvidx_tier_name(KVIDX_TIER_FS), "fs");
  CHECK(kvidx_tier_name(KVIDX_TIER_COUNT) == NULL);
}

TEST(max_keys_evicts_least_recently_used) {
  /* CLOCK is per shard (64 shards): the bound is approximate by at most one
   * key per shard, and recency is approximate within a shard, so the hot set
   * is small next to the per-shard share of the bound (20000 / 64). */
  enum { BOUND = 20000, N = 60000, ROUND = 1000, HOT = 100 };
  kvidx_index *idx = make_opts(BOUND, 0, 0);
  uint32_t m, a;
  CHECK_OK(kvidx_index_model_id(idx, "m", &m));
  CHECK_OK(kvidx_index_pod_id(idx, "a", &a));
  static uint64_t keys[N];
  for (uint64_t i = 0; i < N; i++)
    keys[i] = i * 7919 + 1;
  /* Keep the first HOT keys hot by looking them up between inserts. */
  for (size_t i = 0; i < N; i += ROUND) {
    CHECK_OK(kvidx_index_add(idx, m, a, KVIDX_TIER_GPU, &keys[i], ROUND));
    CHECK_EQ_INT(held(idx, m, keys, HOT), HOT);
  }
  kvidx_index_stats st;
  CHECK_OK(kvidx_index_get_stats(idx, &st));
  CHECK(st.keys <= BOUND + 64);
  CHECK(st.evictions >= N - BOUND - 64);
  CHECK_EQ_U64(st.keys + st.evictions, N);
  CHECK_EQ_U64(st.entries, st.keys);
  CHECK_EQ_INT(held(idx, m, keys, HOT), HOT); /* the hot ones survived */
  /* The newest round is all there; most of the cold middle is gone. */
  CHECK_EQ_INT(held(idx, m, &keys[N - ROUND], ROUND), ROUND);
  CHECK(held(idx, m, &keys[HOT], N / 2 - HOT) < (N / 2 - HOT) / 10);
  uint64_t blocks[KVIDX_TIER_COUNT];
  CHECK_OK(kvidx_index_pod_blocks(idx, a, blocks));
  CHECK_EQ_U64(blocks[KVIDX_TIER_GPU], st.keys);
  kvidx_index_free(idx);
}

TEST(max_bytes_bounds_memory) {
  size_t bound = 4u << 20;
  kvidx_index *idx = make_opts(0, bound, 0);
  uint32_t m, p[4];
  CHECK_OK(kvidx_index_model_id(idx, "m", &m));
  for (int i = 0; i < 4; i++) {
    char name[8];
    snprintf(name, sizeof name, "p%d", i);
    CHECK_OK(kvidx_index_pod_id(idx, name, &p[i]));
  }
  static uint64_t keys[1000];
  for (uint64_t round = 0; round < 500; round++) {
    for (size_t i = 0; i < 1000; i++)
      keys[i] = round * 1000 + i;
    /* Two pods per key so holder arrays (the arena) are used too. */
    CHECK_OK(kvidx_index_add(idx, m, p[round % 4], KVIDX_TIER_GPU, keys, 1000));
    CHECK_OK(kvidx_index_add(idx, m, p[(round + 1) % 4], KVIDX_TIER_CPU, keys,
                             1000));
  }
  kvidx_index_stats st;
  CHECK_OK(kvidx_index_get_stats(idx, &st));
  CHECK(st.evictions > 0);
  CHECK(st.keys > 10000);       /* it did not evict everything */
  CHECK(st.keys < 500000);      /* and did evict */
  CHECK(st.bytes <= 2 * bound); /* arena slack is at most 2x */
  /* The newest keys are there. */
  CHECK_EQ_INT(held(idx, m, keys, 1000), 1000);
  kvidx_index_free(idx);
}

TEST(max_pods_per_key_drops_oldest_pod) {
  kvidx_index *idx = make_opts(0, 0, 2);
  uint32_t m, a, b, c;
  CHECK_OK(kvidx_index_model_id(idx, "m", &m));
  CHECK_OK(kvidx_index_pod_id(idx, "a", &a));
  CHECK_OK(kvidx_index_pod_id(idx, "b", &b));
  CHECK_OK(kvidx_index_pod_id(idx, "c", &c));
  uint64_t k[] = {9};
  CHECK_OK(kvidx_index_add(idx, m, a, KVIDX_TIER_GPU, k, 1));
  CHECK_OK(kvidx_index_add(idx, m, b, KVIDX_TIER_GPU, k, 1));
  CHECK_OK(kvidx_index_add(idx, m, a, KVIDX_TIER_CPU, k, 1)); /* not new */
  CHECK_OK(kvidx_index_add(idx, m, c, KVIDX_TIER_GPU, k, 1)); /* a leaves */
  uint32_t only_a[] = {a}, only_bc[] = {b, c};
  size_t n = 0;
  CHECK_EQ_INT(kvidx_index_lookup(idx, m, k, 1, only_a, 1, count_cb, &n), 0);
  CHECK_EQ_INT(kvidx_index_lookup(idx, m, k, 1, only_bc, 2, count_cb, &n), 1);
  CHECK_EQ_INT(n, 2);
  kvidx_index_stats st;
  CHECK_OK(kvidx_index_get_stats(idx, &st));
  CHECK_EQ_U64(st.pod_evictions, 1);
  CHECK_EQ_U64(st.entries, 2);
  uint64_t blocks[KVIDX_TIER_COUNT];
  CHECK_OK(kvidx_index_pod_blocks(idx, a, blocks));
  CHECK_EQ_U64(blocks[KVIDX_TIER_GPU], 0);
  CHECK_EQ_U64(blocks[KVIDX_TIER_CPU], 0);
  kvidx_index_free(idx);
}

TEST(cleared_holders_are_swept) {
  kvidx_index *idx = make_opts(0, 0, 0);
  uint32_t m, a, b;
  CHECK_OK(kvidx_index_model_id(idx, "m", &m));
  CHECK_OK(kvidx_index_pod_id(idx, "a", &a));
  CHECK_OK(kvidx_index_pod_id(idx, "b", &b));
  enum { N = 20000 };
  static uint64_t keys[N];
  for (uint64_t i = 0; i < N; i++)
    keys[i] = i + 1;
  CHECK_OK(kvidx_index_add(idx, m, a, KVIDX_TIER_GPU, keys, N));
  kvidx_index_stats st;
  CHECK_OK(kvidx_index_clear_pod(idx, a));
  CHECK_OK(kvidx_index_get_stats(idx, &st));
  CHECK_EQ_U64(st.entries, 0);
  /* Writes by another pod drive the sweeper through every shard. */
  static uint64_t other[N];
  for (int round = 0; round < 4; round++) {
    for (uint64_t i = 0; i < N; i++)
      other[i] = (uint64_t)round * N + i + 1000000;
    CHECK_OK(kvidx_index_add(idx, m, b, KVIDX_TIER_GPU, other, N));
    CHECK_OK(kvidx_index_remove(idx, m, b, KVIDX_TIER_GPU, other, N));
  }
  CHECK_OK(kvidx_index_get_stats(idx, &st));
  CHECK_EQ_U64(st.keys, 0);
  CHECK_EQ_U64(st.entries, 0);
  kvidx_index_free(idx);
}

TEST(copy_count_saturates) {
  kvidx_index *idx = make_opts(0, 0, 0);
  uint32_t m, a;
  CHECK_OK(kvidx_index_model_id(idx, "m", &m));
  CHECK_OK(kvidx_index_pod_id(idx, "a", &a));
  uint64_t k[] = {3};
  /* Counts saturate at 32 copies per (block, pod, tier): 100 adds count as
   * 32, so 31 removes leave the block and the 32nd removes it. */
  for (int i = 0; i < 100; i++)
    CHECK_OK(kvidx_index_add(idx, m, a, KVIDX_TIER_GPU, k, 1));
  for (int i = 0; i < 31; i++)
    CHECK_OK(kvidx_index_remove(idx, m, a, KVIDX_TIER_GPU, k, 1));
  CHECK_EQ_INT(held(idx, m, k, 1), 1);
  CHECK_OK(kvidx_index_remove(idx, m, a, KVIDX_TIER_GPU, k, 1));
  CHECK_EQ_INT(held(idx, m, k, 1), 0);
  kvidx_index_free(idx);
}

TEST(large_random_against_model) {
  /* Random adds/removes/clears over few keys and pods, checked against a
   * plain array model of copy counts after every operation batch. */
  enum { K = 300, P = 12, T = 2 };
  static int model[K][P][T];
  kvidx_index *idx = make_opts(0, 0, 0);
  uint32_t m, pods[P];
  CHECK_OK(kvidx_index_model_id(idx, "m", &m));
  for (int i = 0; i < P; i++) {
    char name[8];
    snprintf(name, sizeof name, "p%d", i);
    CHECK_OK(kvidx_index_pod_id(idx, name, &pods[i]));
  }
  uint64_t rng = 12345;
  for (int op = 0; op < 30000; op++) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    unsigned r = (unsigned)(rng >> 33);
    int k = (int)(r % K), p = (int)((r / K) % P), t = (int)((r / K / P) % T);
    uint64_t key = (uint64_t)k * 0x9E3779B97F4A7C15ull;
    unsigned what = (r >> 20) % 100;
    if (what < 55) {
      CHECK_OK(kvidx_index_add(idx, m, pods[p], (kvidx_tier)t, &key, 1));
      model[k][p][t]++;
    } else if (what < 99) {
      CHECK_OK(kvidx_index_remove(idx, m, pods[p], (kvidx_tier)t, &key, 1));
      if (model[k][p][t] > 0)
        model[k][p][t]--;
    } else {
      CHECK_OK(kvidx_index_clear_pod(idx, pods[p]));
      for (int kk = 0; kk < K; kk++)
        for (int tt = 0; tt < T; tt++)
          model[kk][p][tt] = 0;
    }
  }
  uint64_t entries = 0;
  for (int k = 0; k < K; k++) {
    uint64_t key = (uint64_t)k * 0x9E3779B97F4A7C15ull;
    size_t want = 0;
    for (int p = 0; p < P; p++) {
      int any = model[k][p][0] > 0 || model[k][p][1] > 0;
      want += (size_t)any;
      entries += (uint64_t)any;
    }
    size_t got = 0;
    int rc = kvidx_index_lookup(idx, m, &key, 1, NULL, 0, count_cb, &got);
    CHECK_EQ_INT(rc, want > 0);
    CHECK_EQ_INT(got, want);
  }
  kvidx_index_stats st;
  CHECK_OK(kvidx_index_get_stats(idx, &st));
  CHECK_EQ_U64(st.entries, entries);
  kvidx_index_free(idx);
}

#define CASE_(name) TEST_CASE(name),
/* Lookups run in an epoch section, so memory replaced meanwhile is only
 * retired. A callback that writes enough to grow every table while its
 * lookup is inside must neither deadlock nor lose anything: the lookup goes
 * on reading the tables it started with, the data written is all there
 * afterwards, and the retired tables are freed (ASan: no leak). */
typedef struct {
  kvidx_index *idx;
  uint32_t m, pod;
  size_t seen;
} grow_cb_state;

static int grow_during_lookup(void *ud, size_t i, const kvidx_holder *h,
                              size_t n) {
  grow_cb_state *st = ud;
  (void)h;
  st->seen += n;
  if (i == 0) {
    uint64_t keys[512];
    for (uint64_t b = 0; b < 40; b++) {
      for (uint64_t j = 0; j < 512; j++)
        keys[j] = (b * 512 + j) * 0x9E3779B97F4A7C15ull + 11;
      CHECK_OK(
          kvidx_index_add(st->idx, st->m, st->pod, KVIDX_TIER_CPU, keys, 512));
    }
  }
  return 0;
}

TEST(callback_grows_tables) {
  kvidx_index *idx = make();
  uint32_t m, a, b;
  CHECK_OK(kvidx_index_model_id(idx, "m", &m));
  CHECK_OK(kvidx_index_pod_id(idx, "a", &a));
  CHECK_OK(kvidx_index_pod_id(idx, "b", &b));
  uint64_t chain[64];
  for (uint64_t i = 0; i < 64; i++)
    chain[i] = i * 0x9E3779B97F4A7C15ull + 7;
  CHECK_OK(kvidx_index_add(idx, m, a, KVIDX_TIER_GPU, chain, 64));
  kvidx_index_stats before, after;
  CHECK_OK(kvidx_index_get_stats(idx, &before));
  grow_cb_state st = {idx, m, b, 0};
  CHECK_EQ_INT(
      kvidx_index_lookup(idx, m, chain, 64, NULL, 0, grow_during_lookup, &st),
      64);
  CHECK_EQ_U64(st.seen, 64);
  CHECK_OK(kvidx_index_get_stats(idx, &after));
  CHECK_EQ_U64(after.keys, 64 + 40 * 512);
  CHECK(after.bytes > 8 * before.bytes);
  uint64_t blocks[KVIDX_TIER_COUNT];
  CHECK_OK(kvidx_index_pod_blocks(idx, b, blocks));
  CHECK_EQ_U64(blocks[KVIDX_TIER_CPU], 40 * 512);
  size_t holders = 0;
  CHECK_EQ_INT(
      kvidx_index_lookup(idx, m, chain, 64, NULL, 0, count_cb, &holders), 64);
  CHECK_EQ_U64(holders, 64);
  kvidx_index_free(idx);
}

TEST_MAIN(CONTRACT_CASES(CASE_) TEST_CASE(tier_names),
          TEST_CASE(max_keys_evicts_least_recently_used),
          TEST_CASE(max_bytes_bounds_memory),
          TEST_CASE(max_pods_per_key_drops_oldest_pod),
          TEST_CASE(cleared_holders_are_swept), TEST_CASE(copy_count_saturates),
          TEST_CASE(large_random_against_model),
          TEST_CASE(callback_grows_tables))

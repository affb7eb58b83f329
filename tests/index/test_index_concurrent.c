/*
 * test_index_concurrent.c: readers and writers on one memory index at once
 * (run under TSan by `make check-tsan`). Writers own disjoint pods (as event
 * shards do) but share keys, so holder arrays grow, shrink and move under the
 * readers. Invariants checked while running: a chain stored by a pod nobody
 * touches is always found whole; every reported holder is a valid pod with a
 * valid tier set, never twice for one key. After the join: the index equals
 * what the writers' own bookkeeping says.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "test.h"

enum {
  WRITERS = 3,
  PODS_PER_WRITER = 2,
  READERS = 2,
  POOL = 512,
  STABLE = 128,
  OPS = 6000
};

static kvidx_index *idx;
static uint32_t model_id, stable_pod;
static uint32_t pods[WRITERS][PODS_PER_WRITER];
static uint64_t pool[POOL], stable_keys[STABLE];
static atomic_int writers_done;
static atomic_int reader_failures;
/* Copies per (writer pod, key, tier), owned by the writer thread. */
static int copies[WRITERS][PODS_PER_WRITER][POOL][2];

/* Runs n_a threads of a and n_b of b at once (each gets its index as its
 * argument) and waits for all of them. */
static void run_threads(int n_a, void *(*a)(void *), int n_b,
                        void *(*b)(void *)) {
  pthread_t th[32];
  CHECK(n_a + n_b <= 32);
  for (int i = 0; i < n_a + n_b; i++)
    CHECK(pthread_create(&th[i], NULL, i < n_a ? a : b,
                         (void *)(intptr_t)(i < n_a ? i : i - n_a)) == 0);
  for (int i = 0; i < n_a + n_b; i++)
    pthread_join(th[i], NULL);
}

static uint64_t next_rand(uint64_t *s) {
  *s = *s * 6364136223846793005ull + 1442695040888963407ull;
  return *s >> 33;
}

static void *writer(void *arg) {
  int w = (int)(intptr_t)arg;
  uint64_t rng = 99u + (uint64_t)w;
  for (int op = 0; op < OPS; op++) {
    uint64_t r = next_rand(&rng);
    int p = (int)(r % PODS_PER_WRITER), t = (int)((r >> 4) % 2);
    size_t start = (size_t)((r >> 8) % (POOL - 16)), len = 1 + (r >> 20) % 16;
    unsigned what = (unsigned)((r >> 40) % 100);
    if (what < 55) {
      CHECK_OK(kvidx_index_add(idx, model_id, pods[w][p], (kvidx_tier)t,
                               &pool[start], len));
      for (size_t i = 0; i < len; i++)
        copies[w][p][start + i][t]++;
    } else if (what < 99) {
      CHECK_OK(kvidx_index_remove(idx, model_id, pods[w][p], (kvidx_tier)t,
                                  &pool[start], len));
      for (size_t i = 0; i < len; i++)
        if (copies[w][p][start + i][t] > 0)
          copies[w][p][start + i][t]--;
    } else {
      CHECK_OK(kvidx_index_clear_pod(idx, pods[w][p]));
      memset(copies[w][p], 0, sizeof copies[w][p]);
    }
  }
  atomic_fetch_add(&writers_done, 1);
  return NULL;
}

typedef struct {
  int ok;
  uint32_t n_pods;
  size_t stable_seen;
} reader_state;

static int check_holders(void *ud, size_t i, const kvidx_holder *h, size_t n) {
  reader_state *st = ud;
  (void)i;
  for (size_t j = 0; j < n; j++) {
    if (h[j].pod >= st->n_pods || h[j].tiers == 0 || h[j].tiers >= 32)
      st->ok = 0;
    if (h[j].pod == stable_pod && h[j].tiers == 1u << KVIDX_TIER_GPU)
      st->stable_seen++;
    for (size_t k = j + 1; k < n; k++)
      if (h[k].pod == h[j].pod)
        st->ok = 0;
  }
  return 0;
}

static void *reader(void *arg) {
  uint64_t rng = 7u + (uint64_t)(intptr_t)arg;
  uint32_t n_pods = 1 + WRITERS * PODS_PER_WRITER;
  while (atomic_load(&writers_done) < WRITERS) {
    reader_state st = {1, n_pods, 0};
    int rc = kvidx_index_lookup(idx, model_id, stable_keys, STABLE, NULL, 0,
                                check_holders, &st);
    if (rc != STABLE || st.stable_seen != STABLE || !st.ok)
      atomic_fetch_add(&reader_failures, 1);
    size_t start = (size_t)(next_rand(&rng) % (POOL - 64));
    reader_state st2 = {1, n_pods, 0};
    rc = kvidx_index_lookup(idx, model_id, &pool[start], 64, NULL, 0,
                            check_holders, &st2);
    if (rc < 0 || !st2.ok)
      atomic_fetch_add(&reader_failures, 1);
    kvidx_pod_score out[8];
    size_t n = 0;
    uint32_t only[] = {stable_pod};
    rc = kvidx_score_prefix(idx, NULL, model_id, stable_keys, STABLE, only, 1,
                            out, 8, &n);
    if (rc != 0 || n != 1 || out[0].blocks != STABLE)
      atomic_fetch_add(&reader_failures, 1);
  }
  return NULL;
}

static int count_holders(void *ud, size_t i, const kvidx_holder *h, size_t n) {
  (void)i;
  (void)h;
  *(size_t *)ud = n;
  return 0;
}

TEST(readers_and_writers) {
  CHECK_OK(kvidx_index_new_memory(NULL, &idx));
  CHECK_OK(kvidx_index_model_id(idx, "m", &model_id));
  CHECK_OK(kvidx_index_pod_id(idx, "stable", &stable_pod));
  for (int w = 0; w < WRITERS; w++)
    for (int p = 0; p < PODS_PER_WRITER; p++) {
      char name[16];
      snprintf(name, sizeof name, "w%d-p%d", w, p);
      CHECK_OK(kvidx_index_pod_id(idx, name, &pods[w][p]));
    }
  for (uint64_t i = 0; i < POOL; i++)
    pool[i] = i * 0x9E3779B97F4A7C15ull + 1;
  /* Stable keys interleave with the pool keys in the same shards. */
  for (uint64_t i = 0; i < STABLE; i++)
    stable_keys[i] = i * 0x9E3779B97F4A7C15ull + 2;
  CHECK_OK(kvidx_index_add(idx, model_id, stable_pod, KVIDX_TIER_GPU,
                           stable_keys, STABLE));
  run_threads(WRITERS, writer, READERS, reader);
  CHECK_EQ_INT(atomic_load(&reader_failures), 0);

  /* Final state equals the writers' bookkeeping. */
  uint64_t entries = STABLE;
  for (int k = 0; k < POOL; k++) {
    size_t want = 0;
    for (int w = 0; w < WRITERS; w++)
      for (int p = 0; p < PODS_PER_WRITER; p++)
        want += copies[w][p][k][0] + copies[w][p][k][1] > 0;
    entries += want;
    size_t got = 0;
    int rc = kvidx_index_lookup(idx, model_id, &pool[k], 1, NULL, 0,
                                count_holders, &got);
    CHECK_EQ_INT(rc, want > 0);
    CHECK_EQ_INT(got, want);
  }
  for (int w = 0; w < WRITERS; w++)
    for (int p = 0; p < PODS_PER_WRITER; p++) {
      uint64_t blocks[KVIDX_TIER_COUNT], want[2] = {0, 0};
      for (int k = 0; k < POOL; k++)
        for (int t = 0; t < 2; t++)
          want[t] += copies[w][p][k][t] > 0;
      CHECK_OK(kvidx_index_pod_blocks(idx, pods[w][p], blocks));
      CHECK_EQ_U64(blocks[0], want[0]);
      CHECK_EQ_U64(blocks[1], want[1]);
    }
  kvidx_index_stats st;
  CHECK_OK(kvidx_index_get_stats(idx, &st));
  CHECK_EQ_U64(st.entries, entries);
  kvidx_index_free(idx);
}

/* ---- eviction while reading --------------------------------------------*/

enum { EV_BOUND = 3000, EV_PER_WRITER = 20000 };

static void *unique_writer(void *arg) {
  int w = (int)(intptr_t)arg;
  uint64_t keys[100];
  for (uint64_t base = 0; base < EV_PER_WRITER; base += 100) {
    for (uint64_t i = 0; i < 100; i++)
      keys[i] = ((uint64_t)w << 40) | (base + i);
    CHECK_OK(
        kvidx_index_add(idx, model_id, pods[w][0], KVIDX_TIER_GPU, keys, 100));
  }
  atomic_fetch_add(&writers_done, 1);
  return NULL;
}

static void *evict_reader(void *arg) {
  (void)arg;
  uint32_t n_pods = 1 + WRITERS * PODS_PER_WRITER;
  uint64_t keys[64];
  uint64_t rng = 5;
  while (atomic_load(&writers_done) < WRITERS) {
    uint64_t w = next_rand(&rng) % WRITERS, base = next_rand(&rng) % 20000;
    for (uint64_t i = 0; i < 64; i++)
      keys[i] = (w << 40) | (base + i);
    reader_state st = {1, n_pods, 0};
    int rc = kvidx_index_lookup(idx, model_id, keys, 64, NULL, 0, check_holders,
                                &st);
    if (rc < 0 || !st.ok)
      atomic_fetch_add(&reader_failures, 1);
    kvidx_index_stats s;
    if (kvidx_index_get_stats(idx, &s) != 0)
      atomic_fetch_add(&reader_failures, 1);
  }
  return NULL;
}

TEST(eviction_under_load) {
  kvidx_index_opts o;
  kvidx_index_opts_init(&o);
  o.max_keys = EV_BOUND;
  CHECK_OK(kvidx_index_new_memory(&o, &idx));
  CHECK_OK(kvidx_index_model_id(idx, "m", &model_id));
  for (int w = 0; w < WRITERS; w++) {
    char name[16];
    snprintf(name, sizeof name, "u%d", w);
    CHECK_OK(kvidx_index_pod_id(idx, name, &pods[w][0]));
  }
  run_threads(WRITERS, unique_writer, READERS, evict_reader);
  CHECK_EQ_INT(atomic_load(&reader_failures), 0);
  kvidx_index_stats st;
  CHECK_OK(kvidx_index_get_stats(idx, &st));
  /* Each key was inserted once: it is either still there or was evicted. */
  CHECK_EQ_U64(st.keys + st.evictions, (uint64_t)WRITERS * EV_PER_WRITER);
  CHECK(st.keys <= EV_BOUND + 64 * WRITERS);
  CHECK_EQ_U64(st.entries, st.keys);
  kvidx_index_free(idx);
}

/* ---- interning races ----------------------------------------------------*/

enum { NAMES = 3000, INTERNERS = 3 };
static uint32_t interned[INTERNERS][NAMES];

static void *interner(void *arg) {
  int t = (int)(intptr_t)arg;
  for (int i = 0; i < NAMES; i++) {
    /* Each thread walks the names in a different order. */
    int j = t == 1 ? NAMES - 1 - i : (i * 7 + t) % NAMES;
    char name[32];
    snprintf(name, sizeof name, "pod-%d", j);
    CHECK_OK(kvidx_index_pod_id(idx, name, &interned[t][j]));
    /* Lock-free reverse lookups of whatever exists so far. */
    const char *back = kvidx_index_pod_name(idx, interned[t][j]);
    if (back == NULL || strcmp(back, name) != 0)
      atomic_fetch_add(&reader_failures, 1);
  }
  return NULL;
}

TEST(interning_races) {
  CHECK_OK(kvidx_index_new_memory(NULL, &idx));
  run_threads(INTERNERS, interner, 0, NULL);
  CHECK_EQ_INT(atomic_load(&reader_failures), 0);
  static unsigned char seen[NAMES];
  for (int j = 0; j < NAMES; j++) {
    CHECK_EQ_INT(interned[0][j], interned[1][j]);
    CHECK_EQ_INT(interned[0][j], interned[2][j]);
    CHECK(interned[0][j] < NAMES);
    CHECK(!seen[interned[0][j]]); /* dense and distinct */
    seen[interned[0][j]] = 1;
  }
  kvidx_index_stats st;
  CHECK_OK(kvidx_index_get_stats(idx, &st));
  CHECK_EQ_U64(st.pods, NAMES);
  kvidx_index_free(idx);
}

/* ---- growth under lock-free readers -------------------------------------*/
/* Lookups read tables and holder arenas without a lock; a writer that grows
 * them retires the old ones, freed only once no lookup can be reading them.
 * Here two writers grow every shard's table from its initial size through
 * several doublings and its arena too (every key gets two pods), while
 * readers walk a chain held by three pods (so its holders live in the
 * arenas being replaced): it must always be found whole with exactly those
 * three pods. TSan/ASan would flag a read of freed memory. */

enum { GROW_KEYS = 64 * 320, CHAIN = 64, GROW_WRITERS = 2 };
static uint32_t chain_pods[3], grow_pods[GROW_WRITERS][2];
static uint64_t chain_keys[CHAIN];

static void *grower(void *arg) {
  int w = (int)(intptr_t)arg;
  uint64_t batch[64];
  for (uint64_t i = 0; i < GROW_KEYS; i += 64) {
    for (uint64_t j = 0; j < 64; j++)
      batch[j] = ((uint64_t)w << 40 | (i + j)) * 0x9E3779B97F4A7C15ull + 3;
    for (int p = 0; p < 2; p++)
      CHECK_OK(kvidx_index_add(idx, model_id, grow_pods[w][p], KVIDX_TIER_GPU,
                               batch, 64));
  }
  atomic_fetch_add(&writers_done, 1);
  return NULL;
}

static int check_chain(void *ud, size_t i, const kvidx_holder *h, size_t n) {
  int *ok = ud;
  (void)i;
  unsigned seen = 0;
  for (size_t j = 0; j < n; j++)
    for (unsigned c = 0; c < 3; c++)
      if (h[j].pod == chain_pods[c] && h[j].tiers == 1u << KVIDX_TIER_GPU)
        seen |= 1u << c;
  if (n != 3 || seen != 7)
    *ok = 0;
  return 0;
}

static void *chain_reader(void *arg) {
  (void)arg;
  while (atomic_load(&writers_done) < GROW_WRITERS) {
    int ok = 1;
    int rc = kvidx_index_lookup(idx, model_id, chain_keys, CHAIN, NULL, 0,
                                check_chain, &ok);
    if (rc != CHAIN || !ok)
      atomic_fetch_add(&reader_failures, 1);
  }
  return NULL;
}

TEST(growth_under_readers) {
  CHECK_OK(kvidx_index_new_memory(NULL, &idx));
  CHECK_OK(kvidx_index_model_id(idx, "m", &model_id));
  for (int c = 0; c < 3; c++) {
    char name[16];
    snprintf(name, sizeof name, "chain-%d", c);
    CHECK_OK(kvidx_index_pod_id(idx, name, &chain_pods[c]));
  }
  for (int w = 0; w < GROW_WRITERS; w++)
    for (int p = 0; p < 2; p++) {
      char name[16];
      snprintf(name, sizeof name, "g%d-%d", w, p);
      CHECK_OK(kvidx_index_pod_id(idx, name, &grow_pods[w][p]));
    }
  for (uint64_t i = 0; i < CHAIN; i++)
    chain_keys[i] = i * 0x9E3779B97F4A7C15ull + 5;
  for (int c = 0; c < 3; c++)
    CHECK_OK(kvidx_index_add(idx, model_id, chain_pods[c], KVIDX_TIER_GPU,
                             chain_keys, CHAIN));
  kvidx_index_stats before;
  CHECK_OK(kvidx_index_get_stats(idx, &before));
  run_threads(GROW_WRITERS, grower, READERS, chain_reader);
  CHECK_EQ_INT(atomic_load(&reader_failures), 0);
  kvidx_index_stats st;
  CHECK_OK(kvidx_index_get_stats(idx, &st));
  CHECK_EQ_U64(st.keys, CHAIN + (uint64_t)GROW_WRITERS * GROW_KEYS);
  CHECK_EQ_U64(st.entries, 3 * CHAIN + 2 * (uint64_t)GROW_WRITERS * GROW_KEYS);
  CHECK(st.bytes > 4 * before.bytes); /* the tables really grew */
  kvidx_index_free(idx);
}

TEST_MAIN(TEST_CASE(readers_and_writers), TEST_CASE(eviction_under_load),
          TEST_CASE(interning_races), TEST_CASE(growth_under_readers))

/*
 * contract_util.c: the backend contract of the block index (contract.h).
 * Expectations are written out by hand next to each scenario.
 */
#include <stdlib.h>
#include <string.h>

#include "contract.h"
#include "test.h"

/* ---- helpers ------------------------------------------------------------*/

#define MAX_KEYS 64
#define MAX_HOLDERS 256

/* What one lookup reported: per key index, the holders sorted by pod. */
typedef struct {
  size_t calls;
  size_t stop_after; /* ask to stop after this many calls (0 = never) */
  size_t index[MAX_KEYS];
  size_t n[MAX_KEYS];
  kvidx_holder h[MAX_KEYS][MAX_HOLDERS];
} seen;

static int cmp_holder(const void *a, const void *b) {
  const kvidx_holder *x = a, *y = b;
  return x->pod < y->pod ? -1 : (x->pod > y->pod);
}

static int record(void *userdata, size_t i, const kvidx_holder *holders,
                  size_t n) {
  seen *s = userdata;
  if (s->calls >= MAX_KEYS || n > MAX_HOLDERS)
    FAILF("lookup callback overflow: call %zu with %zu holders", s->calls, n);
  s->index[s->calls] = i;
  s->n[s->calls] = n;
  memcpy(s->h[s->calls], holders, n * sizeof *holders);
  qsort(s->h[s->calls], n, sizeof *holders, cmp_holder);
  s->calls++;
  return s->stop_after != 0 && s->calls >= s->stop_after;
}

/* Runs a lookup; checks that the return value matches the callback count. */
static seen *lookup(kvidx_index *idx, uint32_t model, const uint64_t *keys,
                    size_t n, const uint32_t *pods, size_t n_pods) {
  static seen s;
  memset(&s, 0, sizeof s);
  int rc = kvidx_index_lookup(idx, model, keys, n, pods, n_pods, record, &s);
  if (rc < 0)
    FAILF("kvidx_index_lookup: %s", kvidx_err_name(rc));
  CHECK_EQ_INT(rc, s.calls);
  for (size_t i = 0; i < s.calls; i++)
    CHECK_EQ_INT(s.index[i], i); /* keys are reported in order from 0 */
  return &s;
}

static uint32_t pod(kvidx_index *idx, const char *name) {
  uint32_t id;
  CHECK_OK(kvidx_index_pod_id(idx, name, &id));
  return id;
}

static uint32_t model(kvidx_index *idx, const char *name) {
  uint32_t id;
  CHECK_OK(kvidx_index_model_id(idx, name, &id));
  return id;
}

static kvidx_index *fresh(contract_factory make) {
  kvidx_index *idx = make();
  CHECK(idx != NULL);
  CHECK_OK(kvidx_index_ready(idx));
  return idx;
}

#define GPU (1u << KVIDX_TIER_GPU)
#define CPU (1u << KVIDX_TIER_CPU)

/* ---- cases --------------------------------------------------------------*/

void contract_interning(contract_factory make) {
  kvidx_index *idx = fresh(make);
  uint32_t a = pod(idx, "pod-a"), b = pod(idx, "pod-b");
  CHECK(a != b);
  CHECK_EQ_INT(pod(idx, "pod-a"), a);
  uint32_t found;
  CHECK_OK(kvidx_index_find_pod(idx, "pod-b", &found));
  CHECK_EQ_INT(found, b);
  CHECK_EQ_INT(kvidx_index_find_pod(idx, "nope", &found), KVIDX_ENOTFOUND);
  CHECK_EQ_STR(kvidx_index_pod_name(idx, a), "pod-a");
  CHECK(kvidx_index_pod_name(idx, 999999) == NULL);
  uint32_t m = model(idx, "llama");
  CHECK_EQ_STR(kvidx_index_model_name(idx, m), "llama");
  CHECK_OK(kvidx_index_find_model(idx, "llama", &found));
  CHECK_EQ_INT(found, m);
  CHECK_EQ_INT(kvidx_index_find_model(idx, "other", &found), KVIDX_ENOTFOUND);
  kvidx_index_free(idx);
}

void contract_add_lookup(contract_factory make) {
  kvidx_index *idx = fresh(make);
  uint32_t m = model(idx, "m"), a = pod(idx, "a");
  uint64_t keys[] = {11, 22, 33, 0, UINT64_MAX}; /* 0 and ~0 are valid keys */
  CHECK_OK(kvidx_index_add(idx, m, a, KVIDX_TIER_GPU, keys, 5));
  seen *s = lookup(idx, m, keys, 5, NULL, 0);
  CHECK_EQ_INT(s->calls, 5);
  for (size_t i = 0; i < 5; i++) {
    CHECK_EQ_INT(s->n[i], 1);
    CHECK_EQ_INT(s->h[i][0].pod, a);
    CHECK_EQ_INT(s->h[i][0].tiers, GPU);
  }
  uint64_t other[] = {44};
  s = lookup(idx, m, other, 1, NULL, 0);
  CHECK_EQ_INT(s->calls, 0);
  kvidx_index_free(idx);
}

void contract_copy_counts(contract_factory make) {
  kvidx_index *idx = fresh(make);
  uint32_t m = model(idx, "m"), a = pod(idx, "a");
  uint64_t k[] = {7};
  /* Two physical copies of the same hash on one engine. */
  CHECK_OK(kvidx_index_add(idx, m, a, KVIDX_TIER_GPU, k, 1));
  CHECK_OK(kvidx_index_add(idx, m, a, KVIDX_TIER_GPU, k, 1));
  CHECK_OK(kvidx_index_remove(idx, m, a, KVIDX_TIER_GPU, k, 1));
  seen *s = lookup(idx, m, k, 1, NULL, 0);
  CHECK_EQ_INT(s->calls, 1); /* one copy left: still cached */
  CHECK_EQ_INT(s->h[0][0].pod, a);
  CHECK_OK(kvidx_index_remove(idx, m, a, KVIDX_TIER_GPU, k, 1));
  s = lookup(idx, m, k, 1, NULL, 0);
  CHECK_EQ_INT(s->calls, 0);
  kvidx_index_stats st;
  CHECK_OK(kvidx_index_get_stats(idx, &st));
  CHECK_EQ_U64(st.entries, 0);
  kvidx_index_free(idx);
}

void contract_tiers(contract_factory make) {
  kvidx_index *idx = fresh(make);
  uint32_t m = model(idx, "m"), a = pod(idx, "a");
  uint64_t k[] = {5};
  CHECK_OK(kvidx_index_add(idx, m, a, KVIDX_TIER_GPU, k, 1));
  CHECK_OK(kvidx_index_add(idx, m, a, KVIDX_TIER_CPU, k, 1));
  seen *s = lookup(idx, m, k, 1, NULL, 0);
  CHECK_EQ_INT(s->calls, 1);
  CHECK_EQ_INT(s->n[0], 1); /* one holder with two tiers, not two holders */
  CHECK_EQ_INT(s->h[0][0].tiers, GPU | CPU);
  CHECK_OK(kvidx_index_remove(idx, m, a, KVIDX_TIER_GPU, k, 1));
  s = lookup(idx, m, k, 1, NULL, 0);
  CHECK_EQ_INT(s->calls, 1);
  CHECK_EQ_INT(s->h[0][0].tiers, CPU);
  /* Removing from a tier that holds nothing is a miss, not a removal. */
  CHECK_OK(kvidx_index_remove(idx, m, a, KVIDX_TIER_GPU, k, 1));
  s = lookup(idx, m, k, 1, NULL, 0);
  CHECK_EQ_INT(s->h[0][0].tiers, CPU);
  CHECK_OK(kvidx_index_remove(idx, m, a, KVIDX_TIER_CPU, k, 1));
  s = lookup(idx, m, k, 1, NULL, 0);
  CHECK_EQ_INT(s->calls, 0);
  kvidx_index_free(idx);
}

void contract_remove_absent(contract_factory make) {
  kvidx_index *idx = fresh(make);
  uint32_t m = model(idx, "m"), a = pod(idx, "a"), b = pod(idx, "b");
  uint64_t k[] = {1, 2, 3};
  /* Nothing stored at all: three misses, no error. */
  CHECK_OK(kvidx_index_remove(idx, m, a, KVIDX_TIER_GPU, k, 3));
  CHECK_OK(kvidx_index_add(idx, m, a, KVIDX_TIER_GPU, k, 2));
  /* b holds none of them; a does not hold 3. */
  CHECK_OK(kvidx_index_remove(idx, m, b, KVIDX_TIER_GPU, k, 3));
  CHECK_OK(kvidx_index_remove(idx, m, a, KVIDX_TIER_GPU, &k[2], 1));
  seen *s = lookup(idx, m, k, 3, NULL, 0);
  CHECK_EQ_INT(s->calls, 2);
  kvidx_index_stats st;
  CHECK_OK(kvidx_index_get_stats(idx, &st));
  CHECK_EQ_U64(st.removes, 0);
  CHECK_EQ_U64(st.remove_misses, 7);
  CHECK_EQ_U64(st.entries, 2);
  kvidx_index_free(idx);
}

void contract_clear_pod(contract_factory make) {
  kvidx_index *idx = fresh(make);
  uint32_t m1 = model(idx, "m1"), m2 = model(idx, "m2");
  uint32_t a = pod(idx, "a"), b = pod(idx, "b"), c = pod(idx, "c");
  uint64_t k[] = {100, 200, 300};
  CHECK_OK(kvidx_index_add(idx, m1, a, KVIDX_TIER_GPU, k, 3));
  CHECK_OK(kvidx_index_add(idx, m1, a, KVIDX_TIER_CPU, k, 3));
  CHECK_OK(kvidx_index_add(idx, m2, a, KVIDX_TIER_GPU, k, 3));
  CHECK_OK(kvidx_index_add(idx, m1, b, KVIDX_TIER_GPU, k, 2));
  CHECK_OK(kvidx_index_clear_pod(idx, a)); /* all models and tiers */
  CHECK_OK(kvidx_index_clear_pod(idx, c)); /* a pod that holds nothing */
  seen *s = lookup(idx, m1, k, 3, NULL, 0);
  CHECK_EQ_INT(s->calls, 2);
  for (size_t i = 0; i < 2; i++) {
    CHECK_EQ_INT(s->n[i], 1);
    CHECK_EQ_INT(s->h[i][0].pod, b);
  }
  s = lookup(idx, m2, k, 3, NULL, 0);
  CHECK_EQ_INT(s->calls, 0);
  uint64_t blocks[KVIDX_TIER_COUNT];
  CHECK_OK(kvidx_index_pod_blocks(idx, a, blocks));
  CHECK_EQ_U64(blocks[KVIDX_TIER_GPU], 0);
  CHECK_EQ_U64(blocks[KVIDX_TIER_CPU], 0);
  kvidx_index_stats st;
  CHECK_OK(kvidx_index_get_stats(idx, &st));
  CHECK_EQ_U64(st.entries, 2);
  CHECK_EQ_U64(st.clears, 2);
  /* The pod comes back: it starts from nothing, old copies do not revive. */
  CHECK_OK(kvidx_index_add(idx, m1, a, KVIDX_TIER_GPU, &k[2], 1));
  CHECK_OK(kvidx_index_remove(idx, m1, a, KVIDX_TIER_GPU, &k[2], 1));
  s = lookup(idx, m1, &k[2], 1, NULL, 0);
  CHECK_EQ_INT(s->calls, 0);
  CHECK_OK(kvidx_index_add(idx, m1, a, KVIDX_TIER_GPU, k, 1));
  s = lookup(idx, m1, k, 1, NULL, 0);
  CHECK_EQ_INT(s->calls, 1);
  CHECK_EQ_INT(s->n[0], 2);
  CHECK_EQ_INT(s->h[0][0].tiers, GPU); /* the old CPU copy is gone */
  CHECK_OK(kvidx_index_pod_blocks(idx, a, blocks));
  CHECK_EQ_U64(blocks[KVIDX_TIER_GPU], 1);
  CHECK_EQ_U64(blocks[KVIDX_TIER_CPU], 0);
  kvidx_index_free(idx);
}

void contract_pod_filter(contract_factory make) {
  kvidx_index *idx = fresh(make);
  uint32_t m = model(idx, "m");
  uint32_t a = pod(idx, "a"), b = pod(idx, "b"), c = pod(idx, "c");
  uint64_t k[] = {1, 2, 3, 4};
  CHECK_OK(kvidx_index_add(idx, m, a, KVIDX_TIER_GPU, k, 4));
  CHECK_OK(kvidx_index_add(idx, m, b, KVIDX_TIER_GPU, k, 2));
  uint32_t only_b[] = {b};
  seen *s = lookup(idx, m, k, 4, only_b, 1);
  CHECK_EQ_INT(s->calls, 2); /* stops where b's prefix ends */
  CHECK_EQ_INT(s->n[0], 1);
  CHECK_EQ_INT(s->h[0][0].pod, b);
  uint32_t only_c[] = {c};
  s = lookup(idx, m, k, 4, only_c, 1);
  CHECK_EQ_INT(s->calls, 0);
  uint32_t both[] = {c, a};
  s = lookup(idx, m, k, 4, both, 2);
  CHECK_EQ_INT(s->calls, 4);
  CHECK_EQ_INT(s->n[1], 1);
  CHECK_EQ_INT(s->h[1][0].pod, a);
  s = lookup(idx, m, k, 4, NULL, 0);
  CHECK_EQ_INT(s->calls, 4);
  CHECK_EQ_INT(s->n[0], 2);
  CHECK_EQ_INT(s->n[3], 1);
  kvidx_index_free(idx);
}

void contract_early_stop(contract_factory make) {
  kvidx_index *idx = fresh(make);
  uint32_t m = model(idx, "m"), a = pod(idx, "a");
  uint64_t k[] = {10, 20, 30, 40};
  CHECK_OK(kvidx_index_add(idx, m, a, KVIDX_TIER_GPU, k, 2));
  CHECK_OK(kvidx_index_add(idx, m, a, KVIDX_TIER_GPU, &k[3], 1));
  /* 30 is missing: 40 is held but never reported. */
  seen *s = lookup(idx, m, k, 4, NULL, 0);
  CHECK_EQ_INT(s->calls, 2);
  /* A chain starting with a missing key reports nothing. */
  s = lookup(idx, m, &k[2], 2, NULL, 0);
  CHECK_EQ_INT(s->calls, 0);
  kvidx_index_free(idx);
}

void contract_callback_stop(contract_factory make) {
  kvidx_index *idx = fresh(make);
  uint32_t m = model(idx, "m"), a = pod(idx, "a");
  uint64_t k[] = {1, 2, 3, 4, 5};
  CHECK_OK(kvidx_index_add(idx, m, a, KVIDX_TIER_GPU, k, 5));
  static seen s;
  memset(&s, 0, sizeof s);
  s.stop_after = 3;
  int rc = kvidx_index_lookup(idx, m, k, 5, NULL, 0, record, &s);
  CHECK_EQ_INT(rc, 3);
  CHECK_EQ_INT(s.calls, 3);
  kvidx_index_free(idx);
}

void contract_models_separate(contract_factory make) {
  kvidx_index *idx = fresh(make);
  uint32_t m1 = model(idx, "m1"), m2 = model(idx, "m2");
  uint32_t a = pod(idx, "a"), b = pod(idx, "b");
  uint64_t k[] = {42};
  CHECK_OK(kvidx_index_add(idx, m1, a, KVIDX_TIER_GPU, k, 1));
  seen *s = lookup(idx, m2, k, 1, NULL, 0);
  CHECK_EQ_INT(s->calls, 0);
  CHECK_OK(kvidx_index_add(idx, m2, b, KVIDX_TIER_CPU, k, 1));
  s = lookup(idx, m1, k, 1, NULL, 0);
  CHECK_EQ_INT(s->n[0], 1);
  CHECK_EQ_INT(s->h[0][0].pod, a);
  s = lookup(idx, m2, k, 1, NULL, 0);
  CHECK_EQ_INT(s->n[0], 1);
  CHECK_EQ_INT(s->h[0][0].pod, b);
  CHECK_EQ_INT(s->h[0][0].tiers, CPU);
  CHECK_OK(kvidx_index_remove(idx, m2, a, KVIDX_TIER_GPU, k, 1)); /* miss */
  s = lookup(idx, m1, k, 1, NULL, 0);
  CHECK_EQ_INT(s->calls, 1);
  kvidx_index_free(idx);
}

void contract_engine_keys(contract_factory make) {
  kvidx_index *idx = fresh(make);
  uint32_t m1 = model(idx, "m1"), m2 = model(idx, "m2");
  uint64_t eng[] = {1001, 1002, 0};
  uint64_t req[] = {9001, 9002, 9000};
  uint64_t out = 0;
  CHECK_EQ_INT(kvidx_index_resolve_engine_key(idx, m1, 1001, &out),
               KVIDX_ENOTFOUND);
  CHECK_OK(kvidx_index_map_engine_keys(idx, m1, eng, req, 3));
  CHECK_OK(kvidx_index_resolve_engine_key(idx, m1, 1002, &out));
  CHECK_EQ_U64(out, 9002);
  CHECK_OK(kvidx_index_resolve_engine_key(idx, m1, 0, &out));
  CHECK_EQ_U64(out, 9000);
  CHECK_EQ_INT(kvidx_index_resolve_engine_key(idx, m2, 1002, &out),
               KVIDX_ENOTFOUND);
  /* Re-mapping replaces. */
  uint64_t req2[] = {7777};
  CHECK_OK(kvidx_index_map_engine_keys(idx, m1, eng, req2, 1));
  CHECK_OK(kvidx_index_resolve_engine_key(idx, m1, 1001, &out));
  CHECK_EQ_U64(out, 7777);
  uint64_t gone[] = {1001, 5555}; /* 5555 was never mapped: skipped */
  CHECK_OK(kvidx_index_unmap_engine_keys(idx, m1, gone, 2));
  CHECK_EQ_INT(kvidx_index_resolve_engine_key(idx, m1, 1001, &out),
               KVIDX_ENOTFOUND);
  CHECK_OK(kvidx_index_resolve_engine_key(idx, m1, 1002, &out));
  CHECK_EQ_U64(out, 9002);
  kvidx_index_free(idx);
}

void contract_stats(contract_factory make) {
  kvidx_index *idx = fresh(make);
  uint32_t m = model(idx, "m"), a = pod(idx, "a"), b = pod(idx, "b");
  uint64_t k[] = {1, 2, 3};
  CHECK_OK(kvidx_index_add(idx, m, a, KVIDX_TIER_GPU, k, 3));
  CHECK_OK(kvidx_index_add(idx, m, b, KVIDX_TIER_GPU, k, 2));
  CHECK_OK(kvidx_index_add(idx, m, b, KVIDX_TIER_CPU, k, 1));
  CHECK_OK(kvidx_index_remove(idx, m, a, KVIDX_TIER_GPU, &k[2], 1));
  kvidx_index_stats st;
  CHECK_OK(kvidx_index_get_stats(idx, &st));
  CHECK_EQ_U64(st.keys, 2);    /* 1 and 2 (3 lost its only holder) */
  CHECK_EQ_U64(st.entries, 4); /* (1,a) (2,a) (1,b) (2,b) */
  CHECK_EQ_U64(st.pods, 2);
  CHECK_EQ_U64(st.adds, 6);
  CHECK_EQ_U64(st.removes, 1);
  CHECK_EQ_U64(st.remove_misses, 0);
  CHECK_EQ_U64(st.evictions, 0);
  kvidx_index_free(idx);
}

void contract_pod_blocks(contract_factory make) {
  kvidx_index *idx = fresh(make);
  uint32_t m1 = model(idx, "m1"), m2 = model(idx, "m2");
  uint32_t a = pod(idx, "a"), b = pod(idx, "b");
  uint64_t k[] = {1, 2, 3, 4};
  CHECK_OK(kvidx_index_add(idx, m1, a, KVIDX_TIER_GPU, k, 4));
  CHECK_OK(kvidx_index_add(idx, m1, a, KVIDX_TIER_GPU, k, 2)); /* copies */
  CHECK_OK(kvidx_index_add(idx, m2, a, KVIDX_TIER_GPU, k, 1));
  CHECK_OK(kvidx_index_add(idx, m1, a, KVIDX_TIER_STORAGE, k, 3));
  uint64_t blocks[KVIDX_TIER_COUNT];
  CHECK_OK(kvidx_index_pod_blocks(idx, a, blocks));
  CHECK_EQ_U64(blocks[KVIDX_TIER_GPU], 5); /* keys, not copies: 4 + 1 */
  CHECK_EQ_U64(blocks[KVIDX_TIER_CPU], 0);
  CHECK_EQ_U64(blocks[KVIDX_TIER_STORAGE], 3);
  CHECK_OK(kvidx_index_pod_blocks(idx, b, blocks));
  for (unsigned t = 0; t < KVIDX_TIER_COUNT; t++)
    CHECK_EQ_U64(blocks[t], 0);
  kvidx_index_free(idx);
}

void contract_many_holders(contract_factory make) {
  kvidx_index *idx = fresh(make);
  uint32_t m = model(idx, "m");
  enum { N = 100 };
  uint32_t ids[N];
  uint64_t k[] = {77, 78};
  for (int i = 0; i < N; i++) {
    char name[32];
    snprintf(name, sizeof name, "pod-%03d", i);
    ids[i] = pod(idx, name);
    CHECK_OK(kvidx_index_add(idx, m, ids[i],
                             i % 2 ? KVIDX_TIER_CPU : KVIDX_TIER_GPU, k, 2));
  }
  for (int i = 0; i < N; i += 3) /* remove every third pod from key 77 */
    CHECK_OK(kvidx_index_remove(idx, m, ids[i],
                                i % 2 ? KVIDX_TIER_CPU : KVIDX_TIER_GPU, k, 1));
  seen *s = lookup(idx, m, k, 2, NULL, 0);
  CHECK_EQ_INT(s->calls, 2);
  CHECK_EQ_INT(s->n[0], N - (N + 2) / 3);
  CHECK_EQ_INT(s->n[1], N);
  for (size_t j = 0; j < s->n[0]; j++) {
    uint32_t p = s->h[0][j].pod;
    int i = -1;
    for (int q = 0; q < N; q++)
      i = ids[q] == p ? q : i;
    CHECK(i >= 0 && i % 3 != 0);
    CHECK_EQ_INT(s->h[0][j].tiers, i % 2 ? CPU : GPU);
  }
  kvidx_index_free(idx);
}

void contract_invalid_args(contract_factory make) {
  kvidx_index *idx = fresh(make);
  uint32_t m = model(idx, "m"), a = pod(idx, "a");
  uint64_t k[] = {1};
  CHECK_EQ_INT(kvidx_index_add(idx, m, a + 1000, KVIDX_TIER_GPU, k, 1),
               KVIDX_EINVAL);
  CHECK_EQ_INT(kvidx_index_add(idx, m + 1000, a, KVIDX_TIER_GPU, k, 1),
               KVIDX_EINVAL);
  CHECK_EQ_INT(kvidx_index_add(idx, m, a, KVIDX_TIER_COUNT, k, 1),
               KVIDX_EINVAL);
  CHECK_EQ_INT(kvidx_index_add(idx, m, a, KVIDX_TIER_GPU, NULL, 1),
               KVIDX_EINVAL);
  CHECK_OK(kvidx_index_add(idx, m, a, KVIDX_TIER_GPU, NULL, 0));
  CHECK_EQ_INT(kvidx_index_clear_pod(idx, a + 1000), KVIDX_EINVAL);
  uint32_t bad_pods[] = {a + 1000};
  static seen s;
  CHECK_EQ_INT(kvidx_index_lookup(idx, m, k, 1, bad_pods, 1, record, &s),
               KVIDX_EINVAL);
  CHECK_EQ_INT(kvidx_index_lookup(idx, m, k, 1, NULL, 0, NULL, NULL),
               KVIDX_EINVAL);
  CHECK_EQ_INT(kvidx_index_pod_id(idx, NULL, &a), KVIDX_EINVAL);
  kvidx_index_free(idx);
}

void contract_score(contract_factory make) {
  kvidx_index *idx = fresh(make);
  uint32_t m = model(idx, "m");
  uint32_t a = pod(idx, "a"), b = pod(idx, "b"), c = pod(idx, "c");
  uint64_t k[] = {1, 2, 3, 4};
  /* a: gpu 1,2,3 (cpu copy of 2 too); b: cpu 1,2,3,4; c: gpu 2,3,4. */
  CHECK_OK(kvidx_index_add(idx, m, a, KVIDX_TIER_GPU, k, 3));
  CHECK_OK(kvidx_index_add(idx, m, a, KVIDX_TIER_CPU, &k[1], 1));
  CHECK_OK(kvidx_index_add(idx, m, b, KVIDX_TIER_CPU, k, 4));
  CHECK_OK(kvidx_index_add(idx, m, c, KVIDX_TIER_GPU, &k[1], 3));
  kvidx_pod_score out[8];
  size_t n_out = 0;
  CHECK_OK(kvidx_score_prefix(idx, NULL, m, k, 4, NULL, 0, out, 8, &n_out));
  /* b: 4 x 0.8 = 3.2; a: 3 x 1.0 = 3.0 (gpu beats cpu); c: misses block 0. */
  CHECK_EQ_INT(n_out, 2);
  CHECK_EQ_INT(out[0].pod, b);
  CHECK_EQ_DBL(out[0].score, 3.2, 1e-9);
  CHECK_EQ_INT(out[0].blocks, 4);
  CHECK_EQ_INT(out[1].pod, a);
  CHECK_EQ_DBL(out[1].score, 3.0, 1e-9);
  CHECK_EQ_INT(out[1].blocks, 3);
  uint32_t only_ac[] = {a, c};
  CHECK_OK(kvidx_score_prefix(idx, NULL, m, k, 4, only_ac, 2, out, 8, &n_out));
  CHECK_EQ_INT(n_out, 1);
  CHECK_EQ_INT(out[0].pod, a);
  kvidx_index_free(idx);
}

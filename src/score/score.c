/*
 * score.c: the longest-prefix scorer, on top of kvidx_index_lookup().
 *
 * Semantics are llm-d's LongestPrefixScorer (pkg/kvcache/kvblock_scorer.go):
 * the pods holding block 0 start "active" with the weight of the best tier
 * they hold block 0 in; for each later block, the active set becomes its
 * intersection with the block's holders, and every pod still active adds the
 * weight of the best tier it holds that block in. Scoring stops when no pod
 * is active (and the lookup stops at the first block nobody eligible holds).
 *
 * Implementation: instead of set intersections, run[pod] is the length of the
 * prefix the pod has held so far; a holder of block i extends its run only if
 * run[pod] == i. That is O(holders) per block with two dense arrays indexed by
 * pod id (12 bytes per interned pod), grown when the lookup interns a new pod
 * that holds block 0 (Redis: a pod another replica wrote). The arrays are
 * kept per thread between calls and only the entries a call touched are
 * cleared afterwards, so a call allocates and clears nothing in proportion
 * to the fleet (at 1,000 pods, calloc of the arrays was ~13 instructions per
 * prompt block).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "index/index_impl.h"
#include "kvidx.h"

/* Defaults follow llm-d's DefaultKVCacheBackendConfig: gpu 1.0, cpu 0.8,
 * shared_storage (our fs) 0.4, storage 0.3, object_store (our obj) 0.2. */
void kvidx_tier_weights_init(kvidx_tier_weights *w) {
  if (w == NULL)
    return;
  w->weight[KVIDX_TIER_GPU] = 1.0;
  w->weight[KVIDX_TIER_CPU] = 0.8;
  w->weight[KVIDX_TIER_FS] = 0.4;
  w->weight[KVIDX_TIER_STORAGE] = 0.3;
  w->weight[KVIDX_TIER_OBJ] = 0.2;
}

int kvidx_tier_weights_set(kvidx_tier_weights *w, const char *tier,
                           double weight) {
  if (w == NULL || tier == NULL || !(weight >= 0.0) || weight > 1e9)
    return KVIDX_EINVAL;
  kvidx_tier t;
  int rc = kvidx_tier_parse(tier, strlen(tier), &t);
  if (rc != 0 || tier[0] == '\0')
    return KVIDX_ENOTFOUND;
  w->weight[t] = weight;
  return 0;
}

#define TIER_BITS ((1u << KVIDX_TIER_COUNT) - 1u)
/* Results up to this many are sorted by insertion. */
#define SMALL_SORT 32u

typedef struct {
  double best[1u << KVIDX_TIER_COUNT]; /* best weight per tier bit set */
  uint32_t *run;                       /* prefix length held, per pod */
  double *score;                       /* per pod */
  uint32_t *touched;                   /* pods that held block 0 */
  size_t n_touched;
  uint32_t n_pods; /* size of run/score */
  kvidx_index *idx;
  int rc; /* KVIDX_ENOMEM when growing failed */
} score_state;

/* ---- per-thread arrays ----------------------------------------------------
 * Between calls run[] and score[] are all zero: a call clears the entries of
 * the pods it touched. `busy` guards against a nested call on the same
 * thread (not done by kvidx itself), which then uses its own arrays. */
typedef struct {
  uint32_t *run;
  double *score;
  uint32_t *touched;
  uint32_t cap; /* entries in each array */
  int busy;
} score_scratch;

/* Grows the three per-pod arrays from old to n entries; the new run and
 * score entries are zero (touched needs no initial value). An array whose
 * realloc succeeded is kept even when another's failed, so nothing leaks.
 * Returns 0 or KVIDX_ENOMEM. */
static int grow_arrays(uint32_t **run, double **score, uint32_t **touched,
                       uint32_t old, uint32_t n) {
  uint32_t *r = realloc(*run, n * sizeof *r);
  if (r != NULL)
    *run = r;
  double *sc = realloc(*score, n * sizeof *sc);
  if (sc != NULL)
    *score = sc;
  uint32_t *t = realloc(*touched, n * sizeof *t);
  if (t != NULL)
    *touched = t;
  if (r == NULL || sc == NULL || t == NULL)
    return KVIDX_ENOMEM;
  memset(*run + old, 0, (n - old) * sizeof *r);
  memset(*score + old, 0, (n - old) * sizeof *sc);
  return 0;
}

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static int scratch_key_ok;

static void scratch_free(void *p) {
  score_scratch *sc = p;
  free(sc->run);
  free(sc->score);
  free(sc->touched);
  free(sc);
}

static void scratch_key_init(void) {
  scratch_key_ok = pthread_key_create(&scratch_key, scratch_free) == 0;
}

/* This thread's arrays with room for cap pods, or NULL (then the caller
 * allocates its own). */
static score_scratch *scratch_get(uint32_t cap) {
  pthread_once(&scratch_once, scratch_key_init);
  if (!scratch_key_ok)
    return NULL;
  score_scratch *sc = pthread_getspecific(scratch_key);
  if (sc == NULL) {
    sc = calloc(1, sizeof *sc);
    if (sc == NULL || pthread_setspecific(scratch_key, sc) != 0) {
      free(sc);
      return NULL;
    }
  }
  if (sc->busy)
    return NULL;
  if (sc->cap < cap &&
      grow_arrays(&sc->run, &sc->score, &sc->touched, sc->cap, cap) != 0)
    return NULL;
  if (sc->cap < cap)
    sc->cap = cap;
  return sc;
}

/* The Redis backend interns pods during the lookup (pods another replica
 * wrote), so a holder of block 0 may have an id past the arrays: grow them
 * to the interner's current size. Holders first seen after block 0 cannot
 * extend a prefix and need no slot. */
static int grow(score_state *st, uint32_t pod) {
  uint32_t n = kvidx__intern_count(&st->idx->pods);
  if (n <= pod)
    n = pod + 1;
  int rc = grow_arrays(&st->run, &st->score, &st->touched, st->n_pods, n);
  if (rc == 0)
    st->n_pods = n;
  return rc;
}

/* Block 0: every holder starts a run (grows the arrays for a pod interned
 * since the call began). */
static int on_first_key(score_state *st, const kvidx_holder *holders,
                        size_t n) {
  for (size_t k = 0; k < n; k++) {
    uint32_t pod = holders[k].pod;
    if (pod >= st->n_pods && (st->rc = grow(st, pod)) != 0)
      return 1;
    if (st->run[pod] != 0)
      continue; /* (the index reports each pod once; be safe) */
    st->touched[st->n_touched++] = pod;
    st->run[pod] = 1;
    st->score[pod] = st->best[holders[k].tiers & TIER_BITS];
  }
  return st->n_touched == 0;
}

/* Later blocks: only a pod whose run reaches block i extends it. This loop
 * runs for every holder of every block, so it is kept branch-light. */
static int on_key(void *userdata, size_t i, const kvidx_holder *holders,
                  size_t n) {
  score_state *st = userdata;
  if (i == 0)
    return on_first_key(st, holders, n);
  uint32_t *run = st->run, n_pods = st->n_pods, next = (uint32_t)i + 1;
  size_t active = 0;
  for (size_t k = 0; k < n; k++) {
    uint32_t pod = holders[k].pod;
    /* A pod past the arrays did not hold block 0: scores 0, as if absent. */
    if (pod >= n_pods || run[pod] != i)
      continue;
    run[pod] = next;
    st->score[pod] += st->best[holders[k].tiers & TIER_BITS];
    active++;
  }
  return active == 0; /* no pod still holds the whole prefix: stop */
}

/* best[bits] = the largest weight among the tiers in bits: the best of the
 * set without its lowest tier, and that tier. */
static void best_weights(score_state *st, const kvidx_tier_weights *w) {
  st->best[0] = 0.0;
  for (unsigned bits = 1; bits < (1u << KVIDX_TIER_COUNT); bits++) {
    double rest = st->best[bits & (bits - 1)];
    double low = w->weight[__builtin_ctz(bits)];
    st->best[bits] = low > rest ? low : rest;
  }
}

static int cmp_score(const void *pa, const void *pb) {
  const kvidx_pod_score *a = pa, *b = pb;
  if (a->score != b->score)
    return a->score > b->score ? -1 : 1;
  if (a->blocks != b->blocks)
    return a->blocks > b->blocks ? -1 : 1;
  return a->pod < b->pod ? -1 : (a->pod > b->pod);
}

/* Min-heap on cmp_score order (the root is the worst of the kept ones). */
static void heap_sift_down(kvidx_pod_score *h, size_t n, size_t i) {
  for (;;) {
    size_t worst = i, l = 2 * i + 1, r = l + 1;
    if (l < n && cmp_score(&h[l], &h[worst]) > 0)
      worst = l;
    if (r < n && cmp_score(&h[r], &h[worst]) > 0)
      worst = r;
    if (worst == i)
      return;
    kvidx_pod_score t = h[i];
    h[i] = h[worst];
    h[worst] = t;
    i = worst;
  }
}

/* Copies the best max_out of the pods that held block 0 to out, sorted.
 * Selection keeps a heap of max_out entries: O(pods log max_out), so a
 * prompt whose first blocks sit on 1,000 pods does not pay a full sort. */
static int emit(const score_state *st, kvidx_pod_score *out, size_t max_out,
                size_t *n_out) {
  size_t k = st->n_touched < max_out ? st->n_touched : max_out;
  if (k == 0)
    return 0;
  for (size_t j = 0; j < st->n_touched; j++) {
    uint32_t pod = st->touched[j];
    kvidx_pod_score ps = {pod, st->score[pod], st->run[pod]};
    if (j < k) {
      out[j] = ps;
      if (j + 1 == k)
        for (size_t i = k / 2 + 1; i-- > 0;)
          heap_sift_down(out, k, i);
    } else if (cmp_score(&ps, &out[0]) < 0) {
      out[0] = ps;
      heap_sift_down(out, k, 0);
    }
  }
  if (k <= SMALL_SORT) { /* qsort's indirect calls cost more here */
    for (size_t i = 1; i < k; i++) {
      kvidx_pod_score v = out[i];
      size_t j = i;
      for (; j > 0 && cmp_score(&v, &out[j - 1]) < 0; j--)
        out[j] = out[j - 1];
      out[j] = v;
    }
  } else {
    qsort(out, k, sizeof *out, cmp_score);
  }
  *n_out = k;
  return 0;
}

int kvidx_score_prefix(kvidx_index *idx, const kvidx_tier_weights *w,
                       uint32_t model, const uint64_t *keys, size_t n,
                       const uint32_t *pods, size_t n_pods,
                       kvidx_pod_score *out, size_t max_out, size_t *n_out) {
  if (idx == NULL || n_out == NULL || (out == NULL && max_out > 0) ||
      (keys == NULL && n > 0) || (pods == NULL && n_pods > 0))
    return KVIDX_EINVAL;
  *n_out = 0;
  kvidx_tier_weights defaults;
  if (w == NULL) {
    kvidx_tier_weights_init(&defaults);
    w = &defaults;
  }
  score_state st;
  memset(&st, 0, sizeof st);
  best_weights(&st, w);
  st.idx = idx;
  st.n_pods = kvidx__intern_count(&idx->pods);
  if (n == 0) /* still validates model and pods */
    return kvidx_index_lookup(idx, model, keys, 0, pods, n_pods, on_key, &st);
  /* At least one slot: with no pod interned yet, the Redis backend may still
   * find holders (and intern them); grow() makes room. */
  uint32_t cap = st.n_pods ? st.n_pods : 1;
  score_scratch *sc = scratch_get(cap);
  if (sc != NULL) {
    sc->busy = 1;
    st.run = sc->run;
    st.score = sc->score;
    st.touched = sc->touched;
    st.n_pods = sc->cap;
  } else {
    st.run = calloc(cap, sizeof *st.run);
    st.score = calloc(cap, sizeof *st.score);
    st.touched = malloc(cap * sizeof *st.touched);
    st.n_pods = cap;
  }
  int rc = KVIDX_ENOMEM;
  if (st.run != NULL && st.score != NULL && st.touched != NULL)
    rc = kvidx_index_lookup(idx, model, keys, n, pods, n_pods, on_key, &st);
  if (rc >= 0 && st.rc != 0)
    rc = st.rc;
  if (rc >= 0)
    rc = emit(&st, out, max_out, n_out);
  if (sc != NULL) {
    /* Back to all zero; grow() may have moved the arrays. */
    for (size_t j = 0; j < st.n_touched; j++) {
      st.run[st.touched[j]] = 0;
      st.score[st.touched[j]] = 0.0;
    }
    sc->run = st.run;
    sc->score = st.score;
    sc->touched = st.touched;
    sc->cap = st.n_pods;
    sc->busy = 0;
  } else {
    free(st.run);
    free(st.score);
    free(st.touched);
  }
  return rc;
}

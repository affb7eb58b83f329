/*
 * pod_registry.c: pod incarnations for O(1) clear_pod (see pod_registry.h).
 *
 * Both tables are chunked arrays whose chunks never move, so readers reach
 * an incarnation with two loads and no lock. Allocation and recycling take
 * one mutex; they happen once per pod start or clear, never per block.
 *
 * Recycling protocol: state = refs << 1 | alive. Retiring clears the alive
 * bit; releasing a holder subtracts 2. Whichever of the two sees the word
 * reach 0 pushes the id on the free stack, so exactly one of them does.
 */
#include "index/pod_registry.h"

#include <stdlib.h>
#include <string.h>

int kvidx__pod_registry_init(kvidx__pod_registry *r, uint32_t max_pods) {
  memset(r, 0, sizeof *r);
  r->max_pods = max_pods;
  r->inc_chunks =
      calloc(KVIDX__MAX_INCARNATIONS / KVIDX__POD_CHUNK, sizeof *r->inc_chunks);
  r->tag_chunks =
      calloc(KVIDX__MAX_INCARNATIONS / KVIDX__POD_CHUNK, sizeof *r->tag_chunks);
  r->pod_chunks =
      calloc(max_pods / KVIDX__POD_CHUNK + 1, sizeof *r->pod_chunks);
  if (r->inc_chunks == NULL || r->tag_chunks == NULL || r->pod_chunks == NULL) {
    free(r->inc_chunks);
    free(r->tag_chunks);
    free(r->pod_chunks);
    return KVIDX_ENOMEM;
  }
  pthread_mutex_init(&r->lock, NULL);
  return 0;
}

void kvidx__pod_registry_destroy(kvidx__pod_registry *r) {
  for (uint32_t c = 0; c < KVIDX__MAX_INCARNATIONS / KVIDX__POD_CHUNK; c++) {
    free(atomic_load(&r->inc_chunks[c]));
    free((void *)atomic_load(&r->tag_chunks[c]));
  }
  for (uint32_t c = 0; c <= r->max_pods / KVIDX__POD_CHUNK; c++) {
    kvidx__pod_state *chunk = atomic_load(&r->pod_chunks[c]);
    if (chunk == NULL)
      continue;
    for (uint32_t i = 0; i < KVIDX__POD_CHUNK; i++)
      pthread_mutex_destroy(&chunk[i].lock);
    free(chunk);
  }
  free(r->inc_chunks);
  free(r->tag_chunks);
  free(r->pod_chunks);
  free(r->free_ids);
  pthread_mutex_destroy(&r->lock);
}

kvidx__pod_state *kvidx__pod_state_get(kvidx__pod_registry *r, uint32_t pod,
                                       int create) {
  if (pod >= r->max_pods)
    return NULL;
  _Atomic(kvidx__pod_state *) *slot = &r->pod_chunks[pod / KVIDX__POD_CHUNK];
  kvidx__pod_state *chunk = atomic_load_explicit(slot, memory_order_acquire);
  if (chunk == NULL && create) {
    pthread_mutex_lock(&r->lock);
    chunk = atomic_load_explicit(slot, memory_order_acquire);
    if (chunk == NULL) {
      chunk = malloc(sizeof *chunk * KVIDX__POD_CHUNK);
      if (chunk != NULL) {
        for (uint32_t i = 0; i < KVIDX__POD_CHUNK; i++) {
          pthread_mutex_init(&chunk[i].lock, NULL);
          atomic_init(&chunk[i].inc, KVIDX__NO_INCARNATION);
        }
        atomic_store_explicit(slot, chunk, memory_order_release);
      }
    }
    pthread_mutex_unlock(&r->lock);
  }
  return chunk != NULL ? &chunk[pod % KVIDX__POD_CHUNK] : NULL;
}

/* Takes an id from the free stack or the never-used range. Holds r->lock. */
static int take_id(kvidx__pod_registry *r, uint32_t *id) {
  if (r->n_free > 0) {
    *id = r->free_ids[--r->n_free];
    return 0;
  }
  if (r->next_inc >= KVIDX__MAX_INCARNATIONS)
    return KVIDX_ELIMIT;
  uint32_t c = r->next_inc / KVIDX__POD_CHUNK;
  if (atomic_load_explicit(&r->inc_chunks[c], memory_order_relaxed) == NULL) {
    kvidx__incarnation *chunk = calloc(KVIDX__POD_CHUNK, sizeof *chunk);
    _Atomic uint32_t *tags = calloc(KVIDX__POD_CHUNK, sizeof *tags);
    if (chunk == NULL || tags == NULL) {
      free(chunk);
      free((void *)tags);
      return KVIDX_ENOMEM;
    }
    atomic_store_explicit(&r->tag_chunks[c], tags, memory_order_release);
    atomic_store_explicit(&r->inc_chunks[c], chunk, memory_order_release);
  }
  *id = r->next_inc++;
  return 0;
}

int kvidx__pod_incarnation(kvidx__pod_registry *r, kvidx__pod_state *ps,
                           uint32_t pod, uint32_t *inc) {
  uint32_t id = atomic_load_explicit(&ps->inc, memory_order_relaxed);
  if (id != KVIDX__NO_INCARNATION) {
    *inc = id;
    return 0;
  }
  pthread_mutex_lock(&r->lock);
  int rc = take_id(r, &id);
  pthread_mutex_unlock(&r->lock);
  if (rc != 0)
    return rc;
  kvidx__incarnation *in = kvidx__inc_get(r, id);
  atomic_store_explicit(&in->pod, pod, memory_order_relaxed);
  atomic_store_explicit(&in->entries, 0, memory_order_relaxed);
  for (unsigned t = 0; t < KVIDX_TIER_COUNT; t++)
    atomic_store_explicit(&in->blocks[t], 0, memory_order_relaxed);
  atomic_store_explicit(&in->state, 1u, memory_order_release);
  _Atomic uint32_t *tags = atomic_load_explicit(
      &r->tag_chunks[id / KVIDX__POD_CHUNK], memory_order_acquire);
  atomic_store_explicit(&tags[id % KVIDX__POD_CHUNK], pod | KVIDX__TAG_ALIVE,
                        memory_order_release);
  atomic_store_explicit(&ps->inc, id, memory_order_release);
  *inc = id;
  return 0;
}

static void recycle(kvidx__pod_registry *r, uint32_t id) {
  pthread_mutex_lock(&r->lock);
  if (r->n_free == r->free_cap) {
    uint32_t cap = r->free_cap ? r->free_cap * 2 : 64;
    uint32_t *ids = realloc(r->free_ids, sizeof *ids * cap);
    if (ids == NULL) {
      /* The id is leaked (never reused): harmless, and only on OOM. */
      pthread_mutex_unlock(&r->lock);
      return;
    }
    r->free_ids = ids;
    r->free_cap = cap;
  }
  r->free_ids[r->n_free++] = id;
  pthread_mutex_unlock(&r->lock);
}

void kvidx__pod_retire(kvidx__pod_registry *r, kvidx__pod_state *ps) {
  uint32_t id = atomic_load_explicit(&ps->inc, memory_order_relaxed);
  if (id == KVIDX__NO_INCARNATION)
    return;
  atomic_store_explicit(&ps->inc, KVIDX__NO_INCARNATION, memory_order_release);
  _Atomic uint32_t *tags = atomic_load_explicit(
      &r->tag_chunks[id / KVIDX__POD_CHUNK], memory_order_acquire);
  atomic_fetch_and_explicit(&tags[id % KVIDX__POD_CHUNK], ~KVIDX__TAG_ALIVE,
                            memory_order_release);
  /* Count it as pending before it can be seen dead, so a writer that finds
   * a dead holder always finds the counter non-zero. */
  atomic_fetch_add_explicit(&r->dead_pending, 1, memory_order_acq_rel);
  uint32_t old = atomic_fetch_and_explicit(&kvidx__inc_get(r, id)->state, ~1u,
                                           memory_order_acq_rel);
  if (old == 1u) {
    atomic_fetch_sub_explicit(&r->dead_pending, 1, memory_order_acq_rel);
    recycle(r, id);
  }
}

void kvidx__inc_unref(kvidx__pod_registry *r, uint32_t id) {
  uint32_t old = atomic_fetch_sub_explicit(&kvidx__inc_get(r, id)->state, 2u,
                                           memory_order_acq_rel);
  if (old == 2u) {
    atomic_fetch_sub_explicit(&r->dead_pending, 1, memory_order_acq_rel);
    recycle(r, id);
  }
}

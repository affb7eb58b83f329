/*
 * pod_registry.h: per-pod generations ("incarnations") of the memory backend.
 *
 * A holder in the block table does not store the public pod id but the id of
 * the pod's current incarnation. Clearing a pod (AllBlocksCleared, a pod that
 * left) just retires its incarnation: O(1), no scan. Holders of a retired
 * incarnation are invisible to lookups at once and are reclaimed lazily (by
 * writers touching the key, by the incremental sweeper and by eviction). An
 * incarnation id is reused only after its last holder is gone, so there is no
 * generation wrap-around to worry about.
 *
 * Each incarnation also carries the pod's live counters (entries, keys per
 * tier), so pod_blocks() and the stats never scan the table either.
 */
#ifndef KVIDX_INDEX_POD_REGISTRY_H
#define KVIDX_INDEX_POD_REGISTRY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "kvidx.h"

#define KVIDX__POD_CHUNK 1024u
/* Live plus not-yet-reclaimed incarnations at any time. */
#define KVIDX__MAX_INCARNATIONS (1u << 22)
#define KVIDX__NO_INCARNATION UINT32_MAX

typedef struct {
  /* refs << 1 | alive: refs = holders in the table pointing here. */
  _Atomic uint32_t state;
  _Atomic uint32_t pod; /* public pod id */
  /* Signed: a writer applies its batch's increments once at the end, so a
   * concurrent eviction may briefly take a counter below 0 (read clamped). */
  _Atomic int64_t entries;
  _Atomic int64_t blocks[KVIDX_TIER_COUNT];
} kvidx__incarnation;

typedef struct {
  pthread_mutex_t lock; /* serialises the pod's writes with its clears */
  _Atomic uint32_t inc; /* current incarnation or KVIDX__NO_INCARNATION */
} kvidx__pod_state;

/* Read-mostly tag of an incarnation: public pod id | KVIDX__TAG_ALIVE. Kept
 * apart from the counters (which writers update on every batch) so lookups
 * read a dense 4-byte array without false sharing. */
#define KVIDX__TAG_ALIVE 0x80000000u

typedef struct {
  pthread_mutex_t lock; /* guards allocation and the free stack */
  _Atomic(kvidx__incarnation *) *inc_chunks;
  _Atomic(_Atomic uint32_t *) *tag_chunks;
  _Atomic(kvidx__pod_state *) *pod_chunks;
  uint32_t max_pods;
  uint32_t next_inc; /* never-used ids start here */
  uint32_t *free_ids;
  uint32_t n_free, free_cap;
  /* Retired incarnations that still have holders in the table. While 0,
   * writers skip looking for dead holders altogether. */
  _Atomic uint32_t dead_pending;
} kvidx__pod_registry;

int kvidx__pod_registry_init(kvidx__pod_registry *r, uint32_t max_pods);
void kvidx__pod_registry_destroy(kvidx__pod_registry *r);

/* State of pod, created on first use when create != 0 (else NULL when the
 * pod never wrote). NULL on out of memory. */
kvidx__pod_state *kvidx__pod_state_get(kvidx__pod_registry *r, uint32_t pod,
                                       int create);

/* Incarnation by id (the id came from a holder or a pod state). */
static inline kvidx__incarnation *kvidx__inc_get(kvidx__pod_registry *r,
                                                 uint32_t id) {
  kvidx__incarnation *chunk = atomic_load_explicit(
      &r->inc_chunks[id / KVIDX__POD_CHUNK], memory_order_acquire);
  return &chunk[id % KVIDX__POD_CHUNK];
}

/* Tag (pod | KVIDX__TAG_ALIVE, or the pod alone once retired) of id. */
static inline uint32_t kvidx__inc_tag(kvidx__pod_registry *r, uint32_t id) {
  _Atomic uint32_t *chunk = atomic_load_explicit(
      &r->tag_chunks[id / KVIDX__POD_CHUNK], memory_order_acquire);
  return atomic_load_explicit(&chunk[id % KVIDX__POD_CHUNK],
                              memory_order_acquire);
}

static inline int kvidx__inc_alive(const kvidx__incarnation *inc) {
  return (atomic_load_explicit(&inc->state, memory_order_acquire) & 1u) != 0;
}

/* Non-zero when some holder in the table may belong to a cleared pod. */
static inline int kvidx__pod_registry_has_dead(kvidx__pod_registry *r) {
  return atomic_load_explicit(&r->dead_pending, memory_order_acquire) != 0;
}

/* The pod's live incarnation, allocating one if it has none. Caller holds
 * ps->lock. KVIDX_ELIMIT / KVIDX_ENOMEM. */
int kvidx__pod_incarnation(kvidx__pod_registry *r, kvidx__pod_state *ps,
                           uint32_t pod, uint32_t *inc);
/* Retires the pod's incarnation (clear_pod). Caller holds ps->lock. */
void kvidx__pod_retire(kvidx__pod_registry *r, kvidx__pod_state *ps);

/* n more holders point at inc / one no longer does. A live incarnation's
 * state stays odd whatever the order of these updates, so adding a batch's
 * references after the batch (under the pod mutex) is safe. The release may
 * recycle a retired incarnation. Callers hold the shard lock of the holder. */
static inline void kvidx__inc_ref(kvidx__incarnation *inc, uint32_t n) {
  atomic_fetch_add_explicit(&inc->state, 2u * n, memory_order_relaxed);
}
void kvidx__inc_unref(kvidx__pod_registry *r, uint32_t id);

#endif

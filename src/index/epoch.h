/*
 * epoch.h: deferred freeing for the memory index's lock-free readers
 * (epoch-based reclamation with two reader counters).
 *
 * Lookups read shard tables and holder arenas without a lock (seqlock.h),
 * so a writer that replaces a table or an arena (growth) cannot free the old
 * one at once: a lookup may still be reading it. The writer retires it
 * instead, and it is freed once every lookup that could have seen it has
 * finished.
 *
 * Readers: a lookup calls kvidx__epoch_enter() once at its start and
 * kvidx__epoch_exit() at its end (two atomic adds per lookup, not per key),
 * which counts it under the parity of the global epoch it entered in.
 * Collection: the epoch may advance from E to E+1 when no reader of parity
 * E+1 (the readers of E-1) remains; an object retired during epoch T can
 * only be seen by readers that entered in an epoch <= T, and all of those
 * are gone once the epoch reaches T+2.
 *
 * Nothing ever waits: a writer that retires something, or a writer or
 * lookup that finds retired objects pending when it finishes, tries to
 * advance and frees what is safe; what is not safe yet is freed by a later
 * call. So a lookup callback may call back into the index, even to write,
 * without deadlock. Whatever is still pending at the end is freed by
 * kvidx__epoch_destroy().
 */
#ifndef KVIDX_INDEX_EPOCH_H
#define KVIDX_INDEX_EPOCH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef void (*kvidx__epoch_free_fn)(void *ctx, void *p, size_t bytes);

/* A retired object. Allocated by the writer BEFORE it unpublishes the
 * object (kvidx__epoch_node_new), so retiring cannot fail. */
typedef struct kvidx__retired {
  struct kvidx__retired *next;
  void *p;
  size_t bytes;
  kvidx__epoch_free_fn fn;
  void *ctx;
  uint64_t epoch;
} kvidx__retired;

typedef struct {
  _Alignas(64) _Atomic uint64_t epoch;
  _Alignas(64) _Atomic int64_t active[2]; /* readers inside, per parity */
  _Alignas(64) pthread_mutex_t lock;      /* guards the list */
  kvidx__retired *head;                   /* newest first */
  _Atomic size_t pending;                 /* list length */
} kvidx__epoch;

void kvidx__epoch_init(kvidx__epoch *e);
/* Frees every retired object; no reader may be inside. */
void kvidx__epoch_destroy(kvidx__epoch *e);

/* Enters a read-side section; pass the result to kvidx__epoch_exit(). */
static inline uint64_t kvidx__epoch_enter(kvidx__epoch *e) {
  for (;;) {
    uint64_t cur = atomic_load(&e->epoch);
    atomic_fetch_add(&e->active[cur & 1], 1);
    /* Counted under cur's parity only if cur is still current; else a
     * collector may already have checked that parity and moved on. */
    if (atomic_load(&e->epoch) == cur)
      return cur;
    atomic_fetch_sub(&e->active[cur & 1], 1);
  }
}

static inline void kvidx__epoch_exit(kvidx__epoch *e, uint64_t token) {
  atomic_fetch_sub_explicit(&e->active[token & 1], 1, memory_order_release);
}

/* A node for kvidx__epoch_retire(); NULL on out of memory. */
kvidx__retired *kvidx__epoch_node_new(void);

/* Retires p (already unreachable for new readers: the caller stored its
 * replacement) to be freed later with fn(ctx, p, bytes). Takes ownership of
 * node. Also collects. */
void kvidx__epoch_retire(kvidx__epoch *e, kvidx__retired *node, void *p,
                         size_t bytes, kvidx__epoch_free_fn fn, void *ctx);

/* Advances the epoch when possible and frees what is safe. Cheap when
 * nothing is pending (one atomic load). */
void kvidx__epoch_collect(kvidx__epoch *e);

#endif

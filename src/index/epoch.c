/*
 * epoch.c: deferred freeing of tables and arenas that lock-free lookups may
 * still be reading (see epoch.h for the scheme and why it never waits).
 */
#include "index/epoch.h"

#include <stdlib.h>

void kvidx__epoch_init(kvidx__epoch *e) {
  atomic_init(&e->epoch, 0);
  atomic_init(&e->active[0], 0);
  atomic_init(&e->active[1], 0);
  pthread_mutex_init(&e->lock, NULL);
  e->head = NULL;
  atomic_init(&e->pending, 0);
}

static void release_list(kvidx__retired *r) {
  while (r != NULL) {
    kvidx__retired *next = r->next;
    r->fn(r->ctx, r->p, r->bytes);
    free(r);
    r = next;
  }
}

void kvidx__epoch_destroy(kvidx__epoch *e) {
  release_list(e->head);
  e->head = NULL;
  pthread_mutex_destroy(&e->lock);
}

kvidx__retired *kvidx__epoch_node_new(void) {
  return malloc(sizeof(kvidx__retired));
}

/* Caller holds e->lock. Moves the epoch on while the readers of the parity
 * it would reuse are gone (at most twice: that is all any object needs), and
 * unlinks the objects retired two or more epochs ago. */
static kvidx__retired *collect_locked(kvidx__epoch *e) {
  uint64_t cur = atomic_load(&e->epoch);
  for (int step = 0; step < 2; step++) {
    if (atomic_load(&e->active[(cur + 1) & 1]) != 0)
      break;
    atomic_store(&e->epoch, ++cur);
  }
  kvidx__retired **link = &e->head, *freed = NULL;
  size_t n = 0;
  while (*link != NULL) {
    kvidx__retired *r = *link;
    if (r->epoch + 2 <= cur) {
      *link = r->next;
      r->next = freed;
      freed = r;
      n++;
    } else {
      link = &r->next;
    }
  }
  atomic_fetch_sub_explicit(&e->pending, n, memory_order_relaxed);
  return freed;
}

void kvidx__epoch_retire(kvidx__epoch *e, kvidx__retired *node, void *p,
                         size_t bytes, kvidx__epoch_free_fn fn, void *ctx) {
  node->p = p;
  node->bytes = bytes;
  node->fn = fn;
  node->ctx = ctx;
  /* The caller's store of the replacement must be ordered before the epoch
   * read: a reader that still saw p entered no later than this epoch. */
  atomic_thread_fence(memory_order_seq_cst);
  pthread_mutex_lock(&e->lock);
  node->epoch = atomic_load(&e->epoch);
  node->next = e->head;
  e->head = node;
  atomic_fetch_add_explicit(&e->pending, 1, memory_order_relaxed);
  kvidx__retired *freed = collect_locked(e);
  pthread_mutex_unlock(&e->lock);
  release_list(freed); /* outside the lock: fn may take other locks */
}

void kvidx__epoch_collect(kvidx__epoch *e) {
  if (atomic_load_explicit(&e->pending, memory_order_relaxed) == 0)
    return;
  pthread_mutex_lock(&e->lock);
  kvidx__retired *freed = collect_locked(e);
  pthread_mutex_unlock(&e->lock);
  release_list(freed);
}

/*
 * seqlock.h: the shard lock of the memory index. Writers exclude each other
 * with a mutex; lookups take no lock at all: they read optimistically and
 * retry when a writer was active (a sequence lock).
 *
 * Why: a prefix lookup visits one shard per block. With a reader-writer
 * lock that was two atomic read-modify-writes per block on a cache line all
 * readers share (pthread_rwlock_t first, then a two-add reader count); on
 * x86 each is a full barrier that stops the next block's loads from
 * starting early, and under concurrent lookups the line moves between cores.
 * A sequence lock's readers only load the sequence word, so it stays shared
 * in every core's cache, and the lookup's loads for consecutive blocks
 * overlap.
 *
 * Protocol (Boehm, "Can seqlocks get along with programming language memory
 * models?", MSPC 2012):
 *  - writer: lock the mutex; seq = odd (relaxed); release fence; update the
 *    data with relaxed atomic stores; seq = even (release); unlock;
 *  - reader: s1 = seq (acquire), retry while odd; read the data with relaxed
 *    atomic loads; acquire fence; s2 = seq (relaxed); valid iff s1 == s2.
 * Every store to data that readers read is an atomic store (a plain mov on
 * x86), so there is no data race in the C11 sense, and readers never use
 * what they read before validating it (except to prefetch). Memory that a
 * writer replaces while readers may be inside is freed through epoch.h.
 */
#ifndef KVIDX_INDEX_SEQLOCK_H
#define KVIDX_INDEX_SEQLOCK_H

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>

#define KVIDX__SEQ_SPINS 64

typedef struct {
  _Atomic uint32_t seq;    /* odd while a writer is inside */
  pthread_mutex_t writers; /* serialises writers */
} kvidx__seqlock;

static inline void kvidx__seq_init(kvidx__seqlock *l) {
  atomic_init(&l->seq, 0);
  pthread_mutex_init(&l->writers, NULL);
}

static inline void kvidx__seq_destroy(kvidx__seqlock *l) {
  pthread_mutex_destroy(&l->writers);
}

static inline void kvidx__seq_write_begin(kvidx__seqlock *l) {
  pthread_mutex_lock(&l->writers);
  uint32_t s = atomic_load_explicit(&l->seq, memory_order_relaxed);
  atomic_store_explicit(&l->seq, s + 1, memory_order_relaxed);
  atomic_thread_fence(memory_order_release);
}

static inline void kvidx__seq_write_end(kvidx__seqlock *l) {
  uint32_t s = atomic_load_explicit(&l->seq, memory_order_relaxed);
  atomic_store_explicit(&l->seq, s + 1, memory_order_release);
  pthread_mutex_unlock(&l->writers);
}

/* Start of a read: waits out an active writer (spinning briefly, then
 * yielding) and returns the even sequence to validate against. */
static inline uint32_t kvidx__seq_read_begin(const kvidx__seqlock *l) {
  unsigned spins = 0;
  for (;;) {
    uint32_t s = atomic_load_explicit(&l->seq, memory_order_acquire);
    if (!(s & 1u))
      return s;
    if (++spins < KVIDX__SEQ_SPINS) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    } else {
      sched_yield();
    }
  }
}

/* Non-zero when the data read since kvidx__seq_read_begin() returned s is
 * consistent (no writer entered in between). */
static inline int kvidx__seq_read_valid(const kvidx__seqlock *l, uint32_t s) {
  atomic_thread_fence(memory_order_acquire);
  return atomic_load_explicit(&l->seq, memory_order_relaxed) == s;
}

#endif

/*
 * rwlock.h: the shard lock of the memory index, a small writer-preferring
 * reader-writer lock whose read side is two inlined atomic adds.
 *
 * Why not pthread_rwlock_t: a prefix lookup takes one shard's read lock per
 * block, and glibc's rwlock costs ~90 instructions per lock/unlock pair (two
 * calls through the PLT plus its state machine), about a fifth of the whole
 * per-block cost of a lookup+score (measured with cachegrind).
 *
 * word = WRITER bit | number of readers inside. A reader adds 1; if the
 * writer bit was set it takes its 1 back and waits for the bit to clear, so a
 * waiting writer is never starved by a stream of readers. Writers serialise
 * on a mutex (they sleep there, not spin), set the writer bit, and wait for
 * the readers inside to leave; critical sections are short (one key), except
 * a table resize. Waits spin briefly with a pause, then yield the CPU.
 */
#ifndef KVIDX_INDEX_RWLOCK_H
#define KVIDX_INDEX_RWLOCK_H

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>

#define KVIDX__RW_WRITER 0x80000000u
#define KVIDX__RW_SPINS 64

typedef struct {
  _Atomic uint32_t word;
  pthread_mutex_t writers;
} kvidx__rwlock;

static inline void kvidx__rw_init(kvidx__rwlock *l) {
  atomic_init(&l->word, 0);
  pthread_mutex_init(&l->writers, NULL);
}

static inline void kvidx__rw_destroy(kvidx__rwlock *l) {
  pthread_mutex_destroy(&l->writers);
}

static inline void kvidx__rw_pause(unsigned *spins) {
  if (++*spins < KVIDX__RW_SPINS) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  } else {
    sched_yield();
  }
}

static inline void kvidx__rw_rdlock(kvidx__rwlock *l) {
  for (;;) {
    uint32_t v = atomic_fetch_add_explicit(&l->word, 1, memory_order_acquire);
    if (!(v & KVIDX__RW_WRITER))
      return;
    atomic_fetch_sub_explicit(&l->word, 1, memory_order_relaxed);
    unsigned spins = 0;
    while (atomic_load_explicit(&l->word, memory_order_relaxed) &
           KVIDX__RW_WRITER)
      kvidx__rw_pause(&spins);
  }
}

static inline void kvidx__rw_rdunlock(kvidx__rwlock *l) {
  atomic_fetch_sub_explicit(&l->word, 1, memory_order_release);
}

static inline void kvidx__rw_wrlock(kvidx__rwlock *l) {
  pthread_mutex_lock(&l->writers);
  atomic_fetch_or_explicit(&l->word, KVIDX__RW_WRITER, memory_order_acq_rel);
  unsigned spins = 0;
  while (atomic_load_explicit(&l->word, memory_order_acquire) !=
         KVIDX__RW_WRITER)
    kvidx__rw_pause(&spins);
}

static inline void kvidx__rw_wrunlock(kvidx__rwlock *l) {
  atomic_fetch_and_explicit(&l->word, ~KVIDX__RW_WRITER, memory_order_release);
  pthread_mutex_unlock(&l->writers);
}

#endif

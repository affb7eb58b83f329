/*
 * table_alloc.h: memory for the memory index's hash tables and holder
 * arenas, on transparent huge pages.
 *
 * Why: a prefix lookup touches one random slot per block in tables of tens
 * to hundreds of MB. With 4 KB pages nearly every slot access also misses
 * the TLB (2,048 STLB entries cover 8 MB), and under a hypervisor a page
 * walk is two-dimensional; perf showed the lookup loop stalled on its slot
 * prefetches. Backing the tables with 2 MB pages took lookup+score of a
 * 512-block prompt from ~58 to ~42 ns per block, the holder arenas another
 * 1-2 ns (docs/index.md).
 *
 * Sizes below 2 MB are powers of two bytes:
 *  - >= 2 MB: a mapping of its own, 2 MB aligned, madvise(MADV_HUGEPAGE);
 *  - 64 KB .. 1 MB: carved at naturally aligned offsets from shared 2 MB
 *    chunks (same advice), one bit per 64 KB unit; a chunk is unmapped when
 *    its last block is freed. The 64 shards of a model grow together, so the
 *    space their old tables leave is freed together;
 *  - < 64 KB: malloc (64 shards x 64 KB stay within the TLB's reach anyway,
 *    and a small index does not pay for a 2 MB page).
 * Nothing is rounded up. One cost: the unused tail of a holder arena (which
 * grows by doubling) becomes resident with the huge page it lies in; it was
 * always counted in stats.bytes, and RSS at 10M entries with 2 pods per
 * block went from 21.6 to 26.8 B per entry, equal to stats.bytes.
 * Without transparent huge pages (THP "never") the advice is ignored and
 * everything still works on 4 KB pages.
 *
 * Thread-safe: allocation and release take a mutex (tables are allocated
 * only when a shard grows, not per key).
 */
#ifndef KVIDX_INDEX_TABLE_ALLOC_H
#define KVIDX_INDEX_TABLE_ALLOC_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define KVIDX__TABLE_HUGE ((size_t)2 << 20)  /* huge page, chunk size */
#define KVIDX__TABLE_UNIT ((size_t)64 << 10) /* smallest pooled block */
#define KVIDX__TABLE_UNITS 32u               /* units per chunk */

typedef struct kvidx__table_chunk kvidx__table_chunk;

typedef struct {
  pthread_mutex_t lock;
  kvidx__table_chunk *chunks; /* chunks with at least one block in use */
  size_t n_chunks;            /* length of that list */
} kvidx__table_pool;

void kvidx__table_pool_init(kvidx__table_pool *a);
/* Unmaps every chunk (blocks still allocated die with it). */
void kvidx__table_pool_destroy(kvidx__table_pool *a);

/* A block of `bytes` (a power of two when below KVIDX__TABLE_HUGE),
 * uninitialised; NULL when out of memory. Release it with
 * kvidx__table_free() and the same size. */
void *kvidx__table_alloc(kvidx__table_pool *a, size_t bytes);
void kvidx__table_free(kvidx__table_pool *a, void *p, size_t bytes);

#endif

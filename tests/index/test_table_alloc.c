/*
 * test_table_alloc.c: the huge-page table allocator of the memory index
 * (src/index/table_alloc.c): blocks of every size class are aligned, never
 * overlap, keep their contents, and chunks are returned when emptied.
 */
#include <stdint.h>

#include "index/table_alloc.h"
#include "test.h"

static size_t chunk_count(kvidx__table_pool *p) {
  pthread_mutex_lock(&p->lock);
  size_t n = p->n_chunks;
  pthread_mutex_unlock(&p->lock);
  return n;
}

static void fill(void *p, size_t bytes, uint8_t v) {
  memset(p, v, bytes);
}

static int holds(const void *p, size_t bytes, uint8_t v) {
  const uint8_t *b = p;
  for (size_t i = 0; i < bytes; i += 4096)
    if (b[i] != v || b[bytes - 1] != v)
      return 0;
  return 1;
}

TEST(size_classes_aligned_and_disjoint) {
  kvidx__table_pool pool;
  kvidx__table_pool_init(&pool);
  /* 256 B (malloc) .. 4 MB (own mapping), every power of two. */
  enum { N = 15 };
  void *p[N];
  size_t sz[N];
  for (int i = 0; i < N; i++) {
    sz[i] = (size_t)256 << i;
    p[i] = kvidx__table_alloc(&pool, sz[i]);
    CHECK(p[i] != NULL);
    fill(p[i], sz[i], (uint8_t)(i + 1));
    /* Pooled blocks are naturally aligned, big ones huge-page aligned. */
    size_t align = sz[i] < KVIDX__TABLE_HUGE ? sz[i] : KVIDX__TABLE_HUGE;
    if (sz[i] >= KVIDX__TABLE_UNIT)
      CHECK_EQ_U64((uintptr_t)p[i] % align, 0);
  }
  for (int i = 0; i < N; i++) {
    if (!holds(p[i], sz[i], (uint8_t)(i + 1)))
      FAILF("block %d (%zu bytes) was overwritten", i, sz[i]);
  }
  for (int i = 0; i < N; i++)
    kvidx__table_free(&pool, p[i], sz[i]);
  CHECK_EQ_U64(chunk_count(&pool), 0);
  kvidx__table_pool_destroy(&pool);
}

/* Growth the way shards grow: 64 tables double together, the old ones are
 * freed. The pool reuses the freed space and unmaps emptied chunks, so it
 * never holds more chunks than the live tables need. */
TEST(chunks_reused_and_returned) {
  kvidx__table_pool pool;
  kvidx__table_pool_init(&pool);
  enum { SHARDS = 64 };
  void *t[SHARDS] = {0};
  size_t size = KVIDX__TABLE_UNIT / 2;
  for (; size < KVIDX__TABLE_HUGE; size *= 2) {
    for (int s = 0; s < SHARDS; s++) {
      void *n = kvidx__table_alloc(&pool, size * 2);
      CHECK(n != NULL);
      fill(n, size * 2, (uint8_t)s);
      if (t[s] != NULL) {
        CHECK(holds(t[s], size, (uint8_t)s));
        kvidx__table_free(&pool, t[s], size);
      }
      t[s] = n;
    }
    size_t live = SHARDS * size * 2;
    size_t need = live < KVIDX__TABLE_HUGE ? 1 : live / KVIDX__TABLE_HUGE;
    if (size * 2 < KVIDX__TABLE_HUGE && chunk_count(&pool) > need + 1)
      FAILF("%zu chunks for %zu bytes of %zu-byte tables", chunk_count(&pool),
            live, size * 2);
  }
  for (int s = 0; s < SHARDS; s++)
    kvidx__table_free(&pool, t[s], size);
  CHECK_EQ_U64(chunk_count(&pool), 0);
  kvidx__table_pool_destroy(&pool);
}

/* Odd frees: a chunk stays while any block in it is live, and a freed unit
 * is handed out again. */
TEST(partial_chunk_kept) {
  kvidx__table_pool pool;
  kvidx__table_pool_init(&pool);
  void *a = kvidx__table_alloc(&pool, KVIDX__TABLE_UNIT);
  void *b = kvidx__table_alloc(&pool, KVIDX__TABLE_UNIT);
  CHECK(a != NULL && b != NULL && a != b);
  CHECK_EQ_U64(chunk_count(&pool), 1);
  kvidx__table_free(&pool, a, KVIDX__TABLE_UNIT);
  CHECK_EQ_U64(chunk_count(&pool), 1);
  void *c = kvidx__table_alloc(&pool, KVIDX__TABLE_UNIT);
  CHECK(c == a);
  kvidx__table_free(&pool, b, KVIDX__TABLE_UNIT);
  kvidx__table_free(&pool, c, KVIDX__TABLE_UNIT);
  CHECK_EQ_U64(chunk_count(&pool), 0);
  kvidx__table_pool_destroy(&pool);
}

TEST_MAIN(TEST_CASE(size_classes_aligned_and_disjoint),
          TEST_CASE(chunks_reused_and_returned), TEST_CASE(partial_chunk_kept))

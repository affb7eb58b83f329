/*
 * table_alloc.c: huge-page-backed power-of-two blocks for the memory index's
 * hash tables (see table_alloc.h for why and for the size classes).
 */
#include "index/table_alloc.h"

#include <stdlib.h>
#include <sys/mman.h>

struct kvidx__table_chunk {
  char *base;    /* KVIDX__TABLE_HUGE bytes, KVIDX__TABLE_HUGE aligned */
  uint32_t used; /* bit u: unit u (KVIDX__TABLE_UNIT bytes) is allocated */
  kvidx__table_chunk *next;
};

/* Maps `bytes` (a multiple of the huge page size) at a huge-page-aligned
 * address and asks for huge pages: over-map by one huge page, then unmap the
 * unaligned head and the tail. */
static void *huge_map(size_t bytes) {
  size_t span = bytes + KVIDX__TABLE_HUGE;
  char *p = mmap(NULL, span, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED)
    return NULL;
  uintptr_t addr = (uintptr_t)p;
  uintptr_t aligned =
      (addr + KVIDX__TABLE_HUGE - 1) & ~(uintptr_t)(KVIDX__TABLE_HUGE - 1);
  size_t head = (size_t)(aligned - addr), tail = span - head - bytes;
  if (head != 0)
    (void)munmap(p, head);
  if (tail != 0)
    (void)munmap((char *)aligned + bytes, tail);
  (void)madvise((void *)aligned, bytes, MADV_HUGEPAGE); /* best effort */
  return (void *)aligned;
}

void kvidx__table_pool_init(kvidx__table_pool *a) {
  pthread_mutex_init(&a->lock, NULL);
  a->chunks = NULL;
  a->n_chunks = 0;
}

void kvidx__table_pool_destroy(kvidx__table_pool *a) {
  kvidx__table_chunk *c = a->chunks;
  while (c != NULL) {
    kvidx__table_chunk *next = c->next;
    (void)munmap(c->base, KVIDX__TABLE_HUGE);
    free(c);
    c = next;
  }
  a->chunks = NULL;
  a->n_chunks = 0;
  pthread_mutex_destroy(&a->lock);
}

/* First naturally aligned run of `units` free units in c, or -1. */
static int chunk_find(const kvidx__table_chunk *c, unsigned units) {
  uint32_t mask = (1u << units) - 1u; /* units <= 16 */
  for (unsigned u = 0; u < KVIDX__TABLE_UNITS; u += units) {
    if ((c->used & (mask << u)) == 0)
      return (int)u;
  }
  return -1;
}

static void *pool_alloc(kvidx__table_pool *a, size_t bytes) {
  unsigned units = (unsigned)(bytes / KVIDX__TABLE_UNIT);
  uint32_t mask = (1u << units) - 1u;
  pthread_mutex_lock(&a->lock);
  kvidx__table_chunk *c = a->chunks;
  int u = -1;
  for (; c != NULL; c = c->next) {
    if ((u = chunk_find(c, units)) >= 0)
      break;
  }
  if (c == NULL) {
    c = malloc(sizeof *c);
    char *base = c != NULL ? huge_map(KVIDX__TABLE_HUGE) : NULL;
    if (base == NULL) {
      free(c);
      pthread_mutex_unlock(&a->lock);
      return NULL;
    }
    c->base = base;
    c->used = 0;
    c->next = a->chunks;
    a->chunks = c;
    a->n_chunks++;
    u = 0;
  }
  c->used |= mask << u;
  pthread_mutex_unlock(&a->lock);
  return c->base + (size_t)u * KVIDX__TABLE_UNIT;
}

static void pool_free(kvidx__table_pool *a, void *p, size_t bytes) {
  char *base = (char *)((uintptr_t)p & ~(uintptr_t)(KVIDX__TABLE_HUGE - 1));
  unsigned units = (unsigned)(bytes / KVIDX__TABLE_UNIT);
  unsigned u = (unsigned)(((char *)p - base) / KVIDX__TABLE_UNIT);
  pthread_mutex_lock(&a->lock);
  kvidx__table_chunk **link = &a->chunks;
  while (*link != NULL && (*link)->base != base)
    link = &(*link)->next;
  kvidx__table_chunk *c = *link;
  if (c != NULL) {
    c->used &= ~(((1u << units) - 1u) << u);
    if (c->used == 0) { /* last block: give the huge page back */
      *link = c->next;
      a->n_chunks--;
      (void)munmap(c->base, KVIDX__TABLE_HUGE);
      free(c);
    }
  }
  pthread_mutex_unlock(&a->lock);
}

void *kvidx__table_alloc(kvidx__table_pool *a, size_t bytes) {
  if (bytes < KVIDX__TABLE_UNIT)
    return malloc(bytes);
  if (bytes >= KVIDX__TABLE_HUGE)
    return huge_map(bytes);
  return pool_alloc(a, bytes);
}

void kvidx__table_free(kvidx__table_pool *a, void *p, size_t bytes) {
  if (p == NULL)
    return;
  if (bytes < KVIDX__TABLE_UNIT)
    free(p);
  else if (bytes >= KVIDX__TABLE_HUGE)
    (void)munmap(p, bytes);
  else
    pool_free(a, p, bytes);
}

/*
 * vocab.c: the two lookup structures of a model. kvidx__strtab maps token
 * strings to ids and back (one string pool, open addressing keyed by XXH3 with
 * the hash kept in the slot so most probes compare no bytes). kvidx__pairmap
 * maps a merge pair (left id, right id) to its rank and merged id, the hot
 * lookup of the BPE merge loop.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <xxhash.h>

#include "tokenizer/tokenizer_internal.h"

/* Zeroed memory for the big hash tables (several MB, probed at random):
 * 2 MB-aligned and marked for transparent huge pages, which removes most
 * TLB misses of the load (the merge table of Qwen3 is 8 MB). Freed with
 * free(). */
void *kvidx__table_calloc(size_t n, size_t size) {
  size_t bytes = n * size;
  const size_t huge = (size_t)2 << 20;
  if (bytes < huge)
    return calloc(n, size);
  void *p = NULL;
  size_t rounded = (bytes + huge - 1) & ~(huge - 1);
  if (posix_memalign(&p, huge, rounded) != 0)
    return NULL;
  (void)madvise(p, rounded, MADV_HUGEPAGE); /* best effort */
  memset(p, 0, bytes);
  return p;
}

static size_t pow2_at_least(size_t n) {
  size_t p = 16;
  while (p < n)
    p <<= 1;
  return p;
}

int kvidx__strtab_init(kvidx__strtab *t, size_t expected) {
  memset(t, 0, sizeof *t);
  t->mask = pow2_at_least(expected * 2 + 16) - 1;
  t->slots = kvidx__table_calloc(t->mask + 1, sizeof *t->slots);
  if (!t->slots)
    return KVIDX_ENOMEM;
  /* The pool is sized for the expected count up front (~10 bytes a token):
   * growing it by doubling copies it several times on big vocabs. */
  t->pool_cap = expected * 10 + 65536;
  t->pool = malloc(t->pool_cap);
  return t->pool ? 0 : KVIDX_ENOMEM;
}

void kvidx__strtab_free(kvidx__strtab *t) {
  free(t->pool);
  free(t->off);
  free(t->len);
  free(t->slots);
  memset(t, 0, sizeof *t);
}

static uint32_t str_hash(const char *s, size_t len) {
  return (uint32_t)(XXH3_64bits(s, len) >> 32);
}

uint32_t kvidx__strtab_hash(const char *s, size_t len) {
  return str_hash(s, len);
}

void kvidx__strtab_prefetch(const kvidx__strtab *t, uint32_t h) {
  __builtin_prefetch(&t->slots[h & t->mask]);
}

static int grow_ids(kvidx__strtab *t, uint32_t id) {
  if (id < t->n_ids)
    return 0;
  size_t n = t->n_ids ? t->n_ids : 1024;
  while (n <= id)
    n *= 2;
  uint32_t *off = realloc(t->off, n * sizeof *off);
  if (!off)
    return KVIDX_ENOMEM;
  t->off = off;
  uint32_t *len = realloc(t->len, n * sizeof *len);
  if (!len)
    return KVIDX_ENOMEM;
  t->len = len;
  for (size_t i = t->n_ids; i < n; i++)
    t->len[i] = UINT32_MAX;
  t->n_ids = (uint32_t)n;
  return 0;
}

static int rehash(kvidx__strtab *t) {
  size_t nmask = (t->mask + 1) * 2 - 1;
  struct kvidx__strslot *ns = kvidx__table_calloc(nmask + 1, sizeof *ns);
  if (!ns)
    return KVIDX_ENOMEM;
  for (size_t i = 0; i <= t->mask; i++) {
    if (!t->slots[i].id1)
      continue;
    size_t j = t->slots[i].hash & nmask;
    while (ns[j].id1)
      j = (j + 1) & nmask;
    ns[j] = t->slots[i];
  }
  free(t->slots);
  t->slots = ns;
  t->mask = nmask;
  return 0;
}

/* Slot of s (filled) or of the empty slot where it would go. */
static struct kvidx__strslot *probe(const kvidx__strtab *t, const char *s,
                                    size_t len, uint32_t h) {
  size_t i = h & t->mask;
  for (;;) {
    struct kvidx__strslot *sl = &t->slots[i];
    if (!sl->id1 || (sl->hash == h && sl->len == len &&
                     memcmp(t->pool + sl->off, s, len) == 0))
      return sl;
    i = (i + 1) & t->mask;
  }
}

int kvidx__strtab_put(kvidx__strtab *t, uint32_t id, const char *s,
                      size_t len) {
  if (id == UINT32_MAX || len > UINT32_MAX / 2)
    return KVIDX_ERANGE;
  int rc = grow_ids(t, id);
  if (rc)
    return rc;
  if (t->len[id] != UINT32_MAX)
    return 0; /* first string of an id wins; also keep its map entry */
  if (t->pool_len + len + 1 > t->pool_cap) {
    size_t cap = t->pool_cap ? t->pool_cap : 65536;
    while (cap < t->pool_len + len + 1)
      cap *= 2;
    char *p = realloc(t->pool, cap);
    if (!p)
      return KVIDX_ENOMEM;
    t->pool = p;
    t->pool_cap = cap;
  }
  if (t->pool_len > UINT32_MAX - len - 1)
    return KVIDX_ETOOBIG;
  if ((t->count + 1) * 2 > t->mask + 1 && (rc = rehash(t)) != 0)
    return rc;
  uint32_t h = str_hash(s, len);
  struct kvidx__strslot *sl = probe(t, s, len, h);
  memcpy(t->pool + t->pool_len, s, len);
  t->pool[t->pool_len + len] = 0;
  t->off[id] = (uint32_t)t->pool_len;
  t->len[id] = (uint32_t)len;
  t->pool_len += len + 1;
  /* A string already mapped (a duplicate content) keeps its first id. */
  if (sl->id1)
    return 0;
  sl->hash = h;
  sl->id1 = id + 1;
  sl->off = t->off[id];
  sl->len = (uint32_t)len;
  t->count++;
  return 0;
}

int64_t kvidx__strtab_get(const kvidx__strtab *t, const char *s, size_t len) {
  const struct kvidx__strslot *sl = probe(t, s, len, str_hash(s, len));
  return sl->id1 ? (int64_t)sl->id1 - 1 : -1;
}

int64_t kvidx__strtab_get_h(const kvidx__strtab *t, const char *s, size_t len,
                            uint32_t h) {
  const struct kvidx__strslot *sl = probe(t, s, len, h);
  return sl->id1 ? (int64_t)sl->id1 - 1 : -1;
}

const char *kvidx__strtab_str(const kvidx__strtab *t, uint32_t id,
                              size_t *len) {
  if (id >= t->n_ids || t->len[id] == UINT32_MAX)
    return NULL;
  *len = t->len[id];
  return t->pool + t->off[id];
}

int kvidx__pairmap_init(kvidx__pairmap *m, size_t expected) {
  m->count = 0;
  m->mask = pow2_at_least(expected * 2 + 16) - 1;
  m->slots = kvidx__table_calloc(m->mask + 1, sizeof *m->slots);
  return m->slots ? 0 : KVIDX_ENOMEM;
}

void kvidx__pairmap_free(kvidx__pairmap *m) {
  free(m->slots);
  memset(m, 0, sizeof *m);
}

/* Inserts or overwrites: for a duplicate pair the last rank wins, as the
 * reference's HashMap collect does. */
int kvidx__pairmap_put(kvidx__pairmap *m, uint32_t a, uint32_t b, uint32_t rank,
                       uint32_t id) {
  if ((m->count + 1) * 2 > m->mask + 1) {
    kvidx__pairmap old = *m;
    if (kvidx__pairmap_init(m, (old.mask + 1)) != 0) {
      *m = old;
      return KVIDX_ENOMEM;
    }
    for (size_t i = 0; i <= old.mask; i++) {
      if (old.slots[i].key) {
        size_t j = (size_t)kvidx__pair_hash(old.slots[i].key) & m->mask;
        while (m->slots[j].key)
          j = (j + 1) & m->mask;
        m->slots[j] = old.slots[i];
        m->count++;
      }
    }
    free(old.slots);
  }
  uint64_t key = (((uint64_t)a << 32) | b) + 1;
  size_t i = (size_t)kvidx__pair_hash(key) & m->mask;
  while (m->slots[i].key && m->slots[i].key != key)
    i = (i + 1) & m->mask;
  if (!m->slots[i].key)
    m->count++;
  m->slots[i].key = key;
  m->slots[i].rank = rank;
  m->slots[i].id = id;
  return 0;
}

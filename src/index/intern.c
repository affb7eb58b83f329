/*
 * intern.c: the string interner behind pod and model ids (see intern.h).
 *
 * Adding and finding a name go through one mutex-protected open-addressing
 * table of ids (names are short and interning happens once per pod or model,
 * so this is never hot). Reading a name by id is lock-free: names sit in
 * fixed-size chunks that are allocated once and never move, and `count` is
 * published with release order after the name is stored.
 */
#include "index/intern.h"

#include <stdlib.h>
#include <string.h>

#include "kvidx.h"

static uint64_t name_hash(const char *s, size_t len) {
  /* FNV-1a: names are short and trusted enough; quality is fine here. */
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < len; i++) {
    h ^= (unsigned char)s[i];
    h *= 1099511628211ull;
  }
  return h ^ (h >> 29);
}

int kvidx__intern_init(kvidx__intern *in, uint32_t max) {
  memset(in, 0, sizeof *in);
  uint32_t n_chunks = (max + KVIDX__INTERN_CHUNK - 1) / KVIDX__INTERN_CHUNK;
  in->max = n_chunks * KVIDX__INTERN_CHUNK;
  in->chunks = calloc(n_chunks, sizeof *in->chunks);
  in->map_cap = 64;
  in->map = calloc(in->map_cap, sizeof *in->map);
  if (in->chunks == NULL || in->map == NULL) {
    free(in->chunks);
    free(in->map);
    return KVIDX_ENOMEM;
  }
  pthread_mutex_init(&in->lock, NULL);
  atomic_init(&in->count, 0);
  return 0;
}

void kvidx__intern_destroy(kvidx__intern *in) {
  uint32_t n = atomic_load(&in->count);
  uint32_t n_chunks = in->max / KVIDX__INTERN_CHUNK;
  for (uint32_t c = 0; c < n_chunks; c++) {
    char **chunk = atomic_load(&in->chunks[c]);
    if (chunk == NULL)
      continue;
    for (uint32_t j = 0; j < KVIDX__INTERN_CHUNK; j++) {
      if (c * KVIDX__INTERN_CHUNK + j < n)
        free(chunk[j]);
    }
    free(chunk);
  }
  free(in->chunks);
  free(in->map);
  pthread_mutex_destroy(&in->lock);
}

const char *kvidx__intern_name(kvidx__intern *in, uint32_t id) {
  if (id >= atomic_load_explicit(&in->count, memory_order_acquire))
    return NULL;
  char **chunk = atomic_load_explicit(&in->chunks[id / KVIDX__INTERN_CHUNK],
                                      memory_order_acquire);
  return chunk[id % KVIDX__INTERN_CHUNK];
}

uint32_t kvidx__intern_count(kvidx__intern *in) {
  return atomic_load_explicit(&in->count, memory_order_acquire);
}

/* Slot of name in the map (its id + 1, or the empty slot where it would go).
 * Caller holds the lock. */
static size_t map_probe(kvidx__intern *in, const char *name, size_t len) {
  size_t mask = in->map_cap - 1;
  size_t i = (size_t)name_hash(name, len) & mask;
  for (;;) {
    uint32_t v = in->map[i];
    if (v == 0)
      return i;
    const char *have = kvidx__intern_name(in, v - 1);
    if (strncmp(have, name, len) == 0 && have[len] == '\0')
      return i;
    i = (i + 1) & mask;
  }
}

static int map_grow(kvidx__intern *in) {
  size_t cap = in->map_cap * 2;
  uint32_t *map = calloc(cap, sizeof *map);
  if (map == NULL)
    return KVIDX_ENOMEM;
  for (size_t i = 0; i < in->map_cap; i++) {
    uint32_t v = in->map[i];
    if (v == 0)
      continue;
    const char *s = kvidx__intern_name(in, v - 1);
    size_t j = (size_t)name_hash(s, strlen(s)) & (cap - 1);
    while (map[j] != 0)
      j = (j + 1) & (cap - 1);
    map[j] = v;
  }
  free(in->map);
  in->map = map;
  in->map_cap = cap;
  return 0;
}

/* Stores a copy of name as the next id. Caller holds the lock. */
static int add_name(kvidx__intern *in, const char *name, size_t len,
                    uint32_t *id) {
  uint32_t n = atomic_load_explicit(&in->count, memory_order_relaxed);
  if (n >= in->max)
    return KVIDX_ELIMIT;
  if ((size_t)(n + 1) * 4 > in->map_cap * 3) {
    int rc = map_grow(in);
    if (rc != 0)
      return rc;
  }
  char **chunk = atomic_load_explicit(&in->chunks[n / KVIDX__INTERN_CHUNK],
                                      memory_order_relaxed);
  if (chunk == NULL) {
    chunk = calloc(KVIDX__INTERN_CHUNK, sizeof *chunk);
    if (chunk == NULL)
      return KVIDX_ENOMEM;
    atomic_store_explicit(&in->chunks[n / KVIDX__INTERN_CHUNK], chunk,
                          memory_order_release);
  }
  char *copy = malloc(len + 1);
  if (copy == NULL)
    return KVIDX_ENOMEM;
  memcpy(copy, name, len + 1);
  chunk[n % KVIDX__INTERN_CHUNK] = copy;
  in->map[map_probe(in, name, len)] = n + 1;
  atomic_store_explicit(&in->count, n + 1, memory_order_release);
  *id = n;
  return 0;
}

static int lookup(kvidx__intern *in, const char *name, uint32_t *id,
                  int create) {
  if (name == NULL || id == NULL)
    return KVIDX_EINVAL;
  size_t len = strnlen(name, KVIDX__INTERN_MAX_NAME + 1);
  if (len > KVIDX__INTERN_MAX_NAME)
    return KVIDX_EINVAL;
  pthread_mutex_lock(&in->lock);
  int rc = 0;
  uint32_t v = in->map[map_probe(in, name, len)];
  if (v != 0)
    *id = v - 1;
  else if (create)
    rc = add_name(in, name, len, id);
  else
    rc = KVIDX_ENOTFOUND;
  pthread_mutex_unlock(&in->lock);
  return rc;
}

int kvidx__intern_get(kvidx__intern *in, const char *name, uint32_t *id) {
  return lookup(in, name, id, 1);
}

int kvidx__intern_find(kvidx__intern *in, const char *name, uint32_t *id) {
  return lookup(in, name, id, 0);
}

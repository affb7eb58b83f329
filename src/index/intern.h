/*
 * intern.h: a thread-safe string interner (name <-> small uint32 id), used by
 * the block index for pod and model names and shared by every backend.
 *
 * Ids are dense (0, 1, 2, ... in order of first use) and never reused; names
 * are copied and live as long as the interner. Finding or adding a name takes
 * a mutex; id -> name is lock-free (a chunked array whose chunks never move),
 * so kvidx_index_pod_name() is cheap on the scoring path.
 */
#ifndef KVIDX_INDEX_INTERN_H
#define KVIDX_INDEX_INTERN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Names per chunk of the id -> name array. */
#define KVIDX__INTERN_CHUNK 1024u
/* Longest name accepted, in bytes (without the terminating NUL). */
#define KVIDX__INTERN_MAX_NAME 4096u

typedef struct {
  pthread_mutex_t lock; /* guards map, map_cap and adding names */
  uint32_t *map;        /* open addressing: id + 1, 0 = empty */
  size_t map_cap;       /* power of two */
  uint32_t max;         /* capacity in names (multiple of the chunk size) */
  _Atomic uint32_t count;
  _Atomic(char **) *chunks; /* max / KVIDX__INTERN_CHUNK chunk pointers */
} kvidx__intern;

/* Prepares an interner for at most max names. KVIDX_ENOMEM. */
int kvidx__intern_init(kvidx__intern *in, uint32_t max);
void kvidx__intern_destroy(kvidx__intern *in);
/* Id of name, adding it when new. KVIDX_EINVAL (NULL or too long),
 * KVIDX_ELIMIT (interner full), KVIDX_ENOMEM. */
int kvidx__intern_get(kvidx__intern *in, const char *name, uint32_t *id);
/* Id of an existing name; KVIDX_ENOTFOUND otherwise. */
int kvidx__intern_find(kvidx__intern *in, const char *name, uint32_t *id);
/* Name of id, NULL when id was never handed out. Lock-free. */
const char *kvidx__intern_name(kvidx__intern *in, uint32_t id);
/* Number of names (ids are 0..count-1). Lock-free. */
uint32_t kvidx__intern_count(kvidx__intern *in);

#endif

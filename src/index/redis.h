/*
 * redis.h: internal extras of the Redis/Valkey index backend (redis.c).
 *
 * Resync policy: a write (add, remove, clear) that fails because Redis is
 * down, timed out or answered with an error leaves that pod's entries in
 * Redis in an unknown state (a lost add is a missing block, a lost remove a
 * phantom one). The backend therefore marks the pod "needs resync" and clears
 * all of the pod's entries itself as soon as Redis answers again: on the
 * health thread right after reconnecting (before the index reports ready),
 * and inline before the pod's next write. Clearing under-reports (the pod's
 * later events re-add what it stores) but never leaves phantom blocks. The
 * daemon and the event layer need to do nothing; these functions only let
 * them observe it (tests, metrics).
 */
#ifndef KVIDX_INDEX_REDIS_H
#define KVIDX_INDEX_REDIS_H

#include <stddef.h>
#include <stdint.h>

#include "kvidx.h"

/* Block keys per Lua call of a write batch (calls are pipelined). */
#define KVIDX__REDIS_WRITE_CHUNK 512
/* Keys popped from a pod's set per step of a clear. */
#define KVIDX__REDIS_CLEAR_BATCH 1024
/* Steps of one clear before giving up (a pod written faster than cleared). */
#define KVIDX__REDIS_CLEAR_MAX_STEPS 100000
/* Engine-key commands per pipeline round trip. */
#define KVIDX__REDIS_ENGINE_CHUNK 1024

typedef struct {
  uint64_t dirty_pods; /* pods waiting to be cleared (resync) */
  uint64_t resyncs;    /* pods cleared by the resync so far */
  uint64_t reconnects; /* DOWN -> UP transitions of the connection pool */
  int up;              /* 1 when the pool is UP */
} kvidx__redis_status;

/* Fills *out for a Redis index; KVIDX_EINVAL for another backend. */
int kvidx__redis_index_status(kvidx_index *idx, kvidx__redis_status *out);

#endif

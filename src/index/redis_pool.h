/*
 * redis_pool.h: connections to one Redis/Valkey server, shared by threads.
 *
 * A hiredis context is not thread-safe, so the pool hands out whole
 * connections: a caller takes one (kvidx__redis_pool_get), runs its pipeline,
 * and gives it back (kvidx__redis_pool_put). At most KVIDX__REDIS_POOL_MAX
 * connections exist; they are created on demand.
 *
 * The pool is UP or DOWN. Any I/O error (refused, reset, timeout) turns it
 * DOWN: every idle connection is closed (after a restart they all point at a
 * dead server) and get() fails at once with KVIDX_EUNAVAIL, without touching
 * the network, so callers fail fast. A background thread reconnects with
 * exponential backoff (KVIDX__REDIS_BACKOFF_MIN_MS doubling up to
 * KVIDX__REDIS_BACKOFF_MAX_MS); once it has a working connection it runs the
 * owner's maintenance hook on it (the Redis index clears the pods whose writes
 * were lost) and only then declares the pool UP again.
 */
#ifndef KVIDX_INDEX_REDIS_POOL_H
#define KVIDX_INDEX_REDIS_POOL_H

#include <hiredis/hiredis.h>
#include <stdint.h>

#include "index/redis_url.h"

/* Connections per pool (threads beyond this wait for a free one). */
#define KVIDX__REDIS_POOL_MAX 16
/* Reconnect backoff of the health thread. */
#define KVIDX__REDIS_BACKOFF_MIN_MS 25
#define KVIDX__REDIS_BACKOFF_MAX_MS 1000

/*
 * Maintenance hook, run by the health thread on connection c after a
 * reconnect (before the pool is UP again), and once more right after the
 * pool is UP (on a pooled connection). Returns 0, or
 * a negative code when c failed (the pool then stays or goes DOWN).
 */
typedef int (*kvidx__redis_hook_fn)(void *userdata, redisContext *c);

typedef struct kvidx__redis_pool kvidx__redis_pool;

typedef struct {
  kvidx__redis_url url;
  int connect_timeout_ms;
  int command_timeout_ms;
  kvidx__redis_hook_fn hook; /* may be NULL */
  void *hook_userdata;
} kvidx__redis_pool_opts;

/*
 * Opens one connection synchronously (bounded by the connect timeout) and
 * starts the health thread. Succeeds when Redis is down: the pool starts
 * DOWN and the thread keeps trying. KVIDX_ENOMEM, KVIDX_ESYS.
 */
int kvidx__redis_pool_new(const kvidx__redis_pool_opts *opts,
                          kvidx__redis_pool **out);
/* Stops the thread and closes every connection. None may be checked out. */
void kvidx__redis_pool_free(kvidx__redis_pool *p);

/*
 * Takes a connection. KVIDX_EUNAVAIL when the pool is DOWN or a new
 * connection cannot be made; KVIDX_ETIMEDOUT when all connections stayed busy
 * for the command timeout. Thread-safe.
 */
int kvidx__redis_pool_get(kvidx__redis_pool *p, redisContext **out);
/*
 * Gives c back. failed != 0 when c saw an I/O or protocol error: c is closed
 * and the pool goes DOWN. Thread-safe.
 */
void kvidx__redis_pool_put(kvidx__redis_pool *p, redisContext *c, int failed);

/* 1 when UP. Lock-free. */
int kvidx__redis_pool_is_up(kvidx__redis_pool *p);
/* Number of DOWN -> UP transitions so far (for tests and metrics). */
uint64_t kvidx__redis_pool_reconnects(kvidx__redis_pool *p);

/*
 * Opens one connection: connect (timeout), command timeout, AUTH, SELECT,
 * PING. On failure returns NULL and writes why into err.
 */
redisContext *kvidx__redis_connect(const kvidx__redis_url *url,
                                   int connect_timeout_ms,
                                   int command_timeout_ms, char *err,
                                   size_t err_size);

#endif

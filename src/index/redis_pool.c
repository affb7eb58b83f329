/*
 * redis_pool.c: the connection pool and health thread of the Redis index
 * backend (contract in redis_pool.h).
 *
 * Why a pool of whole connections rather than one shared context behind a
 * lock: a lookup is one round trip of a few hundred microseconds, and holding
 * a lock across it would serialise every HTTP worker and event shard behind
 * the slowest request. With one connection per concurrent caller, Redis sees
 * independent pipelines and kvidx's threads never wait for each other.
 *
 * Why a health thread: the failure contract is "fail fast while Redis is
 * down, recover by itself". If callers reconnected inline, every request
 * during an outage would pay a connect timeout. Instead the first failure
 * flips the pool DOWN, later calls return KVIDX_EUNAVAIL immediately, and
 * one thread owns reconnecting, with backoff so a dead server is not hammered.
 */
#include "index/redis_pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "kvidx.h"

#define DEFAULT_CONNECT_TIMEOUT_MS 1000
#define DEFAULT_COMMAND_TIMEOUT_MS 500

typedef enum { SLOT_FREE = 0, SLOT_IDLE, SLOT_BUSY } slot_state;

typedef struct {
  redisContext *c;
  uint64_t gen; /* pool generation the connection was made in */
  slot_state state;
} slot;

struct kvidx__redis_pool {
  kvidx__redis_pool_opts opts;
  pthread_mutex_t mu;
  pthread_cond_t free_cv; /* a slot became IDLE or FREE, or the pool came UP */
  pthread_cond_t health_cv; /* wakes the health thread */
  slot slots[KVIDX__REDIS_POOL_MAX];
  uint64_t gen;               /* bumped on every UP -> DOWN; guarded by mu */
  struct timespec down_since; /* last UP -> DOWN; guarded by mu */
  int stopping;               /* guarded by mu */
  _Atomic int up;
  _Atomic uint64_t reconnects;
  pthread_t thread;
  int thread_started;
};

static struct timeval ms_to_tv(int ms) {
  struct timeval tv;
  tv.tv_sec = ms / 1000;
  tv.tv_usec = (ms % 1000) * 1000;
  return tv;
}

static struct timespec deadline_after_ms(int ms) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  long ns = ts.tv_nsec + (long)(ms % 1000) * 1000000L;
  ts.tv_sec += ms / 1000 + ns / 1000000000L;
  ts.tv_nsec = ns % 1000000000L;
  return ts;
}

/* Runs one command on c and checks that the reply is a status or string
 * (optionally equal to expect). */
static int simple_command(redisContext *c, int argc, const char **argv,
                          const char *expect, char *err, size_t err_size) {
  redisReply *r = redisCommandArgv(c, argc, argv, NULL);
  if (r == NULL) {
    snprintf(err, err_size, "%s: %s", argv[0], c->errstr);
    return KVIDX_EUNAVAIL;
  }
  int rc = 0;
  if (r->type == REDIS_REPLY_ERROR) {
    snprintf(err, err_size, "%s: %s", argv[0], r->str);
    rc = KVIDX_EUNAVAIL;
  } else if (expect != NULL &&
             (r->type != REDIS_REPLY_STATUS || strcmp(r->str, expect) != 0)) {
    snprintf(err, err_size, "%s: unexpected reply", argv[0]);
    rc = KVIDX_EUNAVAIL;
  }
  freeReplyObject(r);
  return rc;
}

redisContext *kvidx__redis_connect(const kvidx__redis_url *url,
                                   int connect_timeout_ms,
                                   int command_timeout_ms, char *err,
                                   size_t err_size) {
  struct timeval ctv = ms_to_tv(connect_timeout_ms);
  redisContext *c = url->is_unix
                        ? redisConnectUnixWithTimeout(url->path, ctv)
                        : redisConnectWithTimeout(url->host, url->port, ctv);
  if (c == NULL) {
    snprintf(err, err_size, "connect: out of memory");
    return NULL;
  }
  if (c->err) {
    snprintf(err, err_size, "connect: %s", c->errstr);
    redisFree(c);
    return NULL;
  }
  if (redisSetTimeout(c, ms_to_tv(command_timeout_ms)) != REDIS_OK ||
      (!url->is_unix && redisEnableKeepAlive(c) != REDIS_OK)) {
    snprintf(err, err_size, "socket options: %s", c->errstr);
    redisFree(c);
    return NULL;
  }
  int rc = 0;
  if (url->has_pass) {
    const char *auth_user[] = {"AUTH", url->user, url->pass};
    const char *auth_pass[] = {"AUTH", url->pass};
    rc = url->user[0] ? simple_command(c, 3, auth_user, "OK", err, err_size)
                      : simple_command(c, 2, auth_pass, "OK", err, err_size);
  }
  if (rc == 0 && url->db != 0) {
    char db[16];
    snprintf(db, sizeof db, "%d", url->db);
    const char *sel[] = {"SELECT", db};
    rc = simple_command(c, 2, sel, "OK", err, err_size);
  }
  if (rc == 0) {
    /* PING proves the server answers commands (not LOADING, not a stranger
     * on the port). */
    const char *ping[] = {"PING"};
    rc = simple_command(c, 1, ping, "PONG", err, err_size);
  }
  if (rc != 0) {
    redisFree(c);
    return NULL;
  }
  return c;
}

/* ---- pool state (all *_locked functions need p->mu) ---- */

static void close_idle_locked(kvidx__redis_pool *p) {
  for (size_t i = 0; i < KVIDX__REDIS_POOL_MAX; i++) {
    if (p->slots[i].state == SLOT_IDLE) {
      redisFree(p->slots[i].c);
      p->slots[i].c = NULL;
      p->slots[i].state = SLOT_FREE;
    }
  }
}

static void go_down_locked(kvidx__redis_pool *p, const char *why) {
  if (!atomic_load(&p->up))
    return;
  atomic_store(&p->up, 0);
  p->gen++;
  clock_gettime(CLOCK_MONOTONIC, &p->down_since);
  close_idle_locked(p);
  char desc[KVIDX__REDIS_URL_MAX_HOST + KVIDX__REDIS_URL_MAX_PATH + 64];
  kvidx__redis_url_describe(&p->opts.url, desc, sizeof desc);
  kvidx_log_warn("redis",
                 "redis unavailable, reconnecting in background "
                 "url=\"%s\" error=\"%s\"",
                 desc, why);
  pthread_cond_signal(&p->health_cv);
  pthread_cond_broadcast(&p->free_cv);
}

/* Stores a fresh connection as IDLE; closes it when no slot is free. */
static void add_idle_locked(kvidx__redis_pool *p, redisContext *c) {
  for (size_t i = 0; i < KVIDX__REDIS_POOL_MAX; i++) {
    if (p->slots[i].state == SLOT_FREE) {
      p->slots[i] = (slot){c, p->gen, SLOT_IDLE};
      pthread_cond_signal(&p->free_cv);
      return;
    }
  }
  redisFree(c);
}

static redisContext *connect_pool(kvidx__redis_pool *p, char *err,
                                  size_t err_size) {
  return kvidx__redis_connect(&p->opts.url, p->opts.connect_timeout_ms,
                              p->opts.command_timeout_ms, err, err_size);
}

int kvidx__redis_pool_get(kvidx__redis_pool *p, redisContext **out) {
  *out = NULL;
  if (!atomic_load(&p->up))
    return KVIDX_EUNAVAIL;
  struct timespec deadline = deadline_after_ms(p->opts.command_timeout_ms);
  pthread_mutex_lock(&p->mu);
  for (;;) {
    if (!atomic_load(&p->up)) {
      pthread_mutex_unlock(&p->mu);
      return KVIDX_EUNAVAIL;
    }
    slot *free_slot = NULL;
    for (size_t i = 0; i < KVIDX__REDIS_POOL_MAX; i++) {
      slot *s = &p->slots[i];
      if (s->state == SLOT_IDLE) {
        s->state = SLOT_BUSY;
        *out = s->c;
        pthread_mutex_unlock(&p->mu);
        return 0;
      }
      if (s->state == SLOT_FREE && free_slot == NULL)
        free_slot = s;
    }
    if (free_slot != NULL) {
      /* Reserve the slot, connect without the lock (a connect can take up
       * to the connect timeout). */
      free_slot->state = SLOT_BUSY;
      free_slot->c = NULL;
      free_slot->gen = p->gen;
      pthread_mutex_unlock(&p->mu);
      char err[256];
      redisContext *c = connect_pool(p, err, sizeof err);
      pthread_mutex_lock(&p->mu);
      if (c == NULL) {
        free_slot->state = SLOT_FREE;
        go_down_locked(p, err);
        pthread_mutex_unlock(&p->mu);
        return KVIDX_EUNAVAIL;
      }
      free_slot->c = c;
      pthread_mutex_unlock(&p->mu);
      *out = c;
      return 0;
    }
    if (pthread_cond_timedwait(&p->free_cv, &p->mu, &deadline) == ETIMEDOUT) {
      pthread_mutex_unlock(&p->mu);
      kvidx_log_warn("redis", "all %d redis connections busy for %d ms",
                     KVIDX__REDIS_POOL_MAX, p->opts.command_timeout_ms);
      return KVIDX_ETIMEDOUT;
    }
  }
}

void kvidx__redis_pool_put(kvidx__redis_pool *p, redisContext *c, int failed) {
  if (c == NULL)
    return;
  pthread_mutex_lock(&p->mu);
  slot *s = NULL;
  for (size_t i = 0; i < KVIDX__REDIS_POOL_MAX; i++)
    if (p->slots[i].state == SLOT_BUSY && p->slots[i].c == c)
      s = &p->slots[i];
  if (s == NULL) {
    /* Not ours: can only be a caller bug; close it rather than leak. */
    redisFree(c);
  } else if (failed || c->err) {
    char why[160];
    snprintf(why, sizeof why, "%s", c->err ? c->errstr : "protocol error");
    redisFree(c);
    *s = (slot){NULL, 0, SLOT_FREE};
    go_down_locked(p, why);
  } else if (s->gen != p->gen) {
    /* Made before the last outage: the server behind it may be gone. */
    redisFree(c);
    *s = (slot){NULL, 0, SLOT_FREE};
  } else {
    s->state = SLOT_IDLE;
  }
  pthread_cond_signal(&p->free_cv);
  pthread_mutex_unlock(&p->mu);
}

int kvidx__redis_pool_is_up(kvidx__redis_pool *p) {
  return atomic_load(&p->up);
}

uint64_t kvidx__redis_pool_reconnects(kvidx__redis_pool *p) {
  return atomic_load(&p->reconnects);
}

/* ---- health thread ---- */

/* One reconnect attempt; called and returns with p->mu held. */
static int try_reconnect_locked(kvidx__redis_pool *p) {
  pthread_mutex_unlock(&p->mu);
  char err[256];
  redisContext *c = connect_pool(p, err, sizeof err);
  int rc = c ? 0 : KVIDX_EUNAVAIL;
  if (c != NULL && p->opts.hook != NULL) {
    rc = p->opts.hook(p->opts.hook_userdata, c);
    if (rc != 0 || c->err) {
      redisFree(c);
      c = NULL;
      rc = rc ? rc : KVIDX_EUNAVAIL;
    }
  }
  pthread_mutex_lock(&p->mu);
  if (rc != 0)
    return rc;
  add_idle_locked(p, c);
  atomic_store(&p->up, 1);
  atomic_fetch_add(&p->reconnects, 1);
  pthread_cond_broadcast(&p->free_cv);
  return 0;
}

/*
 * Runs the hook once more right after the pool is UP, on a pooled
 * connection; p->mu held. The owner's state may have changed between the
 * hook's run before UP and the UP itself (the Redis index: a pod marked for
 * resync by a writer that then saw the pool still DOWN); whatever happened
 * before this second run is seen by it, and whatever happens after sees the
 * pool UP. With nothing to do the hook costs an atomic load.
 */
static void run_hook_while_up_locked(kvidx__redis_pool *p) {
  if (p->opts.hook == NULL)
    return;
  pthread_mutex_unlock(&p->mu);
  redisContext *c;
  if (kvidx__redis_pool_get(p, &c) == 0) {
    int rc = p->opts.hook(p->opts.hook_userdata, c);
    kvidx__redis_pool_put(p, c, rc == KVIDX_EUNAVAIL);
  }
  pthread_mutex_lock(&p->mu);
}

static void *health_main(void *arg) {
  kvidx__redis_pool *p = arg;
  int backoff_ms = KVIDX__REDIS_BACKOFF_MIN_MS;
  pthread_mutex_lock(&p->mu);
  while (!p->stopping) {
    if (atomic_load(&p->up)) {
      pthread_cond_wait(&p->health_cv, &p->mu);
      continue;
    }
    if (try_reconnect_locked(p) == 0) {
      struct timespec now;
      clock_gettime(CLOCK_MONOTONIC, &now);
      long ms = (long)(now.tv_sec - p->down_since.tv_sec) * 1000 +
                (now.tv_nsec - p->down_since.tv_nsec) / 1000000;
      kvidx_log_info("redis", "redis reconnected down_ms=%ld", ms);
      backoff_ms = KVIDX__REDIS_BACKOFF_MIN_MS;
      run_hook_while_up_locked(p);
      continue;
    }
    if (p->stopping)
      break;
    struct timespec deadline = deadline_after_ms(backoff_ms);
    pthread_cond_timedwait(&p->health_cv, &p->mu, &deadline);
    backoff_ms = backoff_ms * 2 > KVIDX__REDIS_BACKOFF_MAX_MS
                     ? KVIDX__REDIS_BACKOFF_MAX_MS
                     : backoff_ms * 2;
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

int kvidx__redis_pool_new(const kvidx__redis_pool_opts *opts,
                          kvidx__redis_pool **out) {
  *out = NULL;
  kvidx__redis_pool *p = calloc(1, sizeof *p);
  if (p == NULL)
    return KVIDX_ENOMEM;
  p->opts = *opts;
  if (p->opts.connect_timeout_ms <= 0)
    p->opts.connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
  if (p->opts.command_timeout_ms <= 0)
    p->opts.command_timeout_ms = DEFAULT_COMMAND_TIMEOUT_MS;
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->free_cv, &ca);
  pthread_cond_init(&p->health_cv, &ca);
  pthread_condattr_destroy(&ca);

  char err[256];
  redisContext *c = connect_pool(p, err, sizeof err);
  if (c != NULL && p->opts.hook != NULL &&
      p->opts.hook(p->opts.hook_userdata, c) != 0) {
    snprintf(err, sizeof err, "maintenance: %s", c->errstr);
    redisFree(c);
    c = NULL;
  }
  if (c != NULL) {
    add_idle_locked(p, c);
    atomic_store(&p->up, 1);
  } else {
    char desc[KVIDX__REDIS_URL_MAX_HOST + KVIDX__REDIS_URL_MAX_PATH + 64];
    kvidx__redis_url_describe(&p->opts.url, desc, sizeof desc);
    kvidx_log_warn("redis",
                   "redis unavailable at start, will retry "
                   "url=\"%s\" error=\"%s\"",
                   desc, err);
  }
  if (pthread_create(&p->thread, NULL, health_main, p) != 0) {
    kvidx__redis_pool_free(p);
    return KVIDX_ESYS;
  }
  p->thread_started = 1;
  *out = p;
  return 0;
}

void kvidx__redis_pool_free(kvidx__redis_pool *p) {
  if (p == NULL)
    return;
  if (p->thread_started) {
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    pthread_cond_signal(&p->health_cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
  }
  for (size_t i = 0; i < KVIDX__REDIS_POOL_MAX; i++)
    if (p->slots[i].c != NULL)
      redisFree(p->slots[i].c);
  pthread_cond_destroy(&p->free_cv);
  pthread_cond_destroy(&p->health_cv);
  pthread_mutex_destroy(&p->mu);
  free(p);
}

/*
 * redis.c: the Redis/Valkey backend of the block index, for several kvidxd
 * replicas sharing one index.
 *
 * Data layout (docs/redis.md): llm-d kv-cache-manager's schema, so a kvidx
 * fleet and an llm-d fleet can share one Redis during a migration —
 *   <model>@<hash>         hash; field "<pod>@<tier>" (hash in decimal, tier
 *                          lowercase); kvidx stores the copy count as the
 *                          field's value where llm-d stores "" (llm-d readers
 *                          only look at field names)
 *   engine:<model>@<hash>  string "<model>@<request hash>"
 * plus kvidx's own keys, which llm-d never reads:
 *   kvidx:pod:<pod>@<tier> set of the block keys a pod holds in a tier, so
 *                          clearing a pod or counting its blocks never SCANs
 *   kvidx:stats            hash {keys, entries}
 *
 * Every operation is one round trip: writes run one Lua script per chunk of
 * KVIDX__REDIS_WRITE_CHUNK keys, all chunks pipelined; the prefix lookup is
 * one script that walks the chain on the server and stops at the first block
 * no eligible pod holds. Scripts make read-modify-write (copy counts, "last
 * copy deletes the field") atomic across replicas. Connections come from a
 * pool (redis_pool.c) that fails fast while Redis is down and reconnects in
 * the background; lost writes mark their pod for resync (redis.h).
 *
 * Pod and model ids are local to this process (the interners of
 * index_impl.h); Redis only ever sees names. Pods another replica wrote are
 * interned here the first time a lookup meets them.
 */
#include "index/redis.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "index/index_impl.h"
#include "index/redis_pool.h"
#include "index/redis_scripts.h"
#include "index/redis_url.h"

#define DEFAULT_URL "redis://127.0.0.1:6379"
#define DEFAULT_CONNECT_TIMEOUT_MS 1000
#define DEFAULT_COMMAND_TIMEOUT_MS 500
#define STATS_KEY "kvidx:stats"
#define POD_SET_PREFIX "kvidx:pod:"
#define ENGINE_PREFIX "engine:"
/* Longest decimal uint64 (20 digits). */
#define U64_DIGITS 20
/* A field is "<pod>@<tier>"; the longest tier name is "storage". */
#define TIER_NAME_MAX 8

typedef struct {
  struct kvidx_index base; /* first: a kvidx_index * is a redis_index * */
  kvidx__redis_url url;
  int key_ttl_s;
  kvidx__redis_pool *pool;
  _Atomic uint64_t adds, removes, remove_misses, clears, errors, resyncs;
  /* Pods needing resync: dirty[pod] != 0. Guarded by dirty_mu; n_dirty is
   * read without it as a fast "nothing to do" check. */
  pthread_mutex_t dirty_mu;
  uint8_t *dirty;
  size_t dirty_cap;
  _Atomic size_t n_dirty;
} redis_index;

static const kvidx__index_ops redis_ops;

/* ---- key formatting ------------------------------------------------------*/

static size_t u64_decimal(char *out, uint64_t v) {
  char tmp[U64_DIGITS];
  size_t n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  for (size_t i = 0; i < n; i++)
    out[i] = tmp[n - 1 - i];
  return n;
}

/* Writes "<prefix><model>@<decimal key>\0" at out; returns bytes incl. NUL. */
static size_t block_key(char *out, const char *prefix, const char *model,
                        size_t model_len, uint64_t key) {
  size_t plen = strlen(prefix);
  memcpy(out, prefix, plen);
  memcpy(out + plen, model, model_len);
  size_t o = plen + model_len;
  out[o++] = '@';
  o += u64_decimal(out + o, key);
  out[o++] = '\0';
  return o;
}

/* n block keys "<prefix><model>@<key>" in one allocation. */
typedef struct {
  char *buf;
  const char **ptr;
} key_strings;

static int key_strings_make(key_strings *ks, const char *prefix,
                            const char *model, const uint64_t *keys, size_t n) {
  size_t mlen = strlen(model);
  size_t each = strlen(prefix) + mlen + U64_DIGITS + 2;
  ks->buf = malloc(n * each);
  ks->ptr = malloc(n * sizeof *ks->ptr);
  if (ks->buf == NULL || ks->ptr == NULL) {
    free(ks->buf);
    free(ks->ptr);
    return KVIDX_ENOMEM;
  }
  char *o = ks->buf;
  for (size_t i = 0; i < n; i++) {
    ks->ptr[i] = o;
    o += block_key(o, prefix, model, mlen, keys[i]);
  }
  return 0;
}

static void key_strings_free(key_strings *ks) {
  free(ks->buf);
  free(ks->ptr);
}

/* "<pod>@<tier>" for every tier of a pod; fields[t] for tier t. */
typedef struct {
  char *buf;
  const char *field[KVIDX_TIER_COUNT];
  const char *pod_set[KVIDX_TIER_COUNT]; /* kvidx:pod:<pod>@<tier> */
} pod_names;

static int pod_names_make(pod_names *pn, redis_index *r, uint32_t pod) {
  const char *name = kvidx__intern_name(&r->base.pods, pod);
  if (name == NULL)
    return KVIDX_EINVAL;
  size_t len = strlen(name);
  size_t each = sizeof POD_SET_PREFIX + len + TIER_NAME_MAX + 2;
  pn->buf = malloc(2 * KVIDX_TIER_COUNT * each);
  if (pn->buf == NULL)
    return KVIDX_ENOMEM;
  char *o = pn->buf;
  for (kvidx_tier t = 0; t < KVIDX_TIER_COUNT; t++) {
    pn->field[t] = o;
    o += (size_t)sprintf(o, "%s@%s", name, kvidx_tier_name(t)) + 1;
    pn->pod_set[t] = o;
    o += (size_t)sprintf(o, POD_SET_PREFIX "%s@%s", name, kvidx_tier_name(t)) +
         1;
  }
  return 0;
}

/* ---- connections and failure accounting ---------------------------------*/

static int acquire(redis_index *r, redisContext **c) {
  return kvidx__redis_pool_get(r->pool, c);
}

/* Returns c to the pool; an I/O failure (rc == KVIDX_EUNAVAIL) closes it. */
static void release(redis_index *r, redisContext *c, int rc) {
  kvidx__redis_pool_put(r->pool, c, rc == KVIDX_EUNAVAIL);
}

/* Returns 1 when the pod was not marked yet. */
static int mark_dirty(redis_index *r, uint32_t pod) {
  pthread_mutex_lock(&r->dirty_mu);
  if (pod >= r->dirty_cap) {
    size_t cap = r->dirty_cap ? r->dirty_cap : 64;
    while (cap <= pod)
      cap *= 2;
    uint8_t *d = realloc(r->dirty, cap);
    if (d == NULL) {
      /* Cannot remember the pod: say so loudly; its entries may be stale
       * until it is cleared by other means (AllBlocksCleared, DELETE). */
      pthread_mutex_unlock(&r->dirty_mu);
      kvidx_log_error("redis", "out of memory marking pod for resync pod=%u",
                      pod);
      return 0;
    }
    memset(d + r->dirty_cap, 0, cap - r->dirty_cap);
    r->dirty = d;
    r->dirty_cap = cap;
  }
  int fresh = !r->dirty[pod];
  if (fresh) {
    r->dirty[pod] = 1;
    atomic_fetch_add(&r->n_dirty, 1);
  }
  pthread_mutex_unlock(&r->dirty_mu);
  return fresh;
}

static int is_dirty(redis_index *r, uint32_t pod) {
  if (atomic_load(&r->n_dirty) == 0)
    return 0;
  pthread_mutex_lock(&r->dirty_mu);
  int d = pod < r->dirty_cap && r->dirty[pod];
  pthread_mutex_unlock(&r->dirty_mu);
  return d;
}

static void unmark_dirty(redis_index *r, uint32_t pod) {
  pthread_mutex_lock(&r->dirty_mu);
  if (pod < r->dirty_cap && r->dirty[pod]) {
    r->dirty[pod] = 0;
    atomic_fetch_sub(&r->n_dirty, 1);
  }
  pthread_mutex_unlock(&r->dirty_mu);
}

/*
 * A write of pod failed with rc: count it and remember the pod for resync.
 * Called BEFORE the failed connection goes back to the pool: giving it back
 * turns the pool DOWN and lets the health thread reconnect and sweep, and the
 * sweep must already see this pod.
 */
static int write_failed(redis_index *r, uint32_t pod, int rc, const char *op) {
  atomic_fetch_add(&r->errors, 1);
  /* One line per pod and outage, not one per failed event. */
  if (mark_dirty(r, pod))
    kvidx_log_warn("redis",
                   "%s failed, pod marked for resync pod=\"%s\" error=%s", op,
                   kvidx__intern_name(&r->base.pods, pod), kvidx_err_name(rc));
  return rc;
}

/* Reply check for the scripts: an array of two or three integers (a
 * missing third one reads as 0). */
static int int_reply(const redisReply *rep, long long out[3]) {
  if (rep == NULL || rep->type != REDIS_REPLY_ARRAY || rep->elements < 2 ||
      rep->elements > 3)
    return KVIDX_EIO;
  out[2] = 0;
  for (size_t i = 0; i < rep->elements; i++) {
    if (rep->element[i]->type != REDIS_REPLY_INTEGER)
      return KVIDX_EIO;
    out[i] = rep->element[i]->integer;
  }
  return 0;
}

static void log_reply_error(const char *op, const redisReply *rep) {
  kvidx_log_warn("redis", "%s: unexpected reply error=\"%s\"", op,
                 rep != NULL && rep->type == REDIS_REPLY_ERROR ? rep->str
                                                               : "bad type");
}

/* ---- clearing a pod ------------------------------------------------------*/

/* Clears one tier of a pod on c, in bounded steps. */
static int clear_tier(redisContext *c, const pod_names *pn, kvidx_tier tier) {
  char batch[16];
  snprintf(batch, sizeof batch, "%d", KVIDX__REDIS_CLEAR_BATCH);
  const char *argv[2 + 3 + 2 + KVIDX_TIER_COUNT];
  int argc = 0;
  argv[argc++] = NULL;
  argv[argc++] = NULL;
  argv[argc++] = "2";
  argv[argc++] = STATS_KEY;
  argv[argc++] = pn->pod_set[tier];
  argv[argc++] = pn->field[tier];
  argv[argc++] = batch;
  for (kvidx_tier t = 0; t < KVIDX_TIER_COUNT; t++)
    if (t != tier)
      argv[argc++] = pn->field[t];
  for (int step = 0; step < KVIDX__REDIS_CLEAR_MAX_STEPS; step++) {
    kvidx__redis_call call = {argc, argv, NULL};
    redisReply *rep;
    int rc =
        kvidx__redis_eval_many(c, &kvidx__redis_script_clear, &call, 1, &rep);
    if (rc != 0)
      return rc;
    long long v[3];
    rc = int_reply(rep, v);
    if (rc != 0)
      log_reply_error("clear", rep);
    freeReplyObject(rep);
    if (rc != 0)
      return rc;
    if (v[0] == 0 || v[1] == 0) /* nothing popped, or nothing left */
      return 0;
  }
  kvidx_log_warn("redis", "clear gave up after %d steps field=\"%s\"",
                 KVIDX__REDIS_CLEAR_MAX_STEPS, pn->field[tier]);
  return KVIDX_ELIMIT;
}

static int clear_pod_on(redis_index *r, redisContext *c, uint32_t pod) {
  pod_names pn;
  int rc = pod_names_make(&pn, r, pod);
  if (rc != 0)
    return rc;
  for (kvidx_tier t = 0; t < KVIDX_TIER_COUNT && rc == 0; t++)
    rc = clear_tier(c, &pn, t);
  free(pn.buf);
  return rc;
}

/* Clears pod on c first when it needs resync (called before its writes, so
 * the pod's own writer orders the clear before its new entries). */
static int resync_if_dirty(redis_index *r, redisContext *c, uint32_t pod) {
  if (!is_dirty(r, pod))
    return 0;
  int rc = clear_pod_on(r, c, pod);
  if (rc == 0) {
    unmark_dirty(r, pod);
    atomic_fetch_add(&r->resyncs, 1);
    kvidx_log_info("redis", "pod resynced (cleared) pod=\"%s\"",
                   kvidx__intern_name(&r->base.pods, pod));
  }
  return rc;
}

/* Pool hook (health thread): clears every pod marked for resync. Returns
 * KVIDX_EUNAVAIL only when the connection failed; pods whose clear got an
 * error reply stay marked. */
static int resync_hook(void *userdata, redisContext *c) {
  redis_index *r = userdata;
  if (atomic_load(&r->n_dirty) == 0)
    return 0;
  uint32_t n = kvidx__intern_count(&r->base.pods);
  for (uint32_t pod = 0; pod < n; pod++) {
    int rc = resync_if_dirty(r, c, pod);
    if (rc == KVIDX_EUNAVAIL)
      return rc;
  }
  return 0;
}

/*
 * Called by the pod's own writer after its write failed and the connection
 * is back in the pool. When the pool is UP (the failure was an error reply,
 * or the health thread has reconnected already), clears the pod now: its
 * writer is this thread, so none of the pod's writes can interleave. While
 * DOWN nothing is done here: the health thread sweeps before going UP and
 * once more right after, so a pod marked after the first sweep looked and
 * checked here before the pool went UP is still cleared.
 */
static void resync_now_if_up(redis_index *r, uint32_t pod) {
  if (!kvidx__redis_pool_is_up(r->pool) || !is_dirty(r, pod))
    return;
  redisContext *c;
  if (acquire(r, &c) != 0)
    return;
  release(r, c, resync_if_dirty(r, c, pod));
}

/* ---- writes --------------------------------------------------------------*/

/* What every chunk of one write batch shares. */
typedef struct {
  const pod_names *pn;
  kvidx_tier tier;
  int is_add;
  char ttl[16];
} write_args;

/* Fills a[] with one script call over keys[0..m): numkeys, the stats key,
 * the pod's set for the tier, the block keys, then the field, the TTL (add
 * only) and the pod's fields in the other tiers. Returns argc. */
static int fill_write_call(const char **a, const write_args *w, char *nkeys,
                           const char *const *keys, size_t m) {
  snprintf(nkeys, 16, "%zu", m + 2);
  int argc = 0;
  a[argc++] = NULL; /* EVALSHA, sha: filled by the runner */
  a[argc++] = NULL;
  a[argc++] = nkeys;
  a[argc++] = STATS_KEY;
  a[argc++] = w->pn->pod_set[w->tier];
  for (size_t i = 0; i < m; i++)
    a[argc++] = keys[i];
  a[argc++] = w->pn->field[w->tier];
  if (w->is_add)
    a[argc++] = w->ttl;
  for (kvidx_tier t = 0; t < KVIDX_TIER_COUNT; t++)
    if (t != w->tier)
      a[argc++] = w->pn->field[t];
  return argc;
}

/* Adds up the {a, b, c} replies of a write batch and frees them. */
static int sum_replies(const kvidx__redis_script *script, redisReply **replies,
                       size_t n, long long sums[3]) {
  int rc = 0;
  for (size_t k = 0; k < n; k++) {
    long long v[3] = {0, 0, 0};
    if (int_reply(replies[k], v) != 0) {
      log_reply_error(script->name, replies[k]);
      rc = KVIDX_EIO;
    }
    for (size_t i = 0; i < 3; i++)
      sums[i] += v[i];
    freeReplyObject(replies[k]);
  }
  return rc;
}

/* Runs a write script (add or remove) for keys[0..n) of (model, pod, tier)
 * in chunks of KVIDX__REDIS_WRITE_CHUNK keys, all pipelined (one round
 * trip). sums[0..2] receive the summed replies. */
static int run_write(redis_index *r, redisContext *c,
                     const kvidx__redis_script *script, uint32_t model,
                     uint32_t pod, kvidx_tier tier, const uint64_t *keys,
                     size_t n, long long sums[3]) {
  pod_names pn;
  key_strings ks;
  int rc = pod_names_make(&pn, r, pod);
  if (rc != 0)
    return rc;
  rc = key_strings_make(&ks, "", kvidx__intern_name(&r->base.models, model),
                        keys, n);
  if (rc != 0) {
    free(pn.buf);
    return rc;
  }
  write_args w = {&pn, tier, script == &kvidx__redis_script_add, {0}};
  snprintf(w.ttl, sizeof w.ttl, "%d", r->key_ttl_s > 0 ? r->key_ttl_s : 0);
  size_t chunks = (n + KVIDX__REDIS_WRITE_CHUNK - 1) / KVIDX__REDIS_WRITE_CHUNK;
  size_t per_call = 2 + 3 + KVIDX__REDIS_WRITE_CHUNK + 2 + KVIDX_TIER_COUNT;
  const char **argv = malloc(chunks * per_call * sizeof *argv);
  kvidx__redis_call *calls = malloc(chunks * sizeof *calls);
  redisReply **replies = malloc(chunks * sizeof *replies);
  char nkeys[2][16]; /* only the last chunk's count differs */
  rc = KVIDX_ENOMEM;
  if (argv != NULL && calls != NULL && replies != NULL) {
    for (size_t k = 0; k < chunks; k++) {
      size_t first = k * KVIDX__REDIS_WRITE_CHUNK;
      size_t m = n - first < KVIDX__REDIS_WRITE_CHUNK
                     ? n - first
                     : KVIDX__REDIS_WRITE_CHUNK;
      const char **a = argv + k * per_call;
      int argc =
          fill_write_call(a, &w, nkeys[k + 1 == chunks], ks.ptr + first, m);
      calls[k] = (kvidx__redis_call){argc, a, NULL};
    }
    rc = kvidx__redis_eval_many(c, script, calls, chunks, replies);
    if (rc == 0)
      rc = sum_replies(script, replies, chunks, sums);
  }
  free(argv);
  free(calls);
  free(replies);
  key_strings_free(&ks);
  free(pn.buf);
  return rc;
}

static int redis_write(kvidx_index *idx, const kvidx__redis_script *script,
                       uint32_t model, uint32_t pod, kvidx_tier tier,
                       const uint64_t *keys, size_t n) {
  redis_index *r = (redis_index *)idx;
  redisContext *c;
  int rc = acquire(r, &c);
  if (rc != 0) {
    write_failed(r, pod, rc, script->name);
    resync_now_if_up(r, pod);
    return rc;
  }
  long long sums[3] = {0, 0, 0};
  rc = resync_if_dirty(r, c, pod);
  if (rc == 0)
    rc = run_write(r, c, script, model, pod, tier, keys, n, sums);
  if (rc != 0 && rc != KVIDX_ENOMEM)
    write_failed(r, pod, rc, script->name);
  release(r, c, rc);
  if (rc != 0) {
    if (rc != KVIDX_ENOMEM)
      resync_now_if_up(r, pod);
    return rc;
  }
  if (sums[2] > 0) {
    /* Someone else's non-hash data under a block key name: leave it alone,
     * say so, and go on (the other keys of the batch were written). */
    atomic_fetch_add(&r->errors, 1);
    kvidx_log_warn("redis",
                   "%s skipped block keys holding another type "
                   "model=\"%s\" skipped=%lld",
                   script->name, kvidx__intern_name(&r->base.models, model),
                   sums[2]);
  }
  if (script == &kvidx__redis_script_add) {
    atomic_fetch_add(&r->adds, n - (uint64_t)sums[2]);
  } else {
    atomic_fetch_add(&r->removes, (uint64_t)sums[0]);
    atomic_fetch_add(&r->remove_misses, (uint64_t)sums[1]);
  }
  return 0;
}

static int redis_add(kvidx_index *idx, uint32_t model, uint32_t pod,
                     kvidx_tier tier, const uint64_t *keys, size_t n) {
  return redis_write(idx, &kvidx__redis_script_add, model, pod, tier, keys, n);
}

static int redis_remove(kvidx_index *idx, uint32_t model, uint32_t pod,
                        kvidx_tier tier, const uint64_t *keys, size_t n) {
  return redis_write(idx, &kvidx__redis_script_remove, model, pod, tier, keys,
                     n);
}

static int redis_clear_pod(kvidx_index *idx, uint32_t pod) {
  redis_index *r = (redis_index *)idx;
  redisContext *c;
  int rc = acquire(r, &c);
  if (rc != 0) {
    write_failed(r, pod, rc, "clear");
    resync_now_if_up(r, pod);
    return rc;
  }
  rc = clear_pod_on(r, c, pod);
  if (rc != 0)
    write_failed(r, pod, rc, "clear");
  release(r, c, rc);
  if (rc != 0) {
    resync_now_if_up(r, pod);
    return rc;
  }
  unmark_dirty(r, pod);
  atomic_fetch_add(&r->clears, 1);
  return 0;
}

/* ---- engine keys ---------------------------------------------------------*/

/* Sends cmds[0..n) (argv arrays of argc[i] strings) pipelined, in rounds of
 * KVIDX__REDIS_ENGINE_CHUNK, and checks that no reply is an error. */
static int run_simple_pipeline(redisContext *c, size_t n, const int *argc,
                               const char *const *const *argv) {
  int rc = 0;
  for (size_t first = 0; first < n && rc != KVIDX_EUNAVAIL;
       first += KVIDX__REDIS_ENGINE_CHUNK) {
    size_t m = n - first < KVIDX__REDIS_ENGINE_CHUNK
                   ? n - first
                   : KVIDX__REDIS_ENGINE_CHUNK;
    for (size_t i = 0; i < m; i++)
      if (redisAppendCommandArgv(c, argc[first + i],
                                 (const char **)argv[first + i],
                                 NULL) != REDIS_OK)
        return KVIDX_EUNAVAIL;
    for (size_t i = 0; i < m; i++) {
      void *rep = NULL;
      if (redisGetReply(c, &rep) != REDIS_OK || rep == NULL)
        return KVIDX_EUNAVAIL;
      if (((redisReply *)rep)->type == REDIS_REPLY_ERROR) {
        log_reply_error("engine keys", rep);
        rc = KVIDX_EIO;
      }
      freeReplyObject(rep);
    }
  }
  return rc;
}

static int redis_map_engine_keys(kvidx_index *idx, uint32_t model,
                                 const uint64_t *engine_keys,
                                 const uint64_t *request_keys, size_t n) {
  redis_index *r = (redis_index *)idx;
  const char *mname = kvidx__intern_name(&r->base.models, model);
  key_strings ek, rk;
  int rc = key_strings_make(&ek, ENGINE_PREFIX, mname, engine_keys, n);
  if (rc != 0)
    return rc;
  rc = key_strings_make(&rk, "", mname, request_keys, n);
  if (rc != 0) {
    key_strings_free(&ek);
    return rc;
  }
  char ttl[16];
  snprintf(ttl, sizeof ttl, "%d", r->key_ttl_s);
  const char **args = malloc(n * 5 * sizeof *args);
  const char *const **argv = malloc(n * sizeof *argv);
  int *argc = malloc(n * sizeof *argc);
  if (args == NULL || argv == NULL || argc == NULL) {
    rc = KVIDX_ENOMEM;
    goto out;
  }
  for (size_t i = 0; i < n; i++) {
    const char **a = args + 5 * i;
    a[0] = "SET";
    a[1] = ek.ptr[i];
    a[2] = rk.ptr[i];
    a[3] = "EX";
    a[4] = ttl;
    argv[i] = a;
    argc[i] = r->key_ttl_s > 0 ? 5 : 3;
  }
  redisContext *c;
  rc = acquire(r, &c);
  if (rc == 0) {
    rc = run_simple_pipeline(c, n, argc, argv);
    release(r, c, rc);
  }
  if (rc != 0 && rc != KVIDX_ENOMEM)
    atomic_fetch_add(&r->errors, 1);
out:
  free(args);
  free(argv);
  free(argc);
  key_strings_free(&ek);
  key_strings_free(&rk);
  return rc;
}

/* Parses "<model>@<decimal>" written by kvidx or llm-d. */
static int parse_request_key(const char *s, size_t len, uint64_t *out) {
  const char *at = NULL;
  for (size_t i = 0; i < len; i++)
    if (s[i] == '@')
      at = s + i;
  if (at == NULL || at + 1 == s + len)
    return KVIDX_EPROTO;
  uint64_t v = 0;
  for (const char *p = at + 1; p < s + len; p++) {
    if (*p < '0' || *p > '9')
      return KVIDX_EPROTO;
    uint64_t d = (uint64_t)(*p - '0');
    if (v > (UINT64_MAX - d) / 10)
      return KVIDX_EPROTO;
    v = v * 10 + d;
  }
  *out = v;
  return 0;
}

static int redis_resolve_engine_key(kvidx_index *idx, uint32_t model,
                                    uint64_t engine_key,
                                    uint64_t *request_key) {
  redis_index *r = (redis_index *)idx;
  const char *mname = kvidx__intern_name(&r->base.models, model);
  key_strings ek;
  int rc = key_strings_make(&ek, ENGINE_PREFIX, mname, &engine_key, 1);
  if (rc != 0)
    return rc;
  redisContext *c;
  rc = acquire(r, &c);
  if (rc == 0) {
    const char *argv[] = {"GET", ek.ptr[0]};
    redisReply *rep = redisCommandArgv(c, 2, argv, NULL);
    if (rep == NULL)
      rc = KVIDX_EUNAVAIL;
    else if (rep->type == REDIS_REPLY_NIL)
      rc = KVIDX_ENOTFOUND;
    else if (rep->type != REDIS_REPLY_STRING)
      rc = KVIDX_EIO;
    else
      rc = parse_request_key(rep->str, rep->len, request_key);
    if (rep != NULL)
      freeReplyObject(rep);
    release(r, c, rc);
  }
  if (rc == KVIDX_EUNAVAIL || rc == KVIDX_EIO)
    atomic_fetch_add(&r->errors, 1);
  key_strings_free(&ek);
  return rc;
}

static int redis_unmap_engine_keys(kvidx_index *idx, uint32_t model,
                                   const uint64_t *engine_keys, size_t n) {
  redis_index *r = (redis_index *)idx;
  key_strings ek;
  int rc = key_strings_make(&ek, ENGINE_PREFIX,
                            kvidx__intern_name(&r->base.models, model),
                            engine_keys, n);
  if (rc != 0)
    return rc;
  /* One DEL per chunk of keys. */
  size_t rounds =
      (n + KVIDX__REDIS_ENGINE_CHUNK - 1) / KVIDX__REDIS_ENGINE_CHUNK;
  const char **args = malloc((n + rounds) * sizeof *args);
  const char *const **argv = malloc(rounds * sizeof *argv);
  int *argc = malloc(rounds * sizeof *argc);
  if (args == NULL || argv == NULL || argc == NULL) {
    rc = KVIDX_ENOMEM;
    goto out;
  }
  const char **a = args;
  for (size_t k = 0; k < rounds; k++) {
    size_t first = k * KVIDX__REDIS_ENGINE_CHUNK;
    size_t m = n - first < KVIDX__REDIS_ENGINE_CHUNK
                   ? n - first
                   : KVIDX__REDIS_ENGINE_CHUNK;
    argv[k] = a;
    argc[k] = (int)m + 1;
    *a++ = "DEL";
    for (size_t i = 0; i < m; i++)
      *a++ = ek.ptr[first + i];
  }
  redisContext *c;
  rc = acquire(r, &c);
  if (rc == 0) {
    rc = run_simple_pipeline(c, rounds, argc, argv);
    release(r, c, rc);
  }
  if (rc != 0 && rc != KVIDX_ENOMEM)
    atomic_fetch_add(&r->errors, 1);
out:
  free(args);
  free(argv);
  free(argc);
  key_strings_free(&ek);
  return rc;
}

/* ---- prefix lookup -------------------------------------------------------*/

/* Per-lookup scratch: merges the tier fields of one pod into one holder. */
typedef struct {
  kvidx_holder *holders;
  size_t holders_cap;
  uint32_t *seen_at; /* per pod id: 1 + key index it was last seen at */
  uint32_t *slot;    /* per pod id: its holder index for that key */
  size_t pods_cap;
} lookup_scratch;

static int scratch_pods(lookup_scratch *s, uint32_t pod) {
  if (pod < s->pods_cap)
    return 0;
  size_t cap = s->pods_cap ? s->pods_cap : 64;
  while (cap <= pod)
    cap *= 2;
  uint32_t *a = realloc(s->seen_at, cap * sizeof *a);
  if (a == NULL)
    return KVIDX_ENOMEM;
  s->seen_at = a;
  uint32_t *b = realloc(s->slot, cap * sizeof *b);
  if (b == NULL)
    return KVIDX_ENOMEM;
  s->slot = b;
  memset(s->seen_at + s->pods_cap, 0, (cap - s->pods_cap) * sizeof *a);
  s->pods_cap = cap;
  return 0;
}

/* Turns one key's fields into holders (merging tiers per pod). Fields that
 * are not "<pod>@<known tier>" are skipped: another writer's junk must not
 * fail a lookup. Returns the holder count or a negative error. */
static int parse_holders(redis_index *r, lookup_scratch *s, size_t key_index,
                         const redisReply *fields) {
  if (fields->elements > s->holders_cap) {
    kvidx_holder *h = realloc(s->holders, fields->elements * sizeof *h);
    if (h == NULL)
      return KVIDX_ENOMEM;
    s->holders = h;
    s->holders_cap = fields->elements;
  }
  size_t k = 0;
  char name[KVIDX__INTERN_MAX_NAME + 1];
  for (size_t j = 0; j < fields->elements; j++) {
    const redisReply *f = fields->element[j];
    if (f->type != REDIS_REPLY_STRING)
      continue;
    /* The last '@': tier names never hold one, a pod name might. */
    const char *at = memrchr(f->str, '@', f->len);
    if (at == NULL || (size_t)(at - f->str) > KVIDX__INTERN_MAX_NAME)
      continue;
    kvidx_tier tier;
    size_t tlen = f->len - (size_t)(at - f->str) - 1;
    if (tlen == 0 || kvidx_tier_parse(at + 1, tlen, &tier) != 0)
      continue;
    size_t plen = (size_t)(at - f->str);
    memcpy(name, f->str, plen);
    name[plen] = '\0';
    uint32_t pod;
    if (plen == 0 || kvidx__intern_get(&r->base.pods, name, &pod) != 0 ||
        scratch_pods(s, pod) != 0)
      continue;
    if (s->seen_at[pod] != (uint32_t)key_index + 1) {
      s->seen_at[pod] = (uint32_t)key_index + 1;
      s->slot[pod] = (uint32_t)k;
      s->holders[k++] = (kvidx_holder){pod, 0};
    }
    s->holders[s->slot[pod]].tiers |= (uint8_t)(1u << tier);
  }
  return (int)k;
}

/* Builds the lookup call: numkeys, block keys, then the eligible fields
 * "<pod>@<tier>" (every tier of every eligible pod), so the script filters
 * with one table probe per field instead of cutting strings. The field text
 * lives in the same allocation as argv (one free). */
static int lookup_call(redis_index *r, key_strings *ks, const char *mname,
                       const uint64_t *keys, size_t n, const uint32_t *pods,
                       size_t n_pods, char *nkeys, const char ***argv_out) {
  int rc = key_strings_make(ks, "", mname, keys, n);
  if (rc != 0)
    return rc;
  size_t text = 0;
  for (size_t i = 0; i < n_pods; i++)
    text +=
        KVIDX_TIER_COUNT * (strlen(kvidx__intern_name(&r->base.pods, pods[i])) +
                            TIER_NAME_MAX + 2);
  size_t slots = 3 + n + KVIDX_TIER_COUNT * n_pods;
  const char **argv = malloc(slots * sizeof *argv + text);
  if (argv == NULL) {
    key_strings_free(ks);
    return KVIDX_ENOMEM;
  }
  char *o = (char *)(argv + slots);
  size_t argc = 0;
  argv[argc++] = NULL;
  argv[argc++] = NULL;
  argv[argc++] = nkeys;
  snprintf(nkeys, 24, "%zu", n);
  for (size_t i = 0; i < n; i++)
    argv[argc++] = ks->ptr[i];
  for (size_t i = 0; i < n_pods; i++) {
    const char *name = kvidx__intern_name(&r->base.pods, pods[i]);
    for (kvidx_tier t = 0; t < KVIDX_TIER_COUNT; t++) {
      argv[argc++] = o;
      o += (size_t)sprintf(o, "%s@%s", name, kvidx_tier_name(t)) + 1;
    }
  }
  *argv_out = argv;
  return (int)argc;
}

static int redis_lookup(kvidx_index *idx, uint32_t model, const uint64_t *keys,
                        size_t n, const uint32_t *pods, size_t n_pods,
                        kvidx_lookup_fn cb, void *userdata) {
  redis_index *r = (redis_index *)idx;
  key_strings ks;
  const char **argv = NULL;
  char nkeys[24];
  int argc = lookup_call(r, &ks, kvidx__intern_name(&r->base.models, model),
                         keys, n, pods, n_pods, nkeys, &argv);
  if (argc < 0)
    return argc;
  redisContext *c;
  redisReply *rep = NULL;
  int rc = acquire(r, &c);
  if (rc == 0) {
    kvidx__redis_call call = {argc, argv, NULL};
    rc = kvidx__redis_eval_many(c, &kvidx__redis_script_lookup, &call, 1, &rep);
    release(r, c, rc);
  }
  free(argv);
  key_strings_free(&ks);
  if (rc == 0 && (rep->type != REDIS_REPLY_ARRAY || rep->elements > n)) {
    log_reply_error("lookup", rep);
    rc = KVIDX_EIO;
  }
  if (rc != 0) {
    atomic_fetch_add(&r->errors, 1);
    if (rep != NULL)
      freeReplyObject(rep);
    return rc;
  }
  lookup_scratch s = {0};
  size_t i = 0;
  int k = 0;
  for (; i < rep->elements; i++) {
    const redisReply *fields = rep->element[i];
    /* Integer 0: the same fields as the previous key, whose holders are
     * still in s.holders[0..k). */
    if (fields->type == REDIS_REPLY_ARRAY)
      k = parse_holders(r, &s, i, fields);
    else if (fields->type != REDIS_REPLY_INTEGER || i == 0)
      k = 0;
    if (k < 0)
      rc = k;
    if (k <= 0 || cb(userdata, i, s.holders, (size_t)k) != 0) {
      i += (k > 0); /* a key handed to cb counts as reported */
      break;
    }
  }
  free(s.holders);
  free(s.seen_at);
  free(s.slot);
  freeReplyObject(rep);
  return rc != 0 ? rc : (int)i;
}

/* ---- readiness and statistics -------------------------------------------*/

static int redis_ready(kvidx_index *idx) {
  redis_index *r = (redis_index *)idx;
  redisContext *c;
  int rc = acquire(r, &c);
  if (rc != 0)
    return KVIDX_EUNAVAIL;
  redisReply *rep = redisCommand(c, "PING");
  rc = rep != NULL && rep->type == REDIS_REPLY_STATUS ? 0 : KVIDX_EUNAVAIL;
  if (rep != NULL)
    freeReplyObject(rep);
  release(r, c, rc);
  return rc;
}

static uint64_t reply_u64(const redisReply *rep) {
  if (rep->type == REDIS_REPLY_INTEGER)
    return rep->integer > 0 ? (uint64_t)rep->integer : 0;
  if (rep->type == REDIS_REPLY_STRING) {
    long long v = strtoll(rep->str, NULL, 10);
    return v > 0 ? (uint64_t)v : 0;
  }
  return 0;
}

static int redis_get_stats(kvidx_index *idx, kvidx_index_stats *out) {
  redis_index *r = (redis_index *)idx;
  out->adds = atomic_load(&r->adds);
  out->removes = atomic_load(&r->removes);
  out->remove_misses = atomic_load(&r->remove_misses);
  out->clears = atomic_load(&r->clears);
  out->errors = atomic_load(&r->errors);
  redisContext *c;
  int rc = acquire(r, &c);
  if (rc != 0)
    return KVIDX_EUNAVAIL;
  redisReply *rep = redisCommand(c, "HMGET " STATS_KEY " keys entries");
  if (rep == NULL)
    rc = KVIDX_EUNAVAIL;
  else if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2)
    rc = KVIDX_EIO;
  else {
    out->keys = reply_u64(rep->element[0]);
    out->entries = reply_u64(rep->element[1]);
  }
  if (rep != NULL)
    freeReplyObject(rep);
  release(r, c, rc);
  return rc;
}

static int redis_pod_blocks(kvidx_index *idx, uint32_t pod,
                            uint64_t blocks[KVIDX_TIER_COUNT]) {
  redis_index *r = (redis_index *)idx;
  pod_names pn;
  int rc = pod_names_make(&pn, r, pod);
  if (rc != 0)
    return rc;
  redisContext *c;
  rc = acquire(r, &c);
  if (rc == 0) {
    for (kvidx_tier t = 0; t < KVIDX_TIER_COUNT && rc == 0; t++) {
      const char *argv[] = {"SCARD", pn.pod_set[t]};
      if (redisAppendCommandArgv(c, 2, argv, NULL) != REDIS_OK)
        rc = KVIDX_EUNAVAIL;
    }
    for (kvidx_tier t = 0; t < KVIDX_TIER_COUNT && rc == 0; t++) {
      void *rep = NULL;
      if (redisGetReply(c, &rep) != REDIS_OK || rep == NULL) {
        rc = KVIDX_EUNAVAIL;
        break;
      }
      blocks[t] = reply_u64(rep);
      freeReplyObject(rep);
    }
    release(r, c, rc);
  }
  free(pn.buf);
  return rc;
}

/* ---- life cycle ----------------------------------------------------------*/

static void redis_free(kvidx_index *idx) {
  redis_index *r = (redis_index *)idx;
  kvidx__redis_pool_free(r->pool);
  pthread_mutex_destroy(&r->dirty_mu);
  free(r->dirty);
  kvidx__index_base_destroy(&r->base);
  free(r);
}

void kvidx_redis_opts_init(kvidx_redis_opts *opts) {
  if (opts == NULL)
    return;
  memset(opts, 0, sizeof *opts);
  opts->url = DEFAULT_URL;
  opts->connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
  opts->command_timeout_ms = DEFAULT_COMMAND_TIMEOUT_MS;
  opts->key_ttl_s = 0;
}

int kvidx_index_new_redis(const kvidx_redis_opts *opts, kvidx_index **out) {
  if (out == NULL)
    return KVIDX_EINVAL;
  *out = NULL;
  kvidx_redis_opts o;
  kvidx_redis_opts_init(&o);
  if (opts != NULL)
    o = *opts;
  if (o.url == NULL || o.key_ttl_s < 0)
    return KVIDX_EINVAL;
  int rc = kvidx__redis_scripts_init();
  if (rc != 0)
    return rc;
  redis_index *r = calloc(1, sizeof *r);
  if (r == NULL)
    return KVIDX_ENOMEM;
  rc = kvidx__redis_url_parse(o.url, &r->url);
  if (rc != 0) {
    kvidx_log_error("redis", "bad redis URL (expected redis://[user:pass@]"
                             "host:port[/db], valkey://... or "
                             "unix:///path.sock)");
    free(r);
    return rc;
  }
  rc = kvidx__index_base_init(&r->base, &redis_ops);
  if (rc != 0) {
    free(r);
    return rc;
  }
  r->key_ttl_s = o.key_ttl_s;
  pthread_mutex_init(&r->dirty_mu, NULL);
  kvidx__redis_pool_opts po = {r->url, o.connect_timeout_ms,
                               o.command_timeout_ms, resync_hook, r};
  rc = kvidx__redis_pool_new(&po, &r->pool);
  if (rc != 0) {
    pthread_mutex_destroy(&r->dirty_mu);
    kvidx__index_base_destroy(&r->base);
    free(r);
    return rc;
  }
  *out = &r->base;
  return 0;
}

int kvidx__redis_index_status(kvidx_index *idx, kvidx__redis_status *out) {
  if (idx == NULL || out == NULL || idx->ops != &redis_ops)
    return KVIDX_EINVAL;
  redis_index *r = (redis_index *)idx;
  out->dirty_pods = atomic_load(&r->n_dirty);
  out->resyncs = atomic_load(&r->resyncs);
  out->reconnects = kvidx__redis_pool_reconnects(r->pool);
  out->up = kvidx__redis_pool_is_up(r->pool);
  return 0;
}

static const kvidx__index_ops redis_ops = {
    .name = "redis",
    .ready = redis_ready,
    .add = redis_add,
    .remove = redis_remove,
    .clear_pod = redis_clear_pod,
    .map_engine_keys = redis_map_engine_keys,
    .resolve_engine_key = redis_resolve_engine_key,
    .unmap_engine_keys = redis_unmap_engine_keys,
    .lookup = redis_lookup,
    .get_stats = redis_get_stats,
    .pod_blocks = redis_pod_blocks,
    .free = redis_free,
};

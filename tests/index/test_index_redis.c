/*
 * test_index_redis.c: the Redis/Valkey index backend against a real
 * redis-server (started per case on a free loopback port).
 *
 * Beyond the shared index contract, these cases pin what is specific to
 * Redis: llm-d's key layout (checked with an independent hiredis
 * connection), interoperation with llm-d-written entries, two replicas on one
 * server, copy counts under concurrency of replicas, TTLs, authentication and
 * databases, unix sockets, NOSCRIPT recovery, and the failure behaviour
 * (down at start, killed mid-run, restarted; writes lost while down mark the
 * pod for resync and the backend clears it when Redis answers again).
 */
#include <hiredis/hiredis.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "contract.h"
#include "index/redis.h"
#include "redis_server.h"
#include "test.h"

/* ---- helpers
 * ---------------------------------------------------------------*/

static kvidx_index *open_index(const char *url, int ttl) {
  kvidx_redis_opts o;
  kvidx_redis_opts_init(&o);
  o.url = url;
  o.key_ttl_s = ttl;
  o.connect_timeout_ms = 500;
  o.command_timeout_ms = 1000;
  kvidx_index *idx = NULL;
  CHECK_OK(kvidx_index_new_redis(&o, &idx));
  CHECK(idx != NULL);
  return idx;
}

static redisContext *raw(const kvidx_test_redis *r) {
  redisContext *c = redisConnect("127.0.0.1", r->port);
  if (c == NULL || c->err)
    FAILF("raw connect to port %d: %s", r->port, c ? c->errstr : "oom");
  return c;
}

static long long raw_int(redisContext *c, const char *fmt, const char *arg1,
                         const char *arg2) {
  redisReply *rep = redisCommand(c, fmt, arg1, arg2);
  if (rep == NULL)
    FAILF("raw command %s: %s", fmt, c->errstr);
  long long v = -1;
  if (rep->type == REDIS_REPLY_INTEGER)
    v = rep->integer;
  else if (rep->type == REDIS_REPLY_STRING)
    v = atoll(rep->str);
  else if (rep->type == REDIS_REPLY_NIL)
    v = -2;
  freeReplyObject(rep);
  return v;
}

static void raw_ok(redisContext *c, const char *fmt, const char *a,
                   const char *b, const char *d) {
  redisReply *rep = redisCommand(c, fmt, a, b, d);
  if (rep == NULL || rep->type == REDIS_REPLY_ERROR)
    FAILF("raw command %s failed: %s", fmt, rep ? rep->str : c->errstr);
  freeReplyObject(rep);
}

/* Collects what a lookup reports: holders per key, names resolved. */
typedef struct {
  kvidx_index *idx;
  size_t n;
  char text[4096]; /* "i:pod=tiers,pod=tiers;..." sorted per key */
  size_t len;
} collected;

static int cmp_holder(const void *a, const void *b) {
  const kvidx_holder *x = a, *y = b;
  return x->pod < y->pod ? -1 : x->pod > y->pod;
}

static int collect(void *ud, size_t i, const kvidx_holder *h, size_t n) {
  collected *c = ud;
  kvidx_holder sorted[64];
  CHECK(n <= 64);
  memcpy(sorted, h, n * sizeof *h);
  qsort(sorted, n, sizeof *sorted, cmp_holder);
  c->len +=
      (size_t)snprintf(c->text + c->len, sizeof c->text - c->len, "%zu:", i);
  for (size_t j = 0; j < n; j++)
    c->len += (size_t)snprintf(
        c->text + c->len, sizeof c->text - c->len, "%s%s=%u", j ? "," : "",
        kvidx_index_pod_name(c->idx, sorted[j].pod), sorted[j].tiers);
  c->len += (size_t)snprintf(c->text + c->len, sizeof c->text - c->len, ";");
  c->n++;
  return 0;
}

/* Runs a lookup and returns its text form; *count receives the result. */
static const char *lookup_text(kvidx_index *idx, uint32_t model,
                               const uint64_t *keys, size_t n,
                               const uint32_t *pods, size_t n_pods,
                               int *count) {
  static collected c;
  memset(&c, 0, sizeof c);
  c.idx = idx;
  *count = kvidx_index_lookup(idx, model, keys, n, pods, n_pods, collect, &c);
  return c.text;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Polls kvidx_index_ready() until it returns 0 (bounded: 10 s). */
static void wait_ready(kvidx_index *idx) {
  for (int i = 0; i < 1000; i++) {
    if (kvidx_index_ready(idx) == 0)
      return;
    sleep_ms(10);
  }
  FAILF("index did not become ready within 10 s");
}

static uint32_t pod_id(kvidx_index *idx, const char *name) {
  uint32_t id;
  CHECK_OK(kvidx_index_pod_id(idx, name, &id));
  return id;
}

static uint32_t model_id(kvidx_index *idx, const char *name) {
  uint32_t id;
  CHECK_OK(kvidx_index_model_id(idx, name, &id));
  return id;
}

/* ---- the shared index contract
 * ---------------------------------------------*/

/* One server per case (each case is its own process); every index the
 * contract asks for starts from an empty database. */
static kvidx_index *make(void) {
  static kvidx_test_redis srv;
  if (srv.pid == 0)
    kvidx_test_redis_start(&srv, NULL);
  redisContext *c = raw(&srv);
  raw_ok(c, "FLUSHALL", NULL, NULL, NULL);
  redisFree(c);
  kvidx_index *idx = open_index(srv.url, 0);
  CHECK_EQ_STR(kvidx_index_backend(idx), "redis");
  CHECK_OK(kvidx_index_ready(idx));
  return idx;
}

#define WIRE_(name)                                                            \
  TEST(name) {                                                                 \
    contract_##name(make);                                                     \
  }
CONTRACT_CASES(WIRE_)
#undef WIRE_

/* ---- layout and llm-d compatibility ------------------------------------*/

TEST(llmd_key_layout) {
  kvidx_test_redis srv;
  kvidx_test_redis_start(&srv, NULL);
  kvidx_index *idx = open_index(srv.url, 0);
  CHECK_OK(kvidx_index_ready(idx));
  CHECK_EQ_STR(kvidx_index_backend(idx), "redis");
  uint32_t m = model_id(idx, "Qwen/Qwen3-8B");
  uint32_t a = pod_id(idx, "10.0.0.1:8000");
  uint32_t odd = pod_id(idx, "user@host"); /* '@' in a pod name */
  uint64_t keys[] = {1, 18446744073709551615ull};
  CHECK_OK(kvidx_index_add(idx, m, a, KVIDX_TIER_GPU, keys, 2));
  CHECK_OK(kvidx_index_add(idx, m, a, KVIDX_TIER_GPU, keys, 1));
  CHECK_OK(kvidx_index_add(idx, m, a, KVIDX_TIER_CPU, keys, 1));

  redisContext *c = raw(&srv);
  /* llm-d: key "<model>@<decimal hash>", field "<pod>@<tier>". kvidx keeps
   * the copy count as the field value. */
  CHECK_EQ_INT(raw_int(c, "HLEN %s", "Qwen/Qwen3-8B@1", NULL), 2);
  CHECK_EQ_INT(raw_int(c, "HGET %s %s", "Qwen/Qwen3-8B@1", "10.0.0.1:8000@gpu"),
               2);
  CHECK_EQ_INT(raw_int(c, "HGET %s %s", "Qwen/Qwen3-8B@1", "10.0.0.1:8000@cpu"),
               1);
  CHECK_EQ_INT(raw_int(c, "HGET %s %s", "Qwen/Qwen3-8B@18446744073709551615",
                       "10.0.0.1:8000@gpu"),
               1);
  CHECK_EQ_INT(raw_int(c, "SCARD %s", "kvidx:pod:10.0.0.1:8000@gpu", NULL), 2);
  CHECK_EQ_INT(raw_int(c, "SCARD %s", "kvidx:pod:10.0.0.1:8000@cpu", NULL), 1);
  CHECK_OK(kvidx_index_add(idx, m, odd, KVIDX_TIER_CPU, keys, 1));
  int n;
  const char *t = lookup_text(idx, m, keys, 1, &odd, 1, &n);
  CHECK_EQ_STR(t, "0:user@host=2;");
  CHECK_OK(kvidx_index_clear_pod(idx, odd));

  /* Removing the last copy of the last field deletes the key. */
  CHECK_OK(kvidx_index_remove(idx, m, a, KVIDX_TIER_GPU, keys, 2));
  CHECK_EQ_INT(
      raw_int(c, "EXISTS %s", "Qwen/Qwen3-8B@18446744073709551615", NULL), 0);
  CHECK_EQ_INT(raw_int(c, "HGET %s %s", "Qwen/Qwen3-8B@1", "10.0.0.1:8000@gpu"),
               1);
  CHECK_OK(kvidx_index_remove(idx, m, a, KVIDX_TIER_GPU, keys, 1));
  CHECK_OK(kvidx_index_remove(idx, m, a, KVIDX_TIER_CPU, keys, 1));
  CHECK_EQ_INT(raw_int(c, "EXISTS %s", "Qwen/Qwen3-8B@1", NULL), 0);
  CHECK_EQ_INT(raw_int(c, "EXISTS %s", "kvidx:pod:10.0.0.1:8000@gpu", NULL), 0);

  /* Engine map: engine:<model>@<engine hash> -> "<model>@<request hash>". */
  uint64_t ek = 77, rk = 9000000000000000001ull, got = 0;
  CHECK_OK(kvidx_index_map_engine_keys(idx, m, &ek, &rk, 1));
  redisReply *rep = redisCommand(c, "GET %s", "engine:Qwen/Qwen3-8B@77");
  CHECK(rep != NULL && rep->type == REDIS_REPLY_STRING);
  CHECK_EQ_STR(rep->str, "Qwen/Qwen3-8B@9000000000000000001");
  freeReplyObject(rep);
  CHECK_OK(kvidx_index_resolve_engine_key(idx, m, ek, &got));
  CHECK_EQ_U64(got, rk);
  CHECK_OK(kvidx_index_unmap_engine_keys(idx, m, &ek, 1));
  CHECK_EQ_INT(kvidx_index_resolve_engine_key(idx, m, ek, &got),
               KVIDX_ENOTFOUND);
  redisFree(c);
  kvidx_index_free(idx);
  kvidx_test_redis_stop(&srv);
}

TEST(reads_llmd_written_entries) {
  kvidx_test_redis srv;
  kvidx_test_redis_start(&srv, NULL);
  redisContext *c = raw(&srv);
  /* What llm-d's RedisIndex.Add writes for two blocks of two pods. */
  raw_ok(c, "HSET %s %s %s", "m@100", "pod-a@gpu", "");
  raw_ok(c, "HSET %s %s %s", "m@100", "pod-b@cpu", "");
  raw_ok(c, "HSET %s %s %s", "m@200", "pod-a@gpu", "");
  raw_ok(c, "SET %s %s", "engine:m@5", "m@100", NULL);
  /* Junk another writer might leave: ignored, not fatal. */
  raw_ok(c, "HSET %s %s %s", "m@200", "no-at-sign", "");
  raw_ok(c, "HSET %s %s %s", "m@200", "pod-c@floppy", "");

  kvidx_index *idx = open_index(srv.url, 0);
  uint32_t m = model_id(idx, "m");
  uint64_t keys[] = {100, 200, 300};
  int n;
  const char *t = lookup_text(idx, m, keys, 3, NULL, 0, &n);
  CHECK_EQ_INT(n, 2);
  CHECK_EQ_STR(t, "0:pod-a=1,pod-b=2;1:pod-a=1;");
  uint64_t rk;
  CHECK_OK(kvidx_index_resolve_engine_key(idx, m, 5, &rk));
  CHECK_EQ_U64(rk, 100);

  /* llm-d's "" value counts as one copy: one remove deletes the field. */
  uint32_t a = pod_id(idx, "pod-a");
  CHECK_OK(kvidx_index_remove(idx, m, a, KVIDX_TIER_GPU, keys, 1));
  CHECK_EQ_INT(raw_int(c, "HEXISTS %s %s", "m@100", "pod-a@gpu"), 0);
  t = lookup_text(idx, m, keys, 3, NULL, 0, &n);
  CHECK_EQ_INT(n, 2);
  CHECK_EQ_STR(t, "0:pod-b=2;1:pod-a=1;");
  redisFree(c);
  kvidx_index_free(idx);
  kvidx_test_redis_stop(&srv);
}

/* Non-hash data under a block key name (someone else's) is skipped, counted
 * and left alone; it does not fail the batch or mark the pod for resync. */
TEST(foreign_key_types) {
  kvidx_test_redis srv;
  kvidx_test_redis_start(&srv, NULL);
  redisContext *c = raw(&srv);
  raw_ok(c, "SET %s %s", "m@9", "not-a-hash", NULL);
  kvidx_index *idx = open_index(srv.url, 0);
  uint32_t m = model_id(idx, "m"), a = pod_id(idx, "a");
  uint64_t keys[] = {8, 9, 10};
  CHECK_OK(kvidx_index_add(idx, m, a, KVIDX_TIER_GPU, keys, 3));
  CHECK_EQ_INT(raw_int(c, "HGET %s %s", "m@8", "a@gpu"), 1);
  CHECK_EQ_INT(raw_int(c, "HGET %s %s", "m@10", "a@gpu"), 1);
  int n;
  const char *t = lookup_text(idx, m, keys, 3, NULL, 0, &n);
  CHECK_EQ_INT(n, 1);
  CHECK_EQ_STR(t, "0:a=1;");
  CHECK_OK(kvidx_index_remove(idx, m, a, KVIDX_TIER_GPU, keys, 3));
  redisReply *rep = redisCommand(c, "GET m@9");
  CHECK(rep != NULL && rep->type == REDIS_REPLY_STRING);
  CHECK_EQ_STR(rep->str, "not-a-hash");
  freeReplyObject(rep);
  kvidx_index_stats st;
  CHECK_OK(kvidx_index_get_stats(idx, &st));
  CHECK_EQ_U64(st.errors, 2);
  CHECK_EQ_U64(st.adds, 2);
  CHECK_EQ_U64(st.removes, 2);
  CHECK_EQ_U64(st.keys, 0);
  kvidx__redis_status rs;
  CHECK_OK(kvidx__redis_index_status(idx, &rs));
  CHECK_EQ_U64(rs.dirty_pods, 0);
  redisFree(c);
  kvidx_index_free(idx);
  kvidx_test_redis_stop(&srv);
}

/* ---- lookup semantics ----------------------------------------------------*/

TEST(prefix_lookup_stops_and_filters) {
  kvidx_test_redis srv;
  kvidx_test_redis_start(&srv, NULL);
  kvidx_index *idx = open_index(srv.url, 0);
  uint32_t m = model_id(idx, "m"), m2 = model_id(idx, "other");
  uint32_t a = pod_id(idx, "a"), b = pod_id(idx, "b"), c = pod_id(idx, "c");
  uint64_t keys[] = {11, 12, 13, 14, 15};
  CHECK_OK(kvidx_index_add(idx, m, a, KVIDX_TIER_GPU, keys, 5));
  CHECK_OK(kvidx_index_add(idx, m, b, KVIDX_TIER_CPU, keys, 2));
  CHECK_OK(kvidx_index_add(idx, m, c, KVIDX_TIER_GPU, keys + 3, 2));
  CHECK_OK(kvidx_index_add(idx, m2, c, KVIDX_TIER_GPU, keys, 5));
  int n;
  const char *t = lookup_text(idx, m, keys, 5, NULL, 0, &n);
  CHECK_EQ_INT(n, 5);
  CHECK_EQ_STR(t, "0:a=1,b=2;1:a=1,b=2;2:a=1;3:a=1,c=1;4:a=1,c=1;");
  uint32_t only_b[] = {b};
  t = lookup_text(idx, m, keys, 5, only_b, 1, &n);
  CHECK_EQ_INT(n, 2);
  CHECK_EQ_STR(t, "0:b=2;1:b=2;");
  /* c holds keys 3..4 but not 0: stops at once. */
  uint32_t only_c[] = {c};
  t = lookup_text(idx, m, keys, 5, only_c, 1, &n);
  CHECK_EQ_INT(n, 0);
  CHECK_EQ_STR(t, "");
  /* A gap stops the chain even when later keys are held. */
  CHECK_OK(kvidx_index_remove(idx, m, a, KVIDX_TIER_GPU, keys + 2, 1));
  t = lookup_text(idx, m, keys, 5, NULL, 0, &n);
  CHECK_EQ_INT(n, 2);
  /* Model isolation. */
  t = lookup_text(idx, m2, keys, 5, NULL, 0, &n);
  CHECK_EQ_INT(n, 5);
  CHECK_EQ_STR(t, "0:c=1;1:c=1;2:c=1;3:c=1;4:c=1;");
  kvidx_index_free(idx);
  kvidx_test_redis_stop(&srv);
}

static int stop_after_two(void *ud, size_t i, const kvidx_holder *h, size_t n) {
  (void)h;
  (void)n;
  *(size_t *)ud = i;
  return i == 1;
}

TEST(callback_stop_and_big_batches) {
  kvidx_test_redis srv;
  kvidx_test_redis_start(&srv, NULL);
  kvidx_index *idx = open_index(srv.url, 0);
  uint32_t m = model_id(idx, "m"), a = pod_id(idx, "a");
  /* More keys than one Lua call takes: several pipelined chunks. */
  enum { N = 3 * KVIDX__REDIS_WRITE_CHUNK + 17 };
  static uint64_t keys[N];
  for (size_t i = 0; i < N; i++)
    keys[i] = 0x9e3779b97f4a7c15ull * (i + 1);
  CHECK_OK(kvidx_index_add(idx, m, a, KVIDX_TIER_GPU, keys, N));
  size_t last = 99;
  CHECK_EQ_INT(
      kvidx_index_lookup(idx, m, keys, N, NULL, 0, stop_after_two, &last), 2);
  CHECK_EQ_U64(last, 1);
  int n;
  lookup_text(idx, m, keys, 40, NULL, 0, &n);
  CHECK_EQ_INT(n, 40);
  kvidx_index_stats st;
  CHECK_OK(kvidx_index_get_stats(idx, &st));
  CHECK_EQ_U64(st.keys, N);
  CHECK_EQ_U64(st.entries, N);
  CHECK_EQ_U64(st.adds, N);
  uint64_t blocks[KVIDX_TIER_COUNT];
  CHECK_OK(kvidx_index_pod_blocks(idx, a, blocks));
  CHECK_EQ_U64(blocks[KVIDX_TIER_GPU], N);
  CHECK_EQ_U64(blocks[KVIDX_TIER_CPU], 0);
  /* Clearing a pod bigger than one clear step. */
  CHECK_OK(kvidx_index_clear_pod(idx, a));
  CHECK_OK(kvidx_index_get_stats(idx, &st));
  CHECK_EQ_U64(st.keys, 0);
  CHECK_EQ_U64(st.entries, 0);
  CHECK_EQ_U64(st.clears, 1);
  redisContext *c = raw(&srv);
  CHECK_EQ_INT(raw_int(c, "DBSIZE", NULL, NULL), 1); /* kvidx:stats only */
  redisFree(c);
  kvidx_index_free(idx);
  kvidx_test_redis_stop(&srv);
}

/* ---- replicas sharing one server
 * -------------------------------------------*/

TEST(two_replicas_share_state) {
  kvidx_test_redis srv;
  kvidx_test_redis_start(&srv, NULL);
  kvidx_index *ra = open_index(srv.url, 0);
  kvidx_index *rb = open_index(srv.url, 0);
  /* Different interning orders: ids differ, names must not. */
  pod_id(rb, "zzz");
  uint32_t ma = model_id(ra, "m"), mb = model_id(rb, "m");
  uint32_t pa = pod_id(ra, "pod-1"), pa2 = pod_id(ra, "pod-2");
  uint64_t keys[] = {1, 2, 3};
  CHECK_OK(kvidx_index_add(ra, ma, pa, KVIDX_TIER_GPU, keys, 3));
  CHECK_OK(kvidx_index_add(ra, ma, pa2, KVIDX_TIER_CPU, keys, 1));
  int n;
  const char *t = lookup_text(rb, mb, keys, 3, NULL, 0, &n);
  CHECK_EQ_INT(n, 3);
  CHECK_EQ_STR(t, "0:pod-1=1,pod-2=2;1:pod-1=1;2:pod-1=1;");
  /* Copies added by two replicas: both removes are needed. */
  uint32_t pb = pod_id(rb, "pod-1");
  CHECK_OK(kvidx_index_add(rb, mb, pb, KVIDX_TIER_GPU, keys, 1));
  CHECK_OK(kvidx_index_remove(ra, ma, pa, KVIDX_TIER_GPU, keys, 1));
  t = lookup_text(rb, mb, keys, 1, NULL, 0, &n);
  CHECK_EQ_STR(t, "0:pod-1=1,pod-2=2;");
  CHECK_OK(kvidx_index_remove(rb, mb, pb, KVIDX_TIER_GPU, keys, 1));
  t = lookup_text(ra, ma, keys, 1, NULL, 0, &n);
  CHECK_EQ_STR(t, "0:pod-2=2;");
  /* Clear by one replica is seen by the other. */
  CHECK_OK(kvidx_index_clear_pod(rb, pb));
  t = lookup_text(ra, ma, keys + 1, 2, NULL, 0, &n);
  CHECK_EQ_INT(n, 0);
  kvidx_index_free(ra);
  kvidx_index_free(rb);
  kvidx_test_redis_stop(&srv);
}

/* A replica that never heard of the pods (nothing interned) scores them on
 * its very first request: the lookup interns them, the scorer makes room. */
TEST(score_on_fresh_replica) {
  kvidx_test_redis srv;
  kvidx_test_redis_start(&srv, NULL);
  kvidx_index *ra = open_index(srv.url, 0);
  uint32_t ma = model_id(ra, "m");
  uint64_t keys[] = {1, 2, 3, 4};
  CHECK_OK(kvidx_index_add(ra, ma, pod_id(ra, "p1"), KVIDX_TIER_GPU, keys, 4));
  CHECK_OK(kvidx_index_add(ra, ma, pod_id(ra, "p2"), KVIDX_TIER_CPU, keys, 2));
  kvidx_index *rb = open_index(srv.url, 0);
  uint32_t mb = model_id(rb, "m");
  kvidx_pod_score out[4];
  size_t n_out = 0;
  CHECK_OK(kvidx_score_prefix(rb, NULL, mb, keys, 4, NULL, 0, out, 4, &n_out));
  CHECK_EQ_U64(n_out, 2);
  CHECK_EQ_STR(kvidx_index_pod_name(rb, out[0].pod), "p1");
  CHECK_EQ_DBL(out[0].score, 4.0, 1e-9);
  CHECK_EQ_STR(kvidx_index_pod_name(rb, out[1].pod), "p2");
  CHECK_EQ_DBL(out[1].score, 1.6, 1e-9);
  kvidx_index_free(ra);
  kvidx_index_free(rb);
  kvidx_test_redis_stop(&srv);
}

/* ---- options: TTL, auth, db, unix socket
 * ------------------------------------*/

TEST(key_ttl) {
  kvidx_test_redis srv;
  kvidx_test_redis_start(&srv, NULL);
  kvidx_index *idx = open_index(srv.url, 300);
  uint32_t m = model_id(idx, "m"), a = pod_id(idx, "a");
  uint64_t k = 5, r = 6;
  CHECK_OK(kvidx_index_add(idx, m, a, KVIDX_TIER_GPU, &k, 1));
  CHECK_OK(kvidx_index_map_engine_keys(idx, m, &k, &r, 1));
  redisContext *c = raw(&srv);
  long long ttl = raw_int(c, "TTL %s", "m@5", NULL);
  CHECK(ttl > 0 && ttl <= 300);
  ttl = raw_int(c, "TTL %s", "engine:m@5", NULL);
  CHECK(ttl > 0 && ttl <= 300);
  ttl = raw_int(c, "TTL %s", "kvidx:pod:a@gpu", NULL);
  CHECK(ttl > 0 && ttl <= 300);
  kvidx_index_free(idx);
  /* Without a TTL the keys persist (TTL -1). */
  idx = open_index(srv.url, 0);
  m = model_id(idx, "m");
  a = pod_id(idx, "a");
  k = 7;
  CHECK_OK(kvidx_index_add(idx, m, a, KVIDX_TIER_GPU, &k, 1));
  CHECK_EQ_INT(raw_int(c, "TTL %s", "m@7", NULL), -1);
  redisFree(c);
  kvidx_index_free(idx);
  kvidx_test_redis_stop(&srv);
}

static void roundtrip_on(const char *url) {
  kvidx_index *idx = open_index(url, 0);
  CHECK_OK(kvidx_index_ready(idx));
  uint32_t m = model_id(idx, "m"), a = pod_id(idx, "a");
  uint64_t k = 42;
  CHECK_OK(kvidx_index_add(idx, m, a, KVIDX_TIER_GPU, &k, 1));
  int n;
  const char *t = lookup_text(idx, m, &k, 1, NULL, 0, &n);
  CHECK_EQ_STR(t, "0:a=1;");
  kvidx_index_free(idx);
}

TEST(auth_password_and_acl_user) {
  /* redis-server takes the ACL rule as separate words after --user. */
  static const char *const args[] = {
      "--requirepass", "s3cret", "--user", "alice", "on",
      ">wonder",       "~*",     "&*",     "+@all", NULL};
  kvidx_test_redis_opts so = {args, 0, 0};
  kvidx_test_redis srv;
  kvidx_test_redis_start(&srv, &so);
  char url[256];
  snprintf(url, sizeof url, "redis://:s3cret@127.0.0.1:%d", srv.port);
  roundtrip_on(url);
  snprintf(url, sizeof url, "redis://alice:wonder@127.0.0.1:%d/2", srv.port);
  roundtrip_on(url);
  snprintf(url, sizeof url, "valkey://alice:wonder@127.0.0.1:%d/2", srv.port);
  roundtrip_on(url);
  /* The db in the URL is honoured: key m@42 lives in db 2 and db 0. */
  redisContext *c = raw(&srv);
  raw_ok(c, "AUTH %s %s", "alice", "wonder", NULL);
  raw_ok(c, "SELECT 2", NULL, NULL, NULL);
  CHECK_EQ_INT(raw_int(c, "EXISTS %s", "m@42", NULL), 1);
  raw_ok(c, "FLUSHDB", NULL, NULL, NULL);
  raw_ok(c, "SELECT 0", NULL, NULL, NULL);
  CHECK_EQ_INT(raw_int(c, "EXISTS %s", "m@42", NULL), 1);
  redisFree(c);
  /* Wrong password: created (Redis may be fixed later) but not ready. */
  snprintf(url, sizeof url, "redis://:wrong@127.0.0.1:%d", srv.port);
  kvidx_index *idx = open_index(url, 0);
  CHECK_EQ_INT(kvidx_index_ready(idx), KVIDX_EUNAVAIL);
  kvidx_index_free(idx);
  kvidx_test_redis_stop(&srv);
}

TEST(unix_socket) {
  kvidx_test_redis_opts so = {NULL, 1, 0};
  kvidx_test_redis srv;
  kvidx_test_redis_start(&srv, &so);
  roundtrip_on(srv.unix_url);
  kvidx_test_redis_stop(&srv);
}

TEST(bad_urls) {
  kvidx_redis_opts o;
  kvidx_redis_opts_init(&o);
  kvidx_index *idx = NULL;
  o.url = "redis://host:notaport";
  CHECK_EQ_INT(kvidx_index_new_redis(&o, &idx), KVIDX_EINVAL);
  CHECK(idx == NULL);
  o.url = "rediss://host:1";
  CHECK_EQ_INT(kvidx_index_new_redis(&o, &idx), KVIDX_EUNSUPPORTED);
  o.url = NULL;
  CHECK_EQ_INT(kvidx_index_new_redis(&o, &idx), KVIDX_EINVAL);
  CHECK_EQ_INT(kvidx_index_new_redis(NULL, NULL), KVIDX_EINVAL);
}

TEST(script_flush_recovers) {
  kvidx_test_redis srv;
  kvidx_test_redis_start(&srv, NULL);
  kvidx_index *idx = open_index(srv.url, 0);
  uint32_t m = model_id(idx, "m"), a = pod_id(idx, "a");
  uint64_t keys[] = {1, 2};
  CHECK_OK(kvidx_index_add(idx, m, a, KVIDX_TIER_GPU, keys, 2));
  redisContext *c = raw(&srv);
  raw_ok(c, "SCRIPT FLUSH", NULL, NULL, NULL);
  /* EVALSHA gets NOSCRIPT, the call is resent with EVAL. */
  CHECK_OK(kvidx_index_add(idx, m, a, KVIDX_TIER_GPU, keys, 2));
  raw_ok(c, "SCRIPT FLUSH", NULL, NULL, NULL);
  int n;
  lookup_text(idx, m, keys, 2, NULL, 0, &n);
  CHECK_EQ_INT(n, 2);
  CHECK_EQ_INT(raw_int(c, "HGET %s %s", "m@2", "a@gpu"), 2);
  redisFree(c);
  kvidx_index_stats st;
  CHECK_OK(kvidx_index_get_stats(idx, &st));
  CHECK_EQ_U64(st.errors, 0);
  kvidx_index_free(idx);
  kvidx_test_redis_stop(&srv);
}

/* ---- failure behaviour
 * -----------------------------------------------------*/

TEST(down_at_start_then_up) {
  int port = kvidx_test_redis_free_port();
  char url[64];
  snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
  kvidx_index *idx = open_index(url, 0);
  CHECK_EQ_INT(kvidx_index_ready(idx), KVIDX_EUNAVAIL);
  uint32_t m = model_id(idx, "m"), a = pod_id(idx, "a");
  uint64_t k = 1;
  CHECK_EQ_INT(
      kvidx_index_lookup(idx, m, &k, 1, NULL, 0, collect, &(collected){0}),
      KVIDX_EUNAVAIL);
  CHECK_EQ_INT(kvidx_index_add(idx, m, a, KVIDX_TIER_GPU, &k, 1),
               KVIDX_EUNAVAIL);
  kvidx_index_stats st;
  CHECK_EQ_INT(kvidx_index_get_stats(idx, &st), KVIDX_EUNAVAIL);
  CHECK(st.errors >= 1);
  kvidx__redis_status rs;
  CHECK_OK(kvidx__redis_index_status(idx, &rs));
  CHECK_EQ_INT(rs.up, 0);
  CHECK_EQ_U64(rs.dirty_pods, 1);

  /* Redis appears on that port: the index recovers by itself. */
  kvidx_test_redis_opts so = {NULL, 0, port};
  kvidx_test_redis srv;
  kvidx_test_redis_start(&srv, &so);
  wait_ready(idx);
  CHECK_OK(kvidx_index_add(idx, m, a, KVIDX_TIER_GPU, &k, 1));
  int n;
  const char *t = lookup_text(idx, m, &k, 1, NULL, 0, &n);
  CHECK_EQ_STR(t, "0:a=1;");
  CHECK_OK(kvidx__redis_index_status(idx, &rs));
  CHECK(rs.reconnects >= 1);
  kvidx_index_free(idx);
  kvidx_test_redis_stop(&srv);
}

TEST(killed_mid_run_then_restarted) {
  kvidx_test_redis srv;
  kvidx_test_redis_start(&srv, NULL);
  kvidx_index *idx = open_index(srv.url, 0);
  uint32_t m = model_id(idx, "m"), a = pod_id(idx, "a"), b = pod_id(idx, "b");
  uint64_t keys[] = {1, 2, 3};
  CHECK_OK(kvidx_index_add(idx, m, a, KVIDX_TIER_GPU, keys, 3));
  CHECK_OK(kvidx_index_add(idx, m, b, KVIDX_TIER_GPU, keys, 3));

  kvidx_test_redis_kill(&srv);
  int n;
  CHECK_EQ_INT(
      kvidx_index_lookup(idx, m, keys, 3, NULL, 0, collect, &(collected){0}),
      KVIDX_EUNAVAIL);
  CHECK_EQ_INT(kvidx_index_add(idx, m, a, KVIDX_TIER_CPU, keys, 1),
               KVIDX_EUNAVAIL);
  CHECK_EQ_INT(kvidx_index_ready(idx), KVIDX_EUNAVAIL);
  kvidx_index_stats st;
  kvidx_index_get_stats(idx, &st);
  CHECK(st.errors >= 2);
  kvidx__redis_status rs;
  CHECK_OK(kvidx__redis_index_status(idx, &rs));
  CHECK_EQ_U64(rs.dirty_pods, 1);

  kvidx_test_redis_restart(&srv); /* empty: persistence is off */
  wait_ready(idx);
  CHECK_OK(kvidx__redis_index_status(idx, &rs));
  CHECK_EQ_U64(rs.dirty_pods, 0);
  CHECK(rs.resyncs >= 1);
  /* New events after the restart are indexed again. */
  CHECK_OK(kvidx_index_add(idx, m, b, KVIDX_TIER_GPU, keys, 2));
  const char *t = lookup_text(idx, m, keys, 3, NULL, 0, &n);
  CHECK_EQ_INT(n, 2);
  CHECK_EQ_STR(t, "0:b=1;1:b=1;");
  kvidx_index_free(idx);
  kvidx_test_redis_stop(&srv);
}

/* A hung server (SIGSTOP: the kernel still accepts connections, nothing
 * answers) costs at most the command timeout, then calls fail fast; when it
 * resumes the index recovers and the pod whose write was lost is cleared. */
TEST(hung_server_times_out) {
  kvidx_test_redis srv;
  kvidx_test_redis_start(&srv, NULL);
  kvidx_index *idx = open_index(srv.url, 0);
  uint32_t m = model_id(idx, "m"), a = pod_id(idx, "a"), b = pod_id(idx, "b");
  uint64_t keys[] = {1, 2};
  CHECK_OK(kvidx_index_add(idx, m, a, KVIDX_TIER_GPU, keys, 2));
  CHECK_OK(kvidx_index_add(idx, m, b, KVIDX_TIER_GPU, keys, 2));
  CHECK(kill(srv.pid, SIGSTOP) == 0);
  CHECK_EQ_INT(kvidx_index_remove(idx, m, a, KVIDX_TIER_GPU, keys, 1),
               KVIDX_EUNAVAIL);
  CHECK_EQ_INT(
      kvidx_index_lookup(idx, m, keys, 2, NULL, 0, collect, &(collected){0}),
      KVIDX_EUNAVAIL);
  CHECK_EQ_INT(kvidx_index_ready(idx), KVIDX_EUNAVAIL);
  CHECK(kill(srv.pid, SIGCONT) == 0);
  wait_ready(idx);
  kvidx__redis_status rs;
  for (int i = 0; i < 500; i++) {
    CHECK_OK(kvidx__redis_index_status(idx, &rs));
    if (rs.dirty_pods == 0)
      break;
    sleep_ms(10);
  }
  CHECK_EQ_U64(rs.dirty_pods, 0);
  int n;
  const char *t = lookup_text(idx, m, keys, 2, NULL, 0, &n);
  /* The stalled remove may or may not have run once the server resumed
   * (its reply was lost); either way pod a was cleared, b is intact. */
  CHECK_EQ_STR(t, "0:b=1;1:b=1;");
  kvidx_index_free(idx);
  kvidx_test_redis_stop(&srv);
}

/* Connections cut while Redis keeps its data: a lost remove would leave a
 * phantom block; the resync clears the pod instead. */
TEST(lost_write_resyncs_pod) {
  kvidx_test_redis srv;
  kvidx_test_redis_start(&srv, NULL);
  kvidx_index *idx = open_index(srv.url, 0);
  uint32_t m = model_id(idx, "m"), a = pod_id(idx, "a"), b = pod_id(idx, "b");
  uint64_t keys[] = {1, 2, 3};
  CHECK_OK(kvidx_index_add(idx, m, a, KVIDX_TIER_GPU, keys, 3));
  CHECK_OK(kvidx_index_add(idx, m, b, KVIDX_TIER_GPU, keys, 3));
  redisContext *c = raw(&srv);
  /* Kill every other client connection (the index's pool). */
  raw_ok(c, "CLIENT KILL TYPE normal SKIPME yes", NULL, NULL, NULL);
  int rc = kvidx_index_remove(idx, m, a, KVIDX_TIER_GPU, keys + 2, 1);
  CHECK_EQ_INT(rc, KVIDX_EUNAVAIL);
  wait_ready(idx);
  kvidx__redis_status rs;
  for (int i = 0; i < 500; i++) {
    CHECK_OK(kvidx__redis_index_status(idx, &rs));
    if (rs.dirty_pods == 0)
      break;
    sleep_ms(10);
  }
  CHECK_EQ_U64(rs.dirty_pods, 0);
  CHECK_EQ_U64(rs.resyncs, 1);
  int n;
  const char *t = lookup_text(idx, m, keys, 3, NULL, 0, &n);
  CHECK_EQ_INT(n, 3);
  CHECK_EQ_STR(t, "0:b=1;1:b=1;2:b=1;");
  CHECK_EQ_INT(raw_int(c, "EXISTS %s", "kvidx:pod:a@gpu", NULL), 0);
  redisFree(c);
  kvidx_index_free(idx);
  kvidx_test_redis_stop(&srv);
}

#define CASE_(name) TEST_CASE(name),
TEST_MAIN(CONTRACT_CASES(CASE_) TEST_CASE(llmd_key_layout),
          TEST_CASE(reads_llmd_written_entries), TEST_CASE(foreign_key_types),
          TEST_CASE(prefix_lookup_stops_and_filters),
          TEST_CASE(callback_stop_and_big_batches),
          TEST_CASE(two_replicas_share_state),
          TEST_CASE(score_on_fresh_replica), TEST_CASE(key_ttl),
          TEST_CASE(auth_password_and_acl_user), TEST_CASE(unix_socket),
          TEST_CASE(bad_urls), TEST_CASE(script_flush_recovers),
          TEST_CASE(down_at_start_then_up),
          TEST_CASE(killed_mid_run_then_restarted),
          TEST_CASE(hung_server_times_out), TEST_CASE(lost_write_resyncs_pod))

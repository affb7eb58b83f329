/*
 * test_index_redis_concurrent.c: the Redis backend under concurrent writers
 * and readers (run under TSan by `make check`), including a redis-server
 * that is killed and restarted while they run.
 */
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "index/redis.h"
#include "redis_server.h"
#include "test.h"

#define WRITERS 4
#define READERS 2
#define KEYS_PER_WRITER 256
#define ROUNDS 20

typedef struct {
  kvidx_index *idx;
  uint32_t model;
  uint32_t pod;
  int tolerate_errors; /* churn: writes may fail while Redis is down */
  int failures;
} writer_arg;

static atomic_int stop_readers;

static void shared_keys(uint64_t *keys, size_t n) {
  for (size_t i = 0; i < n; i++)
    keys[i] = 1000 + i; /* every writer uses the same keys: same hashes */
}

/* Each round adds every key twice and removes it once, so a writer that
 * never failed ends holding ROUNDS copies of each key. */
static void *writer_main(void *p) {
  writer_arg *w = p;
  uint64_t keys[KEYS_PER_WRITER];
  shared_keys(keys, KEYS_PER_WRITER);
  for (int r = 0; r < ROUNDS; r++) {
    int rc = kvidx_index_add(w->idx, w->model, w->pod, KVIDX_TIER_GPU, keys,
                             KEYS_PER_WRITER);
    rc = rc ? rc
            : kvidx_index_add(w->idx, w->model, w->pod, KVIDX_TIER_GPU, keys,
                              KEYS_PER_WRITER);
    rc = rc ? rc
            : kvidx_index_remove(w->idx, w->model, w->pod, KVIDX_TIER_GPU, keys,
                                 KEYS_PER_WRITER);
    if (rc != 0) {
      w->failures++;
      if (!w->tolerate_errors)
        FAILF("writer: %s", kvidx_err_name(rc));
    }
  }
  return NULL;
}

static int count_cb(void *ud, size_t i, const kvidx_holder *h, size_t n) {
  (void)i;
  (void)h;
  *(size_t *)ud += n;
  return 0;
}

typedef struct {
  kvidx_index *idx;
  uint32_t model;
  long lookups, errors;
} reader_arg;

static void *reader_main(void *p) {
  reader_arg *r = p;
  uint64_t keys[KEYS_PER_WRITER];
  shared_keys(keys, KEYS_PER_WRITER);
  while (!atomic_load(&stop_readers)) {
    size_t holders = 0;
    int rc = kvidx_index_lookup(r->idx, r->model, keys, KEYS_PER_WRITER, NULL,
                                0, count_cb, &holders);
    if (rc < 0) {
      if (rc != KVIDX_EUNAVAIL && rc != KVIDX_ETIMEDOUT)
        FAILF("reader: unexpected %s", kvidx_err_name(rc));
      r->errors++;
    }
    r->lookups++;
  }
  return NULL;
}

static kvidx_index *open_index(const char *url) {
  kvidx_redis_opts o;
  kvidx_redis_opts_init(&o);
  o.url = url;
  o.connect_timeout_ms = 500;
  o.command_timeout_ms = 2000; /* TSan slows the client down */
  kvidx_index *idx = NULL;
  CHECK_OK(kvidx_index_new_redis(&o, &idx));
  return idx;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Two replicas, WRITERS writers spread over them, READERS readers. */
static void run_threads(kvidx_index *replicas[2], writer_arg *w, reader_arg *rd,
                        int tolerate, void (*during)(void *),
                        void *during_arg) {
  pthread_t wt[WRITERS], rt[READERS];
  atomic_store(&stop_readers, 0);
  for (int i = 0; i < READERS; i++) {
    kvidx_index *idx = replicas[i % 2];
    uint32_t m;
    CHECK_OK(kvidx_index_model_id(idx, "m", &m));
    rd[i] = (reader_arg){idx, m, 0, 0};
    CHECK(pthread_create(&rt[i], NULL, reader_main, &rd[i]) == 0);
  }
  for (int i = 0; i < WRITERS; i++) {
    kvidx_index *idx = replicas[i % 2];
    char name[16];
    snprintf(name, sizeof name, "pod-%d", i);
    w[i] = (writer_arg){idx, 0, 0, tolerate, 0};
    CHECK_OK(kvidx_index_model_id(idx, "m", &w[i].model));
    CHECK_OK(kvidx_index_pod_id(idx, name, &w[i].pod));
    CHECK(pthread_create(&wt[i], NULL, writer_main, &w[i]) == 0);
  }
  if (during != NULL)
    during(during_arg);
  for (int i = 0; i < WRITERS; i++)
    pthread_join(wt[i], NULL);
  atomic_store(&stop_readers, 1);
  for (int i = 0; i < READERS; i++)
    pthread_join(rt[i], NULL);
}

TEST(concurrent_writers_and_readers) {
  kvidx_test_redis srv;
  kvidx_test_redis_start(&srv, NULL);
  kvidx_index *replicas[2] = {open_index(srv.url), open_index(srv.url)};
  writer_arg w[WRITERS];
  reader_arg rd[READERS];
  run_threads(replicas, w, rd, 0, NULL, NULL);
  /* Every (key, pod) holds exactly ROUNDS copies: atomic read-modify-write
   * across threads and replicas lost none. */
  redisContext *c = redisConnect("127.0.0.1", srv.port);
  CHECK(c != NULL && c->err == 0);
  for (int i = 0; i < WRITERS; i++) {
    redisReply *rep =
        redisCommand(c, "HGET m@%d pod-%d@gpu", 1000 + KEYS_PER_WRITER - 1, i);
    CHECK(rep != NULL && rep->type == REDIS_REPLY_STRING);
    CHECK_EQ_INT(atoi(rep->str), ROUNDS);
    freeReplyObject(rep);
  }
  redisFree(c);
  kvidx_index_stats st;
  CHECK_OK(kvidx_index_get_stats(replicas[0], &st));
  CHECK_EQ_U64(st.keys, KEYS_PER_WRITER);
  CHECK_EQ_U64(st.entries, (uint64_t)KEYS_PER_WRITER * WRITERS);
  for (int i = 0; i < READERS; i++)
    CHECK_EQ_INT(rd[i].errors, 0);
  kvidx_index_free(replicas[0]);
  kvidx_index_free(replicas[1]);
  kvidx_test_redis_stop(&srv);
}

static void kill_and_restart(void *arg) {
  kvidx_test_redis *srv = arg;
  sleep_ms(50);
  kvidx_test_redis_kill(srv);
  sleep_ms(100);
  kvidx_test_redis_restart(srv);
}

static void wait_clean(kvidx_index *idx) {
  kvidx__redis_status rs;
  for (int i = 0; i < 1000; i++) {
    CHECK_OK(kvidx__redis_index_status(idx, &rs));
    if (rs.up && rs.dirty_pods == 0 && kvidx_index_ready(idx) == 0)
      return;
    sleep_ms(10);
  }
  FAILF("index not recovered: up=%d dirty=%llu", rs.up,
        (unsigned long long)rs.dirty_pods);
}

TEST(concurrent_with_redis_restart) {
  kvidx_test_redis srv;
  kvidx_test_redis_start(&srv, NULL);
  kvidx_index *replicas[2] = {open_index(srv.url), open_index(srv.url)};
  writer_arg w[WRITERS];
  reader_arg rd[READERS];
  run_threads(replicas, w, rd, 1, kill_and_restart, &srv);
  wait_clean(replicas[0]);
  wait_clean(replicas[1]);
  /* After recovery every operation works again and both replicas agree. */
  uint32_t m, p;
  CHECK_OK(kvidx_index_model_id(replicas[0], "m", &m));
  CHECK_OK(kvidx_index_pod_id(replicas[0], "pod-0", &p));
  CHECK_OK(kvidx_index_clear_pod(replicas[0], p));
  uint64_t keys[KEYS_PER_WRITER];
  shared_keys(keys, KEYS_PER_WRITER);
  CHECK_OK(kvidx_index_add(replicas[0], m, p, KVIDX_TIER_GPU, keys, 8));
  uint32_t m1, only;
  CHECK_OK(kvidx_index_model_id(replicas[1], "m", &m1));
  CHECK_OK(kvidx_index_pod_id(replicas[1], "pod-0", &only));
  size_t holders = 0;
  CHECK_EQ_INT(kvidx_index_lookup(replicas[1], m1, keys, KEYS_PER_WRITER, &only,
                                  1, count_cb, &holders),
               8);
  CHECK_EQ_U64(holders, 8);
  kvidx_index_free(replicas[0]);
  kvidx_index_free(replicas[1]);
  kvidx_test_redis_stop(&srv);
}

TEST_MAIN(TEST_CASE(concurrent_writers_and_readers),
          TEST_CASE(concurrent_with_redis_restart))

/*
 * bench_redis.c: the Redis index backend beside the in-memory one, on the
 * same workload, against a local redis-server the bench starts itself.
 *
 *  - ingestion: blocks/s added in event-sized batches (64 blocks per call),
 *    from one writer thread and from four (one per event shard);
 *  - lookup+score latency (p50/p99) of a 512-block prompt over 64 pods that
 *    hold prefixes of various lengths (the scorer walks the whole chain
 *    because the longest holder has all 512 blocks), all pods eligible, and
 *    restricted to 16 candidate pods; and the common case, a 512-block
 *    prompt cached whole on 4 pods.
 *
 * Redis numbers are dominated by the server (one Lua call per operation on
 * the loopback); the machine is shared, so treat them as orders of magnitude.
 * Environment: KVIDX_REDIS_SERVER overrides the redis-server binary.
 */
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kvidx.h"

#define PROMPT_BLOCKS 512
#define PODS 64
#define CANDIDATES 16
#define FEW_HOLDERS 4
#define LOOKUPS_REDIS 2000
#define LOOKUPS_MEMORY 20000
#define INGEST_BATCH 64
#define INGEST_BLOCKS_REDIS 200000
#define INGEST_BLOCKS_MEMORY 2000000
#define INGEST_THREADS 4

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- redis-server --------------------------------------------------------*/

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
      getsockname(fd, (struct sockaddr *)&a, &len) != 0)
    return -1;
  close(fd);
  return ntohs(a.sin_port);
}

static pid_t start_redis(int port) {
  const char *bin = getenv("KVIDX_REDIS_SERVER");
  if (bin == NULL)
    bin = "/usr/bin/redis-server";
  if (access(bin, X_OK) != 0)
    return -1;
  char p[16];
  snprintf(p, sizeof p, "%d", port);
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (freopen("/dev/null", "w", stdout) == NULL)
      _exit(127);
    execl(bin, bin, "--port", p, "--bind", "127.0.0.1", "--save", "",
          "--appendonly", "no", "--daemonize", "no", "--dir", "/tmp",
          "--loglevel", "warning", (char *)NULL);
    _exit(127);
  }
  for (int i = 0; i < 500; i++) {
    struct timeval tv = {0, 200000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (c != NULL && c->err == 0) {
      redisReply *r = redisCommand(c, "PING");
      int ok = r != NULL && r->type == REDIS_REPLY_STATUS;
      if (r)
        freeReplyObject(r);
      redisFree(c);
      if (ok)
        return pid;
    } else if (c != NULL) {
      redisFree(c);
    }
    usleep(10000);
  }
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  return -1;
}

/* ---- workload
 * --------------------------------------------------------------*/

typedef struct {
  double ingest_1; /* blocks/s, one writer */
  double ingest_n; /* blocks/s, INGEST_THREADS writers */
  double all_p50_us, all_p99_us;
  double cand_p50_us, cand_p99_us;
  double few_p50_us, few_p99_us;
  int ok;
} result;

typedef struct {
  kvidx_index *idx;
  uint32_t model, pod;
  uint64_t first;
  size_t blocks;
  int rc;
} ingest_job;

static void *ingest_main(void *arg) {
  ingest_job *j = arg;
  uint64_t keys[INGEST_BATCH];
  for (size_t done = 0; done < j->blocks && j->rc == 0; done += INGEST_BATCH) {
    for (size_t i = 0; i < INGEST_BATCH; i++)
      keys[i] = (j->first + done + i) * 0x9e3779b97f4a7c15ull;
    j->rc = kvidx_index_add(j->idx, j->model, j->pod, KVIDX_TIER_GPU, keys,
                            INGEST_BATCH);
  }
  return NULL;
}

static double ingest(kvidx_index *idx, uint32_t model, size_t threads,
                     size_t blocks, uint64_t base) {
  ingest_job jobs[INGEST_THREADS];
  pthread_t th[INGEST_THREADS];
  char name[32];
  double t0 = now_s();
  for (size_t t = 0; t < threads; t++) {
    snprintf(name, sizeof name, "ingest-pod-%zu", t);
    uint32_t pod;
    kvidx_index_pod_id(idx, name, &pod);
    jobs[t] =
        (ingest_job){idx, model, pod, base + t * blocks, blocks / threads, 0};
    pthread_create(&th[t], NULL, ingest_main, &jobs[t]);
  }
  for (size_t t = 0; t < threads; t++)
    pthread_join(th[t], NULL);
  double dt = now_s() - t0;
  for (size_t t = 0; t < threads; t++)
    if (jobs[t].rc != 0) {
      fprintf(stderr, "ingest failed: %s\n", kvidx_strerror(jobs[t].rc));
      return -1;
    }
  return (double)(blocks / threads * threads) / dt;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static int score_latency(kvidx_index *idx, uint32_t model,
                         const uint64_t *chain, const uint32_t *pods,
                         size_t n_pods, size_t iters, double *p50,
                         double *p99) {
  double *lat = malloc(iters * sizeof *lat);
  kvidx_tier_weights w;
  kvidx_tier_weights_init(&w);
  kvidx_pod_score out[PODS];
  int rc = 0;
  for (size_t i = 0; i < iters && rc == 0; i++) {
    size_t n_out = 0;
    double t0 = now_s();
    rc = kvidx_score_prefix(idx, &w, model, chain, PROMPT_BLOCKS, pods, n_pods,
                            out, PODS, &n_out);
    lat[i] = (now_s() - t0) * 1e6;
    if (rc == 0 && n_out == 0)
      rc = KVIDX_ENOTFOUND; /* the workload always has holders */
  }
  if (rc == 0) {
    qsort(lat, iters, sizeof *lat, cmp_double);
    *p50 = lat[iters / 2];
    *p99 = lat[iters * 99 / 100];
  }
  free(lat);
  return rc;
}

static void run(kvidx_index *idx, int is_redis, result *res) {
  memset(res, 0, sizeof *res);
  uint32_t model;
  kvidx_index_model_id(idx, "Qwen/Qwen3-8B", &model);
  uint64_t chain[PROMPT_BLOCKS];
  for (size_t i = 0; i < PROMPT_BLOCKS; i++)
    chain[i] = 0xabcdef1234567ull + i * 0x100000001b3ull;
  /* Pod p holds the first (p+1)*512/64 blocks; every fourth pod in CPU. */
  uint32_t pods[PODS];
  for (size_t p = 0; p < PODS; p++) {
    char name[32];
    snprintf(name, sizeof name, "10.0.%zu.%zu:8000", p / 16, p % 16);
    kvidx_index_pod_id(idx, name, &pods[p]);
    size_t len = (p + 1) * PROMPT_BLOCKS / PODS;
    kvidx_tier tier = p % 4 == 3 ? KVIDX_TIER_CPU : KVIDX_TIER_GPU;
    if (kvidx_index_add(idx, model, pods[p], tier, chain, len) != 0) {
      fprintf(stderr, "setup add failed\n");
      return;
    }
  }
  size_t iters = is_redis ? LOOKUPS_REDIS : LOOKUPS_MEMORY;
  /* Candidates: every fourth pod, the longest holder included. */
  uint32_t cand[CANDIDATES];
  for (size_t i = 0; i < CANDIDATES; i++)
    cand[i] = pods[PODS - 1 - 4 * i];
  if (score_latency(idx, model, chain, NULL, 0, iters, &res->all_p50_us,
                    &res->all_p99_us) != 0 ||
      score_latency(idx, model, chain, cand, CANDIDATES, iters,
                    &res->cand_p50_us, &res->cand_p99_us) != 0) {
    fprintf(stderr, "lookup failed\n");
    return;
  }
  /* The common case: a prompt cached whole on a few pods. */
  uint32_t few;
  kvidx_index_model_id(idx, "few-holders", &few);
  for (size_t p = 0; p < FEW_HOLDERS; p++)
    if (kvidx_index_add(idx, few, pods[p * 7], KVIDX_TIER_GPU, chain,
                        PROMPT_BLOCKS) != 0)
      return;
  if (score_latency(idx, few, chain, NULL, 0, iters, &res->few_p50_us,
                    &res->few_p99_us) != 0) {
    fprintf(stderr, "lookup failed\n");
    return;
  }
  size_t blocks = is_redis ? INGEST_BLOCKS_REDIS : INGEST_BLOCKS_MEMORY;
  res->ingest_1 = ingest(idx, model, 1, blocks, 1ull << 40);
  res->ingest_n = ingest(idx, model, INGEST_THREADS, blocks, 1ull << 41);
  res->ok = res->ingest_1 > 0 && res->ingest_n > 0;
}

int main(void) {
  kvidx_log_set_level(KVIDX_LOG_ERROR);
  result mem, red;
  int skipped = 0;
  kvidx_index *idx;
  if (kvidx_index_new_memory(NULL, &idx) != 0)
    return 1;
  run(idx, 0, &mem);
  kvidx_index_free(idx);

  int port = free_port();
  pid_t pid = port > 0 ? start_redis(port) : -1;
  if (pid < 0) {
    printf("redis-server not available: Redis rows skipped (0)\n");
    skipped = 1;
    memset(&red, 0, sizeof red);
  } else {
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
    kvidx_redis_opts o;
    kvidx_redis_opts_init(&o);
    o.url = url;
    o.command_timeout_ms = 5000;
    if (kvidx_index_new_redis(&o, &idx) != 0 || kvidx_index_ready(idx) != 0) {
      fprintf(stderr, "redis index not ready\n");
      memset(&red, 0, sizeof red);
    } else {
      run(idx, 1, &red);
    }
    kvidx_index_free(idx);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
  }
  printf("%-52s %14s %14s\n", "metric", "memory", "redis");
  printf("%-52s %14.0f %14.0f\n", "ingest blocks/s, 1 writer, 64-block batches",
         mem.ingest_1, red.ingest_1);
  printf("%-52s %14.0f %14.0f\n",
         "ingest blocks/s, 4 writers, 64-block batches", mem.ingest_n,
         red.ingest_n);
  printf("%-52s %14.1f %14.1f\n", "lookup+score 512 blocks, 64 pods, p50 us",
         mem.all_p50_us, red.all_p50_us);
  printf("%-52s %14.1f %14.1f\n", "lookup+score 512 blocks, 64 pods, p99 us",
         mem.all_p99_us, red.all_p99_us);
  printf("%-52s %14.1f %14.1f\n",
         "lookup+score 512 blocks, 16 candidates, p50 us", mem.cand_p50_us,
         red.cand_p50_us);
  printf("%-52s %14.1f %14.1f\n",
         "lookup+score 512 blocks, 16 candidates, p99 us", mem.cand_p99_us,
         red.cand_p99_us);
  printf("%-52s %14.1f %14.1f\n", "lookup+score 512 blocks, 4 holders, p50 us",
         mem.few_p50_us, red.few_p50_us);
  printf("%-52s %14.1f %14.1f\n", "lookup+score 512 blocks, 4 holders, p99 us",
         mem.few_p99_us, red.few_p99_us);
  printf("(no target for Redis: one round trip to a local redis-server; "
         "memory target <= 60 ns/block p50 = %.1f us)\n",
         60e-3 * PROMPT_BLOCKS);
  return mem.ok && (red.ok || skipped) ? 0 : 1;
}

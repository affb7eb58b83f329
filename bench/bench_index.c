/*
 * bench_index.c: block index and scorer benchmarks (run by `make bench`).
 *
 *  1. insert: 10M fresh random block keys, one pod, batches of 512 (one
 *     BlockStored batch), one thread -> blocks/s.
 *  2. memory: RSS delta and kvidx_index_stats.bytes per (block, pod) entry at
 *     10M entries, for 1 pod per block (the worst case: every entry pays a
 *     whole slot) and 2 pods per block.
 *  3. lookup+score: kvidx_score_prefix() latency for 512-block prompts over 64
 *     and 1,000 pods. Holder distribution per prompt (see docs/index.md):
 *     an 8-block system prefix (one of 20 "applications", each cached on
 *     its own random 10% of the pods); 1-8 "affinity" pods holding longer
 *     prefixes (the first one 448-512 blocks, the others 8-512);
 *     plus 2M unrelated background blocks so the tables are far larger than
 *     the CPU caches. Candidate set = all pods, passed explicitly.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kvidx.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU time of this thread: unaffected by time spent descheduled, which on a
 * shared machine is most of the wall-clock noise. */
static double cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) {
  /* splitmix64: block keys look like uniformly random 64-bit hashes */
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static long rss_bytes(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long size = 0, res = 0;
  if (f != NULL) {
    if (fscanf(f, "%ld %ld", &size, &res) != 2)
      res = 0;
    fclose(f);
  }
  return res * sysconf(_SC_PAGESIZE);
}

static void die(const char *what, int rc) {
  fprintf(stderr, "bench_index: %s: %s\n", what, kvidx_strerror(rc));
  exit(1);
}

static kvidx_index *new_index(uint32_t *model) {
  kvidx_index *idx;
  int rc = kvidx_index_new_memory(NULL, &idx);
  if (rc != 0)
    die("new", rc);
  if ((rc = kvidx_index_model_id(idx, "bench-model", model)) != 0)
    die("model", rc);
  return idx;
}

static void pods_new(kvidx_index *idx, uint32_t *ids, int n) {
  for (int i = 0; i < n; i++) {
    char name[32];
    snprintf(name, sizeof name, "10.0.%d.%d:8000", i / 256, i % 256);
    int rc = kvidx_index_pod_id(idx, name, &ids[i]);
    if (rc != 0)
      die("pod", rc);
  }
}

/* ---- insert + memory ----------------------------------------------------*/

enum { ENTRIES = 10000000, BATCH = 512 };

/* Inserts ENTRIES (block, pod) entries, holders_per_block pods per block.
 * Returns blocks/s of the timed part; fills bytes per entry. */
static double insert_run(int holders_per_block, double *rss_per_entry,
                         double *stats_per_entry, double *cpu_rate) {
  uint32_t m, pods[4];
  long rss0 = rss_bytes();
  kvidx_index *idx = new_index(&m);
  pods_new(idx, pods, holders_per_block);
  size_t blocks = ENTRIES / (size_t)holders_per_block;
  uint64_t *keys = malloc(blocks * sizeof *keys);
  if (keys == NULL)
    die("malloc", KVIDX_ENOMEM);
  for (size_t i = 0; i < blocks; i++)
    keys[i] = rnd();
  long rss_keys = rss_bytes() - rss0;
  double t0 = now_s(), c0 = cpu_s();
  for (int p = 0; p < holders_per_block; p++) {
    for (size_t i = 0; i < blocks; i += BATCH) {
      size_t n = blocks - i < BATCH ? blocks - i : BATCH;
      int rc = kvidx_index_add(idx, m, pods[p], KVIDX_TIER_GPU, &keys[i], n);
      if (rc != 0)
        die("add", rc);
    }
  }
  double dt = now_s() - t0;
  *cpu_rate = (double)ENTRIES / (cpu_s() - c0);
  long rss = rss_bytes() - rss0 - rss_keys;
  kvidx_index_stats st;
  kvidx_index_get_stats(idx, &st);
  if (st.entries != ENTRIES)
    fprintf(stderr, "bench_index: entries %llu != %d\n",
            (unsigned long long)st.entries, ENTRIES);
  *rss_per_entry = (double)rss / ENTRIES;
  *stats_per_entry = (double)st.bytes / ENTRIES;
  kvidx_index_free(idx);
  free(keys);
  return (double)ENTRIES / dt;
}

/* ---- lookup + score -----------------------------------------------------*/

enum { PROMPT = 512, PROMPTS = 200, QUERIES = 4000, BACKGROUND = 2000000 };

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void fill_prompts(kvidx_index *idx, uint32_t m, const uint32_t *pods,
                         int n_pods, uint64_t (*prompts)[PROMPT]) {
  /* Background: unrelated blocks on random pods, ~2 holders each. */
  uint64_t *bg = malloc(BACKGROUND * sizeof *bg);
  for (size_t i = 0; i < BACKGROUND; i++)
    bg[i] = rnd();
  for (size_t i = 0; i < BACKGROUND; i += BATCH) {
    for (int h = 0; h < 2; h++)
      kvidx_index_add(idx, m, pods[rnd() % (uint64_t)n_pods], KVIDX_TIER_GPU,
                      &bg[i], BATCH);
  }
  free(bg);
  enum { APPS = 20, SYS = 8 };
  static uint64_t system[APPS][SYS];
  for (int a = 0; a < APPS; a++) {
    for (int i = 0; i < SYS; i++)
      system[a][i] = rnd();
    for (int h = 0; h < n_pods / 10; h++)
      kvidx_index_add(idx, m, pods[rnd() % (uint64_t)n_pods], KVIDX_TIER_GPU,
                      system[a], SYS);
  }
  for (int q = 0; q < PROMPTS; q++) {
    memcpy(prompts[q], system[q % APPS], sizeof system[0]);
    for (int i = SYS; i < PROMPT; i++)
      prompts[q][i] = rnd();
    int affinity = 1 + (int)(rnd() % 8);
    for (int a = 0; a < affinity; a++) {
      size_t len = a == 0 ? 448 + rnd() % 65 : 8 + rnd() % (PROMPT - 7);
      kvidx_tier tier = rnd() % 4 == 0 ? KVIDX_TIER_CPU : KVIDX_TIER_GPU;
      kvidx_index_add(idx, m, pods[rnd() % (uint64_t)n_pods], tier, prompts[q],
                      len);
    }
  }
}

static void lookup_run(int n_pods, double *p10, double *p50, double *p99,
                       double *cpu_mean, double *blocks_avg) {
  uint32_t m;
  kvidx_index *idx = new_index(&m);
  uint32_t *pods = malloc((size_t)n_pods * sizeof *pods);
  pods_new(idx, pods, n_pods);
  uint64_t(*prompts)[PROMPT] = malloc(sizeof(uint64_t[PROMPTS][PROMPT]));
  fill_prompts(idx, m, pods, n_pods, prompts);
  kvidx_tier_weights w;
  kvidx_tier_weights_init(&w);
  uint64_t *lat = malloc(QUERIES * sizeof *lat);
  kvidx_pod_score out[16];
  double blocks = 0, c0 = cpu_s();
  for (int q = 0; q < QUERIES; q++) {
    size_t n_out = 0;
    double t0 = now_s();
    int rc = kvidx_score_prefix(idx, &w, m, prompts[q % PROMPTS], PROMPT, pods,
                                (size_t)n_pods, out, 16, &n_out);
    double dt = now_s() - t0;
    if (rc != 0)
      die("score", rc);
    lat[q] = (uint64_t)(dt * 1e9);
    blocks += n_out > 0 ? out[0].blocks : 0;
  }
  *cpu_mean = (cpu_s() - c0) / QUERIES * 1e9;
  qsort(lat, QUERIES, sizeof *lat, cmp_u64);
  *p10 = (double)lat[QUERIES / 10];
  *p50 = (double)lat[QUERIES / 2];
  *p99 = (double)lat[QUERIES * 99 / 100];
  *blocks_avg = blocks / QUERIES;
  free(lat);
  free(prompts);
  free(pods);
  kvidx_index_free(idx);
}

int main(void) {
  /* KVIDX_BENCH_ONLY=lookup skips the insert/memory runs (for profiling). */
  const char *only = getenv("KVIDX_BENCH_ONLY");
  int lookups_only = only != NULL && strcmp(only, "lookup") == 0;
  double rss1 = 0, st1 = 0, rss2 = 0, st2 = 0, ins1 = 0, ins2 = 0;
  double cpu1 = 0, cpu2 = 0;
  if (!lookups_only) {
    ins1 = insert_run(1, &rss1, &st1, &cpu1);
    ins2 = insert_run(2, &rss2, &st2, &cpu2);
  }
  printf("| %-52s | %14s | %12s |\n", "metric", "measured", "target");
  printf("|%s|%s|%s|\n",
         "------------------------------------------------------",
         "----------------", "--------------");
  printf("| %-52s | %12.2fM | %12s |\n",
         "insert, 1 thread, 10M new blocks x 1 pod (blocks/s)", ins1 / 1e6,
         ">= 5M");
  printf("| %-52s | %12.2fM | %12s |\n",
         "insert, 1 thread, 5M blocks x 2 pods (entries/s)", ins2 / 1e6,
         ">= 5M");
  printf("| %-52s | %12.2fM | %12s |\n",
         "  same, per second of thread CPU time, 1 pod/block", cpu1 / 1e6, "");
  printf("| %-52s | %12.2fM | %12s |\n",
         "  same, per second of thread CPU time, 2 pods/block", cpu2 / 1e6, "");
  printf("| %-52s | %12.1f B | %12s |\n",
         "RSS per (block,pod) entry, 10M entries, 1 pod/block", rss1, "<= 32");
  printf("| %-52s | %12.1f B | %12s |\n",
         "stats.bytes per entry, 10M entries, 1 pod/block", st1, "<= 32");
  printf("| %-52s | %12.1f B | %12s |\n",
         "RSS per (block,pod) entry, 10M entries, 2 pods/block", rss2, "<= 32");
  printf("| %-52s | %12.1f B | %12s |\n",
         "stats.bytes per entry, 10M entries, 2 pods/block", st2, "<= 32");
  int fleets[] = {64, 1000};
  for (int f = 0; f < 2; f++) {
    double p10, p50, p99, cpu, blocks;
    lookup_run(fleets[f], &p10, &p50, &p99, &cpu, &blocks);
    char label[64];
    snprintf(label, sizeof label, "lookup+score 512 blocks, %d pods: p50 (us)",
             fleets[f]);
    printf("| %-52s | %12.2f   | %12s |\n", label, p50 / 1e3, "");
    snprintf(label, sizeof label, "lookup+score 512 blocks, %d pods: p99 (us)",
             fleets[f]);
    printf("| %-52s | %12.2f   | %12s |\n", label, p99 / 1e3, "");
    snprintf(label, sizeof label, "  p50 per prompt block, %d pods (ns)",
             fleets[f]);
    printf("| %-52s | %12.1f   | %12s |\n", label, p50 / PROMPT, "<= 60");
    snprintf(label, sizeof label, "  p10 per prompt block, %d pods (ns)",
             fleets[f]);
    printf("| %-52s | %12.1f   | %12s |\n", label, p10 / PROMPT, "");
    snprintf(label, sizeof label, "  mean thread CPU per block, %d pods (ns)",
             fleets[f]);
    printf("| %-52s | %12.1f   | %12s |\n", label, cpu / PROMPT, "");
    snprintf(label, sizeof label, "  avg prefix length of best pod, %d pods",
             fleets[f]);
    printf("| %-52s | %12.1f   | %12s |\n", label, blocks, "");
  }
  return 0;
}

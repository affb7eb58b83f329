/*
 * test_registry_concurrent.c: threads acquiring, using and releasing three
 * models through a registry bounded to one loaded tokenizer, so that loads,
 * waits for another thread's load, and evictions interleave. Each thread
 * checks that the tokenizer it holds is the right one and stays usable until
 * its release. Run under TSan by `make check`.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/test.h"
#include "kvidx.h"
#include "kvidx/tokenizer_registry.h"

#define THREADS 4
#define ROUNDS 200
#define MODELS 3

static void write_tokenizer(const char *dir, int ab_id) {
  char path[1200];
  FILE *f;
  mkdir(dir, 0755);
  snprintf(path, sizeof(path), "%s/tokenizer.json", dir);
  if (!(f = fopen(path, "w")))
    FAILF("fopen %s: %s", path, strerror(errno));
  fprintf(f,
          "{\"version\":\"1.0\",\"added_tokens\":[],\"normalizer\":null,"
          "\"pre_tokenizer\":null,\"post_processor\":null,\"decoder\":null,"
          "\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":null,"
          "\"continuing_subword_prefix\":null,\"end_of_word_suffix\":null,"
          "\"fuse_unk\":false,\"byte_fallback\":false,"
          "\"vocab\":{\"a\":0,\"b\":1,\"ab\":%d},\"merges\":[\"a b\"]}}\n",
          ab_id);
  fclose(f);
}

typedef struct {
  kvidx_tokenizer_registry *r;
  unsigned seed;
  int errors;
} worker_arg;

static void *worker(void *p) {
  worker_arg *a = p;
  kvidx_encoding enc;
  char model[32];
  kvidx_encoding_init(&enc);
  for (int i = 0; i < ROUNDS; i++) {
    int m = (int)(rand_r(&a->seed) % MODELS);
    const kvidx_tokenizer *t = NULL;
    snprintf(model, sizeof(model), "org/m%d", m);
    if (kvidx_tokenizer_registry_acquire(a->r, model, &t) != 0) {
      a->errors++;
      continue;
    }
    /* Use it a few times while other threads evict and load. */
    for (int k = 0; k < 3; k++)
      if (kvidx_tokenizer_encode(t, "ab", 2, 0, &enc) != 0 || enc.n != 1 ||
          enc.ids[0] != (uint32_t)(50 + m))
        a->errors++;
    kvidx_tokenizer_registry_release(a->r, t);
  }
  kvidx_encoding_free(&enc);
  return NULL;
}

TEST(acquire_release_race) {
  char dir[1100], org[1024];
  kvidx_tokenizer_registry_opts o;
  kvidx_tokenizer_registry *r = NULL;
  kvidx_tokenizer_registry_stats st;
  pthread_t th[THREADS];
  worker_arg args[THREADS];
  snprintf(org, sizeof(org), "%s/org", kvidx_test_tmpdir());
  mkdir(org, 0755);
  for (int m = 0; m < MODELS; m++) {
    snprintf(dir, sizeof(dir), "%s/m%d", org, m);
    write_tokenizer(dir, 50 + m);
  }
  kvidx_tokenizer_registry_opts_init(&o);
  o.auto_discovery_dir = kvidx_test_tmpdir();
  o.hf_cache_dir = org; /* no HF layout there: nothing found */
  o.max_loaded = 1;
  CHECK_OK(kvidx_tokenizer_registry_new(&o, &r));
  for (int i = 0; i < THREADS; i++) {
    args[i].r = r;
    args[i].seed = (unsigned)(i + 1) * 104729u;
    args[i].errors = 0;
    CHECK_EQ_INT(pthread_create(&th[i], NULL, worker, &args[i]), 0);
  }
  for (int i = 0; i < THREADS; i++) {
    pthread_join(th[i], NULL);
    CHECK_EQ_INT(args[i].errors, 0);
  }
  kvidx_tokenizer_registry_get_stats(r, &st);
  CHECK_EQ_INT(st.acquires, THREADS * ROUNDS);
  CHECK(st.loaded <= 1);
  CHECK(st.loads >= MODELS);
  kvidx_tokenizer_registry_free(r);
}

typedef struct {
  kvidx_tokenizer_registry *r;
  pthread_barrier_t *go;
  const kvidx_tokenizer *got;
  int rc;
} same_arg;

static void *acquire_same(void *p) {
  same_arg *a = p;
  pthread_barrier_wait(a->go);
  a->rc = kvidx_tokenizer_registry_acquire(a->r, "org/big", &a->got);
  return NULL;
}

/* Threads that ask for the same model at once share one load (the others
 * wait for it) and get the same tokenizer. The file is a real, large one
 * (Qwen3's vocabulary, ~100 ms or more to load) when the test cache has it,
 * so that the waits really happen; else the tiny one. */
TEST(concurrent_first_use_loads_once) {
  char dir[1100], src[1200], cmd[3000];
  kvidx_tokenizer_registry_opts o;
  kvidx_tokenizer_registry *r = NULL;
  kvidx_tokenizer_registry_stats st;
  pthread_barrier_t go;
  pthread_t th[THREADS];
  same_arg args[THREADS];
  snprintf(dir, sizeof(dir), "%s/org", kvidx_test_tmpdir());
  mkdir(dir, 0755);
  snprintf(dir, sizeof(dir), "%s/org/big", kvidx_test_tmpdir());
  snprintf(src, sizeof(src),
           "%s/tests/tokenizer/data/cache/qwen3/tokenizer.json",
           KVIDX_SOURCE_DIR);
  if (access(src, R_OK) == 0) {
    mkdir(dir, 0755);
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s/tokenizer.json'", src, dir);
    CHECK_EQ_INT(system(cmd), 0);
  } else {
    write_tokenizer(dir, 60);
  }
  kvidx_tokenizer_registry_opts_init(&o);
  o.auto_discovery_dir = kvidx_test_tmpdir();
  o.hf_cache_dir = dir;
  CHECK_OK(kvidx_tokenizer_registry_new(&o, &r));
  pthread_barrier_init(&go, NULL, THREADS);
  for (int i = 0; i < THREADS; i++) {
    args[i].r = r;
    args[i].go = &go;
    args[i].got = NULL;
    args[i].rc = -1;
    CHECK_EQ_INT(pthread_create(&th[i], NULL, acquire_same, &args[i]), 0);
  }
  for (int i = 0; i < THREADS; i++) {
    pthread_join(th[i], NULL);
    CHECK_OK(args[i].rc);
    CHECK(args[i].got == args[0].got);
  }
  kvidx_tokenizer_registry_get_stats(r, &st);
  CHECK_EQ_INT(st.loads, 1);
  CHECK_EQ_INT(st.acquires, THREADS);
  for (int i = 0; i < THREADS; i++)
    kvidx_tokenizer_registry_release(r, args[i].got);
  pthread_barrier_destroy(&go);
  kvidx_tokenizer_registry_free(r);
}

TEST_MAIN(TEST_CASE(acquire_release_race),
          TEST_CASE(concurrent_first_use_loads_once))

/*
 * test_hash_concurrent.c: one kvidx_hasher shared by several threads (the
 * daemon's and the ingestors' use) gives every thread the same digests as a
 * single thread, for every algorithm and every encoder path (blocks without
 * extra keys through the fixed-layout chain, 16-token blocks with extra keys
 * digested in one call, 1024-token blocks streamed). Runs under TSan in
 * `make check`, which would report hidden shared state.
 */
#include <pthread.h>

#include "test.h"

#define N_THREADS 4
#define N_ROUNDS 20
#define N_TOKENS 4096

typedef struct {
  const kvidx_hasher *h;
  const uint32_t *tokens;
  const kvidx_hash_extra *extra;
  const uint64_t *want;
  int n_want;
  int mismatches;
} worker_arg;

static void *worker(void *p) {
  worker_arg *a = p;
  uint64_t got[N_TOKENS];
  for (int r = 0; r < N_ROUNDS; r++) {
    int n = kvidx_hash_blocks(a->h, NULL, 0, a->tokens, N_TOKENS, a->extra,
                              NULL, got, N_TOKENS);
    if (n != a->n_want || memcmp(got, a->want, (size_t)n * sizeof *got) != 0)
      a->mismatches++;
  }
  return NULL;
}

static void run(kvidx_hash_algo algo, uint32_t block_size, int plain) {
  static uint32_t tokens[N_TOKENS];
  static uint64_t want[N_TOKENS];
  for (uint32_t i = 0; i < N_TOKENS; i++)
    tokens[i] = (i * 2654435761u) % 151936u;
  kvidx_hasher_opts o;
  kvidx_hasher_opts_init(&o);
  o.algo = algo;
  o.seed = "0";
  o.block_size = block_size;
  kvidx_hasher *h;
  CHECK_OK(kvidx_hasher_new(&o, &h));
  kvidx_mm_item mm = {"img", 5, 40};
  kvidx_hash_extra x = {"lora", "salt", &mm, 1};
  const kvidx_hash_extra *extra = plain ? NULL : &x;
  int n = kvidx_hash_blocks(h, NULL, 0, tokens, N_TOKENS, extra, NULL, want,
                            N_TOKENS);
  CHECK_EQ_INT(n, N_TOKENS / block_size);
  pthread_t t[N_THREADS];
  worker_arg args[N_THREADS];
  for (int i = 0; i < N_THREADS; i++) {
    args[i] = (worker_arg){h, tokens, extra, want, n, 0};
    CHECK_EQ_INT(pthread_create(&t[i], NULL, worker, &args[i]), 0);
  }
  for (int i = 0; i < N_THREADS; i++) {
    pthread_join(t[i], NULL);
    CHECK_EQ_INT(args[i].mismatches, 0);
  }
  kvidx_hasher_free(h);
}

TEST(shared_hasher_plain_blocks) {
  for (int a = 0; a < 4; a++) {
    run((kvidx_hash_algo)a, 16, 1);
    run((kvidx_hash_algo)a, 64, 1);
  }
}

TEST(shared_hasher_small_blocks) {
  for (int a = 0; a < 4; a++)
    run((kvidx_hash_algo)a, 16, 0);
}

TEST(shared_hasher_streamed_blocks) {
  for (int a = 0; a < 4; a++)
    run((kvidx_hash_algo)a, 1024, 0);
}

TEST_MAIN(TEST_CASE(shared_hasher_plain_blocks),
          TEST_CASE(shared_hasher_small_blocks),
          TEST_CASE(shared_hasher_streamed_blocks))

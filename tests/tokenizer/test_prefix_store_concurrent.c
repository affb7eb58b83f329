/*
 * test_prefix_store_concurrent.c: the prefix store shared by threads that add
 * and find prompts sharing prefixes, under a small LRU bound so that
 * evictions race with finds. Every find result must be a consistent prefix of
 * the prompt's own encoding (the fake tokenizer is a function of the text),
 * whatever the interleaving. Run under TSan by `make check`.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../common/test.h"
#include "kvidx.h"
#include "kvidx/tokenizer_registry.h"

#define THREADS 4
#define ROUNDS 3000
#define BLOCK 32
#define PROMPT 512

typedef struct {
  kvidx_prefix_store *ps;
  unsigned seed;
  int errors;
} worker_arg;

/* Prompt k of 16 shares its first (k % 8) * 64 bytes with prompt 0. */
static void make_prompt(char *buf, unsigned k) {
  for (size_t i = 0; i < PROMPT; i++) {
    unsigned salt = i < (k % 8) * 64 ? 0 : k;
    buf[i] = (char)('a' + (i * 13 + salt * 7 + i / 5) % 26);
  }
}

/* One token per 3 bytes, id = byte sum + start. */
static void encode(const char *t, kvidx_encoding *e) {
  size_t n = (PROMPT + 2) / 3;
  e->n = n;
  for (size_t i = 0; i < n; i++) {
    size_t s = i * 3, end = s + 3 < PROMPT ? s + 3 : PROMPT;
    uint32_t id = (uint32_t)s;
    for (size_t k = s; k < end; k++)
      id += (unsigned char)t[k];
    e->ids[i] = id;
    e->offsets[2 * i] = (uint32_t)s;
    e->offsets[2 * i + 1] = (uint32_t)end;
  }
}

static void *worker(void *p) {
  worker_arg *a = p;
  char text[PROMPT];
  size_t n = (PROMPT + 2) / 3;
  kvidx_encoding e, out;
  memset(&e, 0, sizeof(e));
  memset(&out, 0, sizeof(out));
  e.want_offsets = out.want_offsets = 1;
  e.cap = n;
  e.ids = malloc(n * sizeof(uint32_t));
  e.offsets = malloc(2 * n * sizeof(uint32_t));
  for (int r = 0; r < ROUNDS; r++) {
    unsigned k = (unsigned)rand_r(&a->seed) % 16;
    double ov;
    size_t matched;
    make_prompt(text, k);
    encode(text, &e);
    if (rand_r(&a->seed) % 3 == 0) {
      if (kvidx_prefix_store_add(a->ps, "m", text, PROMPT, &e) != 0)
        a->errors++;
      continue;
    }
    if (kvidx_prefix_store_find_ex(a->ps, "m", text, PROMPT, &out, &ov,
                                   &matched) != 0) {
      a->errors++;
      continue;
    }
    /* The answer must be exactly this prompt's tokens up to matched. */
    size_t want = 0;
    while (want < n && e.offsets[2 * want + 1] <= matched)
      want++;
    if (matched % BLOCK != 0 || out.n != want ||
        (want > 0 && memcmp(out.ids, e.ids, want * sizeof(uint32_t)) != 0))
      a->errors++;
  }
  free(e.ids);
  free(e.offsets);
  free(out.ids);
  free(out.offsets);
  return NULL;
}

TEST(add_find_evict_race) {
  kvidx_prefix_store_opts o;
  kvidx_prefix_store *ps = NULL;
  pthread_t th[THREADS];
  worker_arg args[THREADS];
  kvidx_prefix_store_stats st;
  kvidx_prefix_store_opts_init(&o);
  o.block_chars = BLOCK;
  o.max_blocks = 64;   /* 4 prompts' worth: constant eviction */
  o.word_boundary = 0; /* the text has no spaces */
  CHECK_OK(kvidx_prefix_store_new(&o, &ps));
  for (int i = 0; i < THREADS; i++) {
    args[i].ps = ps;
    args[i].seed = (unsigned)(i + 1) * 7919u;
    args[i].errors = 0;
    CHECK_EQ_INT(pthread_create(&th[i], NULL, worker, &args[i]), 0);
  }
  for (int i = 0; i < THREADS; i++) {
    pthread_join(th[i], NULL);
    CHECK_EQ_INT(args[i].errors, 0);
  }
  kvidx_prefix_store_get_stats(ps, &st);
  CHECK(st.blocks <= 64);
  CHECK(st.evictions > 0);
  CHECK(st.hits > 0);
  kvidx_prefix_store_free(ps);
}

TEST_MAIN(TEST_CASE(add_find_evict_race))

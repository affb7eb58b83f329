/*
 * test_tokenizer_concurrent.c: encode from many threads at once (run under
 * TSan by `make check`). Threads share two tokenizers, each thread alternating
 * between them so the per-thread word cache holds entries of both; one
 * thread meanwhile loads and frees tokenizers over and over, so a freed
 * tokenizer's cache entries must never be hit by a new one (cache keys carry
 * a per-load serial, not the address). Every result is compared with the
 * single-threaded one.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "test.h"

/* Byte-level BPE: a b c merges, letters split by a Split regex. */
static const char *DOC_A =
    "{\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":"
    "\"Split\",\"pattern\":{\"Regex\":\"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r"
    "\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}| ?[^\\\\s\\\\p{L}\\\\p{N}]"
    "+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"},\"behavior\":"
    "\"Isolated\",\"invert\":false},{\"type\":\"ByteLevel\",\"add_prefix_"
    "space\":false,\"use_regex\":false}]},"
    "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"c\":2,"
    "\"\\u0120\":3,\"ab\":4,\"abc\":5,\"bc\":6,\"\\u0120a\":7},"
    "\"merges\":[\"a b\",\"ab c\",\"b c\",\"\\u0120 a\"]}}";

/* Same vocab strings, other ids and merge order: a cache mix-up between
 * the two shows as wrong ids. */
static const char *DOC_B =
    "{\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,"
    "\"use_regex\":true},"
    "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":10,\"b\":11,\"c\":12,"
    "\"\\u0120\":13,\"ab\":14,\"abc\":15,\"bc\":16,\"\\u0120a\":17},"
    "\"merges\":[\"b c\",\"\\u0120 a\",\"a b\",\"ab c\"]}}";

static const char *TEXTS[] = {"abc bc a cab", "cab abc", "a b c abcabc",
                              "bcbcbc aaa", ""};
#define N_TEXTS (sizeof TEXTS / sizeof TEXTS[0])
#define N_THREADS 4
#define ROUNDS 400

static kvidx_tokenizer *tok_a, *tok_b;
static kvidx_encoding want_a[N_TEXTS], want_b[N_TEXTS];
static atomic_int stop;

static kvidx_tokenizer *load(const char *doc) {
  kvidx_tokenizer *t = NULL;
  char err[256];
  if (kvidx_tokenizer_load_mem(doc, strlen(doc), NULL, 0, NULL, &t, err,
                               sizeof err) != 0)
    return NULL;
  return t;
}

static int same(const kvidx_encoding *x, const kvidx_encoding *y) {
  if (x->n != y->n)
    return 0;
  for (size_t i = 0; i < x->n; i++)
    if (x->ids[i] != y->ids[i])
      return 0;
  return 1;
}

static void *worker(void *arg) {
  (void)arg;
  kvidx_encoding enc;
  kvidx_encoding_init(&enc);
  for (int r = 0; r < ROUNDS; r++) {
    for (size_t i = 0; i < N_TEXTS; i++) {
      int b = (r + (int)i) & 1;
      if (kvidx_tokenizer_encode(b ? tok_b : tok_a, TEXTS[i], strlen(TEXTS[i]),
                                 0, &enc) != 0 ||
          !same(&enc, b ? &want_b[i] : &want_a[i])) {
        kvidx_encoding_free(&enc);
        return (void *)1;
      }
    }
  }
  kvidx_encoding_free(&enc);
  return NULL;
}

/* Loads, encodes with and frees fresh tokenizers while the workers run. */
static void *churn(void *arg) {
  (void)arg;
  kvidx_encoding enc;
  kvidx_encoding_init(&enc);
  void *bad = NULL;
  while (!atomic_load(&stop) && !bad) {
    kvidx_tokenizer *t = load(DOC_B);
    if (!t)
      return (void *)1;
    for (size_t i = 0; i < N_TEXTS; i++)
      if (kvidx_tokenizer_encode(t, TEXTS[i], strlen(TEXTS[i]), 0, &enc) ||
          !same(&enc, &want_b[i]))
        bad = (void *)1;
    kvidx_tokenizer_free(t);
    t = load(DOC_A);
    if (!t)
      return (void *)1;
    for (size_t i = 0; i < N_TEXTS; i++)
      if (kvidx_tokenizer_encode(t, TEXTS[i], strlen(TEXTS[i]), 0, &enc) ||
          !same(&enc, &want_a[i]))
        bad = (void *)1;
    kvidx_tokenizer_free(t);
  }
  kvidx_encoding_free(&enc);
  return bad;
}

TEST(concurrent_encode_two_tokenizers_with_churn) {
  tok_a = load(DOC_A);
  tok_b = load(DOC_B);
  CHECK(tok_a && tok_b);
  for (size_t i = 0; i < N_TEXTS; i++) {
    kvidx_encoding_init(&want_a[i]);
    kvidx_encoding_init(&want_b[i]);
    CHECK_OK(kvidx_tokenizer_encode(tok_a, TEXTS[i], strlen(TEXTS[i]), 0,
                                    &want_a[i]));
    CHECK_OK(kvidx_tokenizer_encode(tok_b, TEXTS[i], strlen(TEXTS[i]), 0,
                                    &want_b[i]));
  }
  /* The two documents must really tokenize differently. */
  CHECK(!same(&want_a[0], &want_b[0]));
  pthread_t th[N_THREADS], ch;
  CHECK_EQ_INT(pthread_create(&ch, NULL, churn, NULL), 0);
  for (int i = 0; i < N_THREADS; i++)
    CHECK_EQ_INT(pthread_create(&th[i], NULL, worker, NULL), 0);
  int bad = 0;
  for (int i = 0; i < N_THREADS; i++) {
    void *r;
    pthread_join(th[i], &r);
    bad |= r != NULL;
  }
  atomic_store(&stop, 1);
  void *r;
  pthread_join(ch, &r);
  CHECK(!bad);
  CHECK(r == NULL);
  for (size_t i = 0; i < N_TEXTS; i++) {
    kvidx_encoding_free(&want_a[i]);
    kvidx_encoding_free(&want_b[i]);
  }
  kvidx_tokenizer_free(tok_a);
  kvidx_tokenizer_free(tok_b);
}

TEST_MAIN(TEST_CASE(concurrent_encode_two_tokenizers_with_churn))

/*
 * test_key_cache_concurrent.c: the block-key cache under concurrent readers
 * and writers (run under TSan by `make check`). Writers store, for many
 * fingerprints, a digest derived from the fingerprint; readers look up
 * random fingerprints and must see either a miss or exactly that digest —
 * never a torn or foreign one.
 */
#include <pthread.h>

#include "indexer/key_cache.h"
#include "test.h"

#define THREADS 4
#define ROUNDS 200000
#define KEYS 4096

static kvidx__key_cache *kc;

static void digest_of(uint64_t fp, kvidx_digest *d) {
  d->len = (fp & 1) ? 32 : 16;
  for (int i = 0; i < KVIDX_DIGEST_MAX; i++)
    d->bytes[i] =
        i < d->len ? (uint8_t)((fp >> (8 * (i % 8))) ^ (uint64_t)i) : 0;
}

static uint64_t fp_of(uint64_t k) {
  return k * 0x9E3779B97F4A7C15ull + 1;
}

static void *worker(void *arg) {
  uint64_t x = (uint64_t)(uintptr_t)arg * 7919 + 1;
  long bad = 0;
  for (int r = 0; r < ROUNDS; r++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    uint64_t fp = fp_of(x % KEYS);
    kvidx_digest want, got;
    digest_of(fp, &want);
    if (x & 0x100) {
      kvidx__key_cache_put(kc, fp, &want);
    } else if (kvidx__key_cache_get(kc, fp, &got)) {
      if (got.len != want.len || memcmp(got.bytes, want.bytes, want.len) != 0)
        bad++;
    }
  }
  return (void *)bad;
}

TEST(readers_never_see_torn_digests) {
  /* Few slots: constant overwrites of one slot by different fingerprints. */
  CHECK_OK(kvidx__key_cache_new(256, &kc));
  pthread_t t[THREADS];
  for (uintptr_t i = 0; i < THREADS; i++)
    CHECK_EQ_INT(pthread_create(&t[i], NULL, worker, (void *)i), 0);
  long bad = 0;
  for (int i = 0; i < THREADS; i++) {
    void *ret;
    pthread_join(t[i], &ret);
    bad += (long)ret;
  }
  CHECK_EQ_INT(bad, 0);
  /* And a stored entry is found afterwards. */
  kvidx_digest d, got;
  digest_of(fp_of(1), &d);
  kvidx__key_cache_put(kc, fp_of(1), &d);
  CHECK(kvidx__key_cache_get(kc, fp_of(1), &got));
  CHECK(memcmp(got.bytes, d.bytes, d.len) == 0);
  kvidx__key_cache_free(kc);
}

TEST(disabled_cache_is_null) {
  kvidx__key_cache *none = (kvidx__key_cache *)1;
  CHECK_OK(kvidx__key_cache_new(0, &none));
  CHECK(none == NULL);
}

TEST_MAIN(TEST_CASE(readers_never_see_torn_digests),
          TEST_CASE(disabled_cache_is_null))

/*
 * tokens.c: picks the token encoder (portable or AVX-512) once per process.
 *
 * Encoding the token ids is most of the work of a block hash besides the
 * digest itself (see docs/hashing.md), so on CPUs with AVX-512 VBMI2 kvidx
 * encodes 8 or 13 tokens per vector step (tokens_avx512.c); elsewhere, or with
 * KVIDX_HASH_NO_SIMD=1 in the environment, the portable encoders of pickle.c
 * and cbor.c run. Both produce the same bytes; the tests run both.
 *
 * The choice is one atomic int, resolved on first use (a benign race: every
 * thread resolves to the same value) and changed only by
 * kvidx__hash_set_simd() for tests and benchmarks.
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "hash/hash_internal.h"

#define SIMD_UNKNOWN (-1)
static atomic_int simd_on = SIMD_UNKNOWN;

int kvidx__hash_avx512_usable(void) {
#if defined(KVIDX_HASH_HAVE_AVX512)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") &&
         __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512cd") &&
         __builtin_cpu_supports("avx512bitalg") &&
         __builtin_cpu_supports("avx512vbmi") &&
         __builtin_cpu_supports("avx512vbmi2");
#else
  return 0;
#endif
}

static int simd_enabled(void) {
  int on = atomic_load_explicit(&simd_on, memory_order_relaxed);
  if (on != SIMD_UNKNOWN)
    return on;
  const char *off = getenv("KVIDX_HASH_NO_SIMD");
  on = (off == NULL || off[0] == '\0' || off[0] == '0') &&
       kvidx__hash_avx512_usable();
  atomic_store_explicit(&simd_on, on, memory_order_relaxed);
  return on;
}

int kvidx__hash_set_simd(int on) {
  int was = simd_enabled();
  atomic_store_explicit(&simd_on, on && kvidx__hash_avx512_usable(),
                        memory_order_relaxed);
  return was;
}

kvidx__token_encoder kvidx__token_encoder_for(int pickle) {
#if defined(KVIDX_HASH_HAVE_AVX512)
  if (simd_enabled())
    return pickle ? kvidx__pickle_tokens_avx512 : kvidx__cbor_tokens_avx512;
#endif
  return pickle ? kvidx__pickle_tokens_scalar : kvidx__cbor_tokens_scalar;
}

/*
 * tokens.c: picks the token encoder (portable, AVX2 or AVX-512) once per
 * process.
 *
 * Encoding the token ids is most of the work of a block hash besides the
 * digest itself (see docs/hashing.md), so kvidx encodes 8 or 13 tokens per
 * vector step on CPUs with AVX-512 VBMI2 (tokens_avx512.c), 6 per step on
 * other CPUs with AVX2 (tokens_avx2.c), and runs the portable encoders of
 * pickle.c and cbor.c elsewhere or when SIMD is capped by the environment
 * (KVIDX_HASH_NO_SIMD=1, KVIDX_HASH_SIMD=none|avx2|avx512). All produce the
 * same bytes; the tests run every level.
 *
 * The level is one atomic int, resolved on first use (a benign race: every
 * thread resolves to the same value) and changed only by
 * kvidx__hash_set_simd() for tests and benchmarks. The AVX2 tables are
 * built before the level that uses them is published (release / acquire).
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "hash/hash_internal.h"

#define SIMD_UNKNOWN (-1)
static atomic_int simd_level = SIMD_UNKNOWN;

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

int kvidx__hash_simd_usable(void) {
  if (kvidx__hash_avx512_usable())
    return KVIDX__SIMD_AVX512;
#if defined(KVIDX_HASH_HAVE_AVX512)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2"))
    return KVIDX__SIMD_AVX2;
#endif
  return KVIDX__SIMD_NONE;
}

/* The highest usable level <= level, its tables built. */
static int usable_level(int level) {
  int usable = kvidx__hash_simd_usable();
  if (level > usable)
    level = usable;
  if (level < KVIDX__SIMD_NONE)
    level = KVIDX__SIMD_NONE;
#if defined(KVIDX_HASH_HAVE_AVX512)
  if (level == KVIDX__SIMD_AVX2)
    kvidx__hash_avx2_init();
#endif
  return level;
}

/* The cap set by the environment. */
static int env_level(void) {
  const char *off = getenv("KVIDX_HASH_NO_SIMD");
  if (off != NULL && off[0] != '\0' && off[0] != '0')
    return KVIDX__SIMD_NONE;
  const char *cap = getenv("KVIDX_HASH_SIMD");
  if (cap == NULL || cap[0] == '\0')
    return KVIDX__SIMD_AVX512;
  if (strcmp(cap, "none") == 0)
    return KVIDX__SIMD_NONE;
  if (strcmp(cap, "avx2") == 0)
    return KVIDX__SIMD_AVX2;
  return KVIDX__SIMD_AVX512;
}

int kvidx__hash_simd_level(void) {
  int level = atomic_load_explicit(&simd_level, memory_order_acquire);
  if (level != SIMD_UNKNOWN)
    return level;
  level = usable_level(env_level());
  atomic_store_explicit(&simd_level, level, memory_order_release);
  return level;
}

int kvidx__hash_set_simd(int level) {
  int was = kvidx__hash_simd_level();
  atomic_store_explicit(&simd_level, usable_level(level), memory_order_release);
  return was;
}

kvidx__token_encoder kvidx__token_encoder_for(int pickle) {
#if defined(KVIDX_HASH_HAVE_AVX512)
  switch (kvidx__hash_simd_level()) {
  case KVIDX__SIMD_AVX512:
    return pickle ? kvidx__pickle_tokens_avx512 : kvidx__cbor_tokens_avx512;
  case KVIDX__SIMD_AVX2:
    return pickle ? kvidx__pickle_tokens_avx2 : kvidx__cbor_tokens_avx2;
  default:
    break;
  }
#endif
  return pickle ? kvidx__pickle_tokens_scalar : kvidx__cbor_tokens_scalar;
}

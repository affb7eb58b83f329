/*
 * kvidx/hash.h: vLLM-exact prefix-caching block hashes.
 *
 * block_hash[i] = H((parent_digest, tuple(tokens of block i), extra_keys|None))
 * with H one of vLLM's four --prefix-caching-hash-algo values. The 64-bit
 * "wire" form of a digest (what vLLM puts in KV events as an int) is its last
 * 8 bytes read big-endian. Facts: docs/hashing.md.
 */
#ifndef KVIDX_HASH_H
#define KVIDX_HASH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  KVIDX_HASH_SHA256 = 0,      /* "sha256": SHA-256 over pickle protocol 5 */
  KVIDX_HASH_SHA256_CBOR = 1, /* "sha256_cbor": SHA-256 over canonical CBOR */
  KVIDX_HASH_XXHASH = 2,      /* "xxhash": XXH3-128 over pickle */
  KVIDX_HASH_XXHASH_CBOR = 3  /* "xxhash_cbor": XXH3-128 over CBOR */
} kvidx_hash_algo;

/* The root seed vLLM uses when PYTHONHASHSEED is unset (current vLLM). */
#define KVIDX_HASH_SEED_VLLM_NONE "vllm-none-hash"
#define KVIDX_DIGEST_MAX 32

/* A full digest: 32 bytes for sha256*, 16 for xxhash*. */
typedef struct {
  uint8_t bytes[KVIDX_DIGEST_MAX];
  uint8_t len;
} kvidx_digest;

/* Parses "sha256", "sha256_cbor", "xxhash", "xxhash_cbor". */
KVIDX_EXPORT int kvidx_hash_algo_parse(const char *name, kvidx_hash_algo *out);
/* vLLM's name of an algorithm (static string), NULL for an invalid value. */
KVIDX_EXPORT const char *kvidx_hash_algo_name(kvidx_hash_algo algo);
/* The 64-bit wire form: last 8 bytes of the digest, big-endian. */
KVIDX_EXPORT uint64_t kvidx_digest_low64(const kvidx_digest *d);

typedef struct {
  kvidx_hash_algo algo; /* default KVIDX_HASH_SHA256 (vLLM's default) */
  /* PYTHONHASHSEED as a string ("" counts as set). NULL means unset, which is
   * KVIDX_HASH_SEED_VLLM_NONE in current vLLM. Default NULL. Copied. */
  const char *seed;
  uint32_t block_size; /* tokens per block, > 0; default 16 */
} kvidx_hasher_opts;

KVIDX_EXPORT void kvidx_hasher_opts_init(kvidx_hasher_opts *opts);

/* An immutable hashing configuration with its precomputed root digest.
 * Thread-safe for concurrent use once made. */
typedef struct kvidx_hasher kvidx_hasher;

KVIDX_EXPORT int kvidx_hasher_new(const kvidx_hasher_opts *opts,
                                  kvidx_hasher **out);
KVIDX_EXPORT void kvidx_hasher_free(kvidx_hasher *h);
KVIDX_EXPORT const kvidx_digest *kvidx_hasher_root(const kvidx_hasher *h);
KVIDX_EXPORT uint32_t kvidx_hasher_block_size(const kvidx_hasher *h);
KVIDX_EXPORT kvidx_hash_algo kvidx_hasher_algo(const kvidx_hasher *h);

/* One multimodal item: its identifier (vLLM's mm hash string) and the token
 * range [offset, offset + length) its placeholder occupies in the prompt. */
typedef struct {
  const char *identifier;
  uint32_t offset;
  uint32_t length;
} kvidx_mm_item;

/* Extra keys, all optional (NULL / 0 = absent). Strings are UTF-8. */
typedef struct {
  const char *lora_name;       /* LoRA adapter name, on every block */
  const char *cache_salt;      /* on the first block of a prompt only */
  const kvidx_mm_item *mm;     /* sorted by offset */
  size_t n_mm;
} kvidx_hash_extra;

/*
 * Hashes the full blocks of tokens[0..n_tokens): n_tokens / block_size blocks;
 * a partial trailing block is not hashed. The chain starts at parent (NULL =
 * the root digest, i.e. tokens[0] is the first token of the prompt, which is
 * also when cache_salt applies). first_token is the position of tokens[0] in
 * the whole prompt (for mm offsets and cache_salt; 0 when parent is NULL).
 * Writes at most max_blocks results to out_digests and/or out_keys (either may
 * be NULL). Returns the number of blocks written (>= 0) or a KVIDX_E* code.
 * Allocates nothing. Thread-safe.
 */
KVIDX_EXPORT int kvidx_hash_blocks(const kvidx_hasher *h,
                                   const kvidx_digest *parent,
                                   uint32_t first_token,
                                   const uint32_t *tokens, size_t n_tokens,
                                   const kvidx_hash_extra *extra,
                                   kvidx_digest *out_digests,
                                   uint64_t *out_keys, size_t max_blocks);

#ifdef __cplusplus
}
#endif
#endif /* KVIDX_HASH_H */

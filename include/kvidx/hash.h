/*
 * kvidx/hash.h: vLLM-exact prefix-caching block hashes.
 *
 * block_hash[i] = H((parent_digest, tuple(tokens of block i), extra_keys|None))
 * with H one of vLLM's four --prefix-caching-hash-algo values. The 64-bit
 * "wire" form of a digest (what vLLM puts in KV events as an int) is its last
 * 8 bytes read big-endian. Facts, byte layouts and limits: docs/hashing.md.
 *
 * Limits (inputs beyond them fail with KVIDX_ETOOBIG, never a wrong hash):
 * strings (seed, LoRA name, cache salt, mm identifier) up to
 * KVIDX_HASH_MAX_STR_LEN bytes; up to KVIDX_HASH_MAX_MM_PER_BLOCK multimodal
 * items overlapping one block; for the pickle algorithms ("sha256",
 * "xxhash") the pickle of one block must fit one 64 KiB pickle frame, which
 * every block of up to 9000 tokens with short extra keys does.
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
/* Longest string hashed (seed, LoRA name, cache salt, mm identifier). */
#define KVIDX_HASH_MAX_STR_LEN 4096
/* Most multimodal items that may overlap one block. */
#define KVIDX_HASH_MAX_MM_PER_BLOCK 64

/* A full digest: 32 bytes for sha256*, 16 for xxhash*. Bytes past len are
 * zero in digests kvidx produces. */
typedef struct {
  uint8_t bytes[KVIDX_DIGEST_MAX];
  uint8_t len;
} kvidx_digest;

/* Parses "sha256", "sha256_cbor", "xxhash", "xxhash_cbor" (exact, as vLLM's
 * flag). Returns 0 or KVIDX_EINVAL. Thread-safe. */
KVIDX_EXPORT int kvidx_hash_algo_parse(const char *name, kvidx_hash_algo *out);
/* vLLM's name of an algorithm (static string), NULL for an invalid value. */
KVIDX_EXPORT const char *kvidx_hash_algo_name(kvidx_hash_algo algo);
/* The 64-bit wire form: last 8 bytes of the digest, big-endian (fewer if the
 * digest is shorter). 0 for NULL. Thread-safe. */
KVIDX_EXPORT uint64_t kvidx_digest_low64(const kvidx_digest *d);
/* Writes the digest as lowercase hex plus a NUL into out (cap >= 2*len+1).
 * Returns the number of hex characters, KVIDX_ERANGE if cap is too small, or
 * KVIDX_EINVAL. */
KVIDX_EXPORT int kvidx_digest_to_hex(const kvidx_digest *d, char *out,
                                     size_t cap);
/* Parses 2..64 hex digits (either case) into a digest of len/2 bytes.
 * Returns 0, KVIDX_EPARSE for bad text, or KVIDX_EINVAL. */
KVIDX_EXPORT int kvidx_digest_from_hex(const char *hex, kvidx_digest *out);

typedef struct {
  kvidx_hash_algo algo; /* default KVIDX_HASH_SHA256 (vLLM's default) */
  /* PYTHONHASHSEED as a string ("" counts as set). NULL means unset, which is
   * KVIDX_HASH_SEED_VLLM_NONE in current vLLM. Default NULL. Copied. */
  const char *seed;
  uint32_t block_size; /* tokens per block, > 0; default 16 */
} kvidx_hasher_opts;

/* Fills opts with the defaults above. */
KVIDX_EXPORT void kvidx_hasher_opts_init(kvidx_hasher_opts *opts);

/* An immutable hashing configuration with its precomputed root digest
 * (vLLM's NONE_HASH = H(seed as a Python str)).
 * Thread-safe for concurrent use once made. */
typedef struct kvidx_hasher kvidx_hasher;

/*
 * Makes a hasher from opts (NULL = defaults). On success *out owns a new
 * hasher, released with kvidx_hasher_free(). Errors: KVIDX_EINVAL (bad algo,
 * block_size 0, out NULL), KVIDX_EUTF8 (seed not UTF-8), KVIDX_ETOOBIG (seed
 * longer than KVIDX_HASH_MAX_STR_LEN), KVIDX_ENOMEM.
 */
KVIDX_EXPORT int kvidx_hasher_new(const kvidx_hasher_opts *opts,
                                  kvidx_hasher **out);
/* Releases h (NULL is a no-op). No call on h may be running. */
KVIDX_EXPORT void kvidx_hasher_free(kvidx_hasher *h);
/* The root digest (NONE_HASH); lives as long as h. */
KVIDX_EXPORT const kvidx_digest *kvidx_hasher_root(const kvidx_hasher *h);
KVIDX_EXPORT uint32_t kvidx_hasher_block_size(const kvidx_hasher *h);
KVIDX_EXPORT kvidx_hash_algo kvidx_hasher_algo(const kvidx_hasher *h);
/* The seed string the root was derived from (KVIDX_HASH_SEED_VLLM_NONE when
 * opts.seed was NULL); lives as long as h. */
KVIDX_EXPORT const char *kvidx_hasher_seed(const kvidx_hasher *h);
/*
 * 1 when a vLLM engine configured alike produces these hashes, 0 when it
 * cannot: with the seed unset, vLLM derives the root of "xxhash" and
 * "xxhash_cbor" from random bytes per process (and vLLM releases before the
 * "vllm-none-hash" default did so for every algorithm). Then the events'
 * hashes must be mapped to kvidx's own (see kvidx_applier_opts).
 */
KVIDX_EXPORT int kvidx_hasher_reproducible(const kvidx_hasher *h);

/* One multimodal item: its identifier (vLLM's mm hash string) and the token
 * range [offset, offset + length) its placeholder occupies in the prompt. */
typedef struct {
  const char *identifier;
  uint32_t offset;
  uint32_t length;
} kvidx_mm_item;

/* Extra keys, all optional (NULL / 0 = absent). Strings are UTF-8.
 * lora_name "" is a present (empty) name, as in vLLM; cache_salt "" is
 * absent, as in vLLM. */
typedef struct {
  const char *lora_name;   /* LoRA adapter name, on every block */
  const char *cache_salt;  /* on the first block of a prompt only */
  const kvidx_mm_item *mm; /* sorted by offset */
  size_t n_mm;
} kvidx_hash_extra;

/*
 * Hashes the full blocks of tokens[0..n_tokens): n_tokens / block_size blocks;
 * a partial trailing block is not hashed. The chain starts at parent (NULL or
 * len 0 = the root digest, i.e. tokens[0] is the first token of the prompt).
 * first_token is the position of tokens[0] in the whole prompt: mm offsets
 * are relative to it and cache_salt applies to the block starting at 0 (pass
 * 0 when parent is NULL). Writes at most max_blocks results to out_digests
 * and/or out_keys (either may be NULL). Returns the number of blocks written
 * (>= 0) or KVIDX_EINVAL (NULL hasher/tokens, unsorted or NULL mm items),
 * KVIDX_EUTF8 (a string not UTF-8), KVIDX_ETOOBIG (a limit above); on error
 * the outputs may hold some blocks. Allocates nothing (uses ~8 KiB of stack).
 * Thread-safe.
 */
KVIDX_EXPORT int
kvidx_hash_blocks(const kvidx_hasher *h, const kvidx_digest *parent,
                  uint32_t first_token, const uint32_t *tokens, size_t n_tokens,
                  const kvidx_hash_extra *extra, kvidx_digest *out_digests,
                  uint64_t *out_keys, size_t max_blocks);

#ifdef __cplusplus
}
#endif
#endif /* KVIDX_HASH_H */

/*
 * key_cache.h: a shared, bounded cache from a cheap chained fingerprint of a
 * prompt's blocks (XXH3-64 of each block's token ids, seeded with the
 * previous block's fingerprint) to the block's vLLM digest.
 *
 * Why: hashing a prompt is SHA-256 (vLLM's default) over pickle bytes for
 * every block, about 100 ns per block here, and routers score the same
 * prefixes over and over (system prompts, multi-turn chats, retries). With
 * the cache, a seen block costs one XXH3 of 64 bytes and one table probe; the
 * digest chain continues from the last cached block. A wrong answer needs a
 * 64-bit XXH3 collision between two chains (about 2^-64 per pair, the same
 * order as vLLM's own 64-bit keys).
 *
 * Direct-mapped, one slot per fingerprint bucket, each slot a seqlock of
 * relaxed atomics: readers never block or write, writers skip a slot another
 * writer holds. Thread-safe.
 */
#ifndef KVIDX_INDEXER_KEY_CACHE_H
#define KVIDX_INDEXER_KEY_CACHE_H

#include "kvidx.h"

typedef struct kvidx__key_cache kvidx__key_cache;

/* slots is rounded up to a power of two; 0 = no cache (*out NULL). */
int kvidx__key_cache_new(size_t slots, kvidx__key_cache **out);
void kvidx__key_cache_free(kvidx__key_cache *kc);
/* Fingerprint of block tokens[0..n) chained after prev. */
uint64_t kvidx__key_cache_chain(uint64_t prev, const uint32_t *tokens,
                                size_t n);
/* The first fingerprint's seed for a request: depends on the LoRA name. */
uint64_t kvidx__key_cache_root(const char *lora_name);
/* Starts loading fp's slot (a hint; the table is megabytes, probes are
 * random, and a prompt's probes are known before the first one). */
void kvidx__key_cache_prefetch(const kvidx__key_cache *kc, uint64_t fp);
/* 1 and *d filled when fp is cached, 0 otherwise. */
int kvidx__key_cache_get(kvidx__key_cache *kc, uint64_t fp, kvidx_digest *d);
void kvidx__key_cache_put(kvidx__key_cache *kc, uint64_t fp,
                          const kvidx_digest *d);

#endif

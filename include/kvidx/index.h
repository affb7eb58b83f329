/*
 * kvidx/index.h: the block index — which pods hold which KV-cache blocks.
 *
 * Keys are (model, 64-bit block key). A value is the set of pods holding the
 * block, each with the device tiers it holds it in and a copy count per tier
 * (one engine can store the same hash in several physical blocks; the block
 * stays until its last copy is removed). Pods and models are interned to small
 * integer ids. Two backends share this interface: in-memory and Redis/Valkey.
 *
 * Every function here is thread-safe unless stated otherwise.
 */
#ifndef KVIDX_INDEX_H
#define KVIDX_INDEX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Device tiers, from an event's medium. */
typedef uint8_t kvidx_tier;
#define KVIDX_TIER_GPU ((kvidx_tier)0)
#define KVIDX_TIER_CPU ((kvidx_tier)1)
#define KVIDX_TIER_FS ((kvidx_tier)2)
#define KVIDX_TIER_OBJ ((kvidx_tier)3)
#define KVIDX_TIER_STORAGE ((kvidx_tier)4)
#define KVIDX_TIER_COUNT 5

/* Parses a medium name case-insensitively ("GPU", "cpu", "FS", "OBJ",
 * "STORAGE"). name NULL or len 0 means GPU (vLLM's nil medium). Unknown names
 * return KVIDX_ENOTFOUND. */
KVIDX_EXPORT int kvidx_tier_parse(const char *name, size_t len,
                                  kvidx_tier *out);
/* Lowercase tier name ("gpu", "cpu", ...); NULL for an invalid tier. */
KVIDX_EXPORT const char *kvidx_tier_name(kvidx_tier tier);

typedef struct kvidx_index kvidx_index;

typedef struct {
  /* Memory bound of the in-memory backend in bytes (0 = unbounded): block
   * tables plus holder arrays in use. When an insert would exceed it, least
   * recently used blocks are evicted (approximate LRU: CLOCK per shard, see
   * docs/index.md). Allocated memory (stats.bytes) may exceed it by the
   * holder arena's growth slack (at most 2x). */
  size_t max_bytes;
  /* llm-d's inMemoryConfig.size: max number of distinct block keys
   * (0 = unbounded). */
  size_t max_keys;
  /* llm-d's inMemoryConfig.podCacheSize: max pods per block key; adding one
   * more evicts that key's least recently added pod (0 = unbounded). */
  uint32_t max_pods_per_key;
} kvidx_index_opts;

KVIDX_EXPORT void kvidx_index_opts_init(kvidx_index_opts *opts);
KVIDX_EXPORT int kvidx_index_new_memory(const kvidx_index_opts *opts,
                                        kvidx_index **out);

typedef struct {
  /* redis://[user:pass@]host:port[/db], valkey://..., unix:///path.sock */
  const char *url;
  int connect_timeout_ms; /* default 1000 */
  int command_timeout_ms; /* default 500 */
  int key_ttl_s;          /* TTL on block keys, 0 = none (default) */
} kvidx_redis_opts;

KVIDX_EXPORT void kvidx_redis_opts_init(kvidx_redis_opts *opts);
/* Creates a Redis-backed index. Succeeds even when Redis is down (the index
 * then reports KVIDX_EUNAVAIL until it reconnects); fails on a bad URL. */
KVIDX_EXPORT int kvidx_index_new_redis(const kvidx_redis_opts *opts,
                                       kvidx_index **out);

/* Frees the index. No call may be in flight. */
KVIDX_EXPORT void kvidx_index_free(kvidx_index *idx);
/* "memory" or "redis". */
KVIDX_EXPORT const char *kvidx_index_backend(const kvidx_index *idx);
/* 0 when the backend can serve requests, KVIDX_EUNAVAIL otherwise. */
KVIDX_EXPORT int kvidx_index_ready(kvidx_index *idx);

/* ---- interning: names are copied and live as long as the index ---- */
KVIDX_EXPORT int kvidx_index_pod_id(kvidx_index *idx, const char *pod,
                                    uint32_t *id);
KVIDX_EXPORT int kvidx_index_find_pod(kvidx_index *idx, const char *pod,
                                      uint32_t *id); /* KVIDX_ENOTFOUND */
KVIDX_EXPORT const char *kvidx_index_pod_name(kvidx_index *idx, uint32_t id);
KVIDX_EXPORT int kvidx_index_model_id(kvidx_index *idx, const char *model,
                                      uint32_t *id);
KVIDX_EXPORT int kvidx_index_find_model(kvidx_index *idx, const char *model,
                                        uint32_t *id); /* KVIDX_ENOTFOUND */
KVIDX_EXPORT const char *kvidx_index_model_name(kvidx_index *idx, uint32_t id);

/* ---- writes ---- */
/* Adds one copy of each key for (pod, tier). */
KVIDX_EXPORT int kvidx_index_add(kvidx_index *idx, uint32_t model, uint32_t pod,
                                 kvidx_tier tier, const uint64_t *keys,
                                 size_t n);
/* Removes one copy of each key for (pod, tier); at zero copies in every tier
 * the pod no longer holds the key. Absent keys are skipped (not an error). */
KVIDX_EXPORT int kvidx_index_remove(kvidx_index *idx, uint32_t model,
                                    uint32_t pod, kvidx_tier tier,
                                    const uint64_t *keys, size_t n);
/* Removes every entry of the pod, all models and tiers. Costs time
 * proportional to the pod's entries at most, never a scan of the index (the
 * memory backend: O(1), the pod's holders become invisible at once and are
 * reclaimed lazily). The pod id stays valid; later adds start from zero. */
KVIDX_EXPORT int kvidx_index_clear_pod(kvidx_index *idx, uint32_t pod);

/* ---- engine keys -> request keys (when engine hashing differs) ---- */
KVIDX_EXPORT int kvidx_index_map_engine_keys(kvidx_index *idx, uint32_t model,
                                             const uint64_t *engine_keys,
                                             const uint64_t *request_keys,
                                             size_t n);
/* KVIDX_ENOTFOUND when the engine key is unknown. */
KVIDX_EXPORT int kvidx_index_resolve_engine_key(kvidx_index *idx,
                                                uint32_t model,
                                                uint64_t engine_key,
                                                uint64_t *request_key);
KVIDX_EXPORT int kvidx_index_unmap_engine_keys(kvidx_index *idx, uint32_t model,
                                               const uint64_t *engine_keys,
                                               size_t n);

/* ---- prefix lookup ---- */
typedef struct {
  uint32_t pod;
  uint8_t tiers; /* bit t set when the pod holds the key in tier t */
} kvidx_holder;

/*
 * Called once per key, in order, with the eligible pods holding keys[i]
 * (holders is owned by the index and valid only during the call; each pod
 * appears at most once). Return 0 to continue, non-zero to stop the lookup.
 * The memory backend calls it with no lock held, so it may call back into the
 * index; keys are read one at a time, so a concurrent writer's changes may be
 * seen for some keys and not for others.
 */
typedef int (*kvidx_lookup_fn)(void *userdata, size_t i,
                               const kvidx_holder *holders, size_t n_holders);

/*
 * Prefix lookup of keys[0..n) under model. When n_pods > 0 only those pods are
 * eligible. Stops at the first key that no eligible pod holds (that key is not
 * reported) or when cb asks to. Returns the number of keys reported (>= 0) or
 * a KVIDX_E* code (KVIDX_EUNAVAIL when the backend is down).
 */
KVIDX_EXPORT int kvidx_index_lookup(kvidx_index *idx, uint32_t model,
                                    const uint64_t *keys, size_t n,
                                    const uint32_t *pods, size_t n_pods,
                                    kvidx_lookup_fn cb, void *userdata);

/* ---- statistics ---- */
typedef struct {
  /* distinct (model, key) stored. Memory backend: includes keys whose only
   * holders were cleared pods, until the incremental sweeper reclaims them. */
  uint64_t keys;
  uint64_t entries;       /* (model, key, pod) with at least one copy */
  uint64_t bytes;         /* memory used by the in-memory backend */
  uint64_t pods;          /* interned pods */
  uint64_t adds;          /* copies added */
  uint64_t removes;       /* copies removed */
  uint64_t remove_misses; /* removes of absent (key, pod, tier) */
  uint64_t evictions;     /* keys evicted by the capacity bound */
  uint64_t clears;        /* clear_pod calls */
  uint64_t errors;        /* backend errors (Redis) */
  /* Holders dropped by max_pods_per_key (the key's least recently added pod
   * made room for a new one). */
  uint64_t pod_evictions;
} kvidx_index_stats;

KVIDX_EXPORT int kvidx_index_get_stats(kvidx_index *idx,
                                       kvidx_index_stats *out);
/* Number of keys the pod holds in each tier (blocks[t] for tier t). */
KVIDX_EXPORT int kvidx_index_pod_blocks(kvidx_index *idx, uint32_t pod,
                                        uint64_t blocks[KVIDX_TIER_COUNT]);

#ifdef __cplusplus
}
#endif
#endif /* KVIDX_INDEX_H */

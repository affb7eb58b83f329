/*
 * index_impl.h: the internal backend interface of the block index.
 *
 * A backend (memory.c, redis.c) implements the table of operations below and
 * embeds `struct kvidx_index` as the FIRST member of its own struct, so a
 * kvidx_index * can be cast to the backend's type. The common header holds
 * the vtable and the pod and model interners, which every backend shares
 * (the Redis backend needs the names for its keys).
 *
 * index.c implements the public kvidx_index_* functions: it validates the
 * arguments once (NULL pointers, ids that were never interned, tiers out of
 * range, n == 0 shortcuts) and then dispatches, so backends may assume:
 *  - idx is non-NULL and of their type;
 *  - model and pod ids were handed out by the interners (< their count);
 *  - tier < KVIDX_TIER_COUNT; keys (and request_keys) non-NULL and n > 0;
 *  - lookup: cb non-NULL, n > 0, every id in pods[0..n_pods) interned.
 * Backends return 0 or a negative KVIDX_E* code, as the public contract in
 * include/kvidx/index.h says.
 */
#ifndef KVIDX_INDEX_IMPL_H
#define KVIDX_INDEX_IMPL_H

#include "index/intern.h"
#include "kvidx.h"

/* Named limits shared by the backends. */
#define KVIDX_INDEX_MAX_PODS (1u << 20)   /* interned pods per index */
#define KVIDX_INDEX_MAX_MODELS (1u << 12) /* interned models per index */

typedef struct kvidx__index_ops {
  const char *name; /* "memory", "redis" */
  int (*ready)(kvidx_index *idx);
  int (*add)(kvidx_index *idx, uint32_t model, uint32_t pod, kvidx_tier tier,
             const uint64_t *keys, size_t n);
  int (*remove)(kvidx_index *idx, uint32_t model, uint32_t pod, kvidx_tier tier,
                const uint64_t *keys, size_t n);
  int (*clear_pod)(kvidx_index *idx, uint32_t pod);
  int (*map_engine_keys)(kvidx_index *idx, uint32_t model,
                         const uint64_t *engine_keys,
                         const uint64_t *request_keys, size_t n);
  int (*resolve_engine_key)(kvidx_index *idx, uint32_t model,
                            uint64_t engine_key, uint64_t *request_key);
  int (*unmap_engine_keys)(kvidx_index *idx, uint32_t model,
                           const uint64_t *engine_keys, size_t n);
  int (*lookup)(kvidx_index *idx, uint32_t model, const uint64_t *keys,
                size_t n, const uint32_t *pods, size_t n_pods,
                kvidx_lookup_fn cb, void *userdata);
  /* Fills every field except `pods` (index.c sets it from the interner). */
  int (*get_stats)(kvidx_index *idx, kvidx_index_stats *out);
  int (*pod_blocks)(kvidx_index *idx, uint32_t pod,
                    uint64_t blocks[KVIDX_TIER_COUNT]);
  /* Releases the backend and then calls kvidx__index_base_destroy(). */
  void (*free)(kvidx_index *idx);
} kvidx__index_ops;

struct kvidx_index {
  const kvidx__index_ops *ops;
  kvidx__intern pods;
  kvidx__intern models;
};

/* Initialises the common header (ops + empty interners). KVIDX_ENOMEM. */
int kvidx__index_base_init(kvidx_index *idx, const kvidx__index_ops *ops);
/* Releases the interners (the names returned by *_name() die here). */
void kvidx__index_base_destroy(kvidx_index *idx);

#endif

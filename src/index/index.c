/*
 * index.c: the public kvidx_index_* API. Validates arguments once, then
 * dispatches through the backend's table of operations (index_impl.h).
 * Also holds what every backend shares: tier names, the interners, options.
 */
#include <limits.h>
#include <string.h>
#include <strings.h>

#include "index/index_impl.h"

/* ---- tiers --------------------------------------------------------------*/

static const char *const tier_names[KVIDX_TIER_COUNT] = {"gpu", "cpu", "fs",
                                                         "obj", "storage"};

int kvidx_tier_parse(const char *name, size_t len, kvidx_tier *out) {
  if (out == NULL)
    return KVIDX_EINVAL;
  if (name == NULL || len == 0) {
    *out = KVIDX_TIER_GPU; /* vLLM's nil medium */
    return 0;
  }
  for (unsigned t = 0; t < KVIDX_TIER_COUNT; t++) {
    if (strlen(tier_names[t]) == len &&
        strncasecmp(tier_names[t], name, len) == 0) {
      *out = (kvidx_tier)t;
      return 0;
    }
  }
  return KVIDX_ENOTFOUND;
}

const char *kvidx_tier_name(kvidx_tier tier) {
  return tier < KVIDX_TIER_COUNT ? tier_names[tier] : NULL;
}

/* ---- life cycle ---------------------------------------------------------*/

void kvidx_index_opts_init(kvidx_index_opts *opts) {
  if (opts == NULL)
    return;
  memset(opts, 0, sizeof *opts);
}

int kvidx__index_base_init(kvidx_index *idx, const kvidx__index_ops *ops) {
  idx->ops = ops;
  int rc = kvidx__intern_init(&idx->pods, KVIDX_INDEX_MAX_PODS);
  if (rc != 0)
    return rc;
  rc = kvidx__intern_init(&idx->models, KVIDX_INDEX_MAX_MODELS);
  if (rc != 0) {
    kvidx__intern_destroy(&idx->pods);
    return rc;
  }
  return 0;
}

void kvidx__index_base_destroy(kvidx_index *idx) {
  kvidx__intern_destroy(&idx->pods);
  kvidx__intern_destroy(&idx->models);
}

void kvidx_index_free(kvidx_index *idx) {
  if (idx != NULL)
    idx->ops->free(idx);
}

const char *kvidx_index_backend(const kvidx_index *idx) {
  return idx != NULL ? idx->ops->name : NULL;
}

int kvidx_index_ready(kvidx_index *idx) {
  return idx != NULL ? idx->ops->ready(idx) : KVIDX_EINVAL;
}

/* ---- interning ----------------------------------------------------------*/

int kvidx_index_pod_id(kvidx_index *idx, const char *pod, uint32_t *id) {
  return idx != NULL ? kvidx__intern_get(&idx->pods, pod, id) : KVIDX_EINVAL;
}

int kvidx_index_find_pod(kvidx_index *idx, const char *pod, uint32_t *id) {
  return idx != NULL ? kvidx__intern_find(&idx->pods, pod, id) : KVIDX_EINVAL;
}

const char *kvidx_index_pod_name(kvidx_index *idx, uint32_t id) {
  return idx != NULL ? kvidx__intern_name(&idx->pods, id) : NULL;
}

int kvidx_index_model_id(kvidx_index *idx, const char *model, uint32_t *id) {
  return idx != NULL ? kvidx__intern_get(&idx->models, model, id)
                     : KVIDX_EINVAL;
}

int kvidx_index_find_model(kvidx_index *idx, const char *model, uint32_t *id) {
  return idx != NULL ? kvidx__intern_find(&idx->models, model, id)
                     : KVIDX_EINVAL;
}

const char *kvidx_index_model_name(kvidx_index *idx, uint32_t id) {
  return idx != NULL ? kvidx__intern_name(&idx->models, id) : NULL;
}

/* ---- validation helpers -------------------------------------------------*/

static int valid_model(kvidx_index *idx, uint32_t model) {
  return model < kvidx__intern_count(&idx->models);
}

static int valid_pod(kvidx_index *idx, uint32_t pod) {
  return pod < kvidx__intern_count(&idx->pods);
}

static int check_write(kvidx_index *idx, uint32_t model, uint32_t pod,
                       kvidx_tier tier, const uint64_t *keys, size_t n) {
  if (idx == NULL || (keys == NULL && n > 0) || tier >= KVIDX_TIER_COUNT)
    return KVIDX_EINVAL;
  if (!valid_model(idx, model) || !valid_pod(idx, pod))
    return KVIDX_EINVAL;
  return 0;
}

/* ---- writes -------------------------------------------------------------*/

int kvidx_index_add(kvidx_index *idx, uint32_t model, uint32_t pod,
                    kvidx_tier tier, const uint64_t *keys, size_t n) {
  int rc = check_write(idx, model, pod, tier, keys, n);
  if (rc != 0 || n == 0)
    return rc;
  return idx->ops->add(idx, model, pod, tier, keys, n);
}

int kvidx_index_remove(kvidx_index *idx, uint32_t model, uint32_t pod,
                       kvidx_tier tier, const uint64_t *keys, size_t n) {
  int rc = check_write(idx, model, pod, tier, keys, n);
  if (rc != 0 || n == 0)
    return rc;
  return idx->ops->remove(idx, model, pod, tier, keys, n);
}

int kvidx_index_clear_pod(kvidx_index *idx, uint32_t pod) {
  if (idx == NULL || !valid_pod(idx, pod))
    return KVIDX_EINVAL;
  return idx->ops->clear_pod(idx, pod);
}

/* ---- engine keys --------------------------------------------------------*/

int kvidx_index_map_engine_keys(kvidx_index *idx, uint32_t model,
                                const uint64_t *engine_keys,
                                const uint64_t *request_keys, size_t n) {
  if (idx == NULL || !valid_model(idx, model) ||
      (n > 0 && (engine_keys == NULL || request_keys == NULL)))
    return KVIDX_EINVAL;
  if (n == 0)
    return 0;
  return idx->ops->map_engine_keys(idx, model, engine_keys, request_keys, n);
}

int kvidx_index_resolve_engine_key(kvidx_index *idx, uint32_t model,
                                   uint64_t engine_key, uint64_t *request_key) {
  if (idx == NULL || request_key == NULL || !valid_model(idx, model))
    return KVIDX_EINVAL;
  return idx->ops->resolve_engine_key(idx, model, engine_key, request_key);
}

int kvidx_index_unmap_engine_keys(kvidx_index *idx, uint32_t model,
                                  const uint64_t *engine_keys, size_t n) {
  if (idx == NULL || !valid_model(idx, model) || (n > 0 && engine_keys == NULL))
    return KVIDX_EINVAL;
  if (n == 0)
    return 0;
  return idx->ops->unmap_engine_keys(idx, model, engine_keys, n);
}

/* ---- lookup -------------------------------------------------------------*/

int kvidx_index_lookup(kvidx_index *idx, uint32_t model, const uint64_t *keys,
                       size_t n, const uint32_t *pods, size_t n_pods,
                       kvidx_lookup_fn cb, void *userdata) {
  if (idx == NULL || cb == NULL || (keys == NULL && n > 0) ||
      (pods == NULL && n_pods > 0) || !valid_model(idx, model))
    return KVIDX_EINVAL;
  /* The largest id decides (a loop without an early exit vectorises: 1,000
   * candidate pods are checked per scored prompt). */
  uint32_t n_interned = kvidx__intern_count(&idx->pods), max_pod = 0;
  for (size_t i = 0; i < n_pods; i++)
    max_pod = pods[i] > max_pod ? pods[i] : max_pod;
  if (n_pods > 0 && max_pod >= n_interned)
    return KVIDX_EINVAL;
  if (n == 0)
    return 0;
  if (n > (size_t)INT_MAX)
    return KVIDX_ETOOBIG; /* the count of reported keys must fit the int */
  return idx->ops->lookup(idx, model, keys, n, pods, n_pods, cb, userdata);
}

/* ---- statistics ---------------------------------------------------------*/

int kvidx_index_get_stats(kvidx_index *idx, kvidx_index_stats *out) {
  if (idx == NULL || out == NULL)
    return KVIDX_EINVAL;
  memset(out, 0, sizeof *out);
  int rc = idx->ops->get_stats(idx, out);
  out->pods = kvidx__intern_count(&idx->pods);
  return rc;
}

int kvidx_index_pod_blocks(kvidx_index *idx, uint32_t pod,
                           uint64_t blocks[KVIDX_TIER_COUNT]) {
  if (idx == NULL || blocks == NULL || !valid_pod(idx, pod))
    return KVIDX_EINVAL;
  memset(blocks, 0, sizeof(uint64_t) * KVIDX_TIER_COUNT);
  return idx->ops->pod_blocks(idx, pod, blocks);
}

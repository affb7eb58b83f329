/*
 * apply.c: kvidx_applier — turns decoded events of one pod into index writes.
 *
 * Two key modes (docs/events.md):
 *  - engine_hashes_match (default): kvidx hashes exactly as the engines do,
 *    so an event's block hashes are the index keys, and applying is one
 *    kvidx_index_add/remove per event.
 *  - otherwise, as llm-d does: kvidx computes its own keys from token_ids,
 *    chained from the parent block, records engine -> request key in the
 *    index (kvidx_index_map_engine_keys) so that BlockRemoved and CPU-offload
 *    events, which carry only engine hashes, can be translated. Chaining
 *    needs the parent's full digest, which this file keeps in a bounded
 *    direct-mapped cache keyed by (model, engine hash).
 *
 * Hybrid models send one Stored/Removed per KV-cache group (group_idx).
 * Presence is decided by one full-attention group per pod: the lowest group
 * whose kv_cache_spec_kind is a full-attention kind, or group 0 while no kind
 * has been seen. Events of other groups are counted and ignored, so a sliding
 * window group evicting its copy never removes a block the full-attention
 * group still holds.
 *
 * Per-pod state (interned ids, decoder scratch, learned groups) lives in a
 * table under a mutex taken once per batch; the state itself is touched only
 * by the thread applying that pod's batch (one at a time, by contract).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "events/decode_internal.h"
#include "events/topic.h"
#include "kvidx.h"

#define POD_BUCKETS 1024
#define DIGEST_STRIPES 64

typedef struct pod_entry {
  struct pod_entry *next;
  char *name;
  uint32_t pod_id;
  uint32_t model_id;
  char model[KVIDX_EVENTS_MAX_NAME + 1]; /* "" until the first batch */
  kvidx_decoder *dec;
  uint64_t full_groups, other_groups; /* learned kv_cache_spec_kind bits */
  uint64_t *keys;                     /* scratch: request keys */
  kvidx_digest *digests;              /* scratch: request digests */
  size_t scratch_cap;
} pod_entry;

typedef struct {
  uint64_t engine_key;
  uint32_t model;
  uint32_t used;
  kvidx_digest digest;
} digest_slot;

typedef struct {
  _Atomic uint64_t batches, events_stored, events_removed, events_cleared;
  _Atomic uint64_t events_unknown, events_ignored_group;
  _Atomic uint64_t blocks_added, blocks_removed, decode_errors, apply_errors;
  _Atomic uint64_t unresolved_parents;
} applier_counters;

struct kvidx_applier {
  kvidx_applier_opts opts;
  pthread_mutex_t pods_mu;
  pod_entry *pods[POD_BUCKETS];
  digest_slot *cache;
  size_t cache_mask;
  pthread_mutex_t stripes[DIGEST_STRIPES];
  applier_counters c;
};

void kvidx_applier_opts_init(kvidx_applier_opts *o) {
  memset(o, 0, sizeof *o);
  o->engine_hashes_match = 1;
  o->digest_cache_entries = 262144;
}

int kvidx_applier_new(const kvidx_applier_opts *opts, kvidx_applier **out) {
  if (opts == NULL || out == NULL || opts->index == NULL ||
      opts->hasher == NULL)
    return KVIDX_EINVAL;
  kvidx_applier *a = calloc(1, sizeof *a);
  if (a == NULL)
    return KVIDX_ENOMEM;
  a->opts = *opts;
  pthread_mutex_init(&a->pods_mu, NULL);
  for (int i = 0; i < DIGEST_STRIPES; i++)
    pthread_mutex_init(&a->stripes[i], NULL);
  if (!opts->engine_hashes_match) {
    size_t n = 64;
    while (n < opts->digest_cache_entries)
      n *= 2;
    a->cache = calloc(n, sizeof *a->cache);
    if (a->cache == NULL) {
      kvidx_applier_free(a);
      return KVIDX_ENOMEM;
    }
    a->cache_mask = n - 1;
  }
  *out = a;
  return 0;
}

void kvidx_applier_free(kvidx_applier *a) {
  if (a == NULL)
    return;
  for (size_t b = 0; b < POD_BUCKETS; b++) {
    for (pod_entry *p = a->pods[b], *n; p; p = n) {
      n = p->next;
      kvidx_decoder_free(p->dec);
      free(p->name);
      free(p->keys);
      free(p->digests);
      free(p);
    }
  }
  free(a->cache);
  for (int i = 0; i < DIGEST_STRIPES; i++)
    pthread_mutex_destroy(&a->stripes[i]);
  pthread_mutex_destroy(&a->pods_mu);
  free(a);
}

static uint32_t name_hash(const char *s) {
  uint32_t h = 2166136261u;
  for (; *s; s++)
    h = (h ^ (uint8_t)*s) * 16777619u;
  return h;
}

/* Finds or creates the state of pod (interning it in the index). */
static int get_pod(kvidx_applier *a, const char *pod, pod_entry **out) {
  uint32_t b = name_hash(pod) % POD_BUCKETS;
  pthread_mutex_lock(&a->pods_mu);
  for (pod_entry *p = a->pods[b]; p; p = p->next) {
    if (strcmp(p->name, pod) == 0) {
      pthread_mutex_unlock(&a->pods_mu);
      *out = p;
      return 0;
    }
  }
  pod_entry *p = calloc(1, sizeof *p);
  int rc = p ? 0 : KVIDX_ENOMEM;
  if (rc == 0 &&
      ((p->name = strdup(pod)) == NULL || kvidx_decoder_new(&p->dec) != 0))
    rc = KVIDX_ENOMEM;
  if (rc == 0)
    rc = kvidx_index_pod_id(a->opts.index, pod, &p->pod_id);
  if (rc != 0) {
    if (p) {
      kvidx_decoder_free(p->dec);
      free(p->name);
      free(p);
    }
    pthread_mutex_unlock(&a->pods_mu);
    return rc;
  }
  p->next = a->pods[b];
  a->pods[b] = p;
  pthread_mutex_unlock(&a->pods_mu);
  *out = p;
  return 0;
}

/* ---- hybrid groups ------------------------------------------------------ */

static int is_full_attention(const char *k, size_t n) {
  static const char suffix[] = "full_attention";
  size_t sn = sizeof suffix - 1;
  return (n == 13 && memcmp(k, "mla_attention", 13) == 0) ||
         (n >= sn && memcmp(k + n - sn, suffix, sn) == 0);
}

/* 1 when ev's group decides presence for this pod (see the file comment). */
static int group_applies(pod_entry *pe, const kvidx_event *ev) {
  int32_t g = ev->group_idx;
  if (g < 0)
    return 1;
  if (ev->type == KVIDX_EVENT_BLOCK_STORED && ev->spec_kind != NULL && g < 64) {
    uint64_t bit = (uint64_t)1 << g;
    if (is_full_attention(ev->spec_kind, ev->spec_kind_len)) {
      pe->full_groups |= bit;
      pe->other_groups &= ~bit;
    } else {
      pe->other_groups |= bit;
      pe->full_groups &= ~bit;
    }
  }
  if (pe->full_groups != 0)
    return g < 64 && g == __builtin_ctzll(pe->full_groups);
  return g == 0 && !(pe->other_groups & 1);
}

/* ---- digest cache (engine_hashes_match == 0) ---------------------------- */

static size_t slot_of(const kvidx_applier *a, uint32_t model, uint64_t key) {
  uint64_t h =
      (key ^ ((uint64_t)model * 0x9e3779b97f4a7c15ULL)) * 0xff51afd7ed558ccdULL;
  return (size_t)(h >> 20) & a->cache_mask;
}

static void cache_put(kvidx_applier *a, uint32_t model, uint64_t key,
                      const kvidx_digest *d) {
  size_t i = slot_of(a, model, key);
  pthread_mutex_t *m = &a->stripes[i % DIGEST_STRIPES];
  pthread_mutex_lock(m);
  a->cache[i].engine_key = key;
  a->cache[i].model = model;
  a->cache[i].used = 1;
  a->cache[i].digest = *d;
  pthread_mutex_unlock(m);
}

static int cache_get(kvidx_applier *a, uint32_t model, uint64_t key,
                     kvidx_digest *d) {
  size_t i = slot_of(a, model, key);
  pthread_mutex_t *m = &a->stripes[i % DIGEST_STRIPES];
  pthread_mutex_lock(m);
  int hit = a->cache[i].used && a->cache[i].engine_key == key &&
            a->cache[i].model == model;
  if (hit)
    *d = a->cache[i].digest;
  pthread_mutex_unlock(m);
  return hit;
}

/* ---- events ------------------------------------------------------------- */

typedef struct {
  kvidx_applier *a;
  pod_entry *pe;
  const char *pod;
} apply_ctx;

static int reserve_scratch(pod_entry *pe, size_t n) {
  if (n <= pe->scratch_cap)
    return 0;
  size_t cap = pe->scratch_cap ? pe->scratch_cap : 64;
  while (cap < n)
    cap *= 2;
  uint64_t *k = realloc(pe->keys, cap * sizeof *k);
  if (k == NULL)
    return KVIDX_ENOMEM;
  pe->keys = k;
  kvidx_digest *d = realloc(pe->digests, cap * sizeof *d);
  if (d == NULL)
    return KVIDX_ENOMEM;
  pe->digests = d;
  pe->scratch_cap = cap;
  return 0;
}

static void apply_error(apply_ctx *x, const char *what, int rc) {
  uint64_t n = atomic_fetch_add(&x->a->c.apply_errors, 1) + 1;
  if (n <= 20 || n % 1000 == 0)
    kvidx_log_warn("events",
                   "event not applied: %s pod=%s err=%s "
                   "apply_errors=%llu",
                   what, x->pod, kvidx_err_name(rc), (unsigned long long)n);
}

/* Translates engine hashes to request keys through the index's map; keys
 * without a mapping are left out. Returns the number translated. */
static size_t resolve_all(apply_ctx *x, const kvidx_event *ev) {
  size_t m = 0;
  for (size_t i = 0; i < ev->n_block_hashes; i++) {
    uint64_t rk;
    if (kvidx_index_resolve_engine_key(x->a->opts.index, x->pe->model_id,
                                       ev->block_hashes[i], &rk) == 0)
      x->pe->keys[m++] = rk;
  }
  return m;
}

/* BlockStored when kvidx computes its own keys. */
static int stored_own_keys(apply_ctx *x, const kvidx_event *ev) {
  kvidx_applier *a = x->a;
  pod_entry *pe = x->pe;
  size_t n = ev->n_block_hashes;
  if (ev->n_token_ids == 0) { /* CPU offload: a tier for known blocks */
    size_t m = resolve_all(x, ev);
    atomic_fetch_add(&a->c.blocks_added, m);
    return m ? kvidx_index_add(a->opts.index, pe->model_id, pe->pod_id,
                               ev->tier, pe->keys, m)
             : 0;
  }
  uint32_t bs = kvidx_hasher_block_size(a->opts.hasher);
  if (ev->n_token_ids != n * (size_t)bs) {
    apply_error(x, "token_ids length is not block_hashes x block size",
                KVIDX_EPROTO);
    return 0;
  }
  kvidx_digest parent;
  if (ev->has_parent &&
      !cache_get(a, pe->model_id, ev->parent_block_hash, &parent)) {
    atomic_fetch_add(&a->c.unresolved_parents, 1);
    return 0;
  }
  char lora[KVIDX_EVENTS_MAX_NAME + 1];
  kvidx_hash_extra extra;
  memset(&extra, 0, sizeof extra);
  if (ev->lora_name != NULL && ev->lora_name_len <= KVIDX_EVENTS_MAX_NAME) {
    memcpy(lora, ev->lora_name, ev->lora_name_len);
    lora[ev->lora_name_len] = '\0';
    extra.lora_name = lora;
  }
  /* The event does not say where in the prompt its first token is; any
   * non-zero position keeps cache_salt (first block only) out. */
  int got = kvidx_hash_blocks(
      a->opts.hasher, ev->has_parent ? &parent : NULL, ev->has_parent ? bs : 0,
      ev->token_ids, ev->n_token_ids, &extra, pe->digests, pe->keys, n);
  if (got < 0 || (size_t)got != n) {
    apply_error(x, "hashing token_ids failed", got < 0 ? got : KVIDX_ERANGE);
    return 0;
  }
  for (size_t i = 0; i < n; i++)
    cache_put(a, pe->model_id, ev->block_hashes[i], &pe->digests[i]);
  int rc = kvidx_index_map_engine_keys(a->opts.index, pe->model_id,
                                       ev->block_hashes, pe->keys, n);
  if (rc == 0)
    rc = kvidx_index_add(a->opts.index, pe->model_id, pe->pod_id, ev->tier,
                         pe->keys, n);
  if (rc == 0)
    atomic_fetch_add(&a->c.blocks_added, n);
  return rc;
}

static int on_event(void *userdata, const kvidx_event *ev) {
  apply_ctx *x = userdata;
  kvidx_applier *a = x->a;
  pod_entry *pe = x->pe;
  int rc = 0;
  if (ev->type == KVIDX_EVENT_ALL_BLOCKS_CLEARED) {
    atomic_fetch_add(&a->c.events_cleared, 1);
    rc = kvidx_index_clear_pod(a->opts.index, pe->pod_id);
    if (rc != 0)
      apply_error(x, "AllBlocksCleared", rc);
    return 0;
  }
  int stored = ev->type == KVIDX_EVENT_BLOCK_STORED;
  atomic_fetch_add(stored ? &a->c.events_stored : &a->c.events_removed, 1);
  if (!group_applies(pe, ev)) {
    atomic_fetch_add(&a->c.events_ignored_group, 1);
    return 0;
  }
  if (reserve_scratch(pe, ev->n_block_hashes) != 0) {
    apply_error(x, "out of memory", KVIDX_ENOMEM);
    return 0;
  }
  if (a->opts.engine_hashes_match) {
    if (stored) {
      rc = kvidx_index_add(a->opts.index, pe->model_id, pe->pod_id, ev->tier,
                           ev->block_hashes, ev->n_block_hashes);
      if (rc == 0)
        atomic_fetch_add(&a->c.blocks_added, ev->n_block_hashes);
    } else {
      rc = kvidx_index_remove(a->opts.index, pe->model_id, pe->pod_id, ev->tier,
                              ev->block_hashes, ev->n_block_hashes);
      if (rc == 0)
        atomic_fetch_add(&a->c.blocks_removed, ev->n_block_hashes);
    }
  } else if (stored) {
    rc = stored_own_keys(x, ev);
  } else {
    size_t m = resolve_all(x, ev);
    rc = m ? kvidx_index_remove(a->opts.index, pe->model_id, pe->pod_id,
                                ev->tier, pe->keys, m)
           : 0;
    if (rc == 0)
      atomic_fetch_add(&a->c.blocks_removed, m);
  }
  if (rc != 0)
    apply_error(x, stored ? "BlockStored" : "BlockRemoved", rc);
  return 0;
}

int kvidx_applier_apply_batch(kvidx_applier *a, const char *pod,
                              const char *model, const uint8_t *payload,
                              size_t len) {
  if (a == NULL || pod == NULL || model == NULL ||
      (payload == NULL && len > 0) || strlen(model) > KVIDX_EVENTS_MAX_NAME)
    return KVIDX_EINVAL;
  pod_entry *pe;
  int rc = get_pod(a, pod, &pe);
  if (rc != 0)
    return rc;
  if (strcmp(pe->model, model) != 0) {
    rc = kvidx_index_model_id(a->opts.index, model, &pe->model_id);
    if (rc != 0)
      return rc;
    strcpy(pe->model, model);
  }
  atomic_fetch_add(&a->c.batches, 1);
  apply_ctx x = {a, pe, pod};
  kvidx_batch_info info;
  rc = kvidx_batch_decode(pe->dec, payload, len, on_event, &x, &info);
  if (info.n_skipped)
    atomic_fetch_add(&a->c.events_unknown, info.n_skipped);
  if (rc != 0) {
    uint64_t n = atomic_fetch_add(&a->c.decode_errors, 1) + 1;
    if (n <= 20 || n % 1000 == 0)
      kvidx_log_warn("events",
                     "malformed batch dropped: %s at byte %zu of "
                     "%zu pod=%s err=%s decode_errors=%llu",
                     info.error ? info.error : "?", info.error_offset, len, pod,
                     kvidx_err_name(rc), (unsigned long long)n);
  }
  return rc;
}

int kvidx_applier_clear_pod(kvidx_applier *a, const char *pod) {
  if (a == NULL || pod == NULL)
    return KVIDX_EINVAL;
  uint32_t id;
  int rc = kvidx_index_find_pod(a->opts.index, pod, &id);
  if (rc != 0)
    return rc;
  return kvidx_index_clear_pod(a->opts.index, id);
}

void kvidx_applier_get_stats(kvidx_applier *a, kvidx_applier_stats *o) {
  memset(o, 0, sizeof *o);
  if (a == NULL)
    return;
  o->batches = atomic_load(&a->c.batches);
  o->events_stored = atomic_load(&a->c.events_stored);
  o->events_removed = atomic_load(&a->c.events_removed);
  o->events_cleared = atomic_load(&a->c.events_cleared);
  o->events_unknown = atomic_load(&a->c.events_unknown);
  o->events_ignored_group = atomic_load(&a->c.events_ignored_group);
  o->blocks_added = atomic_load(&a->c.blocks_added);
  o->blocks_removed = atomic_load(&a->c.blocks_removed);
  o->decode_errors = atomic_load(&a->c.decode_errors);
  o->apply_errors = atomic_load(&a->c.apply_errors);
  o->unresolved_parents = atomic_load(&a->c.unresolved_parents);
}

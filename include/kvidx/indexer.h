/*
 * kvidx/indexer.h: the indexer — the one object an application embeds. It
 * ties together hashing, the block index, the scorer, the tokenizers and the
 * event ingestion, and is what kvidxd serves over HTTP.
 *
 * Read path: prompt text -> tokenizer (through the prefix store) -> token ids
 * -> block keys (kvidx_hash_blocks) -> prefix lookup + tier-weighted scoring
 * (kvidx_score_prefix). Write path: ZeroMQ -> kvidx_ingestor -> kvidx_applier
 * -> kvidx_index. See docs/architecture.md.
 *
 * Threading: after kvidx_indexer_new() every function except _free() is
 * thread-safe. Scoring and tokenizing calls take a caller-owned
 * kvidx_score_result / kvidx_encoding that holds reusable buffers, so a
 * thread that keeps one per thread allocates nothing per request in steady
 * state.
 */
#ifndef KVIDX_INDEXER_H
#define KVIDX_INDEXER_H

#include <stddef.h>
#include <stdint.h>

#include "kvidx/events.h"
#include "kvidx/hash.h"
#include "kvidx/index.h"
#include "kvidx/score.h"
#include "kvidx/tokenizer.h"
#include "kvidx/tokenizer_registry.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kvidx_indexer kvidx_indexer;

/* Default limit on the tokens of one scoring request (an 8k..128k context
 * fits; anything larger is refused with KVIDX_ELIMIT). */
#define KVIDX_INDEXER_MAX_TOKENS_DEFAULT (1u << 20)

typedef struct {
  /* Block hashing, the same as the vLLM engines (block size, algo, seed). */
  kvidx_hasher_opts hasher;
  /* Index backend: Redis when redis.url is non-NULL, memory otherwise. */
  kvidx_index_opts memory;
  kvidx_redis_opts redis;
  /* Tier weights for scoring (gpu 1.0, cpu 0.8 by default). */
  kvidx_tier_weights weights;
  /* Tokenizers: auto-discovery, hub download, LRU. */
  kvidx_tokenizer_registry_opts tokenizers;
  /* Explicit model -> tokenizer.json map, n_model_tokenizers pairs. */
  const char *const *model_names;
  const char *const *model_tokenizer_paths;
  size_t n_model_tokenizers;
  /* Prefix store (llm-d's LRUTokenStore); use_prefix_store 0 disables it. */
  int use_prefix_store;
  kvidx_prefix_store_opts prefix_store;
  /* Cached tokens are used when they cover at least this fraction of the
   * prompt (llm-d minPrefixOverlapRatio, default 0.8). */
  double min_prefix_overlap;
  /* Event ingestion; use_events 0 = no ZeroMQ (an index fed in-process). */
  int use_events;
  kvidx_ingestor_opts ingestor;
  const kvidx_pod_endpoint *connect_pods; /* connect mode, n_connect_pods */
  size_t n_connect_pods;
  /* See kvidx_applier_opts.engine_hashes_match (default 1). */
  int engine_hashes_match;
  /* Largest token count accepted by the scoring calls. */
  size_t max_tokens;
  /* Slots of the read path's block-key cache (cheap fingerprint of a
   * prompt's blocks -> vLLM digest; 64 bytes each), 0 = no cache. Default
   * 65536. See docs/architecture.md. */
  size_t key_cache_slots;
} kvidx_indexer_opts;

/* Fills opts with defaults: sha256, seed unset, block size 16, memory index,
 * prefix store on, events on with kvidx_ingestor_opts_init()'s defaults
 * (no bind endpoint: set ingestor.bind_endpoint to receive). */
KVIDX_EXPORT void kvidx_indexer_opts_init(kvidx_indexer_opts *opts);

/*
 * Makes an indexer: hasher, index, applier, tokenizer registry, prefix store
 * and (when use_events) the ingestor, which is not started yet. Strings in
 * opts are copied or consumed during the call. Returns 0, KVIDX_EINVAL /
 * KVIDX_ECONFIG for bad options (logged with the reason), KVIDX_ENOMEM.
 * A Redis backend that is down is not an error (see kvidx_indexer_ready).
 */
KVIDX_EXPORT int kvidx_indexer_new(const kvidx_indexer_opts *opts,
                                   kvidx_indexer **out);
/* Starts event ingestion (binds and connects). No-op without events.
 * Returns 0 or the ingestor's error (e.g. KVIDX_EIO when the bind fails). */
KVIDX_EXPORT int kvidx_indexer_start(kvidx_indexer *ix);
/* Stops ingestion and drains the queues. Idempotent. */
KVIDX_EXPORT void kvidx_indexer_stop(kvidx_indexer *ix);
/* Stops and frees everything. No other call may be in flight. */
KVIDX_EXPORT void kvidx_indexer_free(kvidx_indexer *ix);

/* 0 when scoring can be served (index backend reachable), else
 * KVIDX_EUNAVAIL. */
KVIDX_EXPORT int kvidx_indexer_ready(kvidx_indexer *ix);
/* The parts, for applications that need them directly. Owned by ix; valid
 * until kvidx_indexer_free. The ingestor is NULL without events. */
KVIDX_EXPORT kvidx_index *kvidx_indexer_index(kvidx_indexer *ix);
KVIDX_EXPORT const kvidx_hasher *kvidx_indexer_hasher(kvidx_indexer *ix);
KVIDX_EXPORT kvidx_applier *kvidx_indexer_applier(kvidx_indexer *ix);
KVIDX_EXPORT kvidx_ingestor *kvidx_indexer_ingestor(kvidx_indexer *ix);

/* ---- scoring ---------------------------------------------------------- */

/* One pod's score; pod points into the index's interned names (lives as
 * long as the indexer). */
typedef struct {
  const char *pod;
  double score;    /* tier-weighted blocks of the held prefix */
  uint32_t blocks; /* held prefix length in blocks */
} kvidx_indexer_score;

/*
 * Output of a scoring call, and the reusable scratch behind it. Initialise
 * with kvidx_score_result_init, reuse across calls, release with
 * kvidx_score_result_free. Not thread-safe: one per thread.
 */
typedef struct {
  size_t tokens;               /* tokens scored */
  size_t blocks;               /* full blocks of those tokens */
  kvidx_indexer_score *scores; /* n_scores, highest first, score > 0 */
  size_t n_scores;
  int prefix_store_hit; /* prompt tokens came from the prefix store */
  uint64_t tokenize_ns, hash_ns, lookup_ns; /* time spent per stage */
  /* scratch (private) */
  kvidx_encoding enc_;
  kvidx_encoding tail_;
  uint64_t *keys_;
  size_t keys_cap_;
  uint32_t *pods_;
  size_t pods_cap_;
  kvidx_pod_score *pod_scores_;
  size_t pod_scores_cap_;
  size_t scores_cap_;
  kvidx_digest *digests_;
  size_t digests_cap_;
  uint64_t *fps_;
  size_t fps_cap_;
  size_t cached_blocks; /* blocks whose key came from the key cache */
} kvidx_score_result;

KVIDX_EXPORT void kvidx_score_result_init(kvidx_score_result *r);
KVIDX_EXPORT void kvidx_score_result_free(kvidx_score_result *r);

/* A scoring request. model is required; pods/n_pods restrict the candidates
 * (n_pods == 0: all pods; names unknown to the index simply score 0);
 * lora_name (NULL = none) enters the block hashes as vLLM's extra key. */
typedef struct {
  const char *model;
  const char *const *pods;
  size_t n_pods;
  const char *lora_name;
} kvidx_score_request;

/*
 * Scores pods for a prompt given as token ids. Returns 0 and fills r;
 * KVIDX_ELIMIT when n_tokens > max_tokens; KVIDX_EUNAVAIL when the index
 * backend is down; KVIDX_EINVAL for a NULL model. An unknown model is not an
 * error: no pod holds anything for it. Thread-safe.
 */
KVIDX_EXPORT int kvidx_indexer_score_tokens(kvidx_indexer *ix,
                                            const kvidx_score_request *req,
                                            const uint32_t *tokens,
                                            size_t n_tokens,
                                            kvidx_score_result *r);
/*
 * Scores pods for a prompt given as text: tokenizes it as vLLM does (with
 * special tokens), through the prefix store, then as score_tokens. Errors as
 * score_tokens plus KVIDX_ENOTFOUND for a model without a tokenizer,
 * KVIDX_EUTF8 for invalid UTF-8. Thread-safe.
 */
KVIDX_EXPORT int kvidx_indexer_score_prompt(kvidx_indexer *ix,
                                            const kvidx_score_request *req,
                                            const char *text, size_t len,
                                            kvidx_score_result *r);
/*
 * Tokenizes text with the model's tokenizer (special tokens added) into enc
 * (reset first; caller-owned). KVIDX_ENOTFOUND for an unknown model.
 * Thread-safe.
 */
KVIDX_EXPORT int kvidx_indexer_tokenize(kvidx_indexer *ix, const char *model,
                                        const char *text, size_t len,
                                        kvidx_encoding *enc);

/* ---- pods ------------------------------------------------------------- */

/* What the indexer knows about one pod. Strings valid during the callback. */
typedef struct {
  const char *pod;
  uint64_t blocks[KVIDX_TIER_COUNT]; /* keys held per tier */
  /* From the event stream; has_events 0 when the pod is only known to the
   * index (e.g. written by another replica through Redis). */
  int has_events;
  const char *model;
  int64_t dp_rank;
  uint64_t last_seq;
  int64_t last_event_unix_ms;
  uint64_t gaps, replays_ok, replays_failed, clears;
  const char *state; /* "live", "resync", "cleared", or "indexed" */
} kvidx_indexer_pod;

typedef void (*kvidx_indexer_pod_fn)(void *userdata,
                                     const kvidx_indexer_pod *pod);

/* Calls cb once per (pod, dp rank) publisher, then once for each pod known
 * only to the index. Thread-safe; returns 0 or a backend error. */
KVIDX_EXPORT int kvidx_indexer_pods(kvidx_indexer *ix, kvidx_indexer_pod_fn cb,
                                    void *userdata);
/* Removes every entry of pod (a scheduler calls this when a pod dies) and
 * forgets its connect endpoint if it had one. KVIDX_ENOTFOUND when the
 * index has never seen the pod. Thread-safe. */
KVIDX_EXPORT int kvidx_indexer_delete_pod(kvidx_indexer *ix, const char *pod);

/* ---- statistics ------------------------------------------------------- */

typedef struct {
  uint64_t lookups;       /* scoring calls that reached the index */
  uint64_t lookup_keys;   /* block keys looked up */
  uint64_t lookup_hits;   /* keys of the longest held prefix, summed */
  uint64_t tokenizations; /* prompts tokenized */
  uint64_t tokenized_tokens;
  uint64_t prefix_store_hits, prefix_store_misses;
  uint64_t pods_deleted;
  uint64_t key_cache_hits, key_cache_misses; /* blocks */
} kvidx_indexer_counters;

typedef struct {
  kvidx_indexer_counters counters;
  kvidx_index_stats index;
  kvidx_applier_stats applier;
  int has_ingestor;
  kvidx_ingestor_stats ingestor;
  const char *backend; /* "memory" or "redis" */
} kvidx_indexer_stats;

/* Snapshot of every counter. Thread-safe. */
KVIDX_EXPORT int kvidx_indexer_get_stats(kvidx_indexer *ix,
                                         kvidx_indexer_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* KVIDX_INDEXER_H */

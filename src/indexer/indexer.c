/*
 * indexer.c: the facade that ties hashing, the block index, the scorer, the
 * tokenizers and event ingestion into one object (kvidx/indexer.h).
 *
 * The read path is kept allocation-free in steady state: every buffer a
 * scoring call needs (token ids, block keys, pod ids, scores) lives in the
 * caller's kvidx_score_result and only grows. The write path is the
 * ingestor's; the indexer only owns and wires its parts.
 *
 * Pod and model names of a request are resolved with the index's find_*
 * calls, which never intern: a client sending random names cannot grow the
 * name tables. The Redis backend is the exception: another replica may have
 * written pods and models this process never saw, so their names are
 * interned on first use (bounded by what the shared index holds in practice).
 */
#include "kvidx.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "indexer/key_cache.h"

struct kvidx_indexer {
  kvidx_hasher *hasher;
  kvidx_index *index;
  kvidx_applier *applier;
  kvidx_ingestor *ingestor;
  kvidx_tokenizer_registry *tokenizers;
  kvidx_prefix_store *prefix_store;
  kvidx__key_cache *key_cache; /* NULL when disabled */
  kvidx_tier_weights weights;
  double min_overlap;
  size_t max_tokens;
  int is_redis;
  int started;
  kvidx_pod_endpoint *connect_pods; /* copied strings */
  size_t n_connect_pods;
  struct {
    _Atomic uint64_t lookups, lookup_keys, lookup_hits, tokenizations,
        tokenized_tokens, ps_hits, ps_misses, pods_deleted, kc_hits, kc_misses;
  } c;
};

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#define COUNT_(field, n)                                                       \
  atomic_fetch_add_explicit(&ix->c.field, (uint64_t)(n), memory_order_relaxed)

/* ------------------------------------------------------------------------ */
/* Life cycle                                                               */
/* ------------------------------------------------------------------------ */

void kvidx_indexer_opts_init(kvidx_indexer_opts *o) {
  memset(o, 0, sizeof *o);
  kvidx_hasher_opts_init(&o->hasher);
  kvidx_index_opts_init(&o->memory);
  kvidx_redis_opts_init(&o->redis);
  /* The redis options keep their defaults (timeouts) for whoever sets a URL,
   * but the backend is memory unless a URL is given (see indexer.h). */
  o->redis.url = NULL;
  kvidx_tier_weights_init(&o->weights);
  kvidx_tokenizer_registry_opts_init(&o->tokenizers);
  o->use_prefix_store = 1;
  kvidx_prefix_store_opts_init(&o->prefix_store);
  o->min_prefix_overlap = 0.8;
  o->use_events = 1;
  kvidx_ingestor_opts_init(&o->ingestor);
  o->engine_hashes_match = 1;
  o->max_tokens = KVIDX_INDEXER_MAX_TOKENS_DEFAULT;
  o->key_cache_slots = 65536;
}

static char *dup_opt(const char *s, int *oom) {
  if (s == NULL)
    return NULL;
  char *d = strdup(s);
  if (d == NULL)
    *oom = 1;
  return d;
}

static int copy_connect_pods(kvidx_indexer *ix, const kvidx_indexer_opts *o) {
  if (o->n_connect_pods == 0)
    return 0;
  ix->connect_pods = calloc(o->n_connect_pods, sizeof *ix->connect_pods);
  if (ix->connect_pods == NULL)
    return KVIDX_ENOMEM;
  ix->n_connect_pods = o->n_connect_pods;
  int oom = 0;
  for (size_t i = 0; i < o->n_connect_pods; i++) {
    const kvidx_pod_endpoint *s = &o->connect_pods[i];
    kvidx_pod_endpoint *d = &ix->connect_pods[i];
    d->endpoint = dup_opt(s->endpoint, &oom);
    d->pod = dup_opt(s->pod, &oom);
    d->model = dup_opt(s->model, &oom);
    d->replay_endpoint = dup_opt(s->replay_endpoint, &oom);
  }
  return oom ? KVIDX_ENOMEM : 0;
}

static int make_index(kvidx_indexer *ix, const kvidx_indexer_opts *o) {
  int rc;
  if (o->redis.url != NULL) {
    ix->is_redis = 1;
    rc = kvidx_index_new_redis(&o->redis, &ix->index);
  } else {
    rc = kvidx_index_new_memory(&o->memory, &ix->index);
  }
  if (rc)
    kvidx_log_error("indexer", "cannot create the %s index: %s",
                    ix->is_redis ? "redis" : "memory", kvidx_strerror(rc));
  return rc;
}

static int make_tokenizers(kvidx_indexer *ix, const kvidx_indexer_opts *o) {
  int rc = kvidx_tokenizer_registry_new(&o->tokenizers, &ix->tokenizers);
  for (size_t i = 0; rc == 0 && i < o->n_model_tokenizers; i++) {
    rc = kvidx_tokenizer_registry_add(ix->tokenizers, o->model_names[i],
                                      o->model_tokenizer_paths[i]);
    if (rc)
      kvidx_log_error(
          "indexer", "cannot map model to tokenizer: %s model=%s path=%s",
          kvidx_strerror(rc), o->model_names[i], o->model_tokenizer_paths[i]);
  }
  if (rc == 0 && o->use_prefix_store)
    rc = kvidx_prefix_store_new(&o->prefix_store, &ix->prefix_store);
  return rc;
}

static int make_events(kvidx_indexer *ix, const kvidx_indexer_opts *o) {
  kvidx_applier_opts ao;
  kvidx_applier_opts_init(&ao);
  ao.index = ix->index;
  ao.hasher = ix->hasher;
  ao.engine_hashes_match = o->engine_hashes_match;
  int rc = kvidx_applier_new(&ao, &ix->applier);
  if (rc == 0 && o->use_events) {
    rc = kvidx_ingestor_new(&o->ingestor, ix->applier, &ix->ingestor);
    if (rc == 0)
      rc = copy_connect_pods(ix, o);
  }
  return rc;
}

int kvidx_indexer_new(const kvidx_indexer_opts *o, kvidx_indexer **out) {
  if (o == NULL || out == NULL)
    return KVIDX_EINVAL;
  kvidx_indexer *ix = calloc(1, sizeof *ix);
  if (ix == NULL)
    return KVIDX_ENOMEM;
  ix->weights = o->weights;
  ix->min_overlap = o->min_prefix_overlap;
  ix->max_tokens =
      o->max_tokens ? o->max_tokens : KVIDX_INDEXER_MAX_TOKENS_DEFAULT;
  int rc = kvidx_hasher_new(&o->hasher, &ix->hasher);
  if (rc)
    kvidx_log_error("indexer", "bad hashing options: %s", kvidx_strerror(rc));
  if (rc == 0)
    rc = kvidx__key_cache_new(o->key_cache_slots, &ix->key_cache);
  if (rc == 0)
    rc = make_index(ix, o);
  if (rc == 0)
    rc = make_tokenizers(ix, o);
  if (rc == 0)
    rc = make_events(ix, o);
  if (rc) {
    kvidx_indexer_free(ix);
    return rc;
  }
  *out = ix;
  return 0;
}

int kvidx_indexer_start(kvidx_indexer *ix) {
  if (ix->ingestor == NULL || ix->started)
    return 0;
  int rc = kvidx_ingestor_start(ix->ingestor);
  if (rc) {
    kvidx_log_error("indexer", "cannot start event ingestion: %s",
                    kvidx_strerror(rc));
    return rc;
  }
  ix->started = 1;
  for (size_t i = 0; i < ix->n_connect_pods; i++) {
    rc = kvidx_ingestor_add_pod(ix->ingestor, &ix->connect_pods[i]);
    if (rc) {
      kvidx_log_error("indexer", "cannot connect to pod: %s endpoint=%s",
                      kvidx_strerror(rc), ix->connect_pods[i].endpoint);
      return rc;
    }
  }
  return 0;
}

void kvidx_indexer_stop(kvidx_indexer *ix) {
  if (ix != NULL && ix->ingestor != NULL && ix->started) {
    kvidx_ingestor_stop(ix->ingestor);
    ix->started = 0;
  }
}

void kvidx_indexer_free(kvidx_indexer *ix) {
  if (ix == NULL)
    return;
  kvidx_indexer_stop(ix);
  if (ix->ingestor)
    kvidx_ingestor_free(ix->ingestor);
  if (ix->applier)
    kvidx_applier_free(ix->applier);
  if (ix->prefix_store)
    kvidx_prefix_store_free(ix->prefix_store);
  if (ix->tokenizers)
    kvidx_tokenizer_registry_free(ix->tokenizers);
  if (ix->index)
    kvidx_index_free(ix->index);
  if (ix->hasher)
    kvidx_hasher_free(ix->hasher);
  kvidx__key_cache_free(ix->key_cache);
  for (size_t i = 0; i < ix->n_connect_pods; i++) {
    free((char *)ix->connect_pods[i].endpoint);
    free((char *)ix->connect_pods[i].pod);
    free((char *)ix->connect_pods[i].model);
    free((char *)ix->connect_pods[i].replay_endpoint);
  }
  free(ix->connect_pods);
  free(ix);
}

int kvidx_indexer_ready(kvidx_indexer *ix) {
  return kvidx_index_ready(ix->index);
}

kvidx_index *kvidx_indexer_index(kvidx_indexer *ix) {
  return ix->index;
}
const kvidx_hasher *kvidx_indexer_hasher(kvidx_indexer *ix) {
  return ix->hasher;
}
kvidx_applier *kvidx_indexer_applier(kvidx_indexer *ix) {
  return ix->applier;
}
kvidx_ingestor *kvidx_indexer_ingestor(kvidx_indexer *ix) {
  return ix->ingestor;
}

/* ------------------------------------------------------------------------ */
/* Scoring                                                                  */
/* ------------------------------------------------------------------------ */

void kvidx_score_result_init(kvidx_score_result *r) {
  memset(r, 0, sizeof *r);
  kvidx_encoding_init(&r->enc_);
  kvidx_encoding_init(&r->tail_);
}

void kvidx_score_result_free(kvidx_score_result *r) {
  kvidx_encoding_free(&r->enc_);
  kvidx_encoding_free(&r->tail_);
  free(r->keys_);
  free(r->pods_);
  free(r->pod_scores_);
  free(r->scores);
  free(r->digests_);
  free(r->fps_);
  memset(r, 0, sizeof *r);
}

/* Grows *buf to hold n elements of size sz (never shrinks). */
static int reserve(void **buf, size_t *cap, size_t n, size_t sz) {
  if (n <= *cap)
    return 0;
  size_t c = *cap ? *cap : 16;
  while (c < n)
    c *= 2;
  void *p = realloc(*buf, c * sz);
  if (p == NULL)
    return KVIDX_ENOMEM;
  *buf = p;
  *cap = c;
  return 0;
}

/* Resolves a name without interning it (see the file comment). */
static int resolve_model(kvidx_indexer *ix, const char *model, uint32_t *id) {
  if (ix->is_redis)
    return kvidx_index_model_id(ix->index, model, id);
  return kvidx_index_find_model(ix->index, model, id);
}

static int resolve_pod(kvidx_indexer *ix, const char *pod, uint32_t *id) {
  if (ix->is_redis)
    return kvidx_index_pod_id(ix->index, pod, id);
  return kvidx_index_find_pod(ix->index, pod, id);
}

/* Pod names -> ids into r->pods_; *n_ids 0 with *none_known set when a
 * filter was given but no name is known. */
static int resolve_pods(kvidx_indexer *ix, const kvidx_score_request *req,
                        kvidx_score_result *r, size_t *n_ids, int *none_known) {
  *n_ids = 0;
  *none_known = 0;
  if (req->n_pods == 0)
    return 0;
  if (reserve((void **)&r->pods_, &r->pods_cap_, req->n_pods, sizeof *r->pods_))
    return KVIDX_ENOMEM;
  for (size_t i = 0; i < req->n_pods; i++) {
    uint32_t id;
    int rc =
        req->pods[i] ? resolve_pod(ix, req->pods[i], &id) : KVIDX_ENOTFOUND;
    if (rc == 0)
      r->pods_[(*n_ids)++] = id;
    else if (rc != KVIDX_ENOTFOUND)
      return rc;
  }
  *none_known = *n_ids == 0;
  return 0;
}

/* Runs the scorer, growing the output until every scoring pod fits. */
static int run_scorer(kvidx_indexer *ix, uint32_t model, kvidx_score_result *r,
                      size_t n_keys, size_t n_pods, size_t *n_out) {
  size_t want = n_pods ? n_pods : 64;
  for (;;) {
    if (reserve((void **)&r->pod_scores_, &r->pod_scores_cap_, want,
                sizeof *r->pod_scores_))
      return KVIDX_ENOMEM;
    int rc = kvidx_score_prefix(ix->index, &ix->weights, model, r->keys_,
                                n_keys, r->pods_, n_pods, r->pod_scores_,
                                r->pod_scores_cap_, n_out);
    if (rc < 0)
      return rc;
    if (*n_out < r->pod_scores_cap_ || n_pods != 0)
      return 0;
    want = r->pod_scores_cap_ * 4;
  }
}

static int fill_scores(kvidx_indexer *ix, kvidx_score_result *r, size_t n) {
  if (reserve((void **)&r->scores, &r->scores_cap_, n ? n : 1,
              sizeof *r->scores))
    return KVIDX_ENOMEM;
  uint32_t best = 0;
  r->n_scores = 0;
  for (size_t i = 0; i < n; i++) {
    const kvidx_pod_score *s = &r->pod_scores_[i];
    const char *name = kvidx_index_pod_name(ix->index, s->pod);
    if (name == NULL || s->score <= 0)
      continue;
    r->scores[r->n_scores++] = (kvidx_indexer_score){name, s->score, s->blocks};
    if (s->blocks > best)
      best = s->blocks;
  }
  COUNT_(lookup_hits, best);
  return 0;
}

/*
 * Block keys of tokens into r->keys_. With the key cache: every block's
 * fingerprint is looked up; each run of blocks not found is hashed in one
 * call, chained from the digest of the block before the run (cached or just
 * computed), and added to the cache. So a collision in the direct-mapped
 * cache costs one block's hash, not the rest of the prompt. Returns the
 * number of keys or a KVIDX_E* code.
 */
static int hash_keys(kvidx_indexer *ix, const kvidx_score_request *req,
                     const uint32_t *tokens, size_t n_tokens,
                     kvidx_score_result *r) {
  uint32_t bs = kvidx_hasher_block_size(ix->hasher);
  size_t nb = n_tokens / bs;
  kvidx_hash_extra extra;
  memset(&extra, 0, sizeof extra);
  extra.lora_name = req->lora_name;
  const kvidx_hash_extra *ex = req->lora_name ? &extra : NULL;
  r->cached_blocks = 0;
  if (ix->key_cache == NULL)
    return kvidx_hash_blocks(ix->hasher, NULL, 0, tokens, n_tokens, ex, NULL,
                             r->keys_, nb);
  if (reserve((void **)&r->digests_, &r->digests_cap_, nb,
              sizeof *r->digests_) ||
      reserve((void **)&r->fps_, &r->fps_cap_, nb, sizeof *r->fps_))
    return KVIDX_ENOMEM;
  /* Pass 1: fingerprints (a chain) with their slots prefetched, then cache
   * probes, which no longer wait on memory one at a time; a miss is marked
   * by len 0. */
  uint64_t fp = kvidx__key_cache_root(req->lora_name);
  for (size_t i = 0; i < nb; i++) {
    fp = kvidx__key_cache_chain(fp, tokens + i * bs, bs);
    r->fps_[i] = fp;
    kvidx__key_cache_prefetch(ix->key_cache, fp);
  }
  size_t hits = 0;
  for (size_t i = 0; i < nb; i++) {
    if (kvidx__key_cache_get(ix->key_cache, r->fps_[i], &r->digests_[i])) {
      r->keys_[i] = kvidx_digest_low64(&r->digests_[i]);
      hits++;
    } else {
      r->digests_[i].len = 0;
    }
  }
  r->cached_blocks = hits;
  COUNT_(kc_hits, hits);
  if (hits == nb)
    return (int)nb;
  COUNT_(kc_misses, nb - hits);
  /* Pass 2: hash each run of misses from the digest before it. */
  for (size_t i = 0; i < nb;) {
    if (r->digests_[i].len != 0) {
      i++;
      continue;
    }
    size_t end = i + 1;
    while (end < nb && r->digests_[end].len == 0)
      end++;
    int rc =
        kvidx_hash_blocks(ix->hasher, i ? &r->digests_[i - 1] : NULL,
                          (uint32_t)(i * bs), tokens + i * bs, (end - i) * bs,
                          ex, r->digests_ + i, r->keys_ + i, end - i);
    if (rc < 0)
      return rc;
    for (size_t k = i; k < end; k++)
      kvidx__key_cache_put(ix->key_cache, r->fps_[k], &r->digests_[k]);
    i = end;
  }
  return (int)nb;
}

int kvidx_indexer_score_tokens(kvidx_indexer *ix,
                               const kvidx_score_request *req,
                               const uint32_t *tokens, size_t n_tokens,
                               kvidx_score_result *r) {
  if (req == NULL || req->model == NULL || r == NULL ||
      (tokens == NULL && n_tokens > 0))
    return KVIDX_EINVAL;
  if (n_tokens > ix->max_tokens)
    return KVIDX_ELIMIT;
  uint32_t bs = kvidx_hasher_block_size(ix->hasher);
  r->tokens = n_tokens;
  r->blocks = n_tokens / bs;
  r->n_scores = 0;
  r->hash_ns = r->lookup_ns = 0;
  int rc = kvidx_index_ready(ix->index);
  if (rc)
    return rc;
  uint32_t model;
  rc = resolve_model(ix, req->model, &model);
  if (rc == KVIDX_ENOTFOUND || r->blocks == 0)
    return 0; /* nobody holds anything of this model */
  if (rc)
    return rc;
  size_t n_pods;
  int none_known;
  if ((rc = resolve_pods(ix, req, r, &n_pods, &none_known)))
    return rc;
  if (none_known)
    return 0;
  if (reserve((void **)&r->keys_, &r->keys_cap_, r->blocks, sizeof *r->keys_))
    return KVIDX_ENOMEM;
  uint64_t t0 = now_ns();
  rc = hash_keys(ix, req, tokens, n_tokens, r);
  uint64_t t1 = now_ns();
  r->hash_ns = t1 - t0;
  if (rc < 0)
    return rc;
  size_t n_keys = (size_t)rc, n_out = 0;
  rc = run_scorer(ix, model, r, n_keys, n_pods, &n_out);
  r->lookup_ns = now_ns() - t1;
  if (rc)
    return rc;
  COUNT_(lookups, 1);
  COUNT_(lookup_keys, n_keys);
  return fill_scores(ix, r, n_out);
}

/* Appends tail (offsets shifted by base) to enc, growing enc's arrays. */
static int append_tokens(kvidx_encoding *enc, const kvidx_encoding *tail,
                         uint32_t base) {
  size_t need = enc->n + tail->n;
  if (need > enc->cap) {
    uint32_t *ids = realloc(enc->ids, need * sizeof *ids);
    if (ids == NULL)
      return KVIDX_ENOMEM;
    enc->ids = ids;
    uint32_t *offs = realloc(enc->offsets, 2 * need * sizeof *offs);
    if (offs == NULL)
      return KVIDX_ENOMEM;
    enc->offsets = offs;
    enc->cap = need;
  }
  memcpy(enc->ids + enc->n, tail->ids, tail->n * sizeof *tail->ids);
  if (enc->want_offsets && tail->offsets != NULL) {
    for (size_t i = 0; i < 2 * tail->n; i++)
      enc->offsets[2 * enc->n + i] = tail->offsets[i] + base;
  }
  enc->n = need;
  return 0;
}

/*
 * Tokens of a prompt the prefix store covers in part: the stored tokens up
 * to the start of the last whitespace run in the matched chunks (a
 * pre-token boundary, where a fresh tokenization restarts identically), then
 * the rest of the text tokenized (no special tokens: they were added at the
 * start). So a seen prompt gives the same tokens as a full tokenization,
 * without redoing the shared prefix — where llm-d would drop the tail.
 */
static int complete_from_store(kvidx_indexer *ix, const char *model,
                               const char *text, size_t len, size_t matched,
                               kvidx_score_result *r) {
  if (matched >= len)
    return 0;
  const kvidx_tokenizer *tok;
  int rc = kvidx_tokenizer_registry_acquire(ix->tokenizers, model, &tok);
  if (rc)
    return rc;
  r->tail_.want_offsets = r->enc_.want_offsets;
  rc = kvidx_tokenizer_encode(tok, text + matched, len - matched, 0, &r->tail_);
  kvidx_tokenizer_registry_release(ix->tokenizers, tok);
  if (rc)
    return rc;
  COUNT_(tokenized_tokens, r->tail_.n);
  return append_tokens(&r->enc_, &r->tail_, (uint32_t)matched);
}

/* Tokens of text into r->enc_, through the prefix store when there is one. */
static int tokenize_prompt(kvidx_indexer *ix, const char *model,
                           const char *text, size_t len,
                           kvidx_score_result *r) {
  kvidx_encoding *enc = &r->enc_;
  double overlap = 0;
  size_t matched = 0;
  r->prefix_store_hit = 0;
  enc->want_offsets = ix->prefix_store != NULL;
  if (ix->prefix_store != NULL &&
      kvidx_prefix_store_find_ex(ix->prefix_store, model, text, len, enc,
                                 &overlap, &matched) == 0 &&
      enc->n > 0 && overlap >= ix->min_overlap && matched <= len) {
    int rc = complete_from_store(ix, model, text, len, matched, r);
    if (rc)
      return rc;
    r->prefix_store_hit = 1;
    COUNT_(ps_hits, 1);
    return 0;
  }
  const kvidx_tokenizer *tok;
  int rc = kvidx_tokenizer_registry_acquire(ix->tokenizers, model, &tok);
  if (rc)
    return rc;
  rc = kvidx_tokenizer_encode(tok, text, len, 1, enc);
  kvidx_tokenizer_registry_release(ix->tokenizers, tok);
  if (rc)
    return rc;
  COUNT_(tokenizations, 1);
  COUNT_(tokenized_tokens, enc->n);
  if (ix->prefix_store != NULL) {
    COUNT_(ps_misses, 1);
    /* A full store only loses the cache benefit: not an error. */
    (void)kvidx_prefix_store_add(ix->prefix_store, model, text, len, enc);
  }
  return 0;
}

int kvidx_indexer_score_prompt(kvidx_indexer *ix,
                               const kvidx_score_request *req, const char *text,
                               size_t len, kvidx_score_result *r) {
  if (req == NULL || req->model == NULL || r == NULL ||
      (text == NULL && len > 0))
    return KVIDX_EINVAL;
  uint64_t t0 = now_ns();
  int rc = tokenize_prompt(ix, req->model, text ? text : "", len, r);
  r->tokenize_ns = now_ns() - t0;
  if (rc)
    return rc;
  return kvidx_indexer_score_tokens(ix, req, r->enc_.ids, r->enc_.n, r);
}

int kvidx_indexer_tokenize(kvidx_indexer *ix, const char *model,
                           const char *text, size_t len, kvidx_encoding *enc) {
  if (model == NULL || enc == NULL || (text == NULL && len > 0))
    return KVIDX_EINVAL;
  const kvidx_tokenizer *tok;
  int rc = kvidx_tokenizer_registry_acquire(ix->tokenizers, model, &tok);
  if (rc)
    return rc;
  rc = kvidx_tokenizer_encode(tok, text ? text : "", len, 1, enc);
  kvidx_tokenizer_registry_release(ix->tokenizers, tok);
  if (rc == 0) {
    COUNT_(tokenizations, 1);
    COUNT_(tokenized_tokens, enc->n);
  }
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Pods                                                                     */
/* ------------------------------------------------------------------------ */

typedef struct {
  kvidx_indexer *ix;
  kvidx_indexer_pod_fn cb;
  void *ud;
  uint8_t *seen; /* bitmap over pod ids listed from the event stream */
  size_t seen_bits;
} pods_walk;

static void on_publisher(void *ud, const kvidx_pod_info *info) {
  pods_walk *w = ud;
  kvidx_indexer_pod p;
  memset(&p, 0, sizeof p);
  p.pod = info->pod;
  p.has_events = 1;
  p.model = info->model;
  p.dp_rank = info->dp_rank;
  p.last_seq = info->last_seq;
  p.last_event_unix_ms = info->last_event_unix_ms;
  p.gaps = info->gaps;
  p.replays_ok = info->replays_ok;
  p.replays_failed = info->replays_failed;
  p.clears = info->clears;
  p.state = info->state;
  uint32_t id;
  if (info->pod != NULL &&
      kvidx_index_find_pod(w->ix->index, info->pod, &id) == 0) {
    kvidx_index_pod_blocks(w->ix->index, id, p.blocks);
    if (id < w->seen_bits)
      w->seen[id / 8] |= (uint8_t)(1u << (id % 8));
  }
  w->cb(w->ud, &p);
}

int kvidx_indexer_pods(kvidx_indexer *ix, kvidx_indexer_pod_fn cb,
                       void *userdata) {
  kvidx_index_stats st;
  int rc = kvidx_index_get_stats(ix->index, &st);
  if (rc)
    return rc;
  /* Pod ids are small dense integers, so a bitmap of stats.pods bits marks
   * the pods already reported; pods interned after the snapshot are left for
   * the next listing. */
  pods_walk w = {ix, cb, userdata, NULL, (size_t)st.pods};
  w.seen = calloc(w.seen_bits / 8 + 1, 1);
  if (w.seen == NULL)
    return KVIDX_ENOMEM;
  if (ix->ingestor != NULL)
    kvidx_ingestor_pods(ix->ingestor, on_publisher, &w);
  for (uint32_t id = 0; id < w.seen_bits; id++) {
    if (w.seen[id / 8] & (1u << (id % 8)))
      continue;
    const char *name = kvidx_index_pod_name(ix->index, id);
    if (name == NULL)
      continue;
    kvidx_indexer_pod p;
    memset(&p, 0, sizeof p);
    p.pod = name;
    p.dp_rank = -1;
    p.state = "indexed";
    kvidx_index_pod_blocks(ix->index, id, p.blocks);
    cb(userdata, &p);
  }
  free(w.seen);
  return 0;
}

int kvidx_indexer_delete_pod(kvidx_indexer *ix, const char *pod) {
  if (pod == NULL)
    return KVIDX_EINVAL;
  uint32_t id;
  int rc = resolve_pod(ix, pod, &id);
  if (rc)
    return rc;
  rc = kvidx_applier_clear_pod(ix->applier, pod);
  if (rc)
    return rc;
  if (ix->ingestor != NULL) {
    /* Only connect-mode pods have an endpoint to forget. */
    (void)kvidx_ingestor_remove_pod(ix->ingestor, pod);
  }
  COUNT_(pods_deleted, 1);
  kvidx_log_info("indexer", "pod deleted pod=%s", pod);
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Statistics                                                               */
/* ------------------------------------------------------------------------ */

int kvidx_indexer_get_stats(kvidx_indexer *ix, kvidx_indexer_stats *out) {
  memset(out, 0, sizeof *out);
  kvidx_indexer_counters *c = &out->counters;
  c->lookups = atomic_load(&ix->c.lookups);
  c->lookup_keys = atomic_load(&ix->c.lookup_keys);
  c->lookup_hits = atomic_load(&ix->c.lookup_hits);
  c->tokenizations = atomic_load(&ix->c.tokenizations);
  c->tokenized_tokens = atomic_load(&ix->c.tokenized_tokens);
  c->prefix_store_hits = atomic_load(&ix->c.ps_hits);
  c->prefix_store_misses = atomic_load(&ix->c.ps_misses);
  c->pods_deleted = atomic_load(&ix->c.pods_deleted);
  c->key_cache_hits = atomic_load(&ix->c.kc_hits);
  c->key_cache_misses = atomic_load(&ix->c.kc_misses);
  out->backend = kvidx_index_backend(ix->index);
  kvidx_applier_get_stats(ix->applier, &out->applier);
  if (ix->ingestor != NULL) {
    out->has_ingestor = 1;
    kvidx_ingestor_get_stats(ix->ingestor, &out->ingestor);
  }
  return kvidx_index_get_stats(ix->index, &out->index);
}

/*
 * score_inproc.c: prefix scores from libkvidx linked into the scheduler. The
 * indexer hashes as the vLLM pods do (--block-size 16,
 * --prefix-caching-hash-algo sha256_cbor, PYTHONHASHSEED=0). It learns what
 * the warm pods hold from the BlockStored events they would have published
 * after serving their prompts. In a real deployment those events arrive over
 * ZeroMQ (set opts.use_events and opts.ingestor.bind_endpoint instead).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvidx.h"
#include "scorer.h"

#define BLOCK_SIZE 16
#define MAX_BLOCKS 1024

typedef struct {
  kvidx_indexer *ix;
  kvidx_score_result res;
} inproc_state;

static int fail(const char *what, int rc) {
  fprintf(stderr, "example_scorer: %s: %s\n", what, kvidx_strerror(rc));
  return -1;
}

/* Applies one batch holding the BlockStored event for the full blocks of
 * tokens[0..n_tokens) whose keys are keys[0..n_blocks). */
static int apply_stored(kvidx_indexer *ix, const char *pod,
                        const uint32_t *tokens, const uint64_t *keys,
                        size_t n_blocks) {
  kvidx_event ev;
  memset(&ev, 0, sizeof ev);
  ev.type = KVIDX_EVENT_BLOCK_STORED;
  ev.block_hashes = keys;
  ev.n_block_hashes = n_blocks;
  ev.token_ids = tokens;
  ev.n_token_ids = n_blocks * BLOCK_SIZE;
  ev.block_size = BLOCK_SIZE;
  ev.tier = KVIDX_TIER_GPU;
  ev.group_idx = -1;
  kvidx_batch_writer *w;
  const uint8_t *payload;
  size_t len;
  int rc = kvidx_batch_writer_new(KVIDX_LAYOUT_ARRAY, 0, &w);
  if (rc)
    return rc;
  kvidx_batch_writer_begin(w, 1767225600.0, -1);
  if ((rc = kvidx_batch_writer_add(w, &ev)) == 0 &&
      (rc = kvidx_batch_writer_finish(w, &payload, &len)) == 0)
    rc = kvidx_applier_apply_batch(kvidx_indexer_applier(ix), pod,
                                   EXAMPLE_MODEL, payload, len);
  kvidx_batch_writer_free(w);
  return rc;
}

/* What pod publishes after serving text: BlockStored for its full blocks. */
static int warm_pod(kvidx_indexer *ix, const char *pod, const char *text) {
  kvidx_encoding enc;
  uint64_t keys[MAX_BLOCKS];
  kvidx_encoding_init(&enc);
  int rc = kvidx_indexer_tokenize(ix, EXAMPLE_MODEL, text, strlen(text), &enc);
  if (rc == 0) {
    int n = kvidx_hash_blocks(kvidx_indexer_hasher(ix), NULL, 0, enc.ids, enc.n,
                              NULL, NULL, keys, MAX_BLOCKS);
    if (n < 0)
      rc = n;
    else if (n > 0)
      rc = apply_stored(ix, pod, enc.ids, keys, (size_t)n);
  }
  kvidx_encoding_free(&enc);
  return rc ? fail("warming a pod", rc) : 0;
}

static int inproc_score(score_source *src, const scenario *sc, const char *text,
                        prefix_scores *out) {
  inproc_state *s = src->state;
  kvidx_score_request req = {EXAMPLE_MODEL, sc->pods, sc->n_pods, NULL};
  int rc = kvidx_indexer_score_prompt(s->ix, &req, text, strlen(text), &s->res);
  if (rc)
    return fail("score", rc);
  memset(out, 0, sizeof *out);
  out->tokens = s->res.tokens;
  out->blocks = s->res.blocks;
  /* res.scores lists pods with a non-zero score, best first. */
  for (size_t i = 0; i < s->res.n_scores; i++)
    for (size_t p = 0; p < sc->n_pods; p++)
      if (strcmp(s->res.scores[i].pod, sc->pods[p]) == 0)
        out->score[p] = s->res.scores[i].score;
  return 0;
}

static void inproc_close(score_source *src) {
  inproc_state *s = src->state;
  kvidx_score_result_free(&s->res);
  kvidx_indexer_free(s->ix);
  free(s);
}

int score_source_inproc(const char *tokenizer_path, const scenario *sc,
                        score_source *out) {
  const char *names[] = {EXAMPLE_MODEL};
  const char *paths[] = {tokenizer_path};
  kvidx_indexer_opts opts;
  kvidx_indexer_opts_init(&opts);
  opts.hasher.algo = KVIDX_HASH_SHA256_CBOR;
  opts.hasher.seed = "0";
  opts.hasher.block_size = BLOCK_SIZE;
  opts.model_names = names;
  opts.model_tokenizer_paths = paths;
  opts.n_model_tokenizers = 1;
  opts.use_events = 0;
  inproc_state *s = calloc(1, sizeof *s);
  if (s == NULL)
    return fail("allocating", KVIDX_ENOMEM);
  int rc = kvidx_indexer_new(&opts, &s->ix);
  if (rc) {
    free(s);
    return fail("creating the indexer", rc);
  }
  kvidx_score_result_init(&s->res);
  out->score = inproc_score;
  out->close = inproc_close;
  out->state = s;
  for (size_t i = 0; i < sc->n_warm; i++)
    if (warm_pod(s->ix, sc->warm_pod[i], sc->warm_text[i])) {
      inproc_close(out);
      return -1;
    }
  return 0;
}

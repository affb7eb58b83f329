/*
 * examples/indexer: the shortest complete use of libkvidx, embedded in an
 * application (no daemon, no ZeroMQ).
 *
 * It creates an indexer that hashes like a vLLM fleet started with
 * `--block-size 16 --prefix-caching-hash-algo sha256_cbor` and
 * `PYTHONHASHSEED=0`, feeds it the KV events three such pods would publish
 * after serving one prompt, and asks which pod holds the longest prefix of
 * that prompt: first as text (tokenized with the model's real tokenizer,
 * exactly as vLLM does), then as token ids, then after an eviction, then
 * restricted to a set of candidate pods.
 *
 * The events are the same msgpack bytes vLLM sends over ZeroMQ; here they
 * are built with kvidx's batch writer and handed to the indexer's applier
 * in-process. Usage: example_indexer TOKENIZER_JSON
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvidx.h"

#define MODEL "Qwen/Qwen3-8B"
#define BLOCK_SIZE 16
#define MAX_BLOCKS 256

static const char prompt[] =
    "You are a helpful assistant for a railway company. Answer questions "
    "about timetables, tickets and luggage politely and precisely. If you do "
    "not know an answer, say so and point the customer to the service desk "
    "at the main station, which is open from six in the morning until ten "
    "in the evening every day of the year.\n\n"
    "Question: Can I take my bicycle on the regional train to the coast on "
    "a Sunday morning, and do I need a separate ticket for it?";

/* Exits with a message when a kvidx call failed. */
static void check(int rc, const char *what) {
  if (rc < 0) {
    fprintf(stderr, "example_indexer: %s: %s\n", what, kvidx_strerror(rc));
    exit(1);
  }
}

/*
 * Applies one event batch from pod, holding one event: blocks
 * [first, first + n) of the prompt whose full-block keys are keys[] and whose
 * tokens are tokens[]. This is what a vLLM pod publishes when it stores
 * (BlockStored) or evicts (BlockRemoved) those blocks.
 */
static void apply_event(kvidx_indexer *ix, const char *pod,
                        kvidx_event_type type, kvidx_tier tier,
                        const uint64_t *keys, const uint32_t *tokens,
                        size_t first, size_t n) {
  kvidx_event ev;
  memset(&ev, 0, sizeof ev);
  ev.type = type;
  ev.block_hashes = keys + first;
  ev.n_block_hashes = n;
  ev.tier = tier;
  ev.group_idx = -1;
  if (type == KVIDX_EVENT_BLOCK_STORED) {
    ev.has_parent = first > 0;
    ev.parent_block_hash = first > 0 ? keys[first - 1] : 0;
    ev.token_ids = tokens + first * BLOCK_SIZE;
    ev.n_token_ids = n * BLOCK_SIZE;
    ev.block_size = BLOCK_SIZE;
  }
  kvidx_batch_writer *w;
  const uint8_t *payload;
  size_t len;
  check(kvidx_batch_writer_new(KVIDX_LAYOUT_ARRAY, 0, &w), "batch writer");
  kvidx_batch_writer_begin(w, 1767225600.0, -1);
  check(kvidx_batch_writer_add(w, &ev), "batch writer add");
  check(kvidx_batch_writer_finish(w, &payload, &len), "batch writer finish");
  check(kvidx_applier_apply_batch(kvidx_indexer_applier(ix), pod, MODEL,
                                  payload, len),
        "apply batch");
  kvidx_batch_writer_free(w);
}

static void print_scores(const char *title, const kvidx_score_result *r) {
  printf("%s (%zu tokens, %zu blocks):\n", title, r->tokens, r->blocks);
  if (r->n_scores == 0)
    printf("  (no pod holds a prefix)\n");
  for (size_t i = 0; i < r->n_scores; i++)
    printf("  %-6s %6.2f  (%u blocks)\n", r->scores[i].pod, r->scores[i].score,
           r->scores[i].blocks);
}

/* main() stays in one piece on purpose: it is the tutorial, read top to
 * bottom, one numbered step per block. */
int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: example_indexer TOKENIZER_JSON\n");
    return 2;
  }

  /* 1. An indexer that hashes as the vLLM pods do, fed in-process. */
  const char *model_names[] = {MODEL};
  const char *model_paths[] = {argv[1]};
  kvidx_indexer_opts opts;
  kvidx_indexer_opts_init(&opts);
  opts.hasher.algo = KVIDX_HASH_SHA256_CBOR; /* --prefix-caching-hash-algo */
  opts.hasher.seed = "0";                    /* PYTHONHASHSEED */
  opts.hasher.block_size = BLOCK_SIZE;       /* --block-size */
  opts.model_names = model_names;
  opts.model_tokenizer_paths = model_paths;
  opts.n_model_tokenizers = 1;
  opts.use_events = 0; /* no ZeroMQ: events are applied by this program */
  kvidx_indexer *ix;
  check(kvidx_indexer_new(&opts, &ix), "indexer");

  /* 2. What the pods computed when they served the prompt: its tokens and
   * the keys of its full blocks. */
  kvidx_encoding enc;
  kvidx_encoding_init(&enc);
  check(kvidx_indexer_tokenize(ix, MODEL, prompt, strlen(prompt), &enc),
        "tokenize");
  uint64_t keys[MAX_BLOCKS];
  int n = kvidx_hash_blocks(kvidx_indexer_hasher(ix), NULL, 0, enc.ids, enc.n,
                            NULL, NULL, keys, MAX_BLOCKS);
  check(n, "hash blocks");
  size_t nb = (size_t)n;
  if (nb < 4) {
    fprintf(stderr, "example_indexer: the prompt needs at least 4 blocks\n");
    return 1;
  }
  printf("prompt: %zu tokens, %zu full blocks of %d\n", enc.n, nb, BLOCK_SIZE);

  /* 3. The pods' events: pod-a holds the whole prompt on GPU, pod-b its
   * first half, pod-c the whole prompt offloaded to CPU memory. */
  apply_event(ix, "pod-a", KVIDX_EVENT_BLOCK_STORED, KVIDX_TIER_GPU, keys,
              enc.ids, 0, nb);
  apply_event(ix, "pod-b", KVIDX_EVENT_BLOCK_STORED, KVIDX_TIER_GPU, keys,
              enc.ids, 0, nb / 2);
  apply_event(ix, "pod-c", KVIDX_EVENT_BLOCK_STORED, KVIDX_TIER_CPU, keys,
              enc.ids, 0, nb);

  /* 4. Score the prompt as text: tokenized and hashed like vLLM. */
  kvidx_score_request req = {MODEL, NULL, 0, NULL};
  kvidx_score_result res;
  kvidx_score_result_init(&res);
  check(kvidx_indexer_score_prompt(ix, &req, prompt, strlen(prompt), &res),
        "score prompt");
  print_scores("scores, prompt as text", &res);

  /* 5. Score token ids: the first 3 blocks of the prompt, then a different
   * continuation. Only the shared 3 blocks can be cached anywhere. */
  uint32_t ids[3 * BLOCK_SIZE + 20];
  memcpy(ids, enc.ids, 3 * BLOCK_SIZE * sizeof ids[0]);
  for (size_t i = 3 * BLOCK_SIZE; i < sizeof ids / sizeof ids[0]; i++)
    ids[i] = (uint32_t)(1000 + i);
  check(kvidx_indexer_score_tokens(ix, &req, ids, sizeof ids / sizeof ids[0],
                                   &res),
        "score tokens");
  print_scores("scores, token ids sharing 3 blocks", &res);

  /* 6. pod-a evicts the last 2 blocks of the prompt (BlockRemoved). */
  apply_event(ix, "pod-a", KVIDX_EVENT_BLOCK_REMOVED, KVIDX_TIER_GPU, keys,
              enc.ids, nb - 2, 2);
  check(kvidx_indexer_score_prompt(ix, &req, prompt, strlen(prompt), &res),
        "score prompt");
  print_scores("scores after pod-a evicted 2 blocks", &res);

  /* 7. Only some pods are candidates (e.g. the others are full). */
  const char *candidates[] = {"pod-b", "pod-c"};
  req.pods = candidates;
  req.n_pods = 2;
  check(kvidx_indexer_score_prompt(ix, &req, prompt, strlen(prompt), &res),
        "score prompt");
  print_scores("scores among pod-b and pod-c only", &res);

  kvidx_score_result_free(&res);
  kvidx_encoding_free(&enc);
  kvidx_indexer_free(ix);
  return 0;
}

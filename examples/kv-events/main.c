/*
 * examples/kv-events: the offline half of the KV-events example. Two
 * simulated vLLM pods publish BlockStored / BlockRemoved / AllBlocksCleared
 * events over ZeroMQ to a running kvidxd. After each event the program waits
 * until kvidxd has applied it and prints kvidxd's scores for one prompt, so
 * you can watch the index follow the fleet.
 *
 * The pods hash the prompt as vLLM pods started with --block-size 16,
 * --prefix-caching-hash-algo sha256_cbor and PYTHONHASHSEED=0 would, so
 * kvidxd must be started with the same settings:
 *
 *   kvidxd --zmq-bind tcp://127.0.0.1:5557 --http 127.0.0.1:8080 \
 *          --block-size 16 --hash-algo sha256_cbor --hash-seed 0 \
 *          --model-tokenizer Qwen/Qwen3-8B=PATH/tokenizer.json
 *   example_kv-events tcp://127.0.0.1:5557 http://127.0.0.1:8080 \
 *          PATH/tokenizer.json
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "kv_events.h"

#define MODEL "Qwen/Qwen3-8B"
#define BLOCK_SIZE 16
#define MAX_BLOCKS 256
#define N_PODS 2
#define TIMEOUT_MS 5000

static const char prompt[] =
    "You are a helpful assistant for a railway company. Answer questions "
    "about timetables, tickets and luggage politely and precisely. If you do "
    "not know an answer, say so and point the customer to the service desk "
    "at the main station, which is open from six in the morning until ten "
    "in the evening every day of the year.\n\n"
    "Question: Can I take my bicycle on the regional train to the coast on "
    "a Sunday morning, and do I need a separate ticket for it?";

static const char *const pod_names[N_PODS] = {"vllm-0", "vllm-1"};

/* The prompt as the pods computed it when they served it. */
typedef struct {
  kvidx_encoding enc; /* its tokens */
  uint64_t keys[MAX_BLOCKS];
  size_t n_blocks; /* full blocks, keys[0..n_blocks) */
} served_prompt;

typedef struct {
  sim_pod *pods[N_PODS];
  kvidxd_client *http;
  const served_prompt *sp;
  int step;
} demo;

/* Tokenizes the prompt as vLLM does (special tokens added) into sp->enc. */
static int tokenize_prompt(const char *tokenizer_path, served_prompt *sp) {
  kvidx_tokenizer *tok;
  char err[256] = "";
  int rc = kvidx_tokenizer_load(tokenizer_path, NULL, &tok, err, sizeof err);
  if (rc == 0) {
    rc = kvidx_tokenizer_encode(tok, prompt, strlen(prompt), 1, &sp->enc);
    kvidx_tokenizer_free(tok);
  }
  if (rc)
    fprintf(stderr, "example_kv-events: tokenizing with %s: %s %s\n",
            tokenizer_path, kvidx_strerror(rc), err);
  return rc ? -1 : 0;
}

/* Hashes sp->enc into block keys as vLLM pods with --block-size 16,
 * --prefix-caching-hash-algo sha256_cbor and PYTHONHASHSEED=0 do. */
static int hash_prompt(served_prompt *sp) {
  kvidx_hasher_opts ho;
  kvidx_hasher_opts_init(&ho);
  ho.algo = KVIDX_HASH_SHA256_CBOR;
  ho.seed = "0";
  ho.block_size = BLOCK_SIZE;
  kvidx_hasher *h;
  int n = kvidx_hasher_new(&ho, &h);
  if (n == 0) {
    n = kvidx_hash_blocks(h, NULL, 0, sp->enc.ids, sp->enc.n, NULL, NULL,
                          sp->keys, MAX_BLOCKS);
    kvidx_hasher_free(h);
  }
  if (n < 4) {
    fprintf(stderr, "example_kv-events: hashing the prompt: %s\n",
            n < 0 ? kvidx_strerror(n) : "fewer than 4 blocks");
    return -1;
  }
  sp->n_blocks = (size_t)n;
  return 0;
}

/* Prints kvidxd's scores for the prompt, one per pod. */
static int print_scores(demo *d) {
  double score[N_PODS];
  if (kvidxd_score(d->http, MODEL, prompt, pod_names, N_PODS, score) != 0)
    return -1;
  printf("    scores:");
  for (int i = 0; i < N_PODS; i++)
    printf(" %s=%.2f", pod_names[i], score[i]);
  printf("\n");
  return 0;
}

/* One change in the fleet: pod publishes ev, kvidxd applies it, scores. */
static int change(demo *d, int pod, const char *what, const kvidx_event *ev) {
  int64_t seq = sim_pod_publish(d->pods[pod], ev);
  if (seq < 0)
    return -1;
  printf("[%d] %s %s (seq %lld)\n", ++d->step, pod_names[pod], what,
         (long long)seq);
  if (kvidxd_wait_applied(d->http, pod_names[pod], (uint64_t)seq, TIMEOUT_MS) !=
      0)
    return -1;
  return print_scores(d);
}

/* An event about blocks [first, first + n) of the prompt. */
static kvidx_event blocks_event(const served_prompt *sp, kvidx_event_type type,
                                size_t first, size_t n, kvidx_tier tier) {
  kvidx_event ev;
  memset(&ev, 0, sizeof ev);
  ev.type = type;
  ev.tier = tier;
  ev.group_idx = -1;
  if (type == KVIDX_EVENT_ALL_BLOCKS_CLEARED)
    return ev;
  ev.block_hashes = sp->keys + first;
  ev.n_block_hashes = n;
  if (type == KVIDX_EVENT_BLOCK_STORED) {
    ev.has_parent = first > 0;
    ev.parent_block_hash = first > 0 ? sp->keys[first - 1] : 0;
    ev.token_ids = sp->enc.ids + first * BLOCK_SIZE;
    ev.n_token_ids = n * BLOCK_SIZE;
    ev.block_size = BLOCK_SIZE;
  }
  return ev;
}

static int run(demo *d) {
  const served_prompt *sp = d->sp;
  size_t nb = sp->n_blocks, half = nb / 2;
  char what[128];
  kvidx_event ev;
  /* Start from a clean slate even if this ran before against this kvidxd. */
  for (int i = 0; i < N_PODS; i++)
    if (kvidxd_forget_pod(d->http, pod_names[i]) != 0)
      return -1;
  printf("[0] no events yet\n");
  if (print_scores(d))
    return -1;
  ev = blocks_event(sp, KVIDX_EVENT_BLOCK_STORED, 0, nb, KVIDX_TIER_GPU);
  snprintf(what, sizeof what, "BlockStored blocks 0-%zu on GPU", nb - 1);
  if (change(d, 0, what, &ev))
    return -1;
  ev = blocks_event(sp, KVIDX_EVENT_BLOCK_STORED, 0, half, KVIDX_TIER_GPU);
  snprintf(what, sizeof what, "BlockStored blocks 0-%zu on GPU", half - 1);
  if (change(d, 1, what, &ev))
    return -1;
  ev = blocks_event(sp, KVIDX_EVENT_BLOCK_REMOVED, nb - 2, 2, KVIDX_TIER_GPU);
  snprintf(what, sizeof what, "BlockRemoved blocks %zu-%zu from GPU", nb - 2,
           nb - 1);
  if (change(d, 0, what, &ev))
    return -1;
  ev = blocks_event(sp, KVIDX_EVENT_BLOCK_STORED, nb - 2, 2, KVIDX_TIER_CPU);
  snprintf(what, sizeof what, "BlockStored blocks %zu-%zu on CPU (offloaded)",
           nb - 2, nb - 1);
  if (change(d, 0, what, &ev))
    return -1;
  ev = blocks_event(sp, KVIDX_EVENT_ALL_BLOCKS_CLEARED, 0, 0, KVIDX_TIER_GPU);
  return change(d, 1, "AllBlocksCleared", &ev);
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: example_kv-events ZMQ_ENDPOINT KVIDXD_URL "
                    "TOKENIZER_JSON\n");
    return 2;
  }
  served_prompt sp;
  memset(&sp, 0, sizeof sp);
  kvidx_encoding_init(&sp.enc);
  if (tokenize_prompt(argv[3], &sp) != 0 || hash_prompt(&sp) != 0) {
    kvidx_encoding_free(&sp.enc);
    return 1;
  }
  printf("prompt: %zu tokens, %zu full blocks of %d; model %s\n", sp.enc.n,
         sp.n_blocks, BLOCK_SIZE, MODEL);
  void *ctx = zmq_ctx_new();
  demo d;
  memset(&d, 0, sizeof d);
  d.sp = &sp;
  d.http = kvidxd_client_new(argv[2]);
  int ok = d.http != NULL;
  for (int i = 0; ok && i < N_PODS; i++) {
    d.pods[i] = sim_pod_connect(ctx, argv[1], pod_names[i], MODEL, TIMEOUT_MS);
    ok = d.pods[i] != NULL;
  }
  if (ok)
    ok = run(&d) == 0;
  for (int i = 0; i < N_PODS; i++)
    sim_pod_close(d.pods[i]);
  kvidxd_client_free(d.http);
  zmq_ctx_term(ctx);
  kvidx_encoding_free(&sp.enc);
  return ok ? 0 : 1;
}

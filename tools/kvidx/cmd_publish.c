/*
 * cmd_publish.c: `kvidx publish`, a vLLM-faithful KV-event publisher for
 * tests, benches and demos.
 *
 * It turns prompts (a token file, or generated token streams) into the
 * events a vLLM engine with prefix caching would emit: BlockStored for each
 * full block the first time this "engine" caches it (hashed with the chosen
 * --prefix-caching-hash-algo, seed and block size, chained from the parent
 * block), then optionally BlockRemoved and AllBlocksCleared. Batches are
 * numbered 0, 1, 2... and sent as [topic, seq(8B BE), payload] on a PUB
 * socket that binds or connects by vLLM's rule, and kept in a replay buffer
 * served on a ROUTER socket exactly as vLLM's ZmqEventPublisher does. All
 * payloads are encoded before the first send, so the send rate measures the
 * transport, not the hashing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "cli.h"
#include "kvidx.h"

#define PUB_MAX_SKIP_RANGES 64

typedef struct {
  const char *endpoint, *topic, *pod, *model, *replay_endpoint, *tokens_file;
  const char *seed, *medium;
  int force_bind, force_connect, replay_frames, quiet, print_keys;
  kvidx_event_layout layout;
  int hash_bytes_form;
  kvidx_hash_algo algo;
  uint32_t block_size;
  int64_t dp_rank;
  long generate, prompt_blocks, shared_prefix_blocks, blocks_per_event,
      events_per_batch, repeat, buffer_steps, wait_ms, linger_ms, hwm;
  uint64_t rng_seed, seq_start;
  double rate;
  int remove, clear;
  uint64_t skip_lo[PUB_MAX_SKIP_RANGES], skip_hi[PUB_MAX_SKIP_RANGES];
  int n_skip;
} pub_opts;

static void usage(FILE *f) {
  fprintf(
      f,
      "usage: kvidx publish [options]\n"
      "Publishes vLLM KV events (BlockStored/BlockRemoved/AllBlocksCleared)\n"
      "over ZeroMQ, as a vLLM engine with --kv-events-config would.\n\n"
      "transport:\n"
      "  --endpoint EP          PUB endpoint (default tcp://*:5557); binds "
      "when\n"
      "                         EP has '*' or '::' or is ipc:// or inproc://,\n"
      "                         else connects (vLLM's rule)\n"
      "  --bind | --connect     force binding or connecting\n"
      "  --pod ID               pod id (default pod-0)\n"
      "  --model NAME           model name (default model)\n"
      "  --topic T              topic (default kv@<pod>@<model>; may be \"\")\n"
      "  --replay-endpoint EP   bind a ROUTER here serving replay requests\n"
      "  --replay-frames 3|4    reply layout: 3 = ['',seq,payload] (vLLM <=\n"
      "                         0.25), 4 = ['',topic,seq,payload] (default 3)\n"
      "  --buffer-steps N       batches kept for replay (default 10000)\n"
      "  --hwm N                PUB send high-water mark (default 100000)\n"
      "  --wait-ms N            pause before the first batch, for subscribers\n"
      "                         to connect (default 300)\n"
      "  --linger-ms N          keep serving replay N ms after the last batch\n"
      "  --rate N               at most N batches per second (default: no "
      "limit)\n"
      "  --skip-seqs A[-B],...  do not send these seqs (they stay in the "
      "replay\n"
      "                         buffer): simulates lost messages\n"
      "  --seq-start N          first seq (default 0)\n"
      "encoding:\n"
      "  --layout L             array-v0 | array | map | map-batch (default "
      "array)\n"
      "  --hash-format F        int | bytes (default int)\n"
      "  --dp-rank N            data_parallel_rank sent (default: nil)\n"
      "  --medium M             medium of the events (default: GPU)\n"
      "hashing (must match the engine being simulated):\n"
      "  --algo A               sha256 | sha256_cbor | xxhash | xxhash_cbor\n"
      "                         (default sha256)\n"
      "  --seed S               PYTHONHASHSEED (default unset: "
      "vllm-none-hash)\n"
      "  --block-size N         tokens per block (default 16)\n"
      "prompts:\n"
      "  --tokens FILE          one prompt per line, token ids separated by\n"
      "                         spaces or commas ('-' = stdin)\n"
      "  --generate N           N generated prompts (default 1 when no "
      "--tokens)\n"
      "  --prompt-blocks N      blocks per generated prompt (default 8)\n"
      "  --shared-prefix-blocks N  leading blocks common to all prompts (0)\n"
      "  --rng-seed N           seed of the generated tokens (default 1)\n"
      "events:\n"
      "  --blocks-per-event N   blocks per BlockStored/Removed (default 16)\n"
      "  --events-per-batch N   events per batch (default 1)\n"
      "  --remove               after storing, remove every stored block\n"
      "  --clear                end with an AllBlocksCleared batch\n"
      "  --repeat N             send the whole sequence N times (default 1)\n"
      "output:\n"
      "  --print-keys           print each prompt's block hashes (decimal, "
      "one\n"
      "                         line per prompt) on stdout\n"
      "  --quiet                no summary on stderr\n");
}

/* ---- small helpers ------------------------------------------------------ */

static int parse_long(const char *s, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end)
    return -1;
  *out = v;
  return 0;
}

static int parse_skips(pub_opts *o, const char *s) {
  const char *p = s;
  while (*p) {
    if (o->n_skip >= PUB_MAX_SKIP_RANGES)
      return -1;
    char *end;
    unsigned long long lo = strtoull(p, &end, 10), hi = lo;
    if (end == p)
      return -1;
    if (*end == '-') {
      p = end + 1;
      hi = strtoull(p, &end, 10);
      if (end == p)
        return -1;
    }
    o->skip_lo[o->n_skip] = lo;
    o->skip_hi[o->n_skip++] = hi;
    p = *end == ',' ? end + 1 : end;
    if (*end && *end != ',')
      return -1;
  }
  return 0;
}

static int skipped(const pub_opts *o, uint64_t seq) {
  for (int i = 0; i < o->n_skip; i++)
    if (seq >= o->skip_lo[i] && seq <= o->skip_hi[i])
      return 1;
  return 0;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double wall_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
  nanosleep(&ts, NULL);
}

/* A growable uint32 / uint64 / payload array. */
typedef struct {
  uint32_t *v;
  size_t n, cap;
} u32vec;

static int u32_push(u32vec *a, uint32_t x) {
  if (a->n == a->cap) {
    size_t c = a->cap ? a->cap * 2 : 256;
    uint32_t *p = realloc(a->v, c * sizeof *p);
    if (!p)
      return -1;
    a->v = p;
    a->cap = c;
  }
  a->v[a->n++] = x;
  return 0;
}

/* Prompts: concatenated tokens with start offsets. */
typedef struct {
  u32vec tokens;
  size_t *start; /* prompt i = tokens[start[i] .. start[i+1]) */
  size_t n, cap;
} prompt_set;

static int prompt_end(prompt_set *ps) {
  if (ps->n + 2 > ps->cap) {
    size_t c = ps->cap ? ps->cap * 2 : 64;
    size_t *p = realloc(ps->start, c * sizeof *p);
    if (!p)
      return -1;
    ps->start = p;
    ps->cap = c;
  }
  if (ps->n == 0)
    ps->start[0] = 0;
  ps->start[++ps->n] = ps->tokens.n;
  return 0;
}

static int read_token_file(const char *path, prompt_set *ps) {
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
  if (f == NULL) {
    fprintf(stderr, "kvidx publish: %s: %s\n", path, strerror(errno));
    return -1;
  }
  char *line = NULL;
  size_t cap = 0;
  int rc = 0;
  while (getline(&line, &cap, f) >= 0) {
    size_t before = ps->tokens.n;
    for (char *p = line; *p;) {
      if (*p < '0' || *p > '9') {
        p++;
        continue;
      }
      char *end;
      unsigned long v = strtoul(p, &end, 10);
      if (v > UINT32_MAX || u32_push(&ps->tokens, (uint32_t)v) != 0) {
        rc = -1;
        break;
      }
      p = end;
    }
    if (rc == 0 && ps->tokens.n > before && prompt_end(ps) != 0)
      rc = -1;
  }
  free(line);
  if (f != stdin)
    fclose(f);
  return rc;
}

static uint64_t xorshift(uint64_t *s) {
  uint64_t x = *s;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *s = x;
}

static int generate_prompts(const pub_opts *o, prompt_set *ps) {
  uint64_t shared = o->rng_seed * 0x9e3779b97f4a7c15ULL + 1;
  for (long p = 0; p < o->generate; p++) {
    uint64_t own = (o->rng_seed + (uint64_t)p + 1) * 0xbf58476d1ce4e5b9ULL;
    uint64_t sh = shared;
    for (long b = 0; b < o->prompt_blocks; b++) {
      uint64_t *s = b < o->shared_prefix_blocks ? &sh : &own;
      for (uint32_t t = 0; t < o->block_size; t++)
        if (u32_push(&ps->tokens, (uint32_t)(xorshift(s) % 50000)) != 0)
          return -1;
    }
    if (prompt_end(ps) != 0)
      return -1;
  }
  return 0;
}

/* ---- the engine's view: which hashes are cached ------------------------- */

typedef struct {
  uint64_t *keys;
  size_t mask, n;
} key_set;

/* Inserts k; returns 1 if it was new. Grows at half load. */
static int key_set_add(key_set *s, uint64_t k) {
  if (s->keys == NULL || (s->n + 1) * 2 > s->mask + 1) {
    size_t cap = s->keys ? (s->mask + 1) * 2 : 1024;
    uint64_t *nk = calloc(cap, sizeof *nk);
    if (nk == NULL)
      return -1;
    for (size_t i = 0; s->keys && i <= s->mask; i++) {
      uint64_t x = s->keys[i];
      if (x == 0)
        continue;
      size_t j = (size_t)(x * 0x9e3779b97f4a7c15ULL) & (cap - 1);
      while (nk[j])
        j = (j + 1) & (cap - 1);
      nk[j] = x;
    }
    free(s->keys);
    s->keys = nk;
    s->mask = cap - 1;
  }
  uint64_t x = k ? k : 1; /* 0 marks an empty slot */
  size_t j = (size_t)(x * 0x9e3779b97f4a7c15ULL) & s->mask;
  while (s->keys[j]) {
    if (s->keys[j] == x)
      return 0;
    j = (j + 1) & s->mask;
  }
  s->keys[j] = x;
  s->n++;
  return 1;
}

/* ---- batches ------------------------------------------------------------ */

typedef struct {
  uint8_t **data;
  size_t *len;
  size_t n, cap;
  size_t blocks;
} batch_list;

typedef struct {
  const pub_opts *o;
  kvidx_batch_writer *w;
  batch_list *bl;
  long in_batch;
} builder;

static int flush_batch(builder *b) {
  if (b->in_batch == 0)
    return 0;
  const uint8_t *p;
  size_t n;
  if (kvidx_batch_writer_finish(b->w, &p, &n) != 0)
    return -1;
  batch_list *bl = b->bl;
  if (bl->n == bl->cap) {
    size_t c = bl->cap ? bl->cap * 2 : 256;
    uint8_t **d = realloc(bl->data, c * sizeof *d);
    size_t *l = d ? realloc(bl->len, c * sizeof *l) : NULL;
    if (!d || !l)
      return -1;
    bl->data = d;
    bl->len = l;
    bl->cap = c;
  }
  bl->data[bl->n] = malloc(n);
  if (bl->data[bl->n] == NULL)
    return -1;
  memcpy(bl->data[bl->n], p, n);
  bl->len[bl->n++] = n;
  b->in_batch = 0;
  return 0;
}

static int add_event(builder *b, const kvidx_event *ev) {
  if (b->in_batch == 0)
    kvidx_batch_writer_begin(b->w, wall_s(), b->o->dp_rank);
  if (kvidx_batch_writer_add(b->w, ev) != 0)
    return -1;
  b->bl->blocks += ev->n_block_hashes;
  if (++b->in_batch >= b->o->events_per_batch)
    return flush_batch(b);
  return 0;
}

/* vLLM medium name -> tier (case-insensitive); -1 when unknown. */
static int medium_tier(const char *m) {
  static const char *const names[KVIDX_TIER_COUNT] = {"gpu", "cpu", "fs", "obj",
                                                      "storage"};
  for (int i = 0; m && i < KVIDX_TIER_COUNT; i++)
    if (strcasecmp(m, names[i]) == 0)
      return i;
  return -1;
}

static void base_event(const pub_opts *o, kvidx_event *ev, kvidx_event_type t) {
  memset(ev, 0, sizeof *ev);
  ev->type = t;
  ev->group_idx = -1;
  ev->block_size = o->block_size;
  if (o->medium)
    ev->tier = (kvidx_tier)medium_tier(o->medium);
}

/* Emits BlockStored events for the blocks of one prompt that this engine
 * has not cached yet, in runs of consecutive new blocks. */
static int store_prompt(builder *b, const uint32_t *tok, const uint64_t *keys,
                        size_t nb, key_set *cached) {
  const pub_opts *o = b->o;
  size_t i = 0;
  while (i < nb) {
    int fresh = key_set_add(cached, keys[i]);
    if (fresh < 0)
      return -1;
    if (!fresh) {
      i++;
      continue;
    }
    size_t j = i + 1;
    while (j < nb && j - i < (size_t)o->blocks_per_event) {
      int f = key_set_add(cached, keys[j]);
      if (f < 0)
        return -1;
      if (!f)
        break;
      j++;
    }
    kvidx_event ev;
    base_event(o, &ev, KVIDX_EVENT_BLOCK_STORED);
    ev.block_hashes = keys + i;
    ev.n_block_hashes = j - i;
    ev.has_parent = i > 0;
    ev.parent_block_hash = i > 0 ? keys[i - 1] : 0;
    ev.token_ids = tok + i * o->block_size;
    ev.n_token_ids = (j - i) * o->block_size;
    if (add_event(b, &ev) != 0)
      return -1;
    i = j;
  }
  return 0;
}

static int remove_all(builder *b, const key_set *cached) {
  const pub_opts *o = b->o;
  uint64_t *run = malloc((size_t)o->blocks_per_event * sizeof *run);
  if (run == NULL)
    return -1;
  size_t n = 0;
  for (size_t i = 0; cached->keys && i <= cached->mask; i++) {
    if (cached->keys[i] == 0)
      continue;
    run[n++] = cached->keys[i];
    if (n == (size_t)o->blocks_per_event || i == cached->mask) {
      kvidx_event ev;
      base_event(o, &ev, KVIDX_EVENT_BLOCK_REMOVED);
      ev.block_hashes = run;
      ev.n_block_hashes = n;
      if (add_event(b, &ev) != 0) {
        free(run);
        return -1;
      }
      n = 0;
    }
  }
  if (n > 0) {
    kvidx_event ev;
    base_event(o, &ev, KVIDX_EVENT_BLOCK_REMOVED);
    ev.block_hashes = run;
    ev.n_block_hashes = n;
    if (add_event(b, &ev) != 0) {
      free(run);
      return -1;
    }
  }
  free(run);
  return 0;
}

/* Hashes every prompt and encodes the whole sequence of batches. */
static int build_batches(const pub_opts *o, const prompt_set *ps,
                         batch_list *bl) {
  kvidx_hasher_opts ho;
  kvidx_hasher_opts_init(&ho);
  ho.algo = o->algo;
  ho.seed = o->seed;
  ho.block_size = o->block_size;
  kvidx_hasher *h = NULL;
  kvidx_batch_writer *w = NULL;
  unsigned hb = 0;
  if (o->hash_bytes_form)
    hb = (o->algo == KVIDX_HASH_XXHASH || o->algo == KVIDX_HASH_XXHASH_CBOR)
             ? 16
             : 32;
  if (kvidx_hasher_new(&ho, &h) != 0 ||
      kvidx_batch_writer_new(o->layout, hb, &w) != 0) {
    kvidx_hasher_free(h);
    return -1;
  }
  builder b = {o, w, bl, 0};
  key_set cached = {0};
  uint64_t *keys = NULL;
  int rc = 0;
  for (size_t p = 0; p < ps->n && rc == 0; p++) {
    const uint32_t *tok = ps->tokens.v + ps->start[p];
    size_t nt = ps->start[p + 1] - ps->start[p];
    size_t nb = nt / o->block_size;
    free(keys);
    keys = malloc((nb ? nb : 1) * sizeof *keys);
    if (keys == NULL) {
      rc = -1;
      break;
    }
    int got = kvidx_hash_blocks(h, NULL, 0, tok, nt, NULL, NULL, keys, nb);
    if (got < 0) {
      fprintf(stderr, "kvidx publish: hashing failed: %s\n",
              kvidx_strerror(got));
      rc = -1;
      break;
    }
    if (o->print_keys) {
      for (int i = 0; i < got; i++)
        printf(i ? " %llu" : "%llu", (unsigned long long)keys[i]);
      printf("\n");
    }
    rc = store_prompt(&b, tok, keys, (size_t)got, &cached);
  }
  if (rc == 0)
    rc = flush_batch(&b);
  if (rc == 0 && o->remove)
    rc = remove_all(&b, &cached);
  if (rc == 0 && o->clear) {
    kvidx_event ev;
    base_event(o, &ev, KVIDX_EVENT_ALL_BLOCKS_CLEARED);
    rc = add_event(&b, &ev);
  }
  if (rc == 0)
    rc = flush_batch(&b);
  if (o->print_keys)
    fflush(stdout);
  free(keys);
  free(cached.keys);
  kvidx_batch_writer_free(w);
  kvidx_hasher_free(h);
  return rc;
}

/* ---- sending and replay ------------------------------------------------- */

typedef struct {
  uint64_t seq;
  const uint8_t *data; /* points into the batch list */
  size_t len;
} sent_batch;

typedef struct {
  const pub_opts *o;
  void *pub, *router;
  const char *topic;
  sent_batch *ring;
  size_t ring_cap, ring_n, ring_head; /* oldest at ring_head */
  uint64_t replays;
} sender;

static void ring_add(sender *s, uint64_t seq, const uint8_t *d, size_t n) {
  size_t i = (s->ring_head + s->ring_n) % s->ring_cap;
  if (s->ring_n == s->ring_cap) {
    s->ring_head = (s->ring_head + 1) % s->ring_cap;
    i = (s->ring_head + s->ring_n - 1) % s->ring_cap;
  } else {
    s->ring_n++;
  }
  s->ring[i] = (sent_batch){seq, d, n};
}

static void be64(uint64_t v, uint8_t out[8]) {
  for (int i = 0; i < 8; i++)
    out[i] = (uint8_t)(v >> (56 - 8 * i));
}

/* Serves one replay request if one is waiting (as vLLM's _service_replay). */
static void serve_replay(sender *s, long timeout_ms) {
  zmq_pollitem_t it = {s->router, 0, ZMQ_POLLIN, 0};
  if (s->router == NULL || zmq_poll(&it, 1, timeout_ms) <= 0)
    return;
  zmq_msg_t parts[4];
  int n = 0, more = 1;
  size_t sz = sizeof more;
  while (more) {
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, s->router, 0) < 0) {
      zmq_msg_close(&m);
      break;
    }
    zmq_getsockopt(s->router, ZMQ_RCVMORE, &more, &sz);
    if (n < 4)
      zmq_msg_init(&parts[n]), zmq_msg_move(&parts[n], &m);
    n++;
    zmq_msg_close(&m);
  }
  if (n == 3 && zmq_msg_size(&parts[2]) == 8) {
    const uint8_t *b = zmq_msg_data(&parts[2]);
    uint64_t start = 0;
    for (int i = 0; i < 8; i++)
      start = (start << 8) | b[i];
    const void *id = zmq_msg_data(&parts[0]);
    size_t idn = zmq_msg_size(&parts[0]);
    uint8_t sq[8];
    for (size_t k = 0; k < s->ring_n; k++) {
      const sent_batch *sb = &s->ring[(s->ring_head + k) % s->ring_cap];
      if (sb->seq < start)
        continue;
      be64(sb->seq, sq);
      zmq_send(s->router, id, idn, ZMQ_SNDMORE);
      zmq_send(s->router, "", 0, ZMQ_SNDMORE);
      if (s->o->replay_frames == 4)
        zmq_send(s->router, s->topic, strlen(s->topic), ZMQ_SNDMORE);
      zmq_send(s->router, sq, 8, ZMQ_SNDMORE);
      zmq_send(s->router, sb->data, sb->len, 0);
    }
    be64(UINT64_MAX, sq);
    zmq_send(s->router, id, idn, ZMQ_SNDMORE);
    zmq_send(s->router, "", 0, ZMQ_SNDMORE);
    if (s->o->replay_frames == 4)
      zmq_send(s->router, s->topic, strlen(s->topic), ZMQ_SNDMORE);
    zmq_send(s->router, sq, 8, ZMQ_SNDMORE);
    zmq_send(s->router, "", 0, 0);
    s->replays++;
  }
  /* a malformed request gets no reply at all, as in vLLM */
  for (int i = 0; i < n && i < 4; i++)
    zmq_msg_close(&parts[i]);
}

static int open_sockets(sender *s, void *ctx) {
  const pub_opts *o = s->o;
  s->pub = zmq_socket(ctx, ZMQ_PUB);
  /* Wait up to 30 s at exit for queued batches to reach the subscribers:
   * a short linger silently drops the tail of a fast run. */
  int hwm = (int)o->hwm, linger = 30000;
  zmq_setsockopt(s->pub, ZMQ_SNDHWM, &hwm, sizeof hwm);
  zmq_setsockopt(s->pub, ZMQ_LINGER, &linger, sizeof linger);
  const char *ep = o->endpoint;
  int bind = o->force_bind ||
             (!o->force_connect && (strchr(ep, '*') || strstr(ep, "::") ||
                                    strncmp(ep, "ipc://", 6) == 0 ||
                                    strncmp(ep, "inproc://", 9) == 0));
  if ((bind ? zmq_bind(s->pub, ep) : zmq_connect(s->pub, ep)) != 0) {
    fprintf(stderr, "kvidx publish: cannot %s %s: %s\n",
            bind ? "bind" : "connect", ep, zmq_strerror(zmq_errno()));
    return -1;
  }
  if (o->replay_endpoint) {
    s->router = zmq_socket(ctx, ZMQ_ROUTER);
    zmq_setsockopt(s->router, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_bind(s->router, o->replay_endpoint) != 0) {
      fprintf(stderr, "kvidx publish: cannot bind replay %s: %s\n",
              o->replay_endpoint, zmq_strerror(zmq_errno()));
      return -1;
    }
  }
  return 0;
}

static int send_all(const pub_opts *o, const batch_list *bl) {
  char topic[600];
  if (o->topic)
    snprintf(topic, sizeof topic, "%s", o->topic);
  else
    snprintf(topic, sizeof topic, "kv@%s@%s", o->pod, o->model);
  void *ctx = zmq_ctx_new();
  sender s = {o, NULL, NULL, topic, NULL, (size_t)o->buffer_steps, 0, 0, 0};
  s.ring = calloc(s.ring_cap, sizeof *s.ring);
  int rc = s.ring ? open_sockets(&s, ctx) : -1;
  double t0 = now_s(), t_first = 0;
  uint64_t seq = o->seq_start, sent = 0, blocks = 0;
  if (rc == 0) {
    /* the slow-joiner pause, serving replay meanwhile */
    for (double end = now_s() + (double)o->wait_ms / 1e3; now_s() < end;)
      serve_replay(&s, 10);
    t_first = now_s();
    for (long r = 0; r < o->repeat; r++) {
      for (size_t i = 0; i < bl->n; i++, seq++) {
        ring_add(&s, seq, bl->data[i], bl->len[i]);
        if (!skipped(o, seq)) {
          uint8_t sq[8];
          be64(seq, sq);
          zmq_send(s.pub, topic, strlen(topic), ZMQ_SNDMORE);
          zmq_send(s.pub, sq, 8, ZMQ_SNDMORE);
          zmq_send(s.pub, bl->data[i], bl->len[i], 0);
          sent++;
        }
        if (s.router && (i & 63) == 0)
          serve_replay(&s, 0);
        if (o->rate > 0) {
          double due = t_first + (double)(seq - o->seq_start + 1) / o->rate;
          while (now_s() < due) {
            serve_replay(&s, 1);
            if (!s.router)
              sleep_ms(1);
          }
        }
      }
      blocks += bl->blocks;
    }
    double t_end = now_s();
    for (double end = now_s() + (double)o->linger_ms / 1e3; now_s() < end;)
      serve_replay(&s, 10);
    if (!o->quiet) {
      double dt = t_end - t_first;
      fprintf(stderr,
              "kvidx publish: %llu batches sent (%llu skipped), %llu blocks "
              "in %.3f s: %.0f blocks/s, %llu replays served, seq %llu..%llu\n",
              (unsigned long long)sent,
              (unsigned long long)(seq - o->seq_start - sent),
              (unsigned long long)blocks, dt, dt > 0 ? (double)blocks / dt : 0,
              (unsigned long long)s.replays, (unsigned long long)o->seq_start,
              (unsigned long long)(seq ? seq - 1 : 0));
    }
  }
  (void)t0;
  if (s.pub)
    zmq_close(s.pub);
  if (s.router)
    zmq_close(s.router);
  zmq_ctx_term(ctx);
  free(s.ring);
  return rc;
}

/* ---- options ------------------------------------------------------------ */

static void opts_default(pub_opts *o) {
  memset(o, 0, sizeof *o);
  o->endpoint = "tcp://*:5557";
  o->pod = "pod-0";
  o->model = "model";
  o->replay_frames = 3;
  o->layout = KVIDX_LAYOUT_ARRAY;
  o->algo = KVIDX_HASH_SHA256;
  o->block_size = 16;
  o->dp_rank = -1;
  o->prompt_blocks = 8;
  o->blocks_per_event = 16;
  o->events_per_batch = 1;
  o->repeat = 1;
  o->buffer_steps = 10000;
  o->wait_ms = 300;
  o->hwm = 100000;
  o->rng_seed = 1;
}

/* Parses one option; returns the number of argv entries used, or -1. */
static int parse_opt(pub_opts *o, int argc, char **argv, int i) {
  const char *a = argv[i];
  const char *v = i + 1 < argc ? argv[i + 1] : NULL;
  long n;
#define FLAG(name, field)                                                      \
  if (strcmp(a, name) == 0) {                                                  \
    o->field = 1;                                                              \
    return 1;                                                                  \
  }
#define STR(name, field)                                                       \
  if (strcmp(a, name) == 0) {                                                  \
    if (!v)                                                                    \
      return -1;                                                               \
    o->field = v;                                                              \
    return 2;                                                                  \
  }
#define NUM(name, field, min)                                                  \
  if (strcmp(a, name) == 0) {                                                  \
    if (!v || parse_long(v, &n) != 0 || n < (min))                             \
      return -1;                                                               \
    o->field = (__typeof__(o->field))n;                                        \
    return 2;                                                                  \
  }
  FLAG("--bind", force_bind)
  FLAG("--connect", force_connect)
  FLAG("--remove", remove)
  FLAG("--clear", clear)
  FLAG("--quiet", quiet)
  FLAG("--print-keys", print_keys)
  STR("--endpoint", endpoint)
  STR("--topic", topic)
  STR("--pod", pod)
  STR("--model", model)
  STR("--replay-endpoint", replay_endpoint)
  STR("--tokens", tokens_file)
  STR("--seed", seed)
  STR("--medium", medium)
  NUM("--generate", generate, 0)
  NUM("--prompt-blocks", prompt_blocks, 0)
  NUM("--shared-prefix-blocks", shared_prefix_blocks, 0)
  NUM("--blocks-per-event", blocks_per_event, 1)
  NUM("--events-per-batch", events_per_batch, 1)
  NUM("--repeat", repeat, 1)
  NUM("--buffer-steps", buffer_steps, 1)
  NUM("--wait-ms", wait_ms, 0)
  NUM("--linger-ms", linger_ms, 0)
  NUM("--hwm", hwm, 0)
  NUM("--replay-frames", replay_frames, 3)
  NUM("--dp-rank", dp_rank, -1)
#undef FLAG
#undef STR
#undef NUM
  if (!v)
    return -1;
  if (strcmp(a, "--block-size") == 0)
    return parse_long(v, &n) == 0 && n > 0 && n <= 65536
               ? (o->block_size = (uint32_t)n, 2)
               : -1;
  if (strcmp(a, "--rng-seed") == 0)
    return parse_long(v, &n) == 0 ? (o->rng_seed = (uint64_t)n, 2) : -1;
  if (strcmp(a, "--seq-start") == 0)
    return parse_long(v, &n) == 0 && n >= 0 ? (o->seq_start = (uint64_t)n, 2)
                                            : -1;
  if (strcmp(a, "--rate") == 0)
    return (o->rate = atof(v)) >= 0 ? 2 : -1;
  if (strcmp(a, "--layout") == 0)
    return kvidx_event_layout_parse(v, &o->layout) == 0 ? 2 : -1;
  if (strcmp(a, "--algo") == 0)
    return kvidx_hash_algo_parse(v, &o->algo) == 0 ? 2 : -1;
  if (strcmp(a, "--skip-seqs") == 0)
    return parse_skips(o, v) == 0 ? 2 : -1;
  if (strcmp(a, "--hash-format") == 0) {
    if (strcmp(v, "int") && strcmp(v, "bytes"))
      return -1;
    o->hash_bytes_form = strcmp(v, "bytes") == 0;
    return 2;
  }
  return -1;
}

static int run_publish(int argc, char **argv) {
  pub_opts o;
  opts_default(&o);
  for (int i = 1; i < argc;) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      usage(stdout);
      return 0;
    }
    int used = parse_opt(&o, argc, argv, i);
    if (used < 0) {
      fprintf(stderr, "kvidx publish: bad option or value: %s\n", argv[i]);
      usage(stderr);
      return 2;
    }
    i += used;
  }
  if (o.replay_frames != 3 && o.replay_frames != 4) {
    fprintf(stderr, "kvidx publish: --replay-frames is 3 or 4\n");
    return 2;
  }
  if (o.medium) {
    if (medium_tier(o.medium) < 0) {
      fprintf(stderr, "kvidx publish: unknown medium %s\n", o.medium);
      return 2;
    }
  }
  prompt_set ps = {0};
  int rc = 0;
  if (o.tokens_file)
    rc = read_token_file(o.tokens_file, &ps);
  if (rc == 0 && (o.generate > 0 || !o.tokens_file)) {
    if (o.generate == 0)
      o.generate = 1;
    rc = generate_prompts(&o, &ps);
  }
  batch_list bl = {0};
  if (rc == 0)
    rc = build_batches(&o, &ps, &bl);
  if (rc == 0)
    rc = send_all(&o, &bl);
  for (size_t i = 0; i < bl.n; i++)
    free(bl.data[i]);
  free(bl.data);
  free(bl.len);
  free(ps.tokens.v);
  free(ps.start);
  return rc == 0 ? 0 : 1;
}

KVIDX_CLI_COMMAND(publish_cmd, "publish",
                  "publish vLLM KV events over ZeroMQ (tests, demos, benches)",
                  run_publish)

/* libzmq is not built with TSan; its lock-free queues between this thread
 * and its I/O threads look like races to TSan. Suppress reports from inside
 * libzmq only (used by TSan builds alone). */
const char *__tsan_default_suppressions(void);
const char *__tsan_default_suppressions(void) {
  return "called_from_lib:libzmq.so\nrace:libzmq.so\n";
}

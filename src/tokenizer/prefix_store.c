/*
 * prefix_store.c: reuse the tokens of earlier prompts that share a prefix with
 * a new one (llm-d's LRUTokenStore, pkg/tokenization/prefixstore).
 *
 * A prompt is cut into fixed-size chunks of block_chars bytes; only whole
 * chunks count (a trailing partial chunk is never stored nor matched). Chunk i
 * is keyed by a chained hash, key_i = XXH64(le64(key_{i-1}) || chunk_i), so a
 * key stands for the whole prefix up to the end of its chunk. The chain starts
 * from XXH64(model name) instead of llm-d's 0 because one table serves all
 * models. The value of a chunk is the tokens of the stored encoding whose end
 * offset falls inside it (end <= chunk end, and after the previous chunk's
 * tokens), with their offsets.
 *
 * Finding walks the chunks of the new prompt and stops at the first missing
 * key: the tokens of all matched chunks are the answer, and the matched bytes
 * over the prompt length is the overlap ratio (the caller decides, with its
 * minimum ratio, whether to use them or tokenize afresh, as llm-d does).
 *
 * The tokens were computed for the stored prompt, so in llm-d the last
 * token(s) before the point where the prompts diverge may differ from what
 * the new prompt tokenizes to: a pre-token that starts before the end of the
 * matched chunks can continue past the divergence. With word_boundary (the
 * default) the answer is cut back to the start of the last whitespace run
 * before the matched length: the pre-tokenizers of the test models never
 * join a non-space character before that point with one after the run (a
 * pre-token may start with a space but ends at or inside the run), and the
 * text up to the end of the run is the same in both prompts.
 * docs/tokenizer-testing.md gives the measured rates.
 *
 * Storage: one hash table of blocks (separate chaining, power-of-two buckets,
 * grown at load factor 1) and one LRU list across all models, bounded by
 * max_blocks. One mutex guards both; hashing the prompt happens outside it.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY /* XXH64_state_t on the stack */
#include <xxhash.h>

#include "common/log.h"
#include "kvidx.h"
#include "kvidx/tokenizer_registry.h"

#define PS_DEFAULT_BLOCK_CHARS 256
#define PS_DEFAULT_MAX_BLOCKS 500000
#define PS_MIN_BUCKETS 1024
/* Chunks hashed per call without allocating (longer prompts allocate). */
#define PS_STACK_KEYS 256

/* LRU links; first member of a block, so a link is its block. The list head
 * is a bare link, not a block (a block ends with a flexible array). */
typedef struct ps_link {
  struct ps_link *prev, *next;
} ps_link;

typedef struct ps_block {
  ps_link lru;
  uint64_t key;
  struct ps_block *hnext;
  uint32_t n;      /* tokens in this chunk */
  uint32_t data[]; /* n ids, then 2n offsets */
} ps_block;

struct kvidx_prefix_store {
  pthread_mutex_t mu;
  size_t block_chars, max_blocks;
  int word_boundary;
  ps_block **buckets;
  size_t mask; /* buckets - 1 */
  size_t count;
  ps_link lru; /* list head: lru.next is the most recently used */
  kvidx_prefix_store_stats stats;
};

/* ---- options and lifetime ---------------------------------------------- */

void kvidx_prefix_store_opts_init(kvidx_prefix_store_opts *o) {
  if (!o)
    return;
  o->block_chars = PS_DEFAULT_BLOCK_CHARS;
  o->max_blocks = PS_DEFAULT_MAX_BLOCKS;
  o->word_boundary = 1;
}

int kvidx_prefix_store_new(const kvidx_prefix_store_opts *o,
                           kvidx_prefix_store **out) {
  kvidx_prefix_store_opts def;
  kvidx_prefix_store *ps;
  if (!out)
    return KVIDX_EINVAL;
  *out = NULL;
  if (!o) {
    kvidx_prefix_store_opts_init(&def);
    o = &def;
  }
  if (o->block_chars == 0 || o->max_blocks == 0) {
    kvidx_log_warn("tokenizer",
                   "prefix store: block_chars=%zu max_blocks=%zu "
                   "must be positive",
                   o->block_chars, o->max_blocks);
    return KVIDX_EINVAL;
  }
  ps = calloc(1, sizeof(*ps));
  if (!ps)
    return KVIDX_ENOMEM;
  ps->buckets = calloc(PS_MIN_BUCKETS, sizeof(*ps->buckets));
  if (!ps->buckets) {
    free(ps);
    return KVIDX_ENOMEM;
  }
  ps->mask = PS_MIN_BUCKETS - 1;
  ps->block_chars = o->block_chars;
  ps->max_blocks = o->max_blocks;
  ps->word_boundary = o->word_boundary;
  ps->lru.next = ps->lru.prev = &ps->lru;
  pthread_mutex_init(&ps->mu, NULL);
  *out = ps;
  return 0;
}

void kvidx_prefix_store_free(kvidx_prefix_store *ps) {
  ps_link *l, *next;
  if (!ps)
    return;
  for (l = ps->lru.next; l != &ps->lru; l = next) {
    next = l->next;
    free((ps_block *)l);
  }
  free(ps->buckets);
  pthread_mutex_destroy(&ps->mu);
  free(ps);
}

/* ---- hashing ------------------------------------------------------------- */

/* keys[i] for each whole chunk of text; returns the number of chunks. */
static size_t chunk_keys(const kvidx_prefix_store *ps, const char *model,
                         const char *text, size_t len, uint64_t *keys,
                         size_t max_keys) {
  uint64_t prev = XXH64(model, strlen(model), 0);
  size_t n = 0;
  XXH64_state_t st;
  for (size_t start = 0; start + ps->block_chars <= len && n < max_keys;
       start += ps->block_chars) {
    unsigned char le[8];
    for (int i = 0; i < 8; i++)
      le[i] = (unsigned char)(prev >> (8 * i));
    XXH64_reset(&st, 0);
    XXH64_update(&st, le, sizeof(le));
    XXH64_update(&st, text + start, ps->block_chars);
    prev = XXH64_digest(&st);
    keys[n++] = prev;
  }
  return n;
}

/* Keys of all chunks, in *keys (stack or heap: free if != stack). */
static int all_keys(const kvidx_prefix_store *ps, const char *model,
                    const char *text, size_t len, uint64_t *stack,
                    uint64_t **keys, size_t *n) {
  size_t want = len / ps->block_chars;
  *keys = stack;
  if (want > PS_STACK_KEYS) {
    *keys = malloc(want * sizeof(uint64_t));
    if (!*keys)
      return KVIDX_ENOMEM;
  }
  *n = chunk_keys(ps, model, text, len, *keys, want);
  return 0;
}

/* ---- table and LRU (callers hold ps->mu) --------------------------------- */

static ps_block **bucket_of(kvidx_prefix_store *ps, uint64_t key) {
  return &ps->buckets[(key ^ (key >> 32)) & ps->mask];
}

static ps_block *lookup(kvidx_prefix_store *ps, uint64_t key) {
  for (ps_block *b = *bucket_of(ps, key); b; b = b->hnext)
    if (b->key == key)
      return b;
  return NULL;
}

static void lru_unlink(ps_block *b) {
  b->lru.prev->next = b->lru.next;
  b->lru.next->prev = b->lru.prev;
}

static void lru_push_front(kvidx_prefix_store *ps, ps_block *b) {
  b->lru.next = ps->lru.next;
  b->lru.prev = &ps->lru;
  ps->lru.next->prev = &b->lru;
  ps->lru.next = &b->lru;
}

static void table_remove(kvidx_prefix_store *ps, ps_block *b) {
  ps_block **p = bucket_of(ps, b->key);
  while (*p != b)
    p = &(*p)->hnext;
  *p = b->hnext;
  lru_unlink(b);
  ps->count--;
}

/* Doubles the bucket array; on allocation failure keeps the old one (the
 * table still works, with longer chains). */
static void maybe_grow(kvidx_prefix_store *ps) {
  size_t nb = (ps->mask + 1) * 2;
  ps_block **nbuckets;
  if (ps->count <= ps->mask + 1)
    return;
  nbuckets = calloc(nb, sizeof(*nbuckets));
  if (!nbuckets)
    return;
  for (size_t i = 0; i <= ps->mask; i++) {
    ps_block *b = ps->buckets[i], *next;
    for (; b; b = next) {
      size_t j = (b->key ^ (b->key >> 32)) & (nb - 1);
      next = b->hnext;
      b->hnext = nbuckets[j];
      nbuckets[j] = b;
    }
  }
  free(ps->buckets);
  ps->buckets = nbuckets;
  ps->mask = nb - 1;
}

/* Inserts b (replacing an older block of the same key) and evicts from the
 * LRU tail down to max_blocks. */
static void insert(kvidx_prefix_store *ps, ps_block *b) {
  ps_block *old = lookup(ps, b->key);
  if (old) {
    table_remove(ps, old);
    free(old);
  }
  b->hnext = *bucket_of(ps, b->key);
  *bucket_of(ps, b->key) = b;
  lru_push_front(ps, b);
  ps->count++;
  while (ps->count > ps->max_blocks) {
    ps_block *victim = (ps_block *)ps->lru.prev;
    table_remove(ps, victim);
    free(victim);
    ps->stats.evictions++;
  }
  maybe_grow(ps);
}

/* ---- add ------------------------------------------------------------------
 */

/* Checks that enc can be chunked: offsets present and inside the text. */
static int check_encoding(const kvidx_encoding *enc, size_t len) {
  if (enc->n == 0)
    return 0;
  if (!enc->want_offsets || !enc->offsets)
    return KVIDX_EINVAL;
  for (size_t i = 0; i < enc->n; i++)
    if (enc->offsets[2 * i] > enc->offsets[2 * i + 1] ||
        enc->offsets[2 * i + 1] > len)
      return KVIDX_EINVAL;
  return 0;
}

/* The block of chunk [.., end): tokens from *tok on whose end <= end. */
static ps_block *make_block(uint64_t key, const kvidx_encoding *enc,
                            size_t *tok, size_t end) {
  size_t first = *tok, n;
  ps_block *b;
  while (*tok < enc->n && enc->offsets[2 * *tok + 1] <= end)
    (*tok)++;
  n = *tok - first;
  b = malloc(sizeof(*b) + 3 * n * sizeof(uint32_t));
  if (!b)
    return NULL;
  b->key = key;
  b->n = (uint32_t)n;
  if (n) {
    memcpy(b->data, enc->ids + first, n * sizeof(uint32_t));
    memcpy(b->data + n, enc->offsets + 2 * first, 2 * n * sizeof(uint32_t));
  }
  return b;
}

int kvidx_prefix_store_add(kvidx_prefix_store *ps, const char *model,
                           const char *text, size_t len,
                           const kvidx_encoding *enc) {
  uint64_t stack[PS_STACK_KEYS], *keys;
  size_t nkeys, tok = 0;
  int rc;
  if (!ps || !model || (!text && len) || !enc)
    return KVIDX_EINVAL;
  if ((rc = check_encoding(enc, len)) != 0) {
    kvidx_log_warn("tokenizer",
                   "prefix store add: encoding of %zu tokens "
                   "without valid offsets for a %zu-byte text",
                   enc->n, len);
    return rc;
  }
  if (enc->n == 0 || len < ps->block_chars)
    return 0;
  if ((rc = all_keys(ps, model, text, len, stack, &keys, &nkeys)) != 0)
    return rc;
  pthread_mutex_lock(&ps->mu);
  for (size_t i = 0; i < nkeys; i++) {
    ps_block *b = make_block(keys[i], enc, &tok, (i + 1) * ps->block_chars);
    if (!b) {
      rc = KVIDX_ENOMEM;
      break;
    }
    insert(ps, b);
  }
  ps->stats.adds++;
  pthread_mutex_unlock(&ps->mu);
  if (keys != stack)
    free(keys);
  return rc;
}

/* ---- find -----------------------------------------------------------------
 */

/* Grows out to hold at least n tokens; ids and offsets are separate malloc
 * blocks, cap counts tokens (the kvidx_encoding convention). Offsets are
 * grown with ids even when want_offsets is off: kvidx_tokenizer_encode()
 * relies on both arrays holding cap tokens, and the caller may turn offsets
 * on before encoding into the same encoding (the indexer does). */
static int reserve(kvidx_encoding *out, size_t n) {
  size_t cap = out->cap ? out->cap : 64;
  uint32_t *ids, *offs;
  if (n <= out->cap && out->offsets != NULL)
    return 0;
  while (cap < n)
    cap *= 2;
  ids = realloc(out->ids, cap * sizeof(uint32_t));
  if (!ids)
    return KVIDX_ENOMEM;
  out->ids = ids;
  offs = realloc(out->offsets, 2 * cap * sizeof(uint32_t));
  if (!offs)
    return KVIDX_ENOMEM;
  out->offsets = offs;
  out->cap = cap;
  return 0;
}

/* Appends the tokens of b that end at or before cut; returns 1 when it
 * stopped at one ending after cut (the answer is complete), 0 when all were
 * taken, or a KVIDX_E* code. */
static int append_block(kvidx_encoding *out, const ps_block *b, size_t cut) {
  const uint32_t *offs = b->data + b->n;
  uint32_t take = 0;
  int rc;
  while (take < b->n && offs[2 * take + 1] <= cut)
    take++;
  if ((rc = reserve(out, out->n + take)) != 0)
    return rc;
  memcpy(out->ids + out->n, b->data, take * sizeof(uint32_t));
  if (out->want_offsets)
    memcpy(out->offsets + 2 * out->n, offs, 2 * take * sizeof(uint32_t));
  out->n += take;
  return take < b->n;
}

static int is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
         c == '\v';
}

/* The start of the last whitespace run before matched, or 0. */
static size_t word_cut(const char *text, size_t matched) {
  size_t cut = matched;
  while (cut > 0 && !is_space(text[cut - 1]))
    cut--;
  while (cut > 0 && is_space(text[cut - 1]))
    cut--;
  return cut;
}

int kvidx_prefix_store_find_ex(kvidx_prefix_store *ps, const char *model,
                               const char *text, size_t len,
                               kvidx_encoding *out, double *overlap,
                               size_t *matched_bytes) {
  uint64_t stack[PS_STACK_KEYS], *keys;
  size_t nkeys, nmatch = 0, cut;
  int rc = 0;
  if (overlap)
    *overlap = 0;
  if (matched_bytes)
    *matched_bytes = 0;
  if (!ps || !model || (!text && len) || !out)
    return KVIDX_EINVAL;
  out->n = 0;
  if ((rc = all_keys(ps, model, text, len, stack, &keys, &nkeys)) != 0)
    return rc;
  pthread_mutex_lock(&ps->mu);
  /* First the length of the match, then (knowing where to cut) the tokens. */
  for (ps_block *b; nmatch < nkeys && (b = lookup(ps, keys[nmatch]));
       nmatch++) {
    lru_unlink(b);
    lru_push_front(ps, b);
  }
  cut = nmatch * ps->block_chars;
  if (ps->word_boundary)
    cut = word_cut(text, cut);
  for (size_t i = 0; i < nmatch && rc == 0; i++)
    rc = append_block(out, lookup(ps, keys[i]), cut);
  if (cut)
    ps->stats.hits++;
  else
    ps->stats.misses++;
  ps->stats.matched_bytes += cut;
  pthread_mutex_unlock(&ps->mu);
  if (keys != stack)
    free(keys);
  if (rc < 0) {
    out->n = 0;
    return rc;
  }
  if (overlap)
    *overlap = len ? (double)cut / (double)len : 0;
  if (matched_bytes)
    *matched_bytes = cut;
  return 0;
}

int kvidx_prefix_store_find(kvidx_prefix_store *ps, const char *model,
                            const char *text, size_t len, kvidx_encoding *out,
                            double *overlap) {
  return kvidx_prefix_store_find_ex(ps, model, text, len, out, overlap, NULL);
}

void kvidx_prefix_store_get_stats(kvidx_prefix_store *ps,
                                  kvidx_prefix_store_stats *st) {
  if (!ps || !st)
    return;
  pthread_mutex_lock(&ps->mu);
  *st = ps->stats;
  st->blocks = ps->count;
  pthread_mutex_unlock(&ps->mu);
}

/*
 * hasher.c: vLLM's prefix-caching block hashes (kvidx/hash.h).
 *
 * Mirrors vllm/v1/core/kv_cache_utils.py: init_none_hash() derives the root
 * digest NONE_HASH = H(seed string); get_request_block_hasher() walks the
 * full blocks of a prompt and hash_block_tokens() hashes
 * (parent digest, tuple(block tokens), extra keys or None), where the extra
 * keys of generate_block_hash_extra_keys() are, in this order, the LoRA name,
 * one (mm identifier, offset - block start) pair per multimodal item the
 * block overlaps (_gen_mm_extra_hash_keys), and the cache salt on the block
 * that starts at token 0. Prompt-embedding keys are not supported.
 * The serializations are in pickle.c and cbor.c; docs/hashing.md has the
 * byte layouts and the reasons.
 */
#include <limits.h>
#include <stdlib.h>

#include "common/log.h"
#include "hash/hash_internal.h"

struct kvidx_hasher {
  kvidx_hash_algo algo;
  uint32_t block_size;
  int seed_set; /* 0: PYTHONHASHSEED unset (KVIDX_HASH_SEED_VLLM_NONE) */
  kvidx_digest root;
  char *seed; /* the seed string hashed into root; owned */
};

static const char *const algo_names[] = {"sha256", "sha256_cbor", "xxhash",
                                         "xxhash_cbor"};
#define N_ALGOS (sizeof algo_names / sizeof algo_names[0])

int kvidx_hash_algo_parse(const char *name, kvidx_hash_algo *out) {
  if (name == NULL || out == NULL)
    return KVIDX_EINVAL;
  for (size_t i = 0; i < N_ALGOS; i++) {
    if (strcmp(name, algo_names[i]) == 0) {
      *out = (kvidx_hash_algo)i;
      return 0;
    }
  }
  return KVIDX_EINVAL;
}

const char *kvidx_hash_algo_name(kvidx_hash_algo algo) {
  if ((unsigned)algo >= N_ALGOS)
    return NULL;
  return algo_names[algo];
}

uint64_t kvidx_digest_low64(const kvidx_digest *d) {
  if (d == NULL)
    return 0;
  size_t n = d->len < KVIDX_DIGEST_MAX ? d->len : KVIDX_DIGEST_MAX;
  uint64_t v = 0;
  if (n >= 8) { /* every digest kvidx makes: one load */
    memcpy(&v, d->bytes + n - 8, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
  }
  for (size_t i = 0; i < n; i++)
    v = (v << 8) | d->bytes[i];
  return v;
}

int kvidx_digest_to_hex(const kvidx_digest *d, char *out, size_t cap) {
  static const char hex[] = "0123456789abcdef";
  if (d == NULL || out == NULL || d->len > KVIDX_DIGEST_MAX)
    return KVIDX_EINVAL;
  if (cap < 2u * d->len + 1)
    return KVIDX_ERANGE;
  for (size_t i = 0; i < d->len; i++) {
    out[2 * i] = hex[d->bytes[i] >> 4];
    out[2 * i + 1] = hex[d->bytes[i] & 15];
  }
  out[2 * d->len] = '\0';
  return (int)(2 * d->len);
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

int kvidx_digest_from_hex(const char *hex, kvidx_digest *out) {
  if (hex == NULL || out == NULL)
    return KVIDX_EINVAL;
  size_t n = strlen(hex);
  if (n == 0 || n % 2 != 0 || n > 2 * KVIDX_DIGEST_MAX)
    return KVIDX_EPARSE;
  for (size_t i = 0; i < n / 2; i++) {
    int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return KVIDX_EPARSE;
    out->bytes[i] = (uint8_t)(hi << 4 | lo);
  }
  out->len = (uint8_t)(n / 2);
  return 0;
}

/* ---- strings ------------------------------------------------------------- */

/* Validates UTF-8 as Python's strict codec does (no overlongs, surrogates or
 * code points above U+10FFFF): every str vLLM hashes is a Python str. */
static int utf8_valid(const uint8_t *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = s[i];
    size_t k;
    uint32_t cp, min;
    if (c < 0x80) {
      i++;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      k = 1, cp = c & 0x1fu, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      k = 2, cp = c & 0x0fu, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      k = 3, cp = c & 0x07u, min = 0x10000;
    } else {
      return 0;
    }
    if (n - i <= k)
      return 0;
    for (size_t j = 1; j <= k; j++) {
      if ((s[i + j] & 0xc0) != 0x80)
        return 0;
      cp = (cp << 6) | (s[i + j] & 0x3fu);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return 0;
    i += k + 1;
  }
  return 1;
}

/* Length of a string vLLM hashes, or a KVIDX_E* code. */
static int64_t checked_str(const char *what, const char *s) {
  size_t n = strnlen(s, KVIDX_HASH_MAX_STR_LEN + 1);
  if (n > KVIDX_HASH_MAX_STR_LEN) {
    kvidx_log_debug("hash", "%s longer than %d bytes", what,
                    KVIDX_HASH_MAX_STR_LEN);
    return KVIDX_ETOOBIG;
  }
  if (!utf8_valid((const uint8_t *)s, n)) {
    kvidx_log_debug("hash", "%s is not valid UTF-8", what);
    return KVIDX_EUTF8;
  }
  return (int64_t)n;
}

/* ---- hasher -------------------------------------------------------------- */

void kvidx_hasher_opts_init(kvidx_hasher_opts *opts) {
  if (opts == NULL)
    return;
  opts->algo = KVIDX_HASH_SHA256;
  opts->seed = NULL;
  opts->block_size = 16;
}

static int is_pickle(kvidx_hash_algo algo) {
  return algo == KVIDX_HASH_SHA256 || algo == KVIDX_HASH_XXHASH;
}

/* NONE_HASH = H(seed): the hash function applied to the seed *str*. */
static void root_digest(kvidx_hash_algo algo, const char *seed, size_t len,
                        kvidx_digest *out) {
  kvidx__emitter e;
  kvidx__emit_init(&e, algo, KVIDX__EMIT_DIGEST);
  if (is_pickle(algo))
    kvidx__pickle_str_object(&e, seed, len);
  else
    kvidx__cbor_str_object(&e, seed, len);
  kvidx__emit_final(&e, out);
}

int kvidx_hasher_new(const kvidx_hasher_opts *opts, kvidx_hasher **out) {
  kvidx_hasher_opts defaults;
  if (out == NULL)
    return KVIDX_EINVAL;
  *out = NULL;
  if (opts == NULL) {
    kvidx_hasher_opts_init(&defaults);
    opts = &defaults;
  }
  if ((unsigned)opts->algo >= N_ALGOS || opts->block_size == 0) {
    kvidx_log_warn("hash", "invalid hasher options algo=%d block_size=%u",
                   (int)opts->algo, opts->block_size);
    return KVIDX_EINVAL;
  }
  const char *seed = opts->seed ? opts->seed : KVIDX_HASH_SEED_VLLM_NONE;
  int64_t n = checked_str("seed", seed);
  if (n < 0)
    return (int)n;
  kvidx_hasher *h = calloc(1, sizeof *h);
  char *copy = malloc((size_t)n + 1);
  if (h == NULL || copy == NULL) {
    free(h);
    free(copy);
    return KVIDX_ENOMEM;
  }
  memcpy(copy, seed, (size_t)n + 1);
  h->algo = opts->algo;
  h->block_size = opts->block_size;
  h->seed_set = opts->seed != NULL;
  h->seed = copy;
  root_digest(h->algo, copy, (size_t)n, &h->root);
  *out = h;
  return 0;
}

void kvidx_hasher_free(kvidx_hasher *h) {
  if (h == NULL)
    return;
  free(h->seed);
  free(h);
}

const kvidx_digest *kvidx_hasher_root(const kvidx_hasher *h) {
  return h ? &h->root : NULL;
}

uint32_t kvidx_hasher_block_size(const kvidx_hasher *h) {
  return h ? h->block_size : 0;
}

kvidx_hash_algo kvidx_hasher_algo(const kvidx_hasher *h) {
  return h ? h->algo : KVIDX_HASH_SHA256;
}

const char *kvidx_hasher_seed(const kvidx_hasher *h) {
  return h ? h->seed : NULL;
}

int kvidx_hasher_reproducible(const kvidx_hasher *h) {
  if (h == NULL)
    return 0;
  /* vLLM draws a random root for the non-cryptographic algorithms when
   * PYTHONHASHSEED is unset (resolve_none_hash_seed). */
  return h->seed_set ||
         !(h->algo == KVIDX_HASH_XXHASH || h->algo == KVIDX_HASH_XXHASH_CBOR);
}

/* ---- blocks -------------------------------------------------------------- */

/* The extra-key inputs of one call, validated once. */
typedef struct {
  const char *lora;
  uint32_t lora_len;
  const char *salt; /* NULL when absent or "" (vLLM tests truthiness) */
  uint32_t salt_len;
  const kvidx_mm_item *mm;
  size_t n_mm;
} call_extra;

static int prepare_extra(const kvidx_hash_extra *x, call_extra *c) {
  memset(c, 0, sizeof *c);
  if (x == NULL)
    return 0;
  int64_t n;
  if (x->lora_name) {
    if ((n = checked_str("lora_name", x->lora_name)) < 0)
      return (int)n;
    c->lora = x->lora_name;
    c->lora_len = (uint32_t)n;
  }
  if (x->cache_salt && x->cache_salt[0] != '\0') {
    if ((n = checked_str("cache_salt", x->cache_salt)) < 0)
      return (int)n;
    c->salt = x->cache_salt;
    c->salt_len = (uint32_t)n;
  }
  if (x->n_mm > 0 && x->mm == NULL)
    return KVIDX_EINVAL;
  for (size_t i = 0; i < x->n_mm; i++) {
    if (x->mm[i].identifier == NULL ||
        (i > 0 && x->mm[i].offset < x->mm[i - 1].offset)) {
      kvidx_log_debug("hash", "mm item %zu: no identifier or not sorted", i);
      return KVIDX_EINVAL;
    }
    if ((n = checked_str("mm identifier", x->mm[i].identifier)) < 0)
      return (int)n;
  }
  c->mm = x->mm;
  c->n_mm = x->n_mm;
  return 0;
}

/*
 * _gen_mm_extra_hash_keys for the block [start, end): appends an
 * (identifier, offset - start) key per item the block overlaps. *idx is the
 * walk position carried from block to block, as vLLM's curr_mm_idx. Stays
 * long to follow vLLM's loop statement by statement.
 */
static int mm_keys(const call_extra *c, size_t *idx, uint64_t start,
                   uint64_t end, kvidx__extra_key *keys, size_t *n_keys,
                   size_t max_keys) {
  if (c->n_mm == 0)
    return 0;
  const kvidx_mm_item *last = &c->mm[c->n_mm - 1];
  if ((uint64_t)last->offset + last->length <= start)
    return 0;
  size_t cur = *idx;
  while (cur < c->n_mm) {
    const kvidx_mm_item *m = &c->mm[cur];
    uint64_t off = m->offset, stop = (uint64_t)m->offset + m->length;
    if (end <= off)
      break; /* the block has not reached this item */
    if (start >= stop) {
      cur++; /* the block is past this item */
      continue;
    }
    if (*n_keys >= max_keys) {
      kvidx_log_debug("hash", "more than %d mm items in one block",
                      KVIDX_HASH_MAX_MM_PER_BLOCK);
      return KVIDX_ETOOBIG;
    }
    kvidx__extra_key *k = &keys[(*n_keys)++];
    k->str = m->identifier;
    k->len = (uint32_t)strlen(m->identifier);
    k->is_mm = 1;
    k->offset = (int64_t)off - (int64_t)start;
    if (end < stop)
      break; /* the item continues into the next block */
    cur++;
  }
  *idx = cur;
  return 0;
}

/* Not inlined: its 4 KiB emitter then never shares kvidx_hash_blocks'
 * frame with chain.c's buffers (stack stays ~8 KiB, as hash.h says). */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static int
hash_one(kvidx_hash_algo algo, const kvidx__block_tuple *t, kvidx_digest *out) {
  kvidx__emitter e;
  kvidx__emit_init(&e, algo, KVIDX__EMIT_DIGEST);
  if (is_pickle(algo)) {
    int rc = kvidx__pickle_tuple(&e, t);
    if (rc != 0)
      return rc;
  } else {
    kvidx__cbor_tuple(&e, t);
  }
  kvidx__emit_final(&e, out);
  return 0;
}

int kvidx_hash_blocks(const kvidx_hasher *h, const kvidx_digest *parent,
                      uint32_t first_token, const uint32_t *tokens,
                      size_t n_tokens, const kvidx_hash_extra *extra,
                      kvidx_digest *out_digests, uint64_t *out_keys,
                      size_t max_blocks) {
  if (h == NULL || (tokens == NULL && n_tokens > 0) ||
      (parent != NULL && parent->len > KVIDX_DIGEST_MAX))
    return KVIDX_EINVAL;
  call_extra c;
  int rc = prepare_extra(extra, &c);
  if (rc != 0)
    return rc;
  size_t n_blocks = n_tokens / h->block_size;
  if (n_blocks > max_blocks)
    n_blocks = max_blocks;
  if (n_blocks > INT_MAX)
    n_blocks = INT_MAX;

  /* vLLM: `if not parent_block_hash: parent_block_hash = NONE_HASH`, so an
   * empty parent is the root too. */
  const kvidx_digest *prev = (parent && parent->len > 0) ? parent : &h->root;
  /* Blocks without extra keys take the fixed-layout path of chain.c. */
  int plain = c.lora == NULL && c.n_mm == 0 &&
              h->block_size <= KVIDX_HASH_CHAIN_MAX_TOKENS;
  kvidx__extra_key keys[KVIDX_HASH_MAX_MM_PER_BLOCK + 2];
  kvidx_digest scratch[2];
  size_t mm_idx = 0;
  for (size_t i = 0; i < n_blocks; i++) {
    uint64_t start = (uint64_t)first_token + (uint64_t)i * h->block_size;
    if (plain && !(c.salt && start == 0)) {
      kvidx__hash_chain_plain(
          h->algo, prev->bytes, prev->len, tokens + i * h->block_size,
          h->block_size, n_blocks - i, out_digests ? out_digests + i : NULL,
          out_keys ? out_keys + i : NULL);
      break;
    }
    size_t n_keys = 0;
    if (c.lora)
      keys[n_keys++] = (kvidx__extra_key){c.lora, c.lora_len, 0, 0};
    rc = mm_keys(&c, &mm_idx, start, start + h->block_size, keys, &n_keys,
                 KVIDX_HASH_MAX_MM_PER_BLOCK + (c.lora ? 1u : 0u));
    if (rc != 0)
      return rc;
    if (c.salt && start == 0)
      keys[n_keys++] = (kvidx__extra_key){c.salt, c.salt_len, 0, 0};
    kvidx__block_tuple t = {
        prev->bytes,   prev->len, tokens + i * h->block_size,
        h->block_size, keys,      n_keys};
    /* The encoders copy the parent before the digest is written, so d may
     * be where prev lives (a caller continuing a chain in place). */
    kvidx_digest *d = out_digests ? &out_digests[i] : &scratch[i & 1];
    if ((rc = hash_one(h->algo, &t, d)) != 0)
      return rc;
    if (out_keys)
      out_keys[i] = kvidx_digest_low64(d);
    prev = d;
  }
  return (int)n_blocks;
}

/*
 * kvidx/tokenizer_registry.h: model name -> tokenizer, shared by all threads,
 * and the prompt prefix store that reuses the tokens of earlier prompts.
 */
#ifndef KVIDX_TOKENIZER_REGISTRY_H
#define KVIDX_TOKENIZER_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "kvidx/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kvidx_tokenizer_registry kvidx_tokenizer_registry;

typedef struct {
  /* Auto-discovery root (LOCAL_TOKENIZER_DIR): HF cache layout
   * models--org--name/snapshots/<rev>/tokenizer.json -> "org/name", and
   * org/name/tokenizer.json -> "org/name". NULL = none. */
  const char *auto_discovery_dir;
  /* Hub download (HF_ENDPOINT / HF_TOKEN); NULL endpoint = no download. */
  const char *hf_endpoint;
  const char *hf_token;
  const char *hf_cache_dir; /* HF cache layout; default $HF_HOME/hub */
  size_t max_loaded;        /* LRU bound on loaded tokenizers, default 8 */
  kvidx_tokenizer_opts tokenizer_opts;
} kvidx_tokenizer_registry_opts;

KVIDX_EXPORT void
kvidx_tokenizer_registry_opts_init(kvidx_tokenizer_registry_opts *opts);
/*
 * Fills the discovery and hub fields of opts from the environment:
 * LOCAL_TOKENIZER_DIR, HF_ENDPOINT, HF_TOKEN (HF_HOME is read by
 * kvidx_tokenizer_registry_new when hf_cache_dir is NULL: $HF_HOME/hub, else
 * ~/.cache/huggingface/hub). Unset or empty variables leave a field alone. The
 * strings point into the environment: valid until it is changed. Not
 * thread-safe with setenv().
 */
KVIDX_EXPORT void
kvidx_tokenizer_registry_opts_from_env(kvidx_tokenizer_registry_opts *opts);
KVIDX_EXPORT int
kvidx_tokenizer_registry_new(const kvidx_tokenizer_registry_opts *opts,
                             kvidx_tokenizer_registry **out);
KVIDX_EXPORT void kvidx_tokenizer_registry_free(kvidx_tokenizer_registry *r);
/*
 * Explicit mapping model -> path of tokenizer.json (wins over discovery; the
 * file is read on first acquire). KVIDX_ESTATE if the model is loaded or in
 * use from another path. Thread-safe.
 */
KVIDX_EXPORT int kvidx_tokenizer_registry_add(kvidx_tokenizer_registry *r,
                                              const char *model,
                                              const char *path);
/*
 * Gets the tokenizer of model, loading it (or downloading it) on first use.
 * The returned tokenizer stays valid until kvidx_tokenizer_registry_release()
 * even if the LRU unloads it meanwhile. KVIDX_ENOTFOUND for an unknown model,
 * KVIDX_EINVAL for a name that is not a valid repo id (characters
 * [A-Za-z0-9._-] in '/'-separated segments, no "." or ".." segment, at most
 * KVIDX_TOKENIZER_MODEL_NAME_MAX bytes), the loader's or the download's error
 * otherwise (logged with the reason). A load runs without the registry lock;
 * concurrent acquires of the same model wait for the one load. Every
 * successful acquire must be paired with one release. Thread-safe.
 */
KVIDX_EXPORT int kvidx_tokenizer_registry_acquire(kvidx_tokenizer_registry *r,
                                                  const char *model,
                                                  const kvidx_tokenizer **out);
/* Gives back a tokenizer from acquire; unloads LRU idle ones past the bound.
 * Thread-safe. */
KVIDX_EXPORT void kvidx_tokenizer_registry_release(kvidx_tokenizer_registry *r,
                                                   const kvidx_tokenizer *tok);

/* Longest model name accepted (HF repo ids are at most 96 + 1 + 96). */
#define KVIDX_TOKENIZER_MODEL_NAME_MAX 256

/* Counters of a registry, for metrics. */
typedef struct {
  uint64_t acquires;    /* successful acquires */
  uint64_t loads;       /* tokenizers loaded (first use or after eviction) */
  uint64_t load_errors; /* failed loads, incl. unknown models */
  uint64_t evictions;   /* tokenizers unloaded by the LRU bound */
  uint64_t downloads;   /* models fetched from the hub */
  uint64_t discovered;  /* models found by the directory scan at creation */
  size_t models;        /* models known now */
  size_t loaded;        /* tokenizers loaded now */
} kvidx_tokenizer_registry_stats;

/* Copies the counters of r into *st. Thread-safe. */
KVIDX_EXPORT void
kvidx_tokenizer_registry_get_stats(kvidx_tokenizer_registry *r,
                                   kvidx_tokenizer_registry_stats *st);

/* Called once per known model: its name, its tokenizer.json path (NULL when
 * not resolved yet) and whether it is loaded. The strings live only during
 * the call. */
typedef void (*kvidx_tokenizer_registry_list_fn)(void *userdata,
                                                 const char *model,
                                                 const char *path, int loaded);
/* Lists the known models (explicit, discovered, or used before). The
 * registry lock is held during the calls: fn must not call the registry.
 * Thread-safe. */
KVIDX_EXPORT int
kvidx_tokenizer_registry_list(kvidx_tokenizer_registry *r,
                              kvidx_tokenizer_registry_list_fn fn,
                              void *userdata);

/* ---- prefix store (llm-d's LRUTokenStore) ---- */
typedef struct kvidx_prefix_store kvidx_prefix_store;

typedef struct {
  size_t block_chars; /* bytes of UTF-8 per chunk (llm-d blockSize, which is
                         also in bytes), default 256 */
  size_t max_blocks;  /* LRU bound in chunks, across all models (llm-d
                         cacheSize is per model), default 500000 */
  /* 1 (default): a find returns only the tokens that end at or before the
   * start of the last whitespace run before the matched length, and reports
   * that position as matched_bytes and in the overlap. Tokens after it can
   * belong to a pre-token that crosses the point where the prompts diverge,
   * and differ from a fresh tokenization (measured: docs/
   * tokenizer-testing.md). 0: llm-d's behaviour, every token ending inside
   * the matched chunks. */
  int word_boundary;
} kvidx_prefix_store_opts;

KVIDX_EXPORT void kvidx_prefix_store_opts_init(kvidx_prefix_store_opts *o);
KVIDX_EXPORT int kvidx_prefix_store_new(const kvidx_prefix_store_opts *o,
                                        kvidx_prefix_store **out);
KVIDX_EXPORT void kvidx_prefix_store_free(kvidx_prefix_store *ps);
/*
 * Records the tokens of a prompt: every whole chunk of text gets the tokens of
 * enc that end inside it. enc must carry offsets (want_offsets) unless it is
 * empty; it is copied, not kept. Store the kind of encoding you want back
 * (with or without special tokens). Errors: KVIDX_EINVAL (NULL argument,
 * missing or out-of-range offsets), KVIDX_ENOMEM. Thread-safe.
 */
KVIDX_EXPORT int kvidx_prefix_store_add(kvidx_prefix_store *ps,
                                        const char *model, const char *text,
                                        size_t len, const kvidx_encoding *enc);
/*
 * Finds the tokens of the longest stored prefix of text: writes them to out
 * (reset first) and the fraction of text they cover to *overlap (0..1).
 * Thread-safe.
 */
KVIDX_EXPORT int kvidx_prefix_store_find(kvidx_prefix_store *ps,
                                         const char *model, const char *text,
                                         size_t len, kvidx_encoding *out,
                                         double *overlap);
/*
 * As kvidx_prefix_store_find, and also writes the length of text the
 * returned tokens stand for to *matched_bytes when not NULL: the matched
 * chunks (a multiple of block_chars) or, with word_boundary, the start of the
 * last whitespace run in them. The tokens are those of the stored prompt;
 * without word_boundary the last of them may differ from a fresh
 * tokenization of text when a pre-token spans the point where the prompts
 * diverge (see docs/tokenizer-testing.md). out->offsets are filled when
 * out->want_offsets is set. Errors: KVIDX_EINVAL (NULL argument), KVIDX_ENOMEM.
 * Thread-safe.
 */
KVIDX_EXPORT int kvidx_prefix_store_find_ex(kvidx_prefix_store *ps,
                                            const char *model, const char *text,
                                            size_t len, kvidx_encoding *out,
                                            double *overlap,
                                            size_t *matched_bytes);

/* Counters of a prefix store, for metrics. */
typedef struct {
  uint64_t adds;          /* kvidx_prefix_store_add calls that stored chunks */
  uint64_t hits;          /* finds that matched at least one chunk */
  uint64_t misses;        /* finds that matched nothing */
  uint64_t matched_bytes; /* sum over finds */
  uint64_t evictions;     /* chunks dropped by the LRU bound */
  size_t blocks;          /* chunks stored now */
} kvidx_prefix_store_stats;

/* Copies the counters of ps into *st. Thread-safe. */
KVIDX_EXPORT void kvidx_prefix_store_get_stats(kvidx_prefix_store *ps,
                                               kvidx_prefix_store_stats *st);

#ifdef __cplusplus
}
#endif
#endif

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
KVIDX_EXPORT int
kvidx_tokenizer_registry_new(const kvidx_tokenizer_registry_opts *opts,
                             kvidx_tokenizer_registry **out);
KVIDX_EXPORT void kvidx_tokenizer_registry_free(kvidx_tokenizer_registry *r);
/* Explicit mapping model -> path of tokenizer.json (wins over discovery). */
KVIDX_EXPORT int kvidx_tokenizer_registry_add(kvidx_tokenizer_registry *r,
                                              const char *model,
                                              const char *path);
/*
 * Gets the tokenizer of model, loading it (or downloading it) on first use.
 * The returned tokenizer stays valid until kvidx_tokenizer_registry_release()
 * even if the LRU unloads it meanwhile. KVIDX_ENOTFOUND for an unknown model.
 * Thread-safe.
 */
KVIDX_EXPORT int kvidx_tokenizer_registry_acquire(kvidx_tokenizer_registry *r,
                                                  const char *model,
                                                  const kvidx_tokenizer **out);
KVIDX_EXPORT void kvidx_tokenizer_registry_release(kvidx_tokenizer_registry *r,
                                                   const kvidx_tokenizer *tok);

/* ---- prefix store (llm-d's LRUTokenStore) ---- */
typedef struct kvidx_prefix_store kvidx_prefix_store;

typedef struct {
  size_t block_chars;  /* characters per chunk (llm-d blockSize), default 256 */
  size_t max_blocks;   /* LRU bound in chunks (llm-d cacheSize), default 500000 */
} kvidx_prefix_store_opts;

KVIDX_EXPORT void kvidx_prefix_store_opts_init(kvidx_prefix_store_opts *o);
KVIDX_EXPORT int kvidx_prefix_store_new(const kvidx_prefix_store_opts *o,
                                        kvidx_prefix_store **out);
KVIDX_EXPORT void kvidx_prefix_store_free(kvidx_prefix_store *ps);
/* Records the tokens of a prompt; enc must carry offsets. Thread-safe. */
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

#ifdef __cplusplus
}
#endif
#endif

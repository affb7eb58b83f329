/*
 * kvidx/tokenizer.h: a native HuggingFace tokenizer.json tokenizer,
 * token-identical to the Rust `tokenizers` library, plus the model registry
 * and the prompt prefix store.
 */
#ifndef KVIDX_TOKENIZER_H
#define KVIDX_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kvidx_tokenizer kvidx_tokenizer;

typedef struct {
  /* Override of tokenizer_config.json's add_bos_token / add_eos_token:
   * -1 = as the files say (default), 0 = off, 1 = on. */
  int add_bos;
  int add_eos;
} kvidx_tokenizer_opts;

KVIDX_EXPORT void kvidx_tokenizer_opts_init(kvidx_tokenizer_opts *opts);

/*
 * Loads a tokenizer.json (and its sibling tokenizer_config.json when present).
 * opts may be NULL. On failure returns a KVIDX_E* code and, when err is not
 * NULL, writes a message naming the problem (e.g. the unknown component).
 * The tokenizer is immutable and thread-safe; free with kvidx_tokenizer_free.
 */
KVIDX_EXPORT int kvidx_tokenizer_load(const char *path,
                                      const kvidx_tokenizer_opts *opts,
                                      kvidx_tokenizer **out, char *err,
                                      size_t err_len);
KVIDX_EXPORT void kvidx_tokenizer_free(kvidx_tokenizer *tok);

/* Growable output of an encode; reuse it across calls to avoid allocation. */
typedef struct {
  uint32_t *ids;
  uint32_t *offsets; /* 2 per token: byte [start, end) into the input; only
                        filled when want_offsets is set */
  size_t n;
  size_t cap;
  int want_offsets;
} kvidx_encoding;

KVIDX_EXPORT void kvidx_encoding_init(kvidx_encoding *enc);
KVIDX_EXPORT void kvidx_encoding_free(kvidx_encoding *enc);

/*
 * Encodes text[0..len) (UTF-8) into enc (which is reset first). add_special:
 * run the post-processor (BOS etc.) as encode(..., add_special_tokens=True).
 * Returns 0 or a KVIDX_E* code (KVIDX_EUTF8 for invalid UTF-8: see
 * docs/tokenizer.md). Thread-safe.
 */
KVIDX_EXPORT int kvidx_tokenizer_encode(const kvidx_tokenizer *tok,
                                        const char *text, size_t len,
                                        int add_special, kvidx_encoding *enc);

#ifdef __cplusplus
}
#endif
#endif /* KVIDX_TOKENIZER_H */

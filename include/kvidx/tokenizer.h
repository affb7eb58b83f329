/*
 * kvidx/tokenizer.h: a native HuggingFace tokenizer.json tokenizer,
 * token-identical to the Rust `tokenizers` library (see docs/tokenizer.md for
 * what is supported and the measured agreement). The model registry and the
 * prompt prefix store are in kvidx/tokenizer_registry.h.
 *
 * Supported: models BPE (byte-level and SentencePiece-style with
 * byte_fallback) and WordPiece; the normalizers, pre-tokenizers and
 * post-processors listed in docs/tokenizer.md. Anything else (Unigram,
 * WordLevel, an unknown component) is a load error naming it.
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
  /* 1 = do not read the sibling tokenizer_config.json: behave exactly as
   * the Rust library's Tokenizer.from_file (default 0). */
  int ignore_config;
} kvidx_tokenizer_opts;

/* Defaults: add_bos = add_eos = -1, ignore_config = 0. */
KVIDX_EXPORT void kvidx_tokenizer_opts_init(kvidx_tokenizer_opts *opts);

/*
 * Loads a tokenizer.json (and its sibling tokenizer_config.json when present).
 * opts may be NULL. On failure returns a KVIDX_E* code and, when err is not
 * NULL, writes a message naming the problem (e.g. the unknown component).
 * The tokenizer is immutable and thread-safe; free with kvidx_tokenizer_free.
 *
 * tokenizer_config.json is applied as transformers v4 does: for
 * LlamaTokenizer(Fast), GemmaTokenizer(Fast) and CodeLlamaTokenizer(Fast) the
 * post-processor is rebuilt as [bos if add_bos_token] $A [eos if
 * add_eos_token] (so DeepSeek-V3 gets its BOS, as vLLM serves it); other
 * classes keep tokenizer.json's post-processor. opts->add_bos / add_eos >= 0
 * always rebuild it that way.
 * Errors: KVIDX_ENOTFOUND / KVIDX_EIO (file), KVIDX_EPARSE (malformed JSON,
 * merges naming unknown tokens...), KVIDX_EUNSUPPORTED (a component type this
 * engine does not implement), KVIDX_ECONFIG (add_bos with no bos token),
 * KVIDX_ENOMEM.
 */
KVIDX_EXPORT int kvidx_tokenizer_load(const char *path,
                                      const kvidx_tokenizer_opts *opts,
                                      kvidx_tokenizer **out, char *err,
                                      size_t err_len);
KVIDX_EXPORT void kvidx_tokenizer_free(kvidx_tokenizer *tok);

/*
 * Same as kvidx_tokenizer_load from memory: json[0..json_len) is the
 * tokenizer.json text, config (may be NULL) the tokenizer_config.json text.
 * Neither buffer needs to outlive the call. Does no I/O.
 */
KVIDX_EXPORT int kvidx_tokenizer_load_mem(const char *json, size_t json_len,
                                          const char *config, size_t config_len,
                                          const kvidx_tokenizer_opts *opts,
                                          kvidx_tokenizer **out, char *err,
                                          size_t err_len);

/* Number of ids: max id + 1 over the model vocab and the added tokens. */
KVIDX_EXPORT uint32_t kvidx_tokenizer_vocab_size(const kvidx_tokenizer *tok);

/* Id of a token string (added tokens first, then the model vocab, as the
 * reference's token_to_id), or -1. Thread-safe. */
KVIDX_EXPORT int64_t kvidx_tokenizer_token_to_id(const kvidx_tokenizer *tok,
                                                 const char *token, size_t len);

/* String of an id as written in tokenizer.json (byte-level models: the
 * GPT-2 mapped form), or NULL; *len gets its length. The pointer lives as
 * long as the tokenizer. Thread-safe. */
KVIDX_EXPORT const char *kvidx_tokenizer_id_to_token(const kvidx_tokenizer *tok,
                                                     uint32_t id, size_t *len);

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
 * Added tokens written in the text are always recognised (the reference's
 * default, split_special_tokens=false). Offsets, when enc->want_offsets is
 * set, are byte offsets into text; special tokens added by the
 * post-processor get [0, 0).
 * Returns 0 or a KVIDX_E* code: KVIDX_EUTF8 for invalid UTF-8 (rejected, not
 * replaced: vLLM receives a Python str, which cannot hold invalid UTF-8; see
 * docs/tokenizer.md), KVIDX_ETOOBIG above 4 GiB, KVIDX_ENOMEM. On error
 * enc->n is 0. Thread-safe: any number of threads may encode with the same
 * tokenizer (each with its own enc); per-thread scratch and word cache are
 * freed at thread exit.
 */
KVIDX_EXPORT int kvidx_tokenizer_encode(const kvidx_tokenizer *tok,
                                        const char *text, size_t len,
                                        int add_special, kvidx_encoding *enc);

#ifdef __cplusplus
}
#endif
#endif /* KVIDX_TOKENIZER_H */

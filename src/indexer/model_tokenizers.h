/*
 * model_tokenizers.h: model name -> tokenizer for the indexer (explicit map,
 * lazy load). Thread-safe; tokenizers live as long as the map.
 */
#ifndef KVIDX_INDEXER_MODEL_TOKENIZERS_H
#define KVIDX_INDEXER_MODEL_TOKENIZERS_H

#include "kvidx.h"

typedef struct kvidx__model_tokenizers kvidx__model_tokenizers;

int kvidx__model_tokenizers_new(const char *const *models,
                                const char *const *paths, size_t n,
                                kvidx__model_tokenizers **out);
void kvidx__model_tokenizers_free(kvidx__model_tokenizers *m);
/* KVIDX_ENOTFOUND for an unmapped model; the load error otherwise. */
int kvidx__model_tokenizers_get(kvidx__model_tokenizers *m, const char *model,
                                const kvidx_tokenizer **out);

#endif

/*
 * kvidx/indexer.h: the indexer — the one object an application embeds. It
 * ties together hashing, the block index, the scorer, the tokenizers and the
 * event ingestion, and is what kvidxd serves over HTTP.
 */
#ifndef KVIDX_INDEXER_H
#define KVIDX_INDEXER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kvidx_indexer kvidx_indexer;

#ifdef __cplusplus
}
#endif
#endif /* KVIDX_INDEXER_H */

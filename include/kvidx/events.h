/*
 * kvidx/events.h: vLLM KV events — decoding, applying to an index, and
 * ingesting over ZeroMQ with per-pod ordering, gap detection and replay.
 *
 * Three layers, each usable alone:
 *  - kvidx_batch_decode(): pure msgpack decoder of one EventBatch payload.
 *  - kvidx_applier: applies decoded events of a pod to a kvidx_index, computing
 *    kvidx's own block keys when the engine's hashing is not reproducible.
 *  - kvidx_ingestor: ZeroMQ SUB sockets (bind and/or connect), sharded ordered
 *    workers, seq tracking, replay over DEALER, counters.
 * Wire facts: docs/events.md.
 */
#ifndef KVIDX_EVENTS_H
#define KVIDX_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Decoding                                                                 */
/* ------------------------------------------------------------------------ */

typedef enum {
  KVIDX_EVENT_BLOCK_STORED = 1,
  KVIDX_EVENT_BLOCK_REMOVED = 2,
  KVIDX_EVENT_ALL_BLOCKS_CLEARED = 3
} kvidx_event_type;

/* One decoded event. A view: pointers are valid only during the callback. */
typedef struct {
  kvidx_event_type type;
  const uint64_t *block_hashes; /* 64-bit wire form */
  size_t n_block_hashes;
  int has_parent;
  uint64_t parent_block_hash;
  const uint32_t *token_ids;
  size_t n_token_ids;
  uint32_t block_size;
  int has_lora_id;
  int64_t lora_id;
  kvidx_tier tier;       /* from medium; nil = GPU */
  const char *lora_name; /* not NUL-terminated; NULL when absent */
  size_t lora_name_len;
  int32_t group_idx; /* -1 when absent */
  const char *spec_kind; /* kv_cache_spec_kind; NULL when absent */
  size_t spec_kind_len;
} kvidx_event;

typedef struct {
  double ts;
  int64_t dp_rank; /* -1 when absent or nil */
  size_t n_events; /* events in the batch, including skipped ones */
} kvidx_batch_info;

/* Called per decoded event; return non-zero to abort decoding. */
typedef int (*kvidx_event_fn)(void *userdata, const kvidx_event *ev);

typedef struct kvidx_decoder kvidx_decoder;
/* A decoder holds reusable scratch buffers: not thread-safe, one per thread. */
KVIDX_EXPORT int kvidx_decoder_new(kvidx_decoder **out);
KVIDX_EXPORT void kvidx_decoder_free(kvidx_decoder *d);
/*
 * Decodes one EventBatch payload, calling cb for each event in order. Unknown
 * event tags and unknown map keys are skipped. Returns 0, or KVIDX_EPROTO /
 * KVIDX_ETRUNC / KVIDX_ELIMIT for malformed input (events before the error
 * may already have been delivered). Never trusts a length field.
 */
KVIDX_EXPORT int kvidx_batch_decode(kvidx_decoder *d, const uint8_t *payload,
                                    size_t len, kvidx_event_fn cb,
                                    void *userdata, kvidx_batch_info *info);

#ifdef __cplusplus
}
#endif
#endif /* KVIDX_EVENTS_H */

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

#include "kvidx/hash.h"
#include "kvidx/index.h"

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
  int32_t group_idx;     /* -1 when absent */
  const char *spec_kind; /* kv_cache_spec_kind; NULL when absent */
  size_t spec_kind_len;
  /* extra_keys as raw msgpack (one entry per block, vLLM >= 0.11); NULL
   * when absent or nil. Not interpreted by the decoder. */
  const uint8_t *extra_keys;
  size_t extra_keys_len;
} kvidx_event;

/* Named limits of the decoder. A longer array is KVIDX_ELIMIT (vLLM sends at
 * most a few thousand blocks per event; these leave a wide margin). */
#define KVIDX_EVENT_MAX_BLOCKS (1u << 20)
#define KVIDX_EVENT_MAX_TOKENS (1u << 24)

typedef struct {
  double ts;
  int64_t dp_rank; /* -1 when absent or nil */
  size_t n_events; /* events in the batch, including skipped ones */
  /* Events not delivered: unknown tag, or an unknown medium. */
  size_t n_skipped;
  /* On error: a static phrase naming what was wrong (e.g. "block hash is
   * neither int nor bytes") and the byte offset where it was found. */
  const char *error;
  size_t error_offset;
} kvidx_batch_info;

/* Called per decoded event; return non-zero to abort decoding (a negative
 * value is then returned by kvidx_batch_decode, a positive one makes it
 * return 0). */
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
 *
 * Accepted layouts: the batch as an array [ts, events] or [ts, events,
 * dp_rank] (longer arrays: extra elements skipped) or as a map with keys
 * "ts", "events", "data_parallel_rank"; each event as a tagged array
 * ["BlockStored", ...] of any length at least the first vLLM version's, or as
 * a map with a "type" key. Block hashes are any msgpack int (uint64 values >=
 * 2^63 included; negative ints as their two's complement) or bytes of any
 * non-zero length (the last 8 bytes, big-endian; shorter ones zero-padded on
 * the left). info may be NULL. The decoder's scratch arrays grow to the
 * largest event seen and are reused: no allocation per block.
 */
KVIDX_EXPORT int kvidx_batch_decode(kvidx_decoder *d, const uint8_t *payload,
                                    size_t len, kvidx_event_fn cb,
                                    void *userdata, kvidx_batch_info *info);

/* ------------------------------------------------------------------------ */
/* Encoding (for publishers, tests and demos)                               */
/* ------------------------------------------------------------------------ */

/* The wire layouts vLLM has used, oldest first (docs/events.md). */
typedef enum {
  /* [ts, events]; BlockStored with 6 elements (through lora_id),
   * BlockRemoved with 2: vLLM 0.9. */
  KVIDX_LAYOUT_ARRAY_V0 = 0,
  /* [ts, events, dp_rank]; BlockStored with all 12 elements, BlockRemoved
   * with 4 (array_like tagged structs). */
  KVIDX_LAYOUT_ARRAY = 1,
  /* [ts, events, dp_rank] with each event a map with a "type" key (vLLM >=
   * 0.26); fields whose value is the default (nil) after lora_name are
   * omitted, as msgspec's omit_defaults does. */
  KVIDX_LAYOUT_MAP = 2,
  /* The batch itself a map {ts, events, data_parallel_rank} of map events
   * (a msgspec Struct without array_like, as in current vLLM sources). */
  KVIDX_LAYOUT_MAP_BATCH = 3
} kvidx_event_layout;

/* Parses "array-v0", "array", "map", "map-batch". */
KVIDX_EXPORT int kvidx_event_layout_parse(const char *name,
                                          kvidx_event_layout *out);

typedef struct kvidx_batch_writer kvidx_batch_writer;

/*
 * Creates a writer of EventBatch payloads in the given layout. hash_bytes 0
 * writes block hashes as msgpack ints (vLLM's default); 8..32 writes them as
 * bytes of that length whose last 8 bytes are the 64-bit hash big-endian
 * (what a decoder reads) and whose leading bytes are a fixed filler. A writer
 * is not thread-safe.
 */
KVIDX_EXPORT int kvidx_batch_writer_new(kvidx_event_layout layout,
                                        unsigned hash_bytes,
                                        kvidx_batch_writer **out);
KVIDX_EXPORT void kvidx_batch_writer_free(kvidx_batch_writer *w);
/* Starts a new batch (discarding any unfinished one). dp_rank < 0 writes
 * nil (omitted in ARRAY_V0 and map layouts). */
KVIDX_EXPORT void kvidx_batch_writer_begin(kvidx_batch_writer *w, double ts,
                                           int64_t dp_rank);
/* Appends one event (any type; fields the layout lacks are dropped). The
 * tier is written as its vLLM medium name ("GPU", "CPU", ...), nil for GPU
 * in ARRAY_V0. Returns 0 or KVIDX_EINVAL. */
KVIDX_EXPORT int kvidx_batch_writer_add(kvidx_batch_writer *w,
                                        const kvidx_event *ev);
/* Finishes the batch; *payload stays valid until the next begin or free. */
KVIDX_EXPORT int kvidx_batch_writer_finish(kvidx_batch_writer *w,
                                           const uint8_t **payload,
                                           size_t *len);

/* ------------------------------------------------------------------------ */
/* Applying events to an index                                              */
/* ------------------------------------------------------------------------ */

typedef struct kvidx_applier kvidx_applier;

typedef struct {
  kvidx_index *index;         /* required; not owned */
  const kvidx_hasher *hasher; /* kvidx's own hashing; required; not owned */
  /* 1 when the engines hash exactly as `hasher` (same algo, seed, block
   * size): engine hashes are the index keys and no map is kept. 0: kvidx
   * computes its own keys from token_ids and maps engine -> request keys, as
   * llm-d does. Default 1. */
  int engine_hashes_match;
  /* engine_hashes_match == 0 only: entries of the cache engine hash -> full
   * digest of kvidx's own block, which a child block's hash is chained from
   * (a 64-bit key cannot seed a 256-bit chain). A child whose parent fell
   * out of the cache counts in unresolved_parents and is skipped. Default
   * 262144 (about 12 MiB). */
  size_t digest_cache_entries;
} kvidx_applier_opts;

typedef struct {
  uint64_t batches, events_stored, events_removed, events_cleared;
  uint64_t events_unknown, events_ignored_group;
  uint64_t blocks_added, blocks_removed, decode_errors, apply_errors;
  uint64_t unresolved_parents; /* stored events whose parent was unknown */
} kvidx_applier_stats;

KVIDX_EXPORT void kvidx_applier_opts_init(kvidx_applier_opts *opts);
KVIDX_EXPORT int kvidx_applier_new(const kvidx_applier_opts *opts,
                                   kvidx_applier **out);
KVIDX_EXPORT void kvidx_applier_free(kvidx_applier *a);
/*
 * Decodes one EventBatch payload published by pod for model and applies its
 * events in order (the in-process way to feed an index; the ingestor calls
 * this too). Thread-safe for different pods; batches of one pod must be
 * applied in order by one thread at a time. Returns 0 or a KVIDX_E* code
 * (malformed payloads are counted in decode_errors).
 */
KVIDX_EXPORT int kvidx_applier_apply_batch(kvidx_applier *a, const char *pod,
                                           const char *model,
                                           const uint8_t *payload, size_t len);
/* Removes every block of pod (a pod that left, or a scheduler's DELETE). */
KVIDX_EXPORT int kvidx_applier_clear_pod(kvidx_applier *a, const char *pod);
KVIDX_EXPORT void kvidx_applier_get_stats(kvidx_applier *a,
                                          kvidx_applier_stats *out);

/* ------------------------------------------------------------------------ */
/* Ingesting over ZeroMQ                                                    */
/* ------------------------------------------------------------------------ */

typedef struct kvidx_ingestor kvidx_ingestor;

typedef enum {
  KVIDX_QUEUE_BLOCK = 0,      /* a full shard queue blocks the receiver */
  KVIDX_QUEUE_DROP_RESYNC = 1 /* drop the batch, mark the pod for resync */
} kvidx_queue_policy;

typedef struct {
  const char *bind_endpoint; /* SUB bound here, e.g. "tcp://0.0.0.0:5557"; NULL
                                = none */
  const char *topic_filter;  /* default "kv@" */
  unsigned n_workers;        /* shards by pod, default 4 */
  size_t queue_capacity;     /* batches per shard queue, default 4096 */
  kvidx_queue_policy queue_policy;
  int rcvhwm;               /* ZMQ_RCVHWM, default 100000 */
  int64_t max_msg_size;     /* larger payloads are dropped and counted, default
                             * 64 MiB (ZMQ_MAXMSGSIZE is set to twice this) */
  int reconnect_ivl_ms;     /* default 100 */
  int reconnect_ivl_max_ms; /* default 5000 */
  int tcp_keepalive;        /* default 1 */
  /* Replay endpoint template, "{pod}" replaced by the pod id, e.g.
   * "tcp://{pod}:5558"; NULL = no replay unless set per pod. */
  const char *replay_template;
  int replay_timeout_ms; /* default 2000 */
} kvidx_ingestor_opts;

/* A pod whose vLLM PUB socket is bound: kvidx connects to it. */
typedef struct {
  const char *endpoint; /* e.g. "tcp://10.0.0.7:5557" */
  const char *pod;      /* identity when the topic has none */
  const char *model;    /* model when the topic has none */
  /* ROUTER of this pod; NULL = from the template, or none. Used only when
   * pod is set (the identity replay requests are matched by). */
  const char *replay_endpoint;
} kvidx_pod_endpoint;

typedef struct {
  uint64_t messages, bad_messages, batches, queue_drops;
  uint64_t gaps, replays_ok, replays_failed, restarts, pods_cleared;
  uint64_t duplicates;
} kvidx_ingestor_stats;

typedef struct {
  const char *pod;
  const char *model;
  int64_t dp_rank;
  uint64_t last_seq;
  int64_t last_event_unix_ms;
  uint64_t gaps, replays_ok, replays_failed, clears;
  const char *state; /* "live", "resync", "cleared" */
} kvidx_pod_info;

typedef void (*kvidx_pod_info_fn)(void *userdata, const kvidx_pod_info *info);

KVIDX_EXPORT void kvidx_ingestor_opts_init(kvidx_ingestor_opts *opts);
/* The applier is not owned and must outlive the ingestor. */
KVIDX_EXPORT int kvidx_ingestor_new(const kvidx_ingestor_opts *opts,
                                    kvidx_applier *applier,
                                    kvidx_ingestor **out);
/* Starts the receiver and worker threads (binds when bind_endpoint is set). */
KVIDX_EXPORT int kvidx_ingestor_start(kvidx_ingestor *ing);
/* Stops receiving, drains the queues, joins the threads. Idempotent. */
KVIDX_EXPORT void kvidx_ingestor_stop(kvidx_ingestor *ing);
KVIDX_EXPORT void kvidx_ingestor_free(kvidx_ingestor *ing);
/*
 * Connect mode: subscribes to a pod's bound PUB endpoint, before or after
 * start. Strings are copied. With pod->pod set, the socket takes every topic
 * and a message whose topic is empty or not "kv@<pod>@<model>" is attributed
 * to pod->pod / pod->model (model "default" when NULL). When running, returns
 * once the receiver has connected the socket (within ~20 ms). Returns 0,
 * KVIDX_EINVAL (bad arguments, pod id empty, too long or with '@'),
 * KVIDX_ECONFIG (malformed endpoint), KVIDX_EEXIST (same endpoint or pod id
 * already added). Thread-safe.
 */
KVIDX_EXPORT int kvidx_ingestor_add_pod(kvidx_ingestor *ing,
                                        const kvidx_pod_endpoint *pod);
/*
 * Removes a connect-mode pod by pod id or by endpoint. When running, returns
 * once its socket is closed (no batch of it is received afterwards); its
 * blocks are then cleared from the index, ordered after its queued batches.
 * KVIDX_ENOTFOUND when no such pod was added. Thread-safe.
 */
KVIDX_EXPORT int kvidx_ingestor_remove_pod(kvidx_ingestor *ing,
                                           const char *pod);
KVIDX_EXPORT void kvidx_ingestor_get_stats(kvidx_ingestor *ing,
                                           kvidx_ingestor_stats *out);
/* Calls cb for every known publisher (pod, dp rank). Thread-safe; the info
 * strings are valid during the call only. */
KVIDX_EXPORT void kvidx_ingestor_pods(kvidx_ingestor *ing, kvidx_pod_info_fn cb,
                                      void *userdata);

#ifdef __cplusplus
}
#endif
#endif /* KVIDX_EVENTS_H */

/*
 * metrics.h: the server's metrics registry and its Prometheus text
 * rendering. Counters and histograms are relaxed atomics updated on the
 * request path (no lock); the index, event and tokenizer counters are read
 * from kvidx_indexer_get_stats() at scrape time. Metric names reuse llm-d's
 * kvcache_index_* / kvcache_tokenization_* where they mean the same thing;
 * the rest are kvidx_*. Reference: docs/http-api.md#metrics.
 */
#ifndef KVIDX_SERVER_METRICS_H
#define KVIDX_SERVER_METRICS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "kvidx.h"
#include "server/buf.h"

/* Histogram bucket upper bounds, seconds (fine-grained: the read path is in
 * the microseconds). */
#define KVIDX_METRICS_BUCKETS 17
/* Distinct model labels of the per-model tokenization metrics; more models
 * are counted under model="other". */
#define KVIDX_METRICS_MAX_MODELS 32
#define KVIDX_METRICS_MODEL_NAME_MAX 128

typedef enum {
  KVIDX_H_SCORE,
  KVIDX_H_TOKENIZE,
  KVIDX_H_PODS,
  KVIDX_H_POD_DELETE,
  KVIDX_H_METRICS,
  KVIDX_H_HEALTHZ,
  KVIDX_H_READYZ,
  KVIDX_H_OTHER,
  KVIDX_H_COUNT
} kvidx__handler;

#define KVIDX_METRICS_CODES 9 /* 200 400 404 405 413 500 503 + 1 other */

typedef struct {
  _Atomic uint64_t buckets[KVIDX_METRICS_BUCKETS + 1]; /* last = +Inf */
  _Atomic uint64_t count;
  _Atomic uint64_t sum_ns;
} kvidx__histogram;

typedef struct {
  char name[KVIDX_METRICS_MODEL_NAME_MAX];
  kvidx__histogram latency;
  _Atomic uint64_t tokens;
} kvidx__model_metrics;

typedef struct {
  _Atomic uint64_t requests[KVIDX_H_COUNT][KVIDX_METRICS_CODES];
  kvidx__histogram latency[KVIDX_H_COUNT];
  _Atomic int64_t in_flight;
  _Atomic uint64_t bodies_too_large;
  _Atomic int64_t conns_open;      /* HTTP connections open now */
  _Atomic uint64_t conns_refused;  /* closed at once: maxConnections */
  kvidx__histogram lookup_latency; /* kvcache_index_lookup_latency_seconds */
  kvidx__histogram hash_latency;
  _Atomic uint64_t max_pod_hits; /* kvcache_index_max_pod_hit_count_total */
  kvidx__model_metrics models[KVIDX_METRICS_MAX_MODELS + 1]; /* +1: other */
  _Atomic int n_models;
  pthread_mutex_t models_lock; /* taken only to add a model label */
} kvidx__metrics;

void kvidx__metrics_init(kvidx__metrics *m);
void kvidx__metrics_destroy(kvidx__metrics *m);
void kvidx__histogram_observe(kvidx__histogram *h, uint64_t ns);
/* Counts one finished request. */
void kvidx__metrics_request(kvidx__metrics *m, kvidx__handler h, int status,
                            uint64_t ns);
/* The per-model slot (created on first use; "other" when full). */
kvidx__model_metrics *kvidx__metrics_model(kvidx__metrics *m,
                                           const char *model);
/* Appends the Prometheus text exposition (format 0.0.4) to out. st may be
 * NULL (then only the server's own metrics are rendered). */
void kvidx__metrics_render(kvidx__metrics *m, const kvidx_indexer_stats *st,
                           kvidx__buf *out);
/* Monotonic clock in nanoseconds. */
uint64_t kvidx__now_ns(void);

#endif

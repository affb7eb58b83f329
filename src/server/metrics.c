/*
 * metrics.c: counters, histograms and the Prometheus text format (see
 * metrics.h). Histograms keep per-bucket counts and are made cumulative at
 * render time, so an observation is two relaxed atomic adds plus a short
 * bucket search.
 */
#include "server/metrics.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static const double bucket_le[KVIDX_METRICS_BUCKETS] = {
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05,    0.1,    0.25,    0.5,    1,     2.5,    5,     10};

static const int code_values[KVIDX_METRICS_CODES - 1] = {200, 400, 404, 405,
                                                         413, 500, 503, 204};

static const char *const handler_names[KVIDX_H_COUNT] = {
    "score",   "tokenize", "pods",   "pod_delete",
    "metrics", "healthz",  "readyz", "other"};

uint64_t kvidx__now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void kvidx__metrics_init(kvidx__metrics *m) {
  memset(m, 0, sizeof *m);
  pthread_mutex_init(&m->models_lock, NULL);
  strcpy(m->models[KVIDX_METRICS_MAX_MODELS].name, "other");
}

void kvidx__metrics_destroy(kvidx__metrics *m) {
  pthread_mutex_destroy(&m->models_lock);
}

void kvidx__histogram_observe(kvidx__histogram *h, uint64_t ns) {
  double s = (double)ns * 1e-9;
  int i = 0;
  while (i < KVIDX_METRICS_BUCKETS && s > bucket_le[i])
    i++;
  atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&h->sum_ns, ns, memory_order_relaxed);
}

void kvidx__metrics_request(kvidx__metrics *m, kvidx__handler h, int status,
                            uint64_t ns) {
  int c = KVIDX_METRICS_CODES - 1;
  for (int i = 0; i < KVIDX_METRICS_CODES - 1; i++) {
    if (code_values[i] == status)
      c = i;
  }
  if ((unsigned)h >= KVIDX_H_COUNT)
    h = KVIDX_H_OTHER;
  atomic_fetch_add_explicit(&m->requests[h][c], 1, memory_order_relaxed);
  kvidx__histogram_observe(&m->latency[h], ns);
}

kvidx__model_metrics *kvidx__metrics_model(kvidx__metrics *m,
                                           const char *model) {
  int n = atomic_load_explicit(&m->n_models, memory_order_acquire);
  for (int i = 0; i < n; i++) {
    if (strcmp(m->models[i].name, model) == 0)
      return &m->models[i];
  }
  if (strlen(model) >= KVIDX_METRICS_MODEL_NAME_MAX)
    return &m->models[KVIDX_METRICS_MAX_MODELS];
  pthread_mutex_lock(&m->models_lock);
  kvidx__model_metrics *slot = NULL;
  n = atomic_load_explicit(&m->n_models, memory_order_relaxed);
  for (int i = 0; i < n && slot == NULL; i++) {
    if (strcmp(m->models[i].name, model) == 0)
      slot = &m->models[i];
  }
  if (slot == NULL && n < KVIDX_METRICS_MAX_MODELS) {
    slot = &m->models[n];
    strcpy(slot->name, model);
    /* Publish the name before the count that makes it visible. */
    atomic_store_explicit(&m->n_models, n + 1, memory_order_release);
  }
  pthread_mutex_unlock(&m->models_lock);
  return slot ? slot : &m->models[KVIDX_METRICS_MAX_MODELS];
}

/* ---- rendering ---- */

static void header(kvidx__buf *b, const char *name, const char *type,
                   const char *help) {
  kvidx__buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample(kvidx__buf *b, const char *name, const char *labels,
                   uint64_t v) {
  kvidx__buf_puts(b, name);
  if (labels != NULL && labels[0] != '\0')
    kvidx__buf_printf(b, "{%s}", labels);
  kvidx__buf_append(b, " ", 1);
  kvidx__buf_u64(b, v);
  kvidx__buf_append(b, "\n", 1);
}

static void counter(kvidx__buf *b, const char *name, const char *help,
                    uint64_t v) {
  header(b, name, "counter", help);
  sample(b, name, NULL, v);
}

static void gauge(kvidx__buf *b, const char *name, const char *help,
                  uint64_t v) {
  header(b, name, "gauge", help);
  sample(b, name, NULL, v);
}

/* A label value escaped as the text format requires (\\, \", \n). */
static void label_value(kvidx__buf *b, const char *s) {
  for (; *s; s++) {
    if (*s == '\\' || *s == '"')
      kvidx__buf_printf(b, "\\%c", *s);
    else if (*s == '\n')
      kvidx__buf_puts(b, "\\n");
    else
      kvidx__buf_append(b, s, 1);
  }
}

/* One histogram series; labels like `handler="score"` or "" for none. */
static void histogram(kvidx__buf *b, const char *name, const char *labels,
                      kvidx__histogram *h) {
  uint64_t cum = 0;
  const char *sep = labels[0] ? "," : "";
  for (int i = 0; i <= KVIDX_METRICS_BUCKETS; i++) {
    cum += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
    kvidx__buf_printf(b, "%s_bucket{%s%sle=\"", name, labels, sep);
    if (i < KVIDX_METRICS_BUCKETS)
      kvidx__buf_double(b, bucket_le[i]);
    else
      kvidx__buf_puts(b, "+Inf");
    kvidx__buf_puts(b, "\"} ");
    kvidx__buf_u64(b, cum);
    kvidx__buf_append(b, "\n", 1);
  }
  double sum =
      (double)atomic_load_explicit(&h->sum_ns, memory_order_relaxed) * 1e-9;
  kvidx__buf_printf(b, "%s_sum%s%s%s %.9f\n", name, labels[0] ? "{" : "",
                    labels, labels[0] ? "}" : "", sum);
  kvidx__buf_printf(b, "%s_count%s%s%s ", name, labels[0] ? "{" : "", labels,
                    labels[0] ? "}" : "");
  kvidx__buf_u64(b, atomic_load_explicit(&h->count, memory_order_relaxed));
  kvidx__buf_append(b, "\n", 1);
}

static void render_http(kvidx__metrics *m, kvidx__buf *b) {
  header(b, "kvidx_http_requests_total", "counter",
         "HTTP requests by handler and status code");
  for (int h = 0; h < KVIDX_H_COUNT; h++) {
    for (int c = 0; c < KVIDX_METRICS_CODES; c++) {
      uint64_t v =
          atomic_load_explicit(&m->requests[h][c], memory_order_relaxed);
      if (v == 0)
        continue;
      char labels[64];
      if (c < KVIDX_METRICS_CODES - 1)
        snprintf(labels, sizeof labels, "handler=\"%s\",code=\"%d\"",
                 handler_names[h], code_values[c]);
      else
        snprintf(labels, sizeof labels, "handler=\"%s\",code=\"other\"",
                 handler_names[h]);
      sample(b, "kvidx_http_requests_total", labels, v);
    }
  }
  header(b, "kvidx_http_request_duration_seconds", "histogram",
         "HTTP request latency by handler (body received to response queued)");
  for (int h = 0; h < KVIDX_H_COUNT; h++) {
    char labels[48];
    snprintf(labels, sizeof labels, "handler=\"%s\"", handler_names[h]);
    histogram(b, "kvidx_http_request_duration_seconds", labels, &m->latency[h]);
  }
  gauge(b, "kvidx_http_requests_in_flight", "HTTP requests being handled",
        (uint64_t)atomic_load(&m->in_flight));
  counter(b, "kvidx_http_bodies_too_large_total",
          "Requests refused because the body exceeded the limit",
          atomic_load(&m->bodies_too_large));
  gauge(b, "kvidx_http_connections_open", "HTTP connections open",
        (uint64_t)atomic_load(&m->conns_open));
  counter(b, "kvidx_http_connections_refused_total",
          "Connections closed at once because maxConnections were open",
          atomic_load(&m->conns_refused));
}

static void render_tokenization(kvidx__metrics *m, kvidx__buf *b) {
  int n = atomic_load_explicit(&m->n_models, memory_order_acquire);
  header(b, "kvcache_tokenization_tokenization_latency_seconds", "histogram",
         "Latency of tokenization calls in seconds");
  for (int i = 0; i <= KVIDX_METRICS_MAX_MODELS; i++) {
    if (i >= n && i < KVIDX_METRICS_MAX_MODELS)
      continue;
    kvidx__buf lbl;
    kvidx__buf_init(&lbl);
    kvidx__buf_puts(&lbl, "tokenizer=\"");
    label_value(&lbl, m->models[i].name);
    kvidx__buf_puts(&lbl, "\"");
    if (!lbl.failed)
      histogram(b, "kvcache_tokenization_tokenization_latency_seconds",
                lbl.data, &m->models[i].latency);
    kvidx__buf_free(&lbl);
  }
  header(b, "kvcache_tokenization_tokenized_tokens_total", "counter",
         "Number of tokens tokenized");
  for (int i = 0; i <= KVIDX_METRICS_MAX_MODELS; i++) {
    if (i >= n && i < KVIDX_METRICS_MAX_MODELS)
      continue;
    kvidx__buf_puts(b, "kvcache_tokenization_tokenized_tokens_total{"
                       "tokenizer=\"");
    label_value(b, m->models[i].name);
    kvidx__buf_puts(b, "\"} ");
    kvidx__buf_u64(b, atomic_load(&m->models[i].tokens));
    kvidx__buf_append(b, "\n", 1);
  }
}

static void render_index(const kvidx_indexer_stats *st, kvidx__buf *b) {
  char lbl[64];
  snprintf(lbl, sizeof lbl, "backend=\"%s\"", st->backend ? st->backend : "");
  header(b, "kvcache_index_admissions_total", "counter",
         "Total number of KV-block admissions (copies added)");
  sample(b, "kvcache_index_admissions_total", lbl, st->index.adds);
  header(b, "kvcache_index_evictions_total", "counter",
         "Total number of KV-block evictions by the capacity bound");
  sample(b, "kvcache_index_evictions_total", lbl, st->index.evictions);
  header(b, "kvcache_index_entries", "gauge",
         "Current number of keys held in the index");
  sample(b, "kvcache_index_entries", lbl, st->index.keys);
  counter(b, "kvcache_index_lookup_requests_total",
          "Total number of lookup calls", st->counters.lookups);
  counter(b, "kvcache_index_lookup_hits_total",
          "Number of keys found in the cache on Lookup() (longest held "
          "prefix)",
          st->counters.lookup_hits);
  counter(b, "kvidx_index_lookup_keys_total", "Block keys looked up",
          st->counters.lookup_keys);
  gauge(b, "kvidx_index_pod_entries", "(key, pod) entries in the index",
        st->index.entries);
  gauge(b, "kvidx_index_bytes", "Memory used by the in-memory index",
        st->index.bytes);
  gauge(b, "kvidx_index_pods", "Pods known to the index", st->index.pods);
  counter(b, "kvidx_index_removes_total", "Block copies removed",
          st->index.removes);
  counter(b, "kvidx_index_remove_misses_total",
          "Removes of blocks the pod did not hold", st->index.remove_misses);
  counter(b, "kvidx_index_pod_clears_total", "Pods cleared", st->index.clears);
  counter(b, "kvidx_index_backend_errors_total", "Index backend errors",
          st->index.errors);
  counter(b, "kvidx_pods_deleted_total", "Pods deleted through the API",
          st->counters.pods_deleted);
  counter(b, "kvidx_key_cache_hits_total",
          "Request blocks whose key came from the block-key cache",
          st->counters.key_cache_hits);
  counter(b, "kvidx_key_cache_misses_total",
          "Request blocks hashed (not in the block-key cache)",
          st->counters.key_cache_misses);
  counter(b, "kvcache_tokenization_prefix_store_hits_total",
          "Prompts whose tokens came from the prefix store",
          st->counters.prefix_store_hits);
  counter(b, "kvcache_tokenization_prefix_store_misses_total",
          "Prompts tokenized because the prefix store did not cover them",
          st->counters.prefix_store_misses);
}

static void render_events(const kvidx_indexer_stats *st, kvidx__buf *b) {
  const kvidx_applier_stats *a = &st->applier;
  header(b, "kvidx_events_total", "counter", "KV events applied by type");
  sample(b, "kvidx_events_total", "type=\"BlockStored\"", a->events_stored);
  sample(b, "kvidx_events_total", "type=\"BlockRemoved\"", a->events_removed);
  sample(b, "kvidx_events_total", "type=\"AllBlocksCleared\"",
         a->events_cleared);
  sample(b, "kvidx_events_total", "type=\"unknown\"", a->events_unknown);
  counter(b, "kvidx_events_batches_applied_total", "Event batches applied",
          a->batches);
  counter(b, "kvidx_events_ignored_group_total",
          "Events of non-full-attention KV-cache groups ignored",
          a->events_ignored_group);
  counter(b, "kvidx_events_blocks_added_total", "Blocks added by events",
          a->blocks_added);
  counter(b, "kvidx_events_blocks_removed_total", "Blocks removed by events",
          a->blocks_removed);
  counter(b, "kvidx_events_decode_errors_total", "Malformed event payloads",
          a->decode_errors);
  counter(b, "kvidx_events_apply_errors_total",
          "Events that failed to apply to the index", a->apply_errors);
  counter(b, "kvidx_events_unresolved_parents_total",
          "BlockStored events whose parent block was unknown",
          a->unresolved_parents);
  if (!st->has_ingestor)
    return;
  const kvidx_ingestor_stats *g = &st->ingestor;
  counter(b, "kvidx_events_messages_total", "ZeroMQ messages received",
          g->messages);
  counter(b, "kvidx_events_bad_messages_total",
          "ZeroMQ messages dropped as malformed", g->bad_messages);
  counter(b, "kvidx_events_batches_total", "Event batches received",
          g->batches);
  counter(b, "kvidx_events_queue_drops_total",
          "Batches dropped on a full shard queue", g->queue_drops);
  counter(b, "kvidx_events_gaps_total", "Sequence gaps detected", g->gaps);
  header(b, "kvidx_events_replays_total", "counter", "Replay requests");
  sample(b, "kvidx_events_replays_total", "result=\"ok\"", g->replays_ok);
  sample(b, "kvidx_events_replays_total", "result=\"failed\"",
         g->replays_failed);
  counter(b, "kvidx_events_restarts_total", "Engine restarts detected",
          g->restarts);
  counter(b, "kvidx_events_pods_cleared_total",
          "Pods cleared by the event stream (gap, restart, clear)",
          g->pods_cleared);
  counter(b, "kvidx_events_duplicates_total", "Duplicate batches dropped",
          g->duplicates);
}

void kvidx__metrics_render(kvidx__metrics *m, const kvidx_indexer_stats *st,
                           kvidx__buf *b) {
  render_http(m, b);
  header(b, "kvcache_index_lookup_latency_seconds", "histogram",
         "Latency of Lookup calls in seconds");
  histogram(b, "kvcache_index_lookup_latency_seconds", "", &m->lookup_latency);
  header(b, "kvidx_hash_latency_seconds", "histogram",
         "Time to hash a request's tokens into block keys");
  histogram(b, "kvidx_hash_latency_seconds", "", &m->hash_latency);
  counter(b, "kvcache_index_max_pod_hit_count_total",
          "Maximum cache hits on a single pod on Lookup(), summed",
          atomic_load(&m->max_pod_hits));
  render_tokenization(m, b);
  if (st != NULL) {
    render_index(st, b);
    render_events(st, b);
  }
}

/*
 * test_metrics.c: the response buffer (JSON string escaping, numbers) and
 * the Prometheus text rendering of the metrics registry.
 */
#include "server/buf.h"
#include "server/metrics.h"
#include "test.h"

TEST(json_strings) {
  kvidx__buf b;
  kvidx__buf_init(&b);
  kvidx__buf_json_str(&b, "a\"b\\c\n\x01\xc3\xa9\xff\xe2\x82", 12);
  CHECK_EQ_STR(b.data, "\"a\\\"b\\\\c\\u000a\\u0001\xc3\xa9\\ufffd\\ufffd"
                       "\\ufffd\"");
  kvidx__buf_reset(&b);
  kvidx__buf_double(&b, 12);
  kvidx__buf_puts(&b, " ");
  kvidx__buf_double(&b, 0.8);
  kvidx__buf_puts(&b, " ");
  kvidx__buf_double(&b, 0.1 + 0.2);
  kvidx__buf_puts(&b, " ");
  kvidx__buf_u64(&b, UINT64_MAX);
  CHECK_EQ_STR(b.data, "12 0.8 0.30000000000000004 18446744073709551615");
  CHECK(!b.failed);
  kvidx__buf_free(&b);
}

TEST(histogram_and_counters) {
  static kvidx__metrics m;
  kvidx__metrics_init(&m);
  kvidx__metrics_request(&m, KVIDX_H_SCORE, 200, 30000);          /* 30 us */
  kvidx__metrics_request(&m, KVIDX_H_SCORE, 200, 700000);         /* 0.7 ms */
  kvidx__metrics_request(&m, KVIDX_H_SCORE, 400, 20000000000ull); /* 20 s */
  kvidx__metrics_request(&m, KVIDX_H_OTHER, 418, 1000);
  kvidx__model_metrics *mm = kvidx__metrics_model(&m, "Qwen/\"Q\"");
  CHECK(mm == kvidx__metrics_model(&m, "Qwen/\"Q\""));
  atomic_fetch_add(&mm->tokens, 7);
  kvidx_indexer_stats st;
  memset(&st, 0, sizeof st);
  st.backend = "memory";
  st.index.adds = 5;
  st.index.keys = 3;
  st.counters.lookups = 2;
  kvidx__buf b;
  kvidx__buf_init(&b);
  kvidx__metrics_render(&m, &st, &b);
  CHECK(!b.failed);
  static const char *const want[] = {
      "kvidx_http_requests_total{handler=\"score\",code=\"200\"} 2\n",
      "kvidx_http_requests_total{handler=\"score\",code=\"400\"} 1\n",
      "kvidx_http_requests_total{handler=\"other\",code=\"other\"} 1\n",
      "kvidx_http_request_duration_seconds_bucket{handler=\"score\","
      "le=\"5e-05\"} 1\n",
      "kvidx_http_request_duration_seconds_bucket{handler=\"score\","
      "le=\"0.001\"} 2\n",
      "kvidx_http_request_duration_seconds_bucket{handler=\"score\","
      "le=\"10\"} 2\n",
      "kvidx_http_request_duration_seconds_bucket{handler=\"score\","
      "le=\"+Inf\"} 3\n",
      "kvidx_http_request_duration_seconds_count{handler=\"score\"} 3\n",
      "kvcache_tokenization_tokenized_tokens_total{tokenizer="
      "\"Qwen/\\\"Q\\\"\"} 7\n",
      "kvcache_index_admissions_total{backend=\"memory\"} 5\n",
      "kvcache_index_entries{backend=\"memory\"} 3\n",
      "kvcache_index_lookup_requests_total 2\n",
      "# TYPE kvcache_index_lookup_latency_seconds histogram\n",
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    if (strstr(b.data, want[i]) == NULL)
      FAILF("missing line: %s", want[i]);
  }
  kvidx__buf_free(&b);
  kvidx__metrics_destroy(&m);
}

TEST(model_labels_are_bounded) {
  static kvidx__metrics m;
  kvidx__metrics_init(&m);
  char name[32];
  for (int i = 0; i < KVIDX_METRICS_MAX_MODELS + 10; i++) {
    snprintf(name, sizeof name, "model-%d", i);
    kvidx__model_metrics *mm = kvidx__metrics_model(&m, name);
    CHECK(mm != NULL);
    if (i >= KVIDX_METRICS_MAX_MODELS)
      CHECK_EQ_STR(mm->name, "other");
    else
      CHECK_EQ_STR(mm->name, name);
  }
  kvidx__metrics_destroy(&m);
}

TEST_MAIN(TEST_CASE(json_strings), TEST_CASE(histogram_and_counters),
          TEST_CASE(model_labels_are_bounded))

/*
 * test_config.c: kvidxd's configuration — defaults, llm-d field names (flat
 * and wrapped in indexerConfig), errors that name the field, overrides by
 * flag name and by environment, and the effective-configuration round trip.
 */
#include <jansson.h>

#include "server/config.h"
#include "test.h"

static kvidx_config *load(const char *json, int expect_rc, char *err,
                          size_t err_len) {
  kvidx_config *c;
  CHECK_OK(kvidx_config_new(&c));
  int rc = kvidx_config_load_string(c, json, err, err_len);
  if (rc != expect_rc)
    FAILF("load returned %d, want %d (err: %s)", rc, expect_rc, err);
  return c;
}

TEST(defaults) {
  kvidx_config *c;
  CHECK_OK(kvidx_config_new(&c));
  CHECK_EQ_INT(c->block_size, 16);
  CHECK_EQ_INT(c->hash_algo, KVIDX_HASH_SHA256);
  CHECK(c->hash_seed == NULL);
  CHECK(c->redis_address == NULL);
  CHECK_EQ_STR(c->zmq_endpoint, "tcp://*:5557");
  CHECK_EQ_STR(c->topic_filter, "kv@");
  CHECK_EQ_INT(c->concurrency, 4);
  CHECK_EQ_STR(c->http_address, "127.0.0.1:8080");
  CHECK_EQ_U64(c->mem_size, 100000000);
  CHECK_EQ_INT(c->mem_pod_cache_size, 10);
  CHECK_EQ_U64(c->ps_cache_size, 500000);
  CHECK_EQ_INT(c->ps_block_size, 256);
  CHECK_EQ_DBL(c->min_prefix_overlap, 0.8, 1e-12);
  CHECK_EQ_DBL(c->weights.weight[KVIDX_TIER_GPU], 1.0, 1e-12);
  CHECK_EQ_DBL(c->weights.weight[KVIDX_TIER_CPU], 0.8, 1e-12);
  kvidx_config_free(c);
}

TEST(llmd_example_config) {
  /* The complete example of llm-d's docs/configuration.md. */
  const char *json =
      "{\"prefixStoreConfig\": {\"cacheSize\": 500000, \"blockSize\": 256},"
      " \"tokenProcessorConfig\": {\"blockSize\": 16, \"hashSeed\": \"12345\"},"
      " \"kvBlockIndexConfig\": {\"inMemoryConfig\": {\"size\": 100000000,"
      "   \"podCacheSize\": 10}, \"enableMetrics\": true,"
      "   \"metricsLoggingInterval\": \"1m0s\"},"
      " \"tokenizersPoolConfig\": {\"workersCount\": 8,"
      "   \"minPrefixOverlapRatio\": 0.85,"
      "   \"hf\": {\"huggingFaceToken\": \"tok\", \"tokenizersCacheDir\":"
      "     \"/tmp/tokenizers\"},"
      "   \"local\": {\"autoDiscoveryDir\": \"/mnt/models\","
      "     \"autoDiscoveryTokenizerFileName\": \"tokenizer.json\","
      "     \"modelTokenizerMap\": {\"my-model\": \"/p/tokenizer.json\"}}},"
      " \"kvCacheBackendConfigs\": [{\"name\": \"gpu\", \"weight\": 1.0},"
      "   {\"name\": \"cpu\", \"weight\": 0.5}]}";
  char err[256] = "";
  kvidx_config *c = load(json, 0, err, sizeof err);
  CHECK_EQ_STR(c->hash_seed, "12345");
  CHECK_EQ_INT(c->workers_count, 8);
  CHECK_EQ_DBL(c->min_prefix_overlap, 0.85, 1e-12);
  CHECK_EQ_STR(c->auto_discovery_dir, "/mnt/models");
  CHECK_EQ_INT(c->n_models, 1);
  CHECK_EQ_STR(c->model_names[0], "my-model");
  CHECK_EQ_STR(c->model_paths[0], "/p/tokenizer.json");
  CHECK_EQ_STR(c->hf_token, "tok");
  CHECK_EQ_DBL(c->weights.weight[KVIDX_TIER_CPU], 0.5, 1e-12);
  kvidx_config_free(c);
}

TEST(indexer_config_wrapper_and_events) {
  const char *json =
      "{\"indexerConfig\": {\"kvBlockIndexConfig\": {\"redisConfig\":"
      "   {\"address\": \"redis://127.0.0.1:7000/2\"}}},"
      " \"tokenProcessorConfig\": {\"blockSize\": 64, \"hashAlgo\":"
      "   \"xxhash_cbor\", \"hashSeed\": \"\"},"
      " \"kvEventsConfig\": {\"zmqEndpoint\": \"tcp://127.0.0.1:5999\","
      "   \"topicFilter\": \"kv@\", \"concurrency\": 8,"
      "   \"connect\": [\"tcp://10.0.0.1:5557\", {\"endpoint\":"
      "     \"tcp://10.0.0.2:5557\", \"pod\": \"p2\", \"model\": \"m\","
      "     \"replayEndpoint\": \"tcp://10.0.0.2:5558\"}],"
      "   \"replayEndpointTemplate\": \"tcp://{pod}:5558\","
      "   \"queuePolicy\": \"drop\"},"
      " \"httpConfig\": {\"address\": \"0.0.0.0:9000\", \"maxBodyBytes\": "
      "1024},"
      " \"logLevel\": \"debug\"}";
  char err[256] = "";
  kvidx_config *c = load(json, 0, err, sizeof err);
  CHECK_EQ_STR(c->redis_address, "redis://127.0.0.1:7000/2");
  CHECK_EQ_INT(c->block_size, 64);
  CHECK_EQ_INT(c->hash_algo, KVIDX_HASH_XXHASH_CBOR);
  CHECK_EQ_STR(c->hash_seed, "");
  CHECK_EQ_STR(c->zmq_endpoint, "tcp://127.0.0.1:5999");
  CHECK_EQ_INT(c->concurrency, 8);
  CHECK_EQ_INT(c->n_connect, 2);
  CHECK_EQ_STR(c->connect[0].endpoint, "tcp://10.0.0.1:5557");
  CHECK(c->connect[0].pod == NULL);
  CHECK_EQ_STR(c->connect[1].pod, "p2");
  CHECK_EQ_STR(c->connect[1].replay_endpoint, "tcp://10.0.0.2:5558");
  CHECK_EQ_STR(c->replay_template, "tcp://{pod}:5558");
  CHECK_EQ_INT(c->queue_policy, KVIDX_QUEUE_DROP_RESYNC);
  CHECK_EQ_STR(c->http_address, "0.0.0.0:9000");
  CHECK_EQ_U64(c->http_max_body, 1024);
  CHECK_EQ_INT(c->log_level, KVIDX_LOG_DEBUG);
  kvidx_config_free(c);
}

/* Each bad document must fail with ECONFIG and an error naming the field. */
TEST(errors_name_the_field) {
  static const struct {
    const char *json, *field;
  } cases[] = {
      {"{\"tokenProcessorConfig\": {\"blocksize\": 16}}",
       "tokenProcessorConfig.blocksize"},
      {"{\"tokenProcessorConfig\": {\"blockSize\": \"16\"}}",
       "tokenProcessorConfig.blockSize"},
      {"{\"tokenProcessorConfig\": {\"blockSize\": 0}}",
       "tokenProcessorConfig.blockSize"},
      {"{\"tokenProcessorConfig\": {\"hashAlgo\": \"md5\"}}",
       "tokenProcessorConfig.hashAlgo"},
      {"{\"kvBlockIndexConfig\": {\"inMemoryConfig\": {\"size\": -1}}}",
       "kvBlockIndexConfig.inMemoryConfig.size"},
      {"{\"kvBlockIndexConfig\": {\"redisConfig\": {\"addr\": \"x\"}}}",
       "kvBlockIndexConfig.redisConfig.addr"},
      {"{\"kvBlockIndexConfig\": {\"enableMetrics\": 1}}",
       "kvBlockIndexConfig.enableMetrics"},
      {"{\"prefixStoreConfig\": []}", "prefixStoreConfig"},
      {"{\"tokenizersPoolConfig\": {\"minPrefixOverlapRatio\": 1.5}}",
       "tokenizersPoolConfig.minPrefixOverlapRatio"},
      {"{\"tokenizersPoolConfig\": {\"local\": {\"modelTokenizerMap\":"
       " {\"m\": 3}}}}",
       "tokenizersPoolConfig.local.modelTokenizerMap.m"},
      {"{\"kvCacheBackendConfigs\": [{\"name\": \"tape\", \"weight\": 1}]}",
       "kvCacheBackendConfigs[0].name"},
      {"{\"kvCacheBackendConfigs\": {}}", "kvCacheBackendConfigs"},
      {"{\"kvEventsConfig\": {\"concurrency\": 0}}",
       "kvEventsConfig.concurrency"},
      {"{\"kvEventsConfig\": {\"connect\": [{\"pod\": \"p\"}]}}",
       "kvEventsConfig.connect[0].endpoint"},
      {"{\"kvEventsConfig\": {\"queuePolicy\": \"spill\"}}",
       "kvEventsConfig.queuePolicy"},
      {"{\"httpConfig\": {\"address\": \"nowhere\"}}", "httpConfig.address"},
      {"{\"indexerConfig\": {\"httpConfig\": {}}}", "indexerConfig.httpConfig"},
      {"{\"logLevel\": \"loud\"}", "logLevel"},
      {"{\"unknownTop\": 1}", "unknownTop"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char err[256] = "";
    kvidx_config *c = load(cases[i].json, KVIDX_ECONFIG, err, sizeof err);
    if (strstr(err, cases[i].field) == NULL)
      FAILF("case %zu: error \"%s\" does not name %s", i, err, cases[i].field);
    kvidx_config_free(c);
  }
}

TEST(invalid_json_is_a_parse_error) {
  char err[256] = "";
  kvidx_config *c = load("{\"a\": ", KVIDX_EPARSE, err, sizeof err);
  CHECK(strstr(err, "line 1") != NULL);
  kvidx_config_free(c);
  c = load("[1, 2]", KVIDX_ECONFIG, err, sizeof err);
  kvidx_config_free(c);
  c = load("{\"logLevel\": \"info\", \"logLevel\": \"debug\"}", KVIDX_EPARSE,
           err, sizeof err);
  kvidx_config_free(c);
}

TEST(missing_file_is_an_io_error) {
  kvidx_config *c;
  char err[256] = "";
  CHECK_OK(kvidx_config_new(&c));
  CHECK_EQ_INT(
      kvidx_config_load_file(c, "/nonexistent/kvidx.json", err, sizeof err),
      KVIDX_EIO);
  CHECK(strstr(err, "/nonexistent/kvidx.json") != NULL);
  kvidx_config_free(c);
}

TEST(flag_overrides) {
  kvidx_config *c;
  char err[256] = "";
  CHECK_OK(kvidx_config_new(&c));
  CHECK_OK(kvidx_config_set(c, "http", "127.0.0.1:0", err, sizeof err));
  CHECK_OK(kvidx_config_set(c, "zmq-bind", "none", err, sizeof err));
  CHECK(c->zmq_endpoint == NULL);
  CHECK_OK(kvidx_config_set(c, "zmq-connect",
                            "tcp://127.0.0.1:6000,pod=a,model=m,replay=tcp://"
                            "127.0.0.1:6001",
                            err, sizeof err));
  CHECK_EQ_INT(c->n_connect, 1);
  CHECK_EQ_STR(c->connect[0].pod, "a");
  CHECK_EQ_STR(c->connect[0].model, "m");
  CHECK_EQ_STR(c->connect[0].replay_endpoint, "tcp://127.0.0.1:6001");
  CHECK_OK(kvidx_config_set(c, "block-size", "32", err, sizeof err));
  CHECK_EQ_INT(c->block_size, 32);
  CHECK_OK(kvidx_config_set(c, "hash-algo", "xxhash", err, sizeof err));
  CHECK_EQ_INT(c->hash_algo, KVIDX_HASH_XXHASH);
  CHECK_OK(kvidx_config_set(c, "hash-seed", "0", err, sizeof err));
  CHECK_EQ_STR(c->hash_seed, "0");
  CHECK_OK(kvidx_config_set(c, "model-tokenizer", "Qwen/Qwen3=/t/q.json", err,
                            sizeof err));
  CHECK_OK(kvidx_config_set(c, "model-tokenizer", "Qwen/Qwen3=/t/r.json", err,
                            sizeof err));
  CHECK_EQ_INT(c->n_models, 1);
  CHECK_EQ_STR(c->model_paths[0], "/t/r.json");
  CHECK_OK(
      kvidx_config_set(c, "redis", "redis://127.0.0.1:1", err, sizeof err));
  CHECK_EQ_STR(c->redis_address, "redis://127.0.0.1:1");
  CHECK_OK(kvidx_config_set(c, "log-level", "warn", err, sizeof err));
  CHECK_EQ_INT(kvidx_config_log_level(c), KVIDX_LOG_WARN);

  CHECK_EQ_INT(kvidx_config_set(c, "block-size", "-3", err, sizeof err),
               KVIDX_ECONFIG);
  CHECK_EQ_INT(kvidx_config_set(c, "block-size", "16x", err, sizeof err),
               KVIDX_ECONFIG);
  CHECK_EQ_INT(kvidx_config_set(c, "http", "host:99999", err, sizeof err),
               KVIDX_ECONFIG);
  CHECK_EQ_INT(
      kvidx_config_set(c, "model-tokenizer", "noequals", err, sizeof err),
      KVIDX_ECONFIG);
  CHECK_EQ_INT(kvidx_config_set(c, "zmq-connect", "tcp://x:1,color=red", err,
                                sizeof err),
               KVIDX_ECONFIG);
  CHECK_EQ_INT(kvidx_config_set(c, "nope", "1", err, sizeof err),
               KVIDX_ENOTFOUND);
  kvidx_config_free(c);
}

TEST(env_overrides) {
  kvidx_config *c;
  char err[256] = "";
  CHECK_OK(kvidx_config_new(&c));
  setenv("KVIDX_BLOCK_SIZE", "128", 1);
  setenv("LOCAL_TOKENIZER_DIR", "/models", 1);
  setenv("KVIDX_ZMQ_CONNECT", "tcp://127.0.0.1:1 tcp://127.0.0.1:2,pod=b", 1);
  CHECK_OK(kvidx_config_apply_env(c, err, sizeof err));
  CHECK_EQ_INT(c->block_size, 128);
  CHECK_EQ_STR(c->auto_discovery_dir, "/models");
  CHECK_EQ_INT(c->n_connect, 2);
  CHECK_EQ_STR(c->connect[1].pod, "b");
  setenv("KVIDX_HASH_ALGO", "blake3", 1);
  CHECK_EQ_INT(kvidx_config_apply_env(c, err, sizeof err), KVIDX_ECONFIG);
  CHECK(strstr(err, "KVIDX_HASH_ALGO") != NULL);
  kvidx_config_free(c);
}

/* The effective configuration reads back into the same configuration. */
TEST(effective_config_round_trip) {
  kvidx_config *a, *b;
  char err[256] = "";
  CHECK_OK(kvidx_config_new(&a));
  CHECK_OK(kvidx_config_set(a, "zmq-connect", "tcp://127.0.0.1:7,pod=x", err,
                            sizeof err));
  CHECK_OK(kvidx_config_set(a, "hash-seed", "42", err, sizeof err));
  CHECK_OK(
      kvidx_config_set(a, "model-tokenizer", "m=/x.json", err, sizeof err));
  char *json = kvidx_config_to_json(a);
  CHECK(json != NULL);
  CHECK_OK(kvidx_config_new(&b));
  /* The redacted token placeholder is not a real value: not present here. */
  if (kvidx_config_load_string(b, json, err, sizeof err) != 0)
    FAILF("effective config does not load back: %s\n%s", err, json);
  char *json2 = kvidx_config_to_json(b);
  CHECK_EQ_STR(json, json2);
  free(json);
  free(json2);
  kvidx_config_free(a);
  kvidx_config_free(b);
}

TEST(host_port) {
  char host[64];
  int port;
  CHECK_OK(kvidx__parse_host_port("127.0.0.1:8080", host, sizeof host, &port));
  CHECK_EQ_STR(host, "127.0.0.1");
  CHECK_EQ_INT(port, 8080);
  CHECK_OK(kvidx__parse_host_port("[::1]:0", host, sizeof host, &port));
  CHECK_EQ_STR(host, "::1");
  CHECK_EQ_INT(port, 0);
  CHECK_OK(kvidx__parse_host_port(":9", host, sizeof host, &port));
  CHECK_EQ_STR(host, "");
  CHECK_EQ_INT(kvidx__parse_host_port("x:", host, sizeof host, &port),
               KVIDX_ECONFIG);
  CHECK_EQ_INT(kvidx__parse_host_port("x:-1", host, sizeof host, &port),
               KVIDX_ECONFIG);
}

TEST_MAIN(TEST_CASE(defaults), TEST_CASE(llmd_example_config),
          TEST_CASE(indexer_config_wrapper_and_events),
          TEST_CASE(errors_name_the_field),
          TEST_CASE(invalid_json_is_a_parse_error),
          TEST_CASE(missing_file_is_an_io_error), TEST_CASE(flag_overrides),
          TEST_CASE(env_overrides), TEST_CASE(effective_config_round_trip),
          TEST_CASE(host_port))

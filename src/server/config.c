/*
 * config.c: kvidxd's configuration — defaults, the JSON file (jansson),
 * command-line style overrides, environment overrides, and the effective
 * configuration printed back as JSON.
 *
 * The schema keeps llm-d kv-cache-manager's field names where the concept is
 * the same (tokenProcessorConfig, kvBlockIndexConfig, prefixStoreConfig,
 * tokenizersPoolConfig, kvCacheBackendConfigs, kvEventsConfig), both in its
 * flat form and wrapped in llm-d's newer "indexerConfig" object, so an llm-d
 * user can bring their file. kvidx's additions live in the same objects
 * (kvEventsConfig.connect, ...) or in httpConfig. Every object is checked
 * against its list of known fields: a typo is a startup error that names the
 * field, never a silently ignored setting.
 */
#include "server/config.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"

/* ------------------------------------------------------------------------ */
/* Defaults                                                                 */
/* ------------------------------------------------------------------------ */

static const char *const tier_names[KVIDX_TIER_COUNT] = {"gpu", "cpu", "fs",
                                                         "obj", "storage"};

static char *dup_or_null(const char *s) {
  return s ? strdup(s) : NULL;
}

/* Replaces *slot with a copy of s (NULL allowed). */
static int set_str(char **slot, const char *s) {
  char *copy = NULL;
  if (s != NULL && (copy = strdup(s)) == NULL)
    return KVIDX_ENOMEM;
  free(*slot);
  *slot = copy;
  return 0;
}

int kvidx_config_new(kvidx_config **out) {
  kvidx_config *c = calloc(1, sizeof *c);
  if (c == NULL)
    return KVIDX_ENOMEM;
  c->block_size = 16;
  c->hash_algo = KVIDX_HASH_SHA256;
  c->key_cache_size = 65536;
  c->mem_size = 100000000;    /* llm-d inMemoryConfig.size */
  c->mem_pod_cache_size = 10; /* llm-d inMemoryConfig.podCacheSize */
  c->redis_connect_timeout_ms = 1000;
  c->redis_command_timeout_ms = 500;
  c->enable_metrics = 1;
  c->prefix_store_enabled = 1;
  c->ps_cache_size = 500000;
  c->ps_block_size = 256;
  c->workers_count = 5;
  c->min_prefix_overlap = 0.8;
  c->hf_enabled = 0; /* no internet by default; set an endpoint to enable */
  c->max_loaded_tokenizers = 8;
  for (int t = 0; t < KVIDX_TIER_COUNT; t++)
    c->weights.weight[t] = 0.0;
  c->weights.weight[KVIDX_TIER_GPU] = 1.0;
  c->weights.weight[KVIDX_TIER_CPU] = 0.8;
  c->events_enabled = 1;
  c->concurrency = 4;
  c->replay_timeout_ms = 2000;
  c->queue_capacity = 4096;
  c->queue_policy = KVIDX_QUEUE_BLOCK;
  c->rcvhwm = 100000;
  c->max_message_bytes = 64 << 20;
  c->engine_hashes_match = 1;
  c->http_threads = 0;
  c->http_max_body = KVIDX_HTTP_MAX_BODY_DEFAULT;
  c->max_tokens = KVIDX_INDEXER_MAX_TOKENS_DEFAULT;
  c->max_pods = KVIDX_HTTP_MAX_PODS_DEFAULT;
  c->conn_timeout_s = KVIDX_HTTP_CONN_TIMEOUT_DEFAULT;
  c->max_connections = KVIDX_HTTP_MAX_CONNECTIONS_DEFAULT;
  c->shutdown_timeout_ms = 5000;
  c->log_level = KVIDX_LOG_INFO;
  if ((c->zmq_endpoint = strdup("tcp://*:5557")) == NULL ||
      (c->topic_filter = strdup("kv@")) == NULL ||
      (c->http_address = strdup("127.0.0.1:8080")) == NULL) {
    kvidx_config_free(c);
    return KVIDX_ENOMEM;
  }
  *out = c;
  return 0;
}

static void free_models(kvidx_config *c) {
  for (size_t i = 0; i < c->n_models; i++) {
    free(c->model_names[i]);
    free(c->model_paths[i]);
  }
  free(c->model_names);
  free(c->model_paths);
  c->model_names = c->model_paths = NULL;
  c->n_models = 0;
}

static void free_connect(kvidx_config *c) {
  for (size_t i = 0; i < c->n_connect; i++) {
    free((char *)c->connect[i].endpoint);
    free((char *)c->connect[i].pod);
    free((char *)c->connect[i].model);
    free((char *)c->connect[i].replay_endpoint);
  }
  free(c->connect);
  c->connect = NULL;
  c->n_connect = 0;
}

void kvidx_config_free(kvidx_config *c) {
  if (c == NULL)
    return;
  free(c->hash_seed);
  free(c->redis_address);
  free(c->auto_discovery_dir);
  free_models(c);
  free(c->hf_token);
  free(c->hf_cache_dir);
  free(c->hf_endpoint);
  free(c->zmq_endpoint);
  free(c->topic_filter);
  free_connect(c);
  free(c->replay_template);
  free(c->http_address);
  free(c);
}

/* Adds or replaces model -> path. */
static int add_model(kvidx_config *c, const char *model, const char *path) {
  for (size_t i = 0; i < c->n_models; i++) {
    if (strcmp(c->model_names[i], model) == 0)
      return set_str(&c->model_paths[i], path);
  }
  if (c->n_models >= KVIDX_CONFIG_MAX_MODELS)
    return KVIDX_ELIMIT;
  char **names = realloc(c->model_names, (c->n_models + 1) * sizeof *names);
  if (names == NULL)
    return KVIDX_ENOMEM;
  c->model_names = names;
  char **paths = realloc(c->model_paths, (c->n_models + 1) * sizeof *paths);
  if (paths == NULL)
    return KVIDX_ENOMEM;
  c->model_paths = paths;
  names[c->n_models] = strdup(model);
  paths[c->n_models] = strdup(path);
  if (names[c->n_models] == NULL || paths[c->n_models] == NULL) {
    free(names[c->n_models]);
    free(paths[c->n_models]);
    return KVIDX_ENOMEM;
  }
  c->n_models++;
  return 0;
}

static int add_connect(kvidx_config *c, const char *endpoint, const char *pod,
                       const char *model, const char *replay) {
  if (c->n_connect >= KVIDX_CONFIG_MAX_CONNECT)
    return KVIDX_ELIMIT;
  kvidx_pod_endpoint *v = realloc(c->connect, (c->n_connect + 1) * sizeof *v);
  if (v == NULL)
    return KVIDX_ENOMEM;
  c->connect = v;
  char *ep = dup_or_null(endpoint), *p = dup_or_null(pod);
  char *m = dup_or_null(model), *r = dup_or_null(replay);
  if (ep == NULL || (pod && !p) || (model && !m) || (replay && !r)) {
    free(ep);
    free(p);
    free(m);
    free(r);
    return KVIDX_ENOMEM;
  }
  v[c->n_connect] = (kvidx_pod_endpoint){ep, p, m, r};
  c->n_connect++;
  return 0;
}

/* ------------------------------------------------------------------------ */
/* JSON loading                                                             */
/* ------------------------------------------------------------------------ */

typedef struct {
  kvidx_config *c;
  char *err;
  size_t err_len;
} loader;

static int failf(loader *L, const char *fmt, ...) KVIDX_PRINTF_(2, 3);
static int failf(loader *L, const char *fmt, ...) {
  if (L->err != NULL && L->err_len > 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(L->err, L->err_len, fmt, ap);
    va_end(ap);
  }
  return KVIDX_ECONFIG;
}

/* Errors on any key of obj not in allowed (NULL-terminated). */
static int check_keys(loader *L, json_t *obj, const char *path,
                      const char *const *allowed) {
  const char *key;
  json_t *val;
  json_object_foreach(obj, key, val) {
    int known = 0;
    for (const char *const *a = allowed; *a != NULL; a++)
      known |= strcmp(*a, key) == 0;
    if (!known)
      return failf(L, "%s%s%s: unknown field", path, *path ? "." : "", key);
  }
  return 0;
}

/* The sub-object at key: *out NULL when absent or null. */
static int get_obj(loader *L, json_t *obj, const char *path, const char *key,
                   json_t **out) {
  json_t *v = json_object_get(obj, key);
  *out = NULL;
  if (v == NULL || json_is_null(v))
    return 0;
  if (!json_is_object(v))
    return failf(L, "%s.%s: expected an object", path, key);
  *out = v;
  return 0;
}

static int get_u64(loader *L, json_t *obj, const char *path, const char *key,
                   uint64_t lo, uint64_t hi, uint64_t *out) {
  json_t *v = json_object_get(obj, key);
  if (v == NULL)
    return 0;
  if (!json_is_integer(v) || json_integer_value(v) < 0 ||
      (uint64_t)json_integer_value(v) < lo ||
      (uint64_t)json_integer_value(v) > hi)
    return failf(L, "%s.%s: expected an integer in [%" PRIu64 ", %" PRIu64 "]",
                 path, key, lo, hi);
  *out = (uint64_t)json_integer_value(v);
  return 0;
}

static int get_u32(loader *L, json_t *obj, const char *path, const char *key,
                   uint32_t lo, uint32_t hi, uint32_t *out) {
  uint64_t v = *out;
  int rc = get_u64(L, obj, path, key, lo, hi, &v);
  *out = (uint32_t)v;
  return rc;
}

static int get_int(loader *L, json_t *obj, const char *path, const char *key,
                   int lo, int hi, int *out) {
  uint64_t v = (uint64_t)*out;
  int rc = get_u64(L, obj, path, key, (uint64_t)lo, (uint64_t)hi, &v);
  *out = (int)v;
  return rc;
}

static int get_bool(loader *L, json_t *obj, const char *path, const char *key,
                    int *out) {
  json_t *v = json_object_get(obj, key);
  if (v == NULL)
    return 0;
  if (!json_is_boolean(v))
    return failf(L, "%s.%s: expected true or false", path, key);
  *out = json_is_true(v);
  return 0;
}

static int get_double(loader *L, json_t *obj, const char *path, const char *key,
                      double lo, double hi, double *out) {
  json_t *v = json_object_get(obj, key);
  if (v == NULL)
    return 0;
  if (!json_is_number(v) || json_number_value(v) < lo ||
      json_number_value(v) > hi)
    return failf(L, "%s.%s: expected a number in [%g, %g]", path, key, lo, hi);
  *out = json_number_value(v);
  return 0;
}

/* A string; null sets NULL when nullable, "" is kept as "". */
static int get_str(loader *L, json_t *obj, const char *path, const char *key,
                   int nullable, char **out) {
  json_t *v = json_object_get(obj, key);
  if (v == NULL)
    return 0;
  if (json_is_null(v) && nullable)
    return set_str(out, NULL);
  if (!json_is_string(v))
    return failf(L, "%s.%s: expected a string%s", path, key,
                 nullable ? " or null" : "");
  if (strlen(json_string_value(v)) != json_string_length(v))
    return failf(L, "%s.%s: NUL byte in string", path, key);
  return set_str(out, json_string_value(v));
}

static int parse_algo(const char *s, kvidx_hash_algo *out) {
  static const char *const names[] = {"sha256", "sha256_cbor", "xxhash",
                                      "xxhash_cbor"};
  for (int i = 0; i < 4; i++) {
    if (strcmp(s, names[i]) == 0) {
      *out = (kvidx_hash_algo)i;
      return 0;
    }
  }
  return KVIDX_EINVAL;
}

static const char *algo_name(kvidx_hash_algo a) {
  static const char *const names[] = {"sha256", "sha256_cbor", "xxhash",
                                      "xxhash_cbor"};
  return (unsigned)a < 4 ? names[a] : "?";
}

static int load_token_processor(loader *L, json_t *o) {
  static const char *const keys[] = {"blockSize", "hashSeed", "hashAlgo",
                                     "keyCacheSize", NULL};
  const char *p = "tokenProcessorConfig";
  int rc;
  char *algo = NULL;
  if ((rc = check_keys(L, o, p, keys)) ||
      (rc = get_u32(L, o, p, "blockSize", 1, 1u << 16, &L->c->block_size)) ||
      (rc = get_str(L, o, p, "hashSeed", 1, &L->c->hash_seed)) ||
      (rc = get_u64(L, o, p, "keyCacheSize", 0, 1ull << 30,
                    &L->c->key_cache_size)) ||
      (rc = get_str(L, o, p, "hashAlgo", 0, &algo)))
    return rc;
  if (algo != NULL) {
    rc = parse_algo(algo, &L->c->hash_algo);
    free(algo);
    if (rc)
      return failf(L,
                   "%s.hashAlgo: expected sha256, sha256_cbor, xxhash or "
                   "xxhash_cbor",
                   p);
  }
  return 0;
}

/* "2GiB", "500MiB", "1GB", "1024" -> bytes. */
static int parse_size(const char *s, uint64_t *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || errno || v < 0)
    return KVIDX_EINVAL;
  while (*end == ' ')
    end++;
  static const struct {
    const char *suffix;
    double mult;
  } units[] = {{"", 1},
               {"B", 1},
               {"KB", 1e3},
               {"MB", 1e6},
               {"GB", 1e9},
               {"TB", 1e12},
               {"KiB", 1024.},
               {"MiB", 1048576.},
               {"GiB", 1073741824.},
               {"TiB", 1099511627776.}};
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
    if (strcasecmp(end, units[i].suffix) == 0) {
      *out = (uint64_t)(v * units[i].mult);
      return 0;
    }
  }
  return KVIDX_EINVAL;
}

static int load_index(loader *L, json_t *o) {
  static const char *const keys[] = {
      "inMemoryConfig", "costAwareMemoryConfig",  "redisConfig",
      "enableMetrics",  "metricsLoggingInterval", NULL};
  static const char *const mem_keys[] = {"size", "podCacheSize", "maxBytes",
                                         NULL};
  static const char *const redis_keys[] = {
      "address",          "backendType",   "enableRDMA", "connectTimeoutMs",
      "commandTimeoutMs", "keyTtlSeconds", NULL};
  const char *p = "kvBlockIndexConfig";
  kvidx_config *c = L->c;
  json_t *mem, *cost, *redis;
  char *interval = NULL;
  int rc;
  if ((rc = check_keys(L, o, p, keys)) ||
      (rc = get_bool(L, o, p, "enableMetrics", &c->enable_metrics)) ||
      (rc = get_str(L, o, p, "metricsLoggingInterval", 1, &interval)) ||
      (rc = get_obj(L, o, p, "inMemoryConfig", &mem)) ||
      (rc = get_obj(L, o, p, "costAwareMemoryConfig", &cost)) ||
      (rc = get_obj(L, o, p, "redisConfig", &redis)))
    return rc;
  free(interval); /* accepted for llm-d compatibility; /metrics replaces it */
  const char *mp = "kvBlockIndexConfig.inMemoryConfig";
  if (mem != NULL &&
      ((rc = check_keys(L, mem, mp, mem_keys)) ||
       (rc = get_u64(L, mem, mp, "size", 0, UINT64_MAX >> 1, &c->mem_size)) ||
       (rc = get_u32(L, mem, mp, "podCacheSize", 0, UINT32_MAX,
                     &c->mem_pod_cache_size)) ||
       (rc = get_u64(L, mem, mp, "maxBytes", 0, UINT64_MAX >> 1,
                     &c->mem_max_bytes))))
    return rc;
  if (cost != NULL) {
    static const char *const cost_keys[] = {"size", NULL};
    const char *cp = "kvBlockIndexConfig.costAwareMemoryConfig";
    char *size = NULL;
    if ((rc = check_keys(L, cost, cp, cost_keys)) ||
        (rc = get_str(L, cost, cp, "size", 0, &size)))
      return rc;
    if (size != NULL) {
      rc = parse_size(size, &c->mem_max_bytes);
      free(size);
      if (rc)
        return failf(L, "%s.size: expected a size such as \"2GiB\"", cp);
    }
  }
  if (redis != NULL) {
    const char *rp = "kvBlockIndexConfig.redisConfig";
    char *backend = NULL;
    int rdma = 0;
    /* Presence of redisConfig selects Redis, as in llm-d. */
    if (c->redis_address == NULL &&
        set_str(&c->redis_address, "redis://127.0.0.1:6379"))
      return KVIDX_ENOMEM;
    if ((rc = check_keys(L, redis, rp, redis_keys)) ||
        (rc = get_str(L, redis, rp, "address", 0, &c->redis_address)) ||
        (rc = get_str(L, redis, rp, "backendType", 0, &backend)) ||
        (rc = get_bool(L, redis, rp, "enableRDMA", &rdma)) ||
        (rc = get_int(L, redis, rp, "connectTimeoutMs", 1, 600000,
                      &c->redis_connect_timeout_ms)) ||
        (rc = get_int(L, redis, rp, "commandTimeoutMs", 1, 600000,
                      &c->redis_command_timeout_ms)) ||
        (rc = get_int(L, redis, rp, "keyTtlSeconds", 0, 1 << 30,
                      &c->redis_key_ttl_s))) {
      free(backend);
      return rc;
    }
    int bad_backend = backend != NULL && strcmp(backend, "redis") != 0 &&
                      strcmp(backend, "valkey") != 0;
    free(backend);
    if (bad_backend)
      return failf(L, "%s.backendType: expected \"redis\" or \"valkey\"", rp);
    if (rdma)
      return failf(L, "%s.enableRDMA: RDMA is not supported by kvidx", rp);
  }
  return 0;
}

static int load_prefix_store(loader *L, json_t *o) {
  static const char *const keys[] = {"cacheSize", "blockSize", "enabled", NULL};
  const char *p = "prefixStoreConfig";
  int rc;
  if ((rc = check_keys(L, o, p, keys)) ||
      (rc = get_u64(L, o, p, "cacheSize", 1, UINT64_MAX >> 1,
                    &L->c->ps_cache_size)) ||
      (rc = get_u32(L, o, p, "blockSize", 1, 1u << 20, &L->c->ps_block_size)) ||
      (rc = get_bool(L, o, p, "enabled", &L->c->prefix_store_enabled)))
    return rc;
  return 0;
}

static int load_model_map(loader *L, json_t *map, const char *p) {
  const char *model;
  json_t *path;
  json_object_foreach(map, model, path) {
    if (!json_is_string(path))
      return failf(L, "%s.%s: expected a string (path of tokenizer.json)", p,
                   model);
    int rc = add_model(L->c, model, json_string_value(path));
    if (rc == KVIDX_ELIMIT)
      return failf(L, "%s: more than %d models", p, KVIDX_CONFIG_MAX_MODELS);
    if (rc)
      return rc;
  }
  return 0;
}

static int load_tokenizers(loader *L, json_t *o) {
  static const char *const keys[] = {
      "workersCount", "minPrefixOverlapRatio", "local",
      "hf",           "maxLoadedTokenizers",   NULL};
  static const char *const local_keys[] = {"autoDiscoveryDir",
                                           "autoDiscoveryTokenizerFileName",
                                           "modelTokenizerMap", NULL};
  static const char *const hf_keys[] = {"enabled", "huggingFaceToken",
                                        "tokenizersCacheDir", "endpoint", NULL};
  const char *p = "tokenizersPoolConfig";
  kvidx_config *c = L->c;
  json_t *local, *hf;
  int rc;
  if ((rc = check_keys(L, o, p, keys)) ||
      (rc = get_u32(L, o, p, "workersCount", 1, 1024, &c->workers_count)) ||
      (rc = get_double(L, o, p, "minPrefixOverlapRatio", 0.0, 1.0,
                       &c->min_prefix_overlap)) ||
      (rc = get_u32(L, o, p, "maxLoadedTokenizers", 1, 4096,
                    &c->max_loaded_tokenizers)) ||
      (rc = get_obj(L, o, p, "local", &local)) ||
      (rc = get_obj(L, o, p, "hf", &hf)))
    return rc;
  if (local != NULL) {
    const char *lp = "tokenizersPoolConfig.local";
    char *fname = NULL;
    json_t *map;
    if ((rc = check_keys(L, local, lp, local_keys)) ||
        (rc = get_str(L, local, lp, "autoDiscoveryDir", 1,
                      &c->auto_discovery_dir)) ||
        (rc = get_str(L, local, lp, "autoDiscoveryTokenizerFileName", 0,
                      &fname)) ||
        (rc = get_obj(L, local, lp, "modelTokenizerMap", &map)))
      return rc;
    int bad = fname != NULL && strcmp(fname, "tokenizer.json") != 0;
    free(fname);
    if (bad)
      return failf(L,
                   "%s.autoDiscoveryTokenizerFileName: only "
                   "\"tokenizer.json\" is supported",
                   lp);
    if (map != NULL && (rc = load_model_map(L, map,
                                            "tokenizersPoolConfig.local."
                                            "modelTokenizerMap")))
      return rc;
  }
  if (hf != NULL) {
    const char *hp = "tokenizersPoolConfig.hf";
    if ((rc = check_keys(L, hf, hp, hf_keys)) ||
        (rc = get_bool(L, hf, hp, "enabled", &c->hf_enabled)) ||
        (rc = get_str(L, hf, hp, "huggingFaceToken", 1, &c->hf_token)) ||
        (rc = get_str(L, hf, hp, "tokenizersCacheDir", 1, &c->hf_cache_dir)) ||
        (rc = get_str(L, hf, hp, "endpoint", 1, &c->hf_endpoint)))
      return rc;
  }
  return 0;
}

static int load_backends(loader *L, json_t *arr) {
  static const char *const keys[] = {"name", "weight", NULL};
  if (!json_is_array(arr))
    return failf(L, "kvCacheBackendConfigs: expected an array");
  size_t i;
  json_t *e;
  json_array_foreach(arr, i, e) {
    char path[64];
    snprintf(path, sizeof path, "kvCacheBackendConfigs[%zu]", i);
    if (!json_is_object(e))
      return failf(L, "%s: expected an object {name, weight}", path);
    char *name = NULL;
    double weight = 1.0;
    int rc;
    if ((rc = check_keys(L, e, path, keys)) ||
        (rc = get_str(L, e, path, "name", 0, &name)) ||
        (rc = get_double(L, e, path, "weight", 0.0, 1e6, &weight))) {
      free(name);
      return rc;
    }
    int tier = -1;
    for (int t = 0; name != NULL && t < KVIDX_TIER_COUNT; t++) {
      if (strcasecmp(name, tier_names[t]) == 0)
        tier = t;
    }
    free(name);
    if (tier < 0)
      return failf(L, "%s.name: expected gpu, cpu, fs, obj or storage", path);
    L->c->weights.weight[tier] = weight;
  }
  return 0;
}

static int load_connect(loader *L, json_t *arr, const char *p) {
  static const char *const keys[] = {"endpoint", "pod", "model",
                                     "replayEndpoint", NULL};
  if (!json_is_array(arr))
    return failf(L, "%s: expected an array", p);
  free_connect(L->c);
  size_t i;
  json_t *e;
  json_array_foreach(arr, i, e) {
    char path[96];
    snprintf(path, sizeof path, "%s[%zu]", p, i);
    if (json_is_string(e)) {
      if (add_connect(L->c, json_string_value(e), NULL, NULL, NULL))
        return failf(L, "%s: too many endpoints", path);
      continue;
    }
    if (!json_is_object(e))
      return failf(L, "%s: expected a string or an object", path);
    char *ep = NULL, *pod = NULL, *model = NULL, *replay = NULL;
    int rc;
    if (!(rc = check_keys(L, e, path, keys)) &&
        !(rc = get_str(L, e, path, "endpoint", 0, &ep)) &&
        !(rc = get_str(L, e, path, "pod", 1, &pod)) &&
        !(rc = get_str(L, e, path, "model", 1, &model)) &&
        !(rc = get_str(L, e, path, "replayEndpoint", 1, &replay))) {
      if (ep == NULL)
        rc = failf(L, "%s.endpoint: required", path);
      else if (add_connect(L->c, ep, pod, model, replay))
        rc = failf(L, "%s: too many endpoints", path);
    }
    free(ep);
    free(pod);
    free(model);
    free(replay);
    if (rc)
      return rc;
  }
  return 0;
}

static int load_events(loader *L, json_t *o) {
  static const char *const keys[] = {"zmqEndpoint",
                                     "topicFilter",
                                     "concurrency",
                                     "enabled",
                                     "connect",
                                     "replayEndpointTemplate",
                                     "replayTimeoutMs",
                                     "queueCapacity",
                                     "queuePolicy",
                                     "rcvhwm",
                                     "maxMessageBytes",
                                     "engineHashesMatch",
                                     NULL};
  const char *p = "kvEventsConfig";
  kvidx_config *c = L->c;
  char *policy = NULL;
  uint64_t max_msg = (uint64_t)c->max_message_bytes;
  int rc;
  if ((rc = check_keys(L, o, p, keys)) ||
      (rc = get_str(L, o, p, "zmqEndpoint", 1, &c->zmq_endpoint)) ||
      (rc = get_str(L, o, p, "topicFilter", 0, &c->topic_filter)) ||
      (rc = get_u32(L, o, p, "concurrency", 1, 256, &c->concurrency)) ||
      (rc = get_bool(L, o, p, "enabled", &c->events_enabled)) ||
      (rc = get_str(L, o, p, "replayEndpointTemplate", 1,
                    &c->replay_template)) ||
      (rc = get_int(L, o, p, "replayTimeoutMs", 1, 600000,
                    &c->replay_timeout_ms)) ||
      (rc = get_u64(L, o, p, "queueCapacity", 1, 1u << 24,
                    &c->queue_capacity)) ||
      (rc = get_int(L, o, p, "rcvhwm", 0, 1 << 30, &c->rcvhwm)) ||
      (rc = get_u64(L, o, p, "maxMessageBytes", 1024, 1ull << 32, &max_msg)) ||
      (rc = get_bool(L, o, p, "engineHashesMatch", &c->engine_hashes_match)) ||
      (rc = get_str(L, o, p, "queuePolicy", 0, &policy)))
    return rc;
  c->max_message_bytes = (int64_t)max_msg;
  if (c->zmq_endpoint != NULL && c->zmq_endpoint[0] == '\0')
    set_str(&c->zmq_endpoint, NULL);
  if (policy != NULL) {
    int bad = 0;
    if (strcmp(policy, "block") == 0)
      c->queue_policy = KVIDX_QUEUE_BLOCK;
    else if (strcmp(policy, "drop") == 0)
      c->queue_policy = KVIDX_QUEUE_DROP_RESYNC;
    else
      bad = 1;
    free(policy);
    if (bad)
      return failf(L, "%s.queuePolicy: expected \"block\" or \"drop\"", p);
  }
  json_t *conn = json_object_get(o, "connect");
  if (conn != NULL && !json_is_null(conn))
    return load_connect(L, conn, "kvEventsConfig.connect");
  return 0;
}

static int load_http(loader *L, json_t *o) {
  static const char *const keys[] = {
      "address",        "threads",           "maxBodyBytes",
      "maxTokens",      "maxPods",           "connectionTimeoutSeconds",
      "maxConnections", "shutdownTimeoutMs", NULL};
  const char *p = "httpConfig";
  kvidx_config *c = L->c;
  int rc;
  if ((rc = check_keys(L, o, p, keys)) ||
      (rc = get_str(L, o, p, "address", 0, &c->http_address)) ||
      (rc = get_u32(L, o, p, "threads", 0, 1024, &c->http_threads)) ||
      (rc = get_u64(L, o, p, "maxBodyBytes", 64, 1ull << 32,
                    &c->http_max_body)) ||
      (rc = get_u64(L, o, p, "maxTokens", 1, 1ull << 28, &c->max_tokens)) ||
      (rc = get_u32(L, o, p, "maxPods", 1, 1u << 20, &c->max_pods)) ||
      (rc = get_u32(L, o, p, "connectionTimeoutSeconds", 1, 86400,
                    &c->conn_timeout_s)) ||
      (rc = get_u32(L, o, p, "maxConnections", 1, 1u << 20,
                    &c->max_connections)) ||
      (rc = get_int(L, o, p, "shutdownTimeoutMs", 0, 600000,
                    &c->shutdown_timeout_ms)))
    return rc;
  char host[256];
  int port;
  if (kvidx__parse_host_port(c->http_address, host, sizeof host, &port))
    return failf(L, "%s.address: expected HOST:PORT", p);
  return 0;
}

/* The indexer fields, at top level or inside llm-d's "indexerConfig". */
static int load_indexer_fields(loader *L, json_t *o, const char *wrap) {
  json_t *sub;
  int rc;
  char path[64];
#define KVIDX_SECTION_(name, fn)                                               \
  snprintf(path, sizeof path, "%s%s", wrap, name);                             \
  if ((rc = get_obj(L, o, wrap[0] ? "indexerConfig" : "", name, &sub)))        \
    return rc;                                                                 \
  if (sub != NULL && (rc = fn(L, sub)))                                        \
    return rc;
  KVIDX_SECTION_("tokenProcessorConfig", load_token_processor)
  KVIDX_SECTION_("kvBlockIndexConfig", load_index)
  KVIDX_SECTION_("prefixStoreConfig", load_prefix_store)
  KVIDX_SECTION_("tokenizersPoolConfig", load_tokenizers)
#undef KVIDX_SECTION_
  (void)path;
  json_t *backends = json_object_get(o, "kvCacheBackendConfigs");
  if (backends != NULL && !json_is_null(backends) &&
      (rc = load_backends(L, backends)))
    return rc;
  return 0;
}

static int load_root(loader *L, json_t *root) {
  static const char *const keys[] = {"indexerConfig",
                                     "tokenProcessorConfig",
                                     "kvBlockIndexConfig",
                                     "prefixStoreConfig",
                                     "tokenizersPoolConfig",
                                     "kvCacheBackendConfigs",
                                     "kvEventsConfig",
                                     "httpConfig",
                                     "logLevel",
                                     NULL};
  static const char *const indexer_keys[] = {
      "tokenProcessorConfig", "kvBlockIndexConfig",    "prefixStoreConfig",
      "tokenizersPoolConfig", "kvCacheBackendConfigs", NULL};
  json_t *sub;
  int rc;
  if (!json_is_object(root))
    return failf(L, "configuration: expected a JSON object");
  if ((rc = check_keys(L, root, "", keys)) ||
      (rc = load_indexer_fields(L, root, "")) ||
      (rc = get_obj(L, root, "", "indexerConfig", &sub)))
    return rc;
  if (sub != NULL &&
      ((rc = check_keys(L, sub, "indexerConfig", indexer_keys)) ||
       (rc = load_indexer_fields(L, sub, "indexerConfig."))))
    return rc;
  if ((rc = get_obj(L, root, "", "kvEventsConfig", &sub)) ||
      (sub != NULL && (rc = load_events(L, sub))) ||
      (rc = get_obj(L, root, "", "httpConfig", &sub)) ||
      (sub != NULL && (rc = load_http(L, sub))))
    return rc;
  json_t *lvl = json_object_get(root, "logLevel");
  if (lvl != NULL &&
      (!json_is_string(lvl) ||
       kvidx_log_level_parse(json_string_value(lvl), &L->c->log_level) != 0))
    return failf(L, "logLevel: expected error, warn, info or debug");
  return 0;
}

static int load_json(kvidx_config *c, json_t *root, char *err, size_t err_len) {
  loader L = {c, err, err_len};
  int rc = load_root(&L, root);
  json_decref(root);
  return rc;
}

int kvidx_config_load_string(kvidx_config *c, const char *text, char *err,
                             size_t err_len) {
  json_error_t jerr;
  json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
  if (root == NULL) {
    if (err != NULL && err_len > 0)
      snprintf(err, err_len, "invalid JSON at line %d column %d: %s", jerr.line,
               jerr.column, jerr.text);
    return KVIDX_EPARSE;
  }
  return load_json(c, root, err, err_len);
}

int kvidx_config_load_file(kvidx_config *c, const char *path, char *err,
                           size_t err_len) {
  json_error_t jerr;
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    if (err != NULL && err_len > 0)
      snprintf(err, err_len, "%s: %s", path, strerror(errno));
    return KVIDX_EIO;
  }
  json_t *root = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
  fclose(f);
  if (root == NULL) {
    if (err != NULL && err_len > 0)
      snprintf(err, err_len, "%s: invalid JSON at line %d column %d: %s", path,
               jerr.line, jerr.column, jerr.text);
    return KVIDX_EPARSE;
  }
  return load_json(c, root, err, err_len);
}

/* ------------------------------------------------------------------------ */
/* Overrides: flags and environment                                         */
/* ------------------------------------------------------------------------ */

int kvidx__parse_host_port(const char *addr, char *host, size_t host_len,
                           int *port) {
  if (addr == NULL || host_len == 0)
    return KVIDX_ECONFIG;
  const char *colon = strrchr(addr, ':');
  const char *port_s = colon ? colon + 1 : addr;
  size_t hl = colon ? (size_t)(colon - addr) : 0;
  if (hl >= 2 && addr[0] == '[' && addr[hl - 1] == ']') {
    addr++;
    hl -= 2;
  }
  if (hl >= host_len)
    return KVIDX_ECONFIG;
  char *end;
  errno = 0;
  long p = strtol(port_s, &end, 10);
  if (*port_s == '\0' || *end != '\0' || errno || p < 0 || p > 65535)
    return KVIDX_ECONFIG;
  memcpy(host, addr, hl);
  host[hl] = '\0';
  *port = (int)p;
  return 0;
}

static int parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (*s == '\0' || *s == '-' || *end != '\0' || errno || v < lo || v > hi)
    return KVIDX_ECONFIG;
  *out = (uint32_t)v;
  return 0;
}

/* "ENDPOINT[,pod=ID][,model=NAME][,replay=ENDPOINT]" */
static int set_connect(kvidx_config *c, const char *value, char *err,
                       size_t err_len) {
  char buf[1024];
  if (strlen(value) >= sizeof buf || value[0] == '\0' || value[0] == ',') {
    snprintf(err, err_len,
             "expected ENDPOINT[,pod=ID][,model=NAME]"
             "[,replay=ENDPOINT]");
    return KVIDX_ECONFIG;
  }
  strcpy(buf, value);
  char *save = NULL;
  char *ep = strtok_r(buf, ",", &save);
  const char *pod = NULL, *model = NULL, *replay = NULL;
  for (char *kv = strtok_r(NULL, ",", &save); kv != NULL;
       kv = strtok_r(NULL, ",", &save)) {
    if (strncmp(kv, "pod=", 4) == 0)
      pod = kv + 4;
    else if (strncmp(kv, "model=", 6) == 0)
      model = kv + 6;
    else if (strncmp(kv, "replay=", 7) == 0)
      replay = kv + 7;
    else {
      snprintf(err, err_len, "unknown attribute '%s' (pod=, model=, replay=)",
               kv);
      return KVIDX_ECONFIG;
    }
  }
  int rc = add_connect(c, ep, pod, model, replay);
  if (rc == KVIDX_ELIMIT) {
    snprintf(err, err_len, "more than %d endpoints", KVIDX_CONFIG_MAX_CONNECT);
    return KVIDX_ECONFIG;
  }
  return rc;
}

static int bad_value(char *err, size_t err_len, const char *what) {
  snprintf(err, err_len, "%s", what);
  return KVIDX_ECONFIG;
}

int kvidx_config_set(kvidx_config *c, const char *name, const char *value,
                     char *err, size_t err_len) {
  char scratch[8];
  if (err == NULL || err_len == 0) {
    err = scratch;
    err_len = sizeof scratch;
  }
  if (value == NULL)
    return bad_value(err, err_len, "missing value");
  if (strcmp(name, "http") == 0) {
    char host[256];
    int port;
    if (kvidx__parse_host_port(value, host, sizeof host, &port))
      return bad_value(err, err_len, "expected HOST:PORT");
    return set_str(&c->http_address, value);
  }
  if (strcmp(name, "zmq-bind") == 0) {
    int none = value[0] == '\0' || strcmp(value, "none") == 0;
    return set_str(&c->zmq_endpoint, none ? NULL : value);
  }
  if (strcmp(name, "zmq-connect") == 0)
    return set_connect(c, value, err, err_len);
  if (strcmp(name, "block-size") == 0) {
    if (parse_u32(value, 1, 1u << 16, &c->block_size))
      return bad_value(err, err_len, "expected an integer in [1, 65536]");
    return 0;
  }
  if (strcmp(name, "hash-algo") == 0) {
    if (parse_algo(value, &c->hash_algo))
      return bad_value(err, err_len,
                       "expected sha256, sha256_cbor, xxhash or xxhash_cbor");
    return 0;
  }
  if (strcmp(name, "hash-seed") == 0)
    return set_str(&c->hash_seed, value);
  if (strcmp(name, "tokenizer-dir") == 0)
    return set_str(&c->auto_discovery_dir, value[0] ? value : NULL);
  if (strcmp(name, "model-tokenizer") == 0) {
    const char *eq = strchr(value, '=');
    if (eq == NULL || eq == value || eq[1] == '\0')
      return bad_value(err, err_len, "expected MODEL=PATH");
    char model[512];
    if ((size_t)(eq - value) >= sizeof model)
      return bad_value(err, err_len, "model name too long");
    memcpy(model, value, (size_t)(eq - value));
    model[eq - value] = '\0';
    int rc = add_model(c, model, eq + 1);
    return rc == KVIDX_ELIMIT ? bad_value(err, err_len, "too many models") : rc;
  }
  if (strcmp(name, "redis") == 0)
    return set_str(&c->redis_address, value[0] ? value : NULL);
  if (strcmp(name, "log-level") == 0) {
    if (kvidx_log_level_parse(value, &c->log_level))
      return bad_value(err, err_len, "expected error, warn, info or debug");
    return 0;
  }
  snprintf(err, err_len, "unknown setting '%s'", name);
  return KVIDX_ENOTFOUND;
}

int kvidx_config_apply_env(kvidx_config *c, char *err, size_t err_len) {
  static const struct {
    const char *env, *name;
  } vars[] = {{"KVIDX_HTTP", "http"},
              {"KVIDX_ZMQ_BIND", "zmq-bind"},
              {"KVIDX_BLOCK_SIZE", "block-size"},
              {"KVIDX_HASH_ALGO", "hash-algo"},
              {"KVIDX_HASH_SEED", "hash-seed"},
              {"LOCAL_TOKENIZER_DIR", "tokenizer-dir"},
              {"KVIDX_TOKENIZER_DIR", "tokenizer-dir"},
              {"KVIDX_REDIS", "redis"},
              {"KVIDX_LOG_LEVEL", "log-level"}};
  char msg[256];
  for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
    const char *v = getenv(vars[i].env);
    if (v == NULL)
      continue;
    int rc = kvidx_config_set(c, vars[i].name, v, msg, sizeof msg);
    if (rc) {
      if (err != NULL && err_len > 0)
        snprintf(err, err_len, "%s: %s", vars[i].env, msg);
      return rc;
    }
  }
  const char *conn = getenv("KVIDX_ZMQ_CONNECT");
  if (conn != NULL) {
    char *copy = strdup(conn), *save = NULL;
    if (copy == NULL)
      return KVIDX_ENOMEM;
    int rc = 0;
    for (char *tok = strtok_r(copy, " \t\n", &save); tok != NULL && rc == 0;
         tok = strtok_r(NULL, " \t\n", &save))
      rc = kvidx_config_set(c, "zmq-connect", tok, msg, sizeof msg);
    free(copy);
    if (rc) {
      if (err != NULL && err_len > 0)
        snprintf(err, err_len, "KVIDX_ZMQ_CONNECT: %s", msg);
      return rc;
    }
  }
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Effective configuration                                                  */
/* ------------------------------------------------------------------------ */

static json_t *str_or_null(const char *s) {
  return s ? json_string(s) : json_null();
}

static json_t *index_json(const kvidx_config *c) {
  json_t *o = json_object();
  json_object_set_new(o, "inMemoryConfig",
                      json_pack("{s:I, s:I, s:I}", "size",
                                (json_int_t)c->mem_size, "podCacheSize",
                                (json_int_t)c->mem_pod_cache_size, "maxBytes",
                                (json_int_t)c->mem_max_bytes));
  json_object_set_new(
      o, "redisConfig",
      c->redis_address
          ? json_pack("{s:s, s:i, s:i, s:i}", "address", c->redis_address,
                      "connectTimeoutMs", c->redis_connect_timeout_ms,
                      "commandTimeoutMs", c->redis_command_timeout_ms,
                      "keyTtlSeconds", c->redis_key_ttl_s)
          : json_null());
  json_object_set_new(o, "enableMetrics", json_boolean(c->enable_metrics));
  return o;
}

static json_t *tokenizers_json(const kvidx_config *c) {
  json_t *map = json_object();
  for (size_t i = 0; i < c->n_models; i++)
    json_object_set_new(map, c->model_names[i], json_string(c->model_paths[i]));
  json_t *local = json_object();
  json_object_set_new(local, "autoDiscoveryDir",
                      str_or_null(c->auto_discovery_dir));
  json_object_set_new(local, "modelTokenizerMap", map);
  json_t *hf = json_object();
  json_object_set_new(hf, "enabled", json_boolean(c->hf_enabled));
  /* The token is a secret: say whether it is set, never print it. */
  json_object_set_new(hf, "huggingFaceToken",
                      c->hf_token ? json_string("(set)") : json_null());
  json_object_set_new(hf, "tokenizersCacheDir", str_or_null(c->hf_cache_dir));
  json_object_set_new(hf, "endpoint", str_or_null(c->hf_endpoint));
  json_t *o = json_object();
  json_object_set_new(o, "workersCount", json_integer(c->workers_count));
  json_object_set_new(o, "minPrefixOverlapRatio",
                      json_real(c->min_prefix_overlap));
  json_object_set_new(o, "maxLoadedTokenizers",
                      json_integer(c->max_loaded_tokenizers));
  json_object_set_new(o, "local", local);
  json_object_set_new(o, "hf", hf);
  return o;
}

static json_t *events_json(const kvidx_config *c) {
  json_t *conn = json_array();
  for (size_t i = 0; i < c->n_connect; i++) {
    const kvidx_pod_endpoint *e = &c->connect[i];
    json_t *x = json_object();
    json_object_set_new(x, "endpoint", json_string(e->endpoint));
    json_object_set_new(x, "pod", str_or_null(e->pod));
    json_object_set_new(x, "model", str_or_null(e->model));
    json_object_set_new(x, "replayEndpoint", str_or_null(e->replay_endpoint));
    json_array_append_new(conn, x);
  }
  json_t *o = json_object();
  json_object_set_new(o, "enabled", json_boolean(c->events_enabled));
  json_object_set_new(o, "zmqEndpoint", str_or_null(c->zmq_endpoint));
  json_object_set_new(o, "topicFilter", json_string(c->topic_filter));
  json_object_set_new(o, "concurrency", json_integer(c->concurrency));
  json_object_set_new(o, "connect", conn);
  json_object_set_new(o, "replayEndpointTemplate",
                      str_or_null(c->replay_template));
  json_object_set_new(o, "replayTimeoutMs", json_integer(c->replay_timeout_ms));
  json_object_set_new(o, "queueCapacity",
                      json_integer((json_int_t)c->queue_capacity));
  json_object_set_new(
      o, "queuePolicy",
      json_string(c->queue_policy == KVIDX_QUEUE_BLOCK ? "block" : "drop"));
  json_object_set_new(o, "rcvhwm", json_integer(c->rcvhwm));
  json_object_set_new(o, "maxMessageBytes",
                      json_integer((json_int_t)c->max_message_bytes));
  json_object_set_new(o, "engineHashesMatch",
                      json_boolean(c->engine_hashes_match));
  return o;
}

static json_t *http_json(const kvidx_config *c) {
  json_t *o = json_object();
  json_object_set_new(o, "address", json_string(c->http_address));
  json_object_set_new(o, "threads", json_integer(c->http_threads));
  json_object_set_new(o, "maxBodyBytes",
                      json_integer((json_int_t)c->http_max_body));
  json_object_set_new(o, "maxTokens", json_integer((json_int_t)c->max_tokens));
  json_object_set_new(o, "maxPods", json_integer(c->max_pods));
  json_object_set_new(o, "connectionTimeoutSeconds",
                      json_integer(c->conn_timeout_s));
  json_object_set_new(o, "maxConnections", json_integer(c->max_connections));
  json_object_set_new(o, "shutdownTimeoutMs",
                      json_integer(c->shutdown_timeout_ms));
  return o;
}

char *kvidx_config_to_json(const kvidx_config *c) {
  static const char *const level_names[] = {"error", "warn", "info", "debug"};
  json_t *root = json_object();
  if (root == NULL)
    return NULL;
  json_object_set_new(root, "tokenProcessorConfig",
                      json_pack("{s:I, s:o, s:s, s:I}", "blockSize",
                                (json_int_t)c->block_size, "hashSeed",
                                str_or_null(c->hash_seed), "hashAlgo",
                                algo_name(c->hash_algo), "keyCacheSize",
                                (json_int_t)c->key_cache_size));
  json_object_set_new(root, "kvBlockIndexConfig", index_json(c));
  json_object_set_new(root, "prefixStoreConfig",
                      json_pack("{s:b, s:I, s:I}", "enabled",
                                c->prefix_store_enabled, "cacheSize",
                                (json_int_t)c->ps_cache_size, "blockSize",
                                (json_int_t)c->ps_block_size));
  json_object_set_new(root, "tokenizersPoolConfig", tokenizers_json(c));
  json_t *backends = json_array();
  for (int t = 0; t < KVIDX_TIER_COUNT; t++) {
    if (c->weights.weight[t] > 0)
      json_array_append_new(backends,
                            json_pack("{s:s, s:f}", "name", tier_names[t],
                                      "weight", c->weights.weight[t]));
  }
  json_object_set_new(root, "kvCacheBackendConfigs", backends);
  json_object_set_new(root, "kvEventsConfig", events_json(c));
  json_object_set_new(root, "httpConfig", http_json(c));
  json_object_set_new(root, "logLevel",
                      json_string(level_names[c->log_level & 3]));
  char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  json_decref(root);
  return s;
}

kvidx_log_level kvidx_config_log_level(const kvidx_config *c) {
  return c->log_level;
}

void kvidx_config_log(const kvidx_config *c) {
  char *text = kvidx_config_to_json(c);
  json_t *root = text ? json_loads(text, 0, NULL) : NULL;
  free(text);
  if (root == NULL)
    return;
  const char *key;
  json_t *val;
  json_object_foreach(root, key, val) {
    char *v =
        json_dumps(val, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    if (v != NULL)
      kvidx_log_info("config", "effective section=%s value=%s", key, v);
    free(v);
  }
  json_decref(root);
}

/*
 * config.h: the in-memory form of kvidxd's configuration (kvidx_config).
 * Strings are owned (malloc'd) by the config. The HTTP server reads its
 * limits straight from here; the indexer gets kvidx_indexer_opts through
 * kvidx_config_indexer_opts().
 */
#ifndef KVIDX_SERVER_CONFIG_H
#define KVIDX_SERVER_CONFIG_H

#include "kvidx.h"
#include "kvidx/server.h"

/* Growth bounds of the list-valued settings, so a config cannot make kvidxd
 * allocate without limit. */
#define KVIDX_CONFIG_MAX_CONNECT 4096
#define KVIDX_CONFIG_MAX_MODELS 1024

struct kvidx_config {
  /* tokenProcessorConfig */
  uint32_t block_size;
  char *hash_seed; /* NULL = unset (vLLM's "vllm-none-hash") */
  kvidx_hash_algo hash_algo;
  uint64_t key_cache_size; /* keyCacheSize (kvidx): slots, 0 = off */
  /* kvBlockIndexConfig */
  uint64_t mem_size;           /* inMemoryConfig.size (keys) */
  uint32_t mem_pod_cache_size; /* inMemoryConfig.podCacheSize */
  uint64_t mem_max_bytes;      /* inMemoryConfig.maxBytes (kvidx) */
  char *redis_address;         /* redisConfig.address; NULL = memory */
  int redis_connect_timeout_ms, redis_command_timeout_ms, redis_key_ttl_s;
  int enable_metrics;
  /* prefixStoreConfig */
  int prefix_store_enabled;
  uint64_t ps_cache_size;
  uint32_t ps_block_size;
  /* tokenizersPoolConfig */
  uint32_t workers_count;
  double min_prefix_overlap;
  char *auto_discovery_dir;
  char **model_names, **model_paths;
  size_t n_models;
  int hf_enabled;
  char *hf_token, *hf_cache_dir, *hf_endpoint;
  uint32_t max_loaded_tokenizers;
  /* kvCacheBackendConfigs */
  kvidx_tier_weights weights;
  /* kvEventsConfig */
  int events_enabled;
  char *zmq_endpoint; /* bind; NULL = none */
  char *topic_filter;
  uint32_t concurrency;
  kvidx_pod_endpoint *connect; /* strings owned (strdup) */
  size_t n_connect;
  char *replay_template;
  int replay_timeout_ms;
  uint64_t queue_capacity;
  int queue_policy; /* kvidx_queue_policy */
  int rcvhwm;
  int64_t max_message_bytes;
  int engine_hashes_match;
  /* httpConfig */
  char *http_address;    /* host:port */
  uint32_t http_threads; /* 0 = number of CPUs */
  uint64_t http_max_body;
  uint64_t max_tokens;
  uint32_t max_pods;
  uint32_t conn_timeout_s;
  uint32_t max_connections;
  int shutdown_timeout_ms;
  /* logLevel */
  kvidx_log_level log_level;
};

/* Splits "host:port" (or "[v6]:port", ":port", "port") into a host (empty
 * = all interfaces) and a port. KVIDX_ECONFIG on a malformed address. */
int kvidx__parse_host_port(const char *addr, char *host, size_t host_len,
                           int *port);

#endif

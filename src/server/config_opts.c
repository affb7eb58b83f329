/*
 * config_opts.c: the indexer options a kvidx_config describes. Kept apart
 * from config.c so that the configuration parser links without the indexer
 * (its unit tests need nothing else).
 */
#include "server/config.h"

void kvidx_config_indexer_opts(const kvidx_config *c, kvidx_indexer_opts *o) {
  kvidx_indexer_opts_init(o);
  o->hasher.algo = c->hash_algo;
  o->hasher.seed = c->hash_seed;
  o->hasher.block_size = c->block_size;
  o->memory.max_keys = (size_t)c->mem_size;
  o->memory.max_bytes = (size_t)c->mem_max_bytes;
  o->memory.max_pods_per_key = c->mem_pod_cache_size;
  o->redis.url = c->redis_address;
  o->redis.connect_timeout_ms = c->redis_connect_timeout_ms;
  o->redis.command_timeout_ms = c->redis_command_timeout_ms;
  o->redis.key_ttl_s = c->redis_key_ttl_s;
  o->weights = c->weights;
  o->tokenizers.auto_discovery_dir = c->auto_discovery_dir;
  o->tokenizers.hf_endpoint = c->hf_enabled ? c->hf_endpoint : NULL;
  o->tokenizers.hf_token = c->hf_token;
  if (c->hf_cache_dir != NULL)
    o->tokenizers.hf_cache_dir = c->hf_cache_dir;
  o->tokenizers.max_loaded = c->max_loaded_tokenizers;
  o->model_names = (const char *const *)c->model_names;
  o->model_tokenizer_paths = (const char *const *)c->model_paths;
  o->n_model_tokenizers = c->n_models;
  o->use_prefix_store = c->prefix_store_enabled;
  o->prefix_store.block_chars = c->ps_block_size;
  o->prefix_store.max_blocks = (size_t)c->ps_cache_size;
  o->min_prefix_overlap = c->min_prefix_overlap;
  o->use_events = c->events_enabled;
  o->ingestor.bind_endpoint = c->zmq_endpoint;
  o->ingestor.topic_filter = c->topic_filter;
  o->ingestor.n_workers = c->concurrency;
  o->ingestor.queue_capacity = (size_t)c->queue_capacity;
  o->ingestor.queue_policy = (kvidx_queue_policy)c->queue_policy;
  o->ingestor.rcvhwm = c->rcvhwm;
  o->ingestor.max_msg_size = c->max_message_bytes;
  o->ingestor.replay_template = c->replay_template;
  o->ingestor.replay_timeout_ms = c->replay_timeout_ms;
  o->connect_pods = c->connect;
  o->n_connect_pods = c->n_connect;
  o->engine_hashes_match = c->engine_hashes_match;
  o->max_tokens = (size_t)c->max_tokens;
  o->key_cache_slots = (size_t)c->key_cache_size;
}

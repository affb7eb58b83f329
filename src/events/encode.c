/*
 * encode.c: kvidx_batch_writer, an encoder of vLLM EventBatch payloads in each
 * layout vLLM has used. It exists for publishers (`kvidx publish`), tests and
 * benches; the indexer itself never encodes. It is built on msgpack-c's packer
 * (a second, independent msgpack implementation next to the decoder's own
 * cursor, so the two check each other in the tests).
 *
 * Events are packed into one buffer while they are added; finish() writes the
 * batch header (whose array length must be known first) into a second buffer
 * and appends the events.
 */
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "kvidx.h"

struct kvidx_batch_writer {
  kvidx_event_layout layout;
  unsigned hash_bytes;
  double ts;
  int64_t dp_rank;
  size_t n_events;
  msgpack_sbuffer events;
  msgpack_packer ep;
  msgpack_sbuffer out;
  msgpack_packer op;
};

int kvidx_event_layout_parse(const char *name, kvidx_event_layout *out) {
  static const char *const names[] = {"array-v0", "array", "map", "map-batch"};
  if (name == NULL || out == NULL)
    return KVIDX_EINVAL;
  for (int i = 0; i < 4; i++) {
    if (strcmp(name, names[i]) == 0) {
      *out = (kvidx_event_layout)i;
      return 0;
    }
  }
  return KVIDX_EINVAL;
}

int kvidx_batch_writer_new(kvidx_event_layout layout, unsigned hash_bytes,
                           kvidx_batch_writer **out) {
  if (out == NULL || (unsigned)layout > KVIDX_LAYOUT_MAP_BATCH ||
      (hash_bytes != 0 && (hash_bytes < 8 || hash_bytes > 32)))
    return KVIDX_EINVAL;
  kvidx_batch_writer *w = calloc(1, sizeof *w);
  if (w == NULL)
    return KVIDX_ENOMEM;
  w->layout = layout;
  w->hash_bytes = hash_bytes;
  msgpack_sbuffer_init(&w->events);
  msgpack_packer_init(&w->ep, &w->events, msgpack_sbuffer_write);
  msgpack_sbuffer_init(&w->out);
  msgpack_packer_init(&w->op, &w->out, msgpack_sbuffer_write);
  *out = w;
  return 0;
}

void kvidx_batch_writer_free(kvidx_batch_writer *w) {
  if (w == NULL)
    return;
  msgpack_sbuffer_destroy(&w->events);
  msgpack_sbuffer_destroy(&w->out);
  free(w);
}

void kvidx_batch_writer_begin(kvidx_batch_writer *w, double ts,
                              int64_t dp_rank) {
  msgpack_sbuffer_clear(&w->events);
  msgpack_sbuffer_clear(&w->out);
  w->ts = ts;
  w->dp_rank = dp_rank;
  w->n_events = 0;
}

static void pack_cstr(msgpack_packer *pk, const char *s, size_t n) {
  msgpack_pack_str(pk, n);
  msgpack_pack_str_body(pk, s, n);
}

static void pack_lit(msgpack_packer *pk, const char *s) {
  pack_cstr(pk, s, strlen(s));
}

static void pack_hash(const kvidx_batch_writer *w, msgpack_packer *pk,
                      uint64_t h) {
  if (w->hash_bytes == 0) {
    msgpack_pack_uint64(pk, h);
    return;
  }
  uint8_t b[32];
  for (unsigned i = 0; i < w->hash_bytes - 8; i++)
    b[i] = (uint8_t)(0xa5 ^ i); /* filler: decoders read the last 8 bytes */
  for (unsigned i = 0; i < 8; i++)
    b[w->hash_bytes - 8 + i] = (uint8_t)(h >> (56 - 8 * i));
  msgpack_pack_bin(pk, w->hash_bytes);
  msgpack_pack_bin_body(pk, b, w->hash_bytes);
}

static void pack_hashes(const kvidx_batch_writer *w, msgpack_packer *pk,
                        const kvidx_event *ev) {
  msgpack_pack_array(pk, ev->n_block_hashes);
  for (size_t i = 0; i < ev->n_block_hashes; i++)
    pack_hash(w, pk, ev->block_hashes[i]);
}

static void pack_medium(msgpack_packer *pk, const kvidx_event *ev,
                        int nil_for_gpu) {
  static const char *const names[KVIDX_TIER_COUNT] = {"GPU", "CPU", "FS", "OBJ",
                                                      "STORAGE"};
  if ((nil_for_gpu && ev->tier == KVIDX_TIER_GPU) ||
      ev->tier >= KVIDX_TIER_COUNT)
    msgpack_pack_nil(pk);
  else
    pack_lit(pk, names[ev->tier]);
}

static void pack_opt_str(msgpack_packer *pk, const char *s, size_t n) {
  if (s == NULL)
    msgpack_pack_nil(pk);
  else
    pack_cstr(pk, s, n);
}

static void pack_tokens(msgpack_packer *pk, const kvidx_event *ev) {
  msgpack_pack_array(pk, ev->n_token_ids);
  for (size_t i = 0; i < ev->n_token_ids; i++)
    msgpack_pack_uint32(pk, ev->token_ids[i]);
}

static void pack_extra_keys(msgpack_packer *pk, const kvidx_event *ev) {
  if (ev->extra_keys != NULL)
    msgpack_pack_str_body(pk, ev->extra_keys, ev->extra_keys_len); /* raw */
  else
    msgpack_pack_nil(pk);
}

static void pack_group(msgpack_packer *pk, const kvidx_event *ev) {
  if (ev->group_idx < 0)
    msgpack_pack_nil(pk);
  else
    msgpack_pack_int32(pk, ev->group_idx);
}

/* Positional (array_like) event, in the V0 or the latest array layout. */
static void pack_event_array(kvidx_batch_writer *w, const kvidx_event *ev) {
  msgpack_packer *pk = &w->ep;
  int v0 = w->layout == KVIDX_LAYOUT_ARRAY_V0;
  if (ev->type == KVIDX_EVENT_BLOCK_STORED) {
    msgpack_pack_array(pk, v0 ? 6 : 12);
    pack_lit(pk, "BlockStored");
    pack_hashes(w, pk, ev);
    if (ev->has_parent)
      pack_hash(w, pk, ev->parent_block_hash);
    else
      msgpack_pack_nil(pk);
    pack_tokens(pk, ev);
    msgpack_pack_uint32(pk, ev->block_size);
    if (ev->has_lora_id)
      msgpack_pack_int64(pk, ev->lora_id);
    else
      msgpack_pack_nil(pk);
    if (v0)
      return;
    pack_medium(pk, ev, 0);
    pack_opt_str(pk, ev->lora_name, ev->lora_name_len);
    pack_extra_keys(pk, ev);
    pack_group(pk, ev);
    pack_opt_str(pk, ev->spec_kind, ev->spec_kind_len);
    msgpack_pack_nil(pk); /* kv_cache_spec_sliding_window */
  } else if (ev->type == KVIDX_EVENT_BLOCK_REMOVED) {
    msgpack_pack_array(pk, v0 ? 2 : 4);
    pack_lit(pk, "BlockRemoved");
    pack_hashes(w, pk, ev);
    if (v0)
      return;
    pack_medium(pk, ev, 0);
    pack_group(pk, ev);
  } else {
    msgpack_pack_array(pk, 1);
    pack_lit(pk, "AllBlocksCleared");
  }
}

/* Map event: required fields always, optional ones only when set. */
static void pack_event_map(kvidx_batch_writer *w, const kvidx_event *ev) {
  msgpack_packer *pk = &w->ep;
  if (ev->type == KVIDX_EVENT_ALL_BLOCKS_CLEARED) {
    msgpack_pack_map(pk, 1);
    pack_lit(pk, "type");
    pack_lit(pk, "AllBlocksCleared");
    return;
  }
  int stored = ev->type == KVIDX_EVENT_BLOCK_STORED;
  size_t n = 3 + (ev->group_idx >= 0);
  if (stored)
    n += 5 + (ev->extra_keys != NULL) + (ev->spec_kind != NULL);
  msgpack_pack_map(pk, n);
  pack_lit(pk, "type");
  pack_lit(pk, stored ? "BlockStored" : "BlockRemoved");
  pack_lit(pk, "block_hashes");
  pack_hashes(w, pk, ev);
  if (stored) {
    pack_lit(pk, "parent_block_hash");
    if (ev->has_parent)
      pack_hash(w, pk, ev->parent_block_hash);
    else
      msgpack_pack_nil(pk);
    pack_lit(pk, "token_ids");
    pack_tokens(pk, ev);
    pack_lit(pk, "block_size");
    msgpack_pack_uint32(pk, ev->block_size);
    pack_lit(pk, "lora_id");
    if (ev->has_lora_id)
      msgpack_pack_int64(pk, ev->lora_id);
    else
      msgpack_pack_nil(pk);
  }
  pack_lit(pk, "medium");
  pack_medium(pk, ev, 0);
  if (stored) {
    pack_lit(pk, "lora_name");
    pack_opt_str(pk, ev->lora_name, ev->lora_name_len);
    if (ev->extra_keys != NULL) {
      pack_lit(pk, "extra_keys");
      pack_extra_keys(pk, ev);
    }
  }
  if (ev->group_idx >= 0) {
    pack_lit(pk, "group_idx");
    pack_group(pk, ev);
  }
  if (stored && ev->spec_kind != NULL) {
    pack_lit(pk, "kv_cache_spec_kind");
    pack_cstr(pk, ev->spec_kind, ev->spec_kind_len);
  }
}

int kvidx_batch_writer_add(kvidx_batch_writer *w, const kvidx_event *ev) {
  if (w == NULL || ev == NULL || ev->type < KVIDX_EVENT_BLOCK_STORED ||
      ev->type > KVIDX_EVENT_ALL_BLOCKS_CLEARED ||
      (ev->n_block_hashes > 0 && ev->block_hashes == NULL) ||
      (ev->n_token_ids > 0 && ev->token_ids == NULL))
    return KVIDX_EINVAL;
  if (w->layout <= KVIDX_LAYOUT_ARRAY)
    pack_event_array(w, ev);
  else
    pack_event_map(w, ev);
  w->n_events++;
  return 0;
}

int kvidx_batch_writer_finish(kvidx_batch_writer *w, const uint8_t **payload,
                              size_t *len) {
  if (w == NULL || payload == NULL || len == NULL)
    return KVIDX_EINVAL;
  msgpack_packer *pk = &w->op;
  msgpack_sbuffer_clear(&w->out);
  int has_dp = w->dp_rank >= 0;
  if (w->layout == KVIDX_LAYOUT_MAP_BATCH) {
    msgpack_pack_map(pk, 2 + (size_t)has_dp);
    pack_lit(pk, "ts");
    msgpack_pack_double(pk, w->ts);
    pack_lit(pk, "events");
  } else {
    msgpack_pack_array(pk, w->layout == KVIDX_LAYOUT_ARRAY_V0 ? 2 : 3);
    msgpack_pack_double(pk, w->ts);
  }
  msgpack_pack_array(pk, w->n_events);
  msgpack_sbuffer_write(&w->out, w->events.data, w->events.size);
  if (w->layout == KVIDX_LAYOUT_MAP_BATCH && has_dp) {
    pack_lit(pk, "data_parallel_rank");
    msgpack_pack_int64(pk, w->dp_rank);
  } else if (w->layout == KVIDX_LAYOUT_ARRAY || w->layout == KVIDX_LAYOUT_MAP) {
    if (has_dp)
      msgpack_pack_int64(pk, w->dp_rank);
    else
      msgpack_pack_nil(pk);
  }
  if (w->out.data == NULL)
    return KVIDX_ENOMEM;
  *payload = (const uint8_t *)w->out.data;
  *len = w->out.size;
  return 0;
}

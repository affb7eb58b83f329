/*
 * decode.c: kvidx_batch_decode(), the pure decoder of one vLLM EventBatch
 * payload (msgpack) into kvidx_event views.
 *
 * vLLM has changed the encoding several times (docs/events.md): batches of 2
 * or 3 elements, events as positional arrays that grew new trailing fields
 * release after release, then events (and, in current sources, the batch) as
 * maps keyed by field name. The decoder accepts all of them and dispatches on
 * the msgpack type it finds, not on a version number. It reads the buffer in
 * place with mp_cursor (no allocation per block); block hashes and token ids
 * are converted into two scratch arrays owned by the decoder, which grow to
 * the largest event seen and are then reused.
 */
#include <stdlib.h>
#include <strings.h>

#include "events/decode_internal.h"
#include "events/mp_cursor.h"
#include "kvidx.h"

struct kvidx_decoder {
  uint64_t *hashes;
  size_t hashes_cap;
  uint32_t *tokens;
  size_t tokens_cap;
};

int kvidx_decoder_new(kvidx_decoder **out) {
  if (out == NULL)
    return KVIDX_EINVAL;
  *out = calloc(1, sizeof **out);
  return *out ? 0 : KVIDX_ENOMEM;
}

void kvidx_decoder_free(kvidx_decoder *d) {
  if (d == NULL)
    return;
  free(d->hashes);
  free(d->tokens);
  free(d);
}

/* Grows a scratch array to at least n elements (geometric growth). */
static int reserve(void **buf, size_t *cap, size_t n, size_t elem) {
  if (n <= *cap)
    return 0;
  size_t want = *cap ? *cap : 64;
  while (want < n)
    want *= 2;
  void *p = realloc(*buf, want * elem);
  if (p == NULL)
    return KVIDX_ENOMEM;
  *buf = p;
  *cap = want;
  return 0;
}

int kvidx__medium_tier(const char *s, size_t len, kvidx_tier *out) {
  static const struct {
    const char *name;
    kvidx_tier tier;
  } names[] = {{"gpu", KVIDX_TIER_GPU},
               {"cpu", KVIDX_TIER_CPU},
               {"fs", KVIDX_TIER_FS},
               {"obj", KVIDX_TIER_OBJ},
               {"storage", KVIDX_TIER_STORAGE}};
  if (s == NULL) {
    *out = KVIDX_TIER_GPU;
    return 0;
  }
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    if (strlen(names[i].name) == len &&
        strncasecmp(s, names[i].name, len) == 0) {
      *out = names[i].tier;
      return 0;
    }
  }
  return KVIDX_ENOTFOUND;
}

/* ---- field readers ------------------------------------------------------ */

/* One block hash: an int of any width, or bytes (last 8 bytes, big-endian). */
static uint64_t read_hash(mp_cursor *c) {
  if (c->err)
    return 0;
  if (c->p < c->end && *c->p == 0xcf && mp_left(c) >= 9) {
    uint64_t v = mp_be(c->p + 1, 8); /* the common case: uint64 */
    c->p += 9;
    return v;
  }
  mp_type t = mp_peek(c);
  if (t == MP_UINT || t == MP_INT) {
    int neg;
    return mp_int_bits(c, &neg, "block hash");
  }
  if (t != MP_BIN) {
    mp_fail(c, t == MP_INVALID && c->p >= c->end ? KVIDX_ETRUNC : KVIDX_EPROTO,
            "block hash is neither int nor bytes");
    return 0;
  }
  size_t len;
  const uint8_t *b = mp_bytes(c, 1, &len, "block hash bytes");
  if (c->err)
    return 0;
  if (len == 0) {
    mp_fail(c, KVIDX_EPROTO, "block hash is empty bytes");
    return 0;
  }
  return len >= 8 ? mp_be(b + len - 8, 8) : mp_be(b, (unsigned)len);
}

static void read_hashes(mp_cursor *c, kvidx_decoder *d, kvidx_event *ev) {
  size_t n = mp_array(c, "block_hashes is not an array");
  if (c->err)
    return;
  if (n > KVIDX_EVENT_MAX_BLOCKS) {
    mp_fail(c, KVIDX_ELIMIT, "too many block hashes in one event");
    return;
  }
  if (reserve((void **)&d->hashes, &d->hashes_cap, n, sizeof(uint64_t)) != 0) {
    mp_fail(c, KVIDX_ENOMEM, "out of memory for block hashes");
    return;
  }
  for (size_t i = 0; i < n && !c->err; i++)
    d->hashes[i] = read_hash(c);
  ev->block_hashes = d->hashes;
  ev->n_block_hashes = n;
}

static void read_parent(mp_cursor *c, kvidx_event *ev) {
  if (mp_nil(c))
    return;
  ev->parent_block_hash = read_hash(c);
  ev->has_parent = 1;
}

/* token_ids: an array of ints in [0, 2^32); nil counts as empty. */
static void read_tokens(mp_cursor *c, kvidx_decoder *d, kvidx_event *ev) {
  if (mp_nil(c))
    return;
  size_t n = mp_array(c, "token_ids is not an array");
  if (c->err)
    return;
  if (n > KVIDX_EVENT_MAX_TOKENS) {
    mp_fail(c, KVIDX_ELIMIT, "too many token ids in one event");
    return;
  }
  if (reserve((void **)&d->tokens, &d->tokens_cap, n, sizeof(uint32_t)) != 0) {
    mp_fail(c, KVIDX_ENOMEM, "out of memory for token ids");
    return;
  }
  for (size_t i = 0; i < n && !c->err; i++) {
    if (c->p < c->end && *c->p <= 0x7f) { /* fast path: positive fixint */
      d->tokens[i] = *c->p++;
    } else {
      d->tokens[i] =
          (uint32_t)mp_uint_max(c, UINT32_MAX, "token id is not a uint32");
    }
  }
  ev->token_ids = d->tokens;
  ev->n_token_ids = n;
}

static void read_opt_str(mp_cursor *c, const char **s, size_t *len,
                         const char *what) {
  if (mp_nil(c))
    return;
  *s = mp_str(c, len, what);
}

static void read_group_idx(mp_cursor *c, kvidx_event *ev) {
  if (mp_nil(c))
    return;
  ev->group_idx = (int32_t)mp_uint_max(c, INT32_MAX, "group_idx is not an int");
}

static void read_extra_keys(mp_cursor *c, kvidx_event *ev) {
  if (mp_nil(c))
    return;
  const uint8_t *start = c->p;
  mp_skip(c, "extra_keys");
  ev->extra_keys = start;
  ev->extra_keys_len = (size_t)(c->p - start);
}

/* ---- events ------------------------------------------------------------- */

typedef struct {
  kvidx_decoder *d;
  kvidx_event_fn cb;
  void *userdata;
  kvidx_batch_info *info;
  int cb_rc; /* non-zero: the callback asked to stop */
  const char *medium;
  size_t medium_len;
} decode_ctx;

static kvidx_event_type tag_type(const char *s, size_t n) {
  if (n == 11 && memcmp(s, "BlockStored", 11) == 0)
    return KVIDX_EVENT_BLOCK_STORED;
  if (n == 12 && memcmp(s, "BlockRemoved", 12) == 0)
    return KVIDX_EVENT_BLOCK_REMOVED;
  if (n == 16 && memcmp(s, "AllBlocksCleared", 16) == 0)
    return KVIDX_EVENT_ALL_BLOCKS_CLEARED;
  return (kvidx_event_type)0;
}

static void event_reset(kvidx_event *ev) {
  memset(ev, 0, sizeof *ev);
  ev->group_idx = -1;
  ev->tier = KVIDX_TIER_GPU;
}

/* Hands a complete event to the callback, or skips it (unknown medium). */
static void deliver(decode_ctx *x, mp_cursor *c, kvidx_event *ev) {
  if (c->err)
    return;
  if (kvidx__medium_tier(x->medium, x->medium_len, &ev->tier) != 0) {
    x->info->n_skipped++;
    return;
  }
  int rc = x->cb ? x->cb(x->userdata, ev) : 0;
  if (rc != 0) { /* stop: a sticky error that is reported as cb_rc */
    x->cb_rc = rc;
    mp_fail(c, KVIDX_ESTATE, "stopped by the callback");
  }
}

static void event_array(decode_ctx *x, mp_cursor *c) {
  kvidx_event ev;
  event_reset(&ev);
  x->medium = NULL;
  x->medium_len = 0;
  size_t n = mp_array(c, "event array");
  if (c->err)
    return;
  if (n == 0) {
    mp_fail(c, KVIDX_EPROTO, "event is an empty array");
    return;
  }
  size_t tag_len;
  const char *tag = mp_str(c, &tag_len, "event tag is not a string");
  if (c->err)
    return;
  size_t used = 1;
  ev.type = tag_type(tag, tag_len);
  if (ev.type == KVIDX_EVENT_BLOCK_STORED) {
    if (n < 6) {
      mp_fail(c, KVIDX_EPROTO, "BlockStored array has fewer than 6 elements");
      return;
    }
    read_hashes(c, x->d, &ev);
    read_parent(c, &ev);
    read_tokens(c, x->d, &ev);
    ev.block_size = (uint32_t)mp_uint_max(c, UINT32_MAX, "block_size");
    if (!mp_nil(c)) {
      ev.lora_id = mp_int64(c, "lora_id is not an int");
      ev.has_lora_id = 1;
    }
    used = 6;
    if (n > 6)
      read_opt_str(c, &x->medium, &x->medium_len, "medium is not a string");
    if (n > 7)
      read_opt_str(c, &ev.lora_name, &ev.lora_name_len,
                   "lora_name is not a string");
    if (n > 8)
      read_extra_keys(c, &ev);
    if (n > 9)
      read_group_idx(c, &ev);
    if (n > 10)
      read_opt_str(c, &ev.spec_kind, &ev.spec_kind_len,
                   "kv_cache_spec_kind is not a string");
    used = n < 11 ? n : 11;
  } else if (ev.type == KVIDX_EVENT_BLOCK_REMOVED) {
    if (n < 2) {
      mp_fail(c, KVIDX_EPROTO, "BlockRemoved array has no block_hashes");
      return;
    }
    read_hashes(c, x->d, &ev);
    if (n > 2)
      read_opt_str(c, &x->medium, &x->medium_len, "medium is not a string");
    if (n > 3)
      read_group_idx(c, &ev);
    used = n < 4 ? n : 4;
  } else if (ev.type == 0) {
    x->info->n_skipped++;
  }
  for (size_t i = used; i < n; i++)
    mp_skip(c, "event field");
  if (ev.type != 0)
    deliver(x, c, &ev);
}

static int key_is(const char *k, size_t n, const char *lit) {
  return strlen(lit) == n && memcmp(k, lit, n) == 0;
}

/* One map-form field; unknown keys are skipped. */
static void event_map_field(decode_ctx *x, mp_cursor *c, kvidx_event *ev,
                            const char *k, size_t kn, int *have_hashes) {
  if (key_is(k, kn, "type")) {
    size_t tl;
    const char *t = mp_str(c, &tl, "event type is not a string");
    if (!c->err)
      ev->type = tag_type(t, tl);
  } else if (key_is(k, kn, "block_hashes")) {
    read_hashes(c, x->d, ev);
    *have_hashes = 1;
  } else if (key_is(k, kn, "parent_block_hash")) {
    read_parent(c, ev);
  } else if (key_is(k, kn, "token_ids")) {
    read_tokens(c, x->d, ev);
  } else if (key_is(k, kn, "block_size")) {
    if (!mp_nil(c))
      ev->block_size = (uint32_t)mp_uint_max(c, UINT32_MAX, "block_size");
  } else if (key_is(k, kn, "lora_id")) {
    if (!mp_nil(c)) {
      ev->lora_id = mp_int64(c, "lora_id is not an int");
      ev->has_lora_id = 1;
    }
  } else if (key_is(k, kn, "medium")) {
    read_opt_str(c, &x->medium, &x->medium_len, "medium is not a string");
  } else if (key_is(k, kn, "lora_name")) {
    read_opt_str(c, &ev->lora_name, &ev->lora_name_len,
                 "lora_name is not a string");
  } else if (key_is(k, kn, "extra_keys")) {
    read_extra_keys(c, ev);
  } else if (key_is(k, kn, "group_idx")) {
    read_group_idx(c, ev);
  } else if (key_is(k, kn, "kv_cache_spec_kind")) {
    read_opt_str(c, &ev->spec_kind, &ev->spec_kind_len,
                 "kv_cache_spec_kind is not a string");
  } else {
    mp_skip(c, "event field");
  }
}

static void event_map(decode_ctx *x, mp_cursor *c) {
  kvidx_event ev;
  event_reset(&ev);
  x->medium = NULL;
  x->medium_len = 0;
  int have_hashes = 0;
  size_t n = mp_map(c, "event map");
  for (size_t i = 0; i < n && !c->err; i++) {
    if (mp_peek(c) != MP_STR) { /* a non-string key cannot be a field */
      mp_skip(c, "event key");
      mp_skip(c, "event value");
      continue;
    }
    size_t kn;
    const char *k = mp_str(c, &kn, "event key");
    event_map_field(x, c, &ev, k, kn, &have_hashes);
  }
  if (c->err)
    return;
  if (ev.type == 0) {
    x->info->n_skipped++;
    return;
  }
  if (ev.type != KVIDX_EVENT_ALL_BLOCKS_CLEARED && !have_hashes) {
    mp_fail(c, KVIDX_EPROTO, "event map has no block_hashes");
    return;
  }
  if (ev.type == KVIDX_EVENT_ALL_BLOCKS_CLEARED)
    ev.n_block_hashes = 0;
  deliver(x, c, &ev);
}

static void read_events(decode_ctx *x, mp_cursor *c) {
  size_t n = mp_array(c, "events is not an array");
  x->info->n_events = n;
  for (size_t i = 0; i < n && !c->err; i++) {
    mp_type t = mp_peek(c);
    if (t == MP_ARRAY)
      event_array(x, c);
    else if (t == MP_MAP)
      event_map(x, c);
    else
      mp_fail(c, c->p >= c->end ? KVIDX_ETRUNC : KVIDX_EPROTO,
              "event is neither an array nor a map");
  }
}

static void read_dp_rank(mp_cursor *c, kvidx_batch_info *info) {
  if (!mp_nil(c))
    info->dp_rank = mp_int64(c, "data_parallel_rank is not an int");
}

/* ---- batch -------------------------------------------------------------- */

static void batch_map(decode_ctx *x, mp_cursor *c) {
  size_t n = mp_map(c, "batch map");
  int have_events = 0;
  for (size_t i = 0; i < n && !c->err; i++) {
    if (mp_peek(c) != MP_STR) {
      mp_skip(c, "batch key");
      mp_skip(c, "batch value");
      continue;
    }
    size_t kn;
    const char *k = mp_str(c, &kn, "batch key");
    if (key_is(k, kn, "ts")) {
      if (!mp_nil(c))
        x->info->ts = mp_double(c, "ts is not a number");
    } else if (key_is(k, kn, "events")) {
      read_events(x, c);
      have_events = 1;
    } else if (key_is(k, kn, "data_parallel_rank")) {
      read_dp_rank(c, x->info);
    } else {
      mp_skip(c, "batch field");
    }
  }
  if (!c->err && !have_events)
    mp_fail(c, KVIDX_EPROTO, "batch map has no events");
}

static void batch_array(decode_ctx *x, mp_cursor *c) {
  size_t n = mp_array(c, "batch array");
  if (c->err)
    return;
  if (n < 2) {
    mp_fail(c, KVIDX_EPROTO, "batch array has fewer than 2 elements");
    return;
  }
  if (!mp_nil(c))
    x->info->ts = mp_double(c, "ts is not a number");
  read_events(x, c);
  if (n > 2)
    read_dp_rank(c, x->info);
  for (size_t i = 3; i < n; i++)
    mp_skip(c, "batch field");
}

int kvidx_batch_decode(kvidx_decoder *d, const uint8_t *payload, size_t len,
                       kvidx_event_fn cb, void *userdata,
                       kvidx_batch_info *info) {
  kvidx_batch_info local;
  if (info == NULL)
    info = &local;
  memset(info, 0, sizeof *info);
  info->dp_rank = -1;
  if (d == NULL || (payload == NULL && len > 0))
    return KVIDX_EINVAL;
  decode_ctx x = {d, cb, userdata, info, 0, NULL, 0};
  mp_cursor c;
  mp_init(&c, payload, len);
  mp_type t = mp_peek(&c);
  if (t == MP_ARRAY)
    batch_array(&x, &c);
  else if (t == MP_MAP)
    batch_map(&x, &c);
  else
    mp_fail(&c, len == 0 ? KVIDX_ETRUNC : KVIDX_EPROTO,
            "batch is neither an array nor a map");
  if (x.cb_rc != 0)
    return x.cb_rc < 0 ? x.cb_rc : 0;
  if (!c.err && c.p != c.end)
    mp_fail(&c, KVIDX_EPROTO, "trailing bytes after the batch");
  if (c.err) {
    info->error = c.what;
    info->error_offset = (size_t)(c.p - payload);
    return c.err;
  }
  return 0;
}

/* ---- peeking ------------------------------------------------------------ */

int kvidx__batch_peek(const uint8_t *payload, size_t len, int64_t *dp_rank) {
  *dp_rank = -1;
  kvidx_batch_info info;
  memset(&info, 0, sizeof info);
  info.dp_rank = -1;
  mp_cursor c;
  mp_init(&c, payload, len);
  mp_type t = mp_peek(&c);
  if (t == MP_ARRAY) {
    size_t n = mp_array(&c, "batch array");
    if (!c.err && n < 2)
      return KVIDX_EPROTO;
    mp_skip(&c, "ts");
    mp_skip(&c, "events");
    if (n > 2)
      read_dp_rank(&c, &info);
  } else if (t == MP_MAP) {
    size_t n = mp_map(&c, "batch map");
    for (size_t i = 0; i < n && !c.err; i++) {
      size_t kn = 0;
      const char *k = mp_peek(&c) == MP_STR ? mp_str(&c, &kn, "key") : NULL;
      if (k == NULL)
        mp_skip(&c, "key");
      if (k != NULL && key_is(k, kn, "data_parallel_rank"))
        read_dp_rank(&c, &info);
      else
        mp_skip(&c, "value");
    }
  } else {
    return KVIDX_EPROTO;
  }
  if (c.err)
    return c.err;
  *dp_rank = info.dp_rank;
  return 0;
}

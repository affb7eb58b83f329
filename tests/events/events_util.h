/*
 * events_util.h: helpers shared by the tests of src/events/: hex decoding, a
 * callback that records decoded events, and payload builders.
 */
#ifndef KVIDX_TESTS_EVENTS_UTIL_H
#define KVIDX_TESTS_EVENTS_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "kvidx.h"

#define EU_MAX_EVENTS 64
#define EU_MAX_ITEMS 256

/* A deep copy of one decoded event. */
typedef struct {
  kvidx_event_type type;
  uint64_t hashes[EU_MAX_ITEMS];
  size_t n_hashes;
  int has_parent;
  uint64_t parent;
  uint32_t tokens[EU_MAX_ITEMS];
  size_t n_tokens;
  uint32_t block_size;
  int has_lora_id;
  int64_t lora_id;
  kvidx_tier tier;
  char lora_name[64];
  int has_lora_name;
  int32_t group_idx;
  char spec_kind[64];
  size_t extra_keys_len;
} eu_event;

typedef struct {
  eu_event ev[EU_MAX_EVENTS];
  size_t n;
  int stop_after; /* > 0: the callback returns stop_rc after that many */
  int stop_rc;
} eu_events;

/* kvidx_event_fn that appends a copy to an eu_events. */
int eu_collect(void *userdata, const kvidx_event *ev);
/* Decodes hex into out (cap bytes); returns the length. Fails the test on a
 * bad hex string. */
size_t eu_unhex(const char *hex, uint8_t *out, size_t cap);
/* Decodes payload into *out with a fresh decoder; returns the decode rc. */
int eu_decode(const uint8_t *p, size_t len, eu_events *out,
              kvidx_batch_info *info);

/* The reference encodings of docs/events.md (msgpack-python). */
extern const char *const eu_ref_oldest;
extern const char *const eu_ref_dp_medium;
extern const char *const eu_ref_removed_cleared;
extern const char *const eu_ref_map;

/* A malloc'ed copy of a payload placed so that its last byte is the last
 * byte before a PROT_NONE guard page; free with eu_guard_free. */
uint8_t *eu_guard_copy(const uint8_t *p, size_t len);
void eu_guard_free(uint8_t *p, size_t len);

#endif

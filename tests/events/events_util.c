/*
 * events_util.c: see events_util.h.
 */
#include "events_util.h"

#include <sys/mman.h>
#include <unistd.h>

#include "test.h"

const char *const eu_ref_oldest =
    "92cb3ff80000000000009196ab426c6f636b53746f72656491cf0123456789abcdefc094"
    "0102030404c0";
const char *const eu_ref_dp_medium =
    "93cb3ff80000000000009197ab426c6f636b53746f72656491cf0123456789abcdefc094"
    "0102030404c0a347505500";
const char *const eu_ref_removed_cleared =
    "93cb3ff80000000000009294ac426c6f636b52656d6f76656491cf0123456789abcdefa3"
    "4750550091b0416c6c426c6f636b73436c656172656400";
const char *const eu_ref_map =
    "93cb3ff8000000000000918ba474797065ab426c6f636b53746f726564ac626c6f636b5f"
    "68617368657391cf0123456789abcdefb1706172656e745f626c6f636b5f68617368c0a9"
    "746f6b656e5f6964739401020304aa626c6f636b5f73697a6504a76c6f72615f6964c0a6"
    "6d656469756da3475055a96c6f72615f6e616d65c0aa65787472615f6b65797391c0a967"
    "726f75705f69647800b26b765f63616368655f737065635f6b696e64ae66756c6c5f6174"
    "74656e74696f6e00";

static void copy_str(char *dst, size_t cap, const char *s, size_t n) {
  if (n >= cap)
    n = cap - 1;
  memcpy(dst, s, n);
  dst[n] = '\0';
}

int eu_collect(void *userdata, const kvidx_event *ev) {
  eu_events *out = userdata;
  if (out->n >= EU_MAX_EVENTS)
    FAILF("more than %d events", EU_MAX_EVENTS);
  eu_event *e = &out->ev[out->n++];
  memset(e, 0, sizeof *e);
  e->type = ev->type;
  e->n_hashes = ev->n_block_hashes;
  for (size_t i = 0; i < ev->n_block_hashes && i < EU_MAX_ITEMS; i++)
    e->hashes[i] = ev->block_hashes[i];
  e->has_parent = ev->has_parent;
  e->parent = ev->parent_block_hash;
  e->n_tokens = ev->n_token_ids;
  for (size_t i = 0; i < ev->n_token_ids && i < EU_MAX_ITEMS; i++)
    e->tokens[i] = ev->token_ids[i];
  e->block_size = ev->block_size;
  e->has_lora_id = ev->has_lora_id;
  e->lora_id = ev->lora_id;
  e->tier = ev->tier;
  if (ev->lora_name) {
    e->has_lora_name = 1;
    copy_str(e->lora_name, sizeof e->lora_name, ev->lora_name,
             ev->lora_name_len);
  }
  e->group_idx = ev->group_idx;
  if (ev->spec_kind)
    copy_str(e->spec_kind, sizeof e->spec_kind, ev->spec_kind,
             ev->spec_kind_len);
  e->extra_keys_len = ev->extra_keys_len;
  if (out->stop_after > 0 && (int)out->n >= out->stop_after)
    return out->stop_rc;
  return 0;
}

size_t eu_unhex(const char *hex, uint8_t *out, size_t cap) {
  size_t n = strlen(hex);
  if (n % 2 != 0 || n / 2 > cap)
    FAILF("bad hex length %zu", n);
  for (size_t i = 0; i < n / 2; i++) {
    unsigned v;
    if (sscanf(hex + 2 * i, "%2x", &v) != 1)
      FAILF("bad hex at %zu", i);
    out[i] = (uint8_t)v;
  }
  return n / 2;
}

int eu_decode(const uint8_t *p, size_t len, eu_events *out,
              kvidx_batch_info *info) {
  kvidx_decoder *d;
  CHECK_OK(kvidx_decoder_new(&d));
  int rc = kvidx_batch_decode(d, p, len, eu_collect, out, info);
  kvidx_decoder_free(d);
  return rc;
}

uint8_t *eu_guard_copy(const uint8_t *p, size_t len) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  size_t pages = (len + page - 1) / page + 1;
  uint8_t *m = mmap(NULL, pages * page, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED)
    FAILF("mmap failed");
  uint8_t *guard = m + (pages - 1) * page;
  if (mprotect(guard, page, PROT_NONE) != 0)
    FAILF("mprotect failed");
  uint8_t *q = guard - len;
  if (len)
    memcpy(q, p, len);
  return q;
}

void eu_guard_free(uint8_t *p, size_t len) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  uint8_t *guard = p + len;
  size_t pages = (len + page - 1) / page + 1;
  munmap(guard - (pages - 1) * page, pages * page);
}

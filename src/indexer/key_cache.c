/*
 * key_cache.c: fingerprint -> digest cache of the read path (see
 * key_cache.h for why and how).
 */
#include "indexer/key_cache.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <xxhash.h>

#define KEY_CACHE_HUGE ((size_t)2 << 20)

typedef struct {
  _Atomic uint64_t seq; /* odd while a writer fills the slot */
  _Atomic uint64_t fp;
  _Atomic uint64_t w[4]; /* digest bytes */
  _Atomic uint64_t len;
  uint64_t pad_; /* one slot per 64-byte line */
} slot;

struct kvidx__key_cache {
  slot *slots;
  size_t mask;
};

int kvidx__key_cache_new(size_t slots, kvidx__key_cache **out) {
  *out = NULL;
  if (slots == 0)
    return 0;
  size_t n = 1;
  while (n < slots)
    n <<= 1;
  kvidx__key_cache *kc = calloc(1, sizeof *kc);
  if (kc == NULL)
    return KVIDX_ENOMEM;
  /* A table of 2 MB or more is 2 MB aligned and asks for transparent huge
   * pages: its probes are random, and with 4 KB pages each one also missed
   * the TLB (the default 65,536 slots are 4 MB). Without THP the advice is
   * ignored. */
  size_t bytes = n * sizeof *kc->slots;
  size_t align = bytes >= KEY_CACHE_HUGE ? KEY_CACHE_HUGE : 64;
  kc->slots = aligned_alloc(align, bytes);
  if (kc->slots == NULL) {
    free(kc);
    return KVIDX_ENOMEM;
  }
#ifdef MADV_HUGEPAGE
  if (align == KEY_CACHE_HUGE)
    (void)madvise(kc->slots, bytes, MADV_HUGEPAGE);
#endif
  memset(kc->slots, 0, bytes);
  kc->mask = n - 1;
  *out = kc;
  return 0;
}

void kvidx__key_cache_free(kvidx__key_cache *kc) {
  if (kc == NULL)
    return;
  free(kc->slots);
  free(kc);
}

uint64_t kvidx__key_cache_chain(uint64_t prev, const uint32_t *tokens,
                                size_t n) {
  return XXH3_64bits_withSeed(tokens, n * sizeof *tokens, prev);
}

uint64_t kvidx__key_cache_root(const char *lora_name) {
  static const char tag[] = "kvidx-key-cache-v1";
  uint64_t root = XXH3_64bits(tag, sizeof tag - 1);
  if (lora_name != NULL)
    root = XXH3_64bits_withSeed(lora_name, strlen(lora_name), root ^ 1);
  return root;
}

void kvidx__key_cache_prefetch(const kvidx__key_cache *kc, uint64_t fp) {
  __builtin_prefetch(&kc->slots[fp & kc->mask]);
}

int kvidx__key_cache_get(kvidx__key_cache *kc, uint64_t fp, kvidx_digest *d) {
  slot *s = &kc->slots[fp & kc->mask];
  uint64_t s1 = atomic_load_explicit(&s->seq, memory_order_acquire);
  if ((s1 & 1) != 0 ||
      atomic_load_explicit(&s->fp, memory_order_relaxed) != fp || s1 == 0)
    return 0;
  /* Each word goes straight to d: copying a local array out with one
   * 16-byte load per two 8-byte stores defeated store forwarding and was
   * 64% of this function in a kvidxd profile. d is scratch until the
   * sequence check passes (the caller ignores it on a miss). */
  for (int i = 0; i < 4; i++) {
    uint64_t w = atomic_load_explicit(&s->w[i], memory_order_relaxed);
    memcpy(d->bytes + 8 * i, &w, sizeof w);
  }
  uint64_t len = atomic_load_explicit(&s->len, memory_order_relaxed);
  atomic_thread_fence(memory_order_acquire);
  if (atomic_load_explicit(&s->seq, memory_order_relaxed) != s1 ||
      len > KVIDX_DIGEST_MAX)
    return 0;
  d->len = (uint8_t)len;
  return 1;
}

void kvidx__key_cache_put(kvidx__key_cache *kc, uint64_t fp,
                          const kvidx_digest *d) {
  slot *s = &kc->slots[fp & kc->mask];
  uint64_t seq = atomic_load_explicit(&s->seq, memory_order_relaxed);
  if ((seq & 1) != 0 ||
      !atomic_compare_exchange_strong_explicit(
          &s->seq, &seq, seq + 1, memory_order_acquire, memory_order_relaxed))
    return; /* another writer has the slot: dropping one insert is fine */
  uint64_t w[4] = {0, 0, 0, 0};
  memcpy(w, d->bytes, d->len <= sizeof w ? d->len : sizeof w);
  atomic_store_explicit(&s->fp, fp, memory_order_relaxed);
  for (int i = 0; i < 4; i++)
    atomic_store_explicit(&s->w[i], w[i], memory_order_relaxed);
  atomic_store_explicit(&s->len, d->len, memory_order_relaxed);
  atomic_store_explicit(&s->seq, seq + 2, memory_order_release);
}

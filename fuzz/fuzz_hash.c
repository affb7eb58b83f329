/*
 * fuzz_hash.c: libFuzzer driver for the block hasher.
 *
 * The input picks an algorithm, a block size, a seed, a LoRA name, a cache
 * salt, multimodal items and token ids (any bytes: invalid UTF-8, unsorted
 * items, ids up to 2^32-1). Besides ASan/UBSan findings it checks two
 * properties and traps when one fails:
 *  - hashing is deterministic, and the same with the portable token
 *    encoders as with the AVX-512 ones (where the CPU has them);
 *  - a chain split anywhere gives the same digests: hashing the first k
 *    blocks, then the rest from digest k-1 with first_token = k * block_size,
 *    equals hashing everything at once (mm offsets and the cache salt depend
 *    on first_token, so this exercises both).
 * Input layout: algo, block size, flags, then 1-byte-length-prefixed seed,
 * LoRA name and salt, an mm count with (length-prefixed identifier, offset,
 * length) per item, and the rest as little-endian u32 token ids.
 * Seed corpus: fuzz/corpus/fuzz_hash/.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "hash/hash_internal.h"
#include "kvidx.h"

#define FUZZ_MAX_BLOCKS 64
#define FUZZ_MAX_MM 8

typedef struct {
  const uint8_t *p;
  size_t n;
} reader;

static int take(reader *r, size_t k, const uint8_t **out) {
  if (r->n < k)
    return -1;
  *out = r->p;
  r->p += k;
  r->n -= k;
  return 0;
}

static int take_u8(reader *r, uint8_t *v) {
  const uint8_t *p;
  if (take(r, 1, &p))
    return -1;
  *v = p[0];
  return 0;
}

/* A length-prefixed string copied NUL-terminated into buf[256]. */
static int take_str(reader *r, char *buf) {
  uint8_t len;
  const uint8_t *p;
  if (take_u8(r, &len) || take(r, len, &p))
    return -1;
  memcpy(buf, p, len);
  buf[len] = '\0';
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  reader r = {data, size};
  uint8_t algo, bs, flags, n_mm;
  static char seed[256], lora[256], salt[256], ids[FUZZ_MAX_MM][256];
  kvidx_mm_item mm[FUZZ_MAX_MM];
  if (take_u8(&r, &algo) || take_u8(&r, &bs) || take_u8(&r, &flags) ||
      take_str(&r, seed) || take_str(&r, lora) || take_str(&r, salt) ||
      take_u8(&r, &n_mm))
    return 0;
  n_mm %= FUZZ_MAX_MM + 1;
  for (uint8_t i = 0; i < n_mm; i++) {
    uint8_t off, len;
    if (take_str(&r, ids[i]) || take_u8(&r, &off) || take_u8(&r, &len))
      return 0;
    mm[i] = (kvidx_mm_item){ids[i], off, len};
  }
  uint32_t tokens[FUZZ_MAX_BLOCKS * 64];
  size_t n_tok = r.n / 4;
  if (n_tok > sizeof tokens / sizeof tokens[0])
    n_tok = sizeof tokens / sizeof tokens[0];
  for (size_t i = 0; i < n_tok; i++)
    tokens[i] = (uint32_t)r.p[4 * i] | (uint32_t)r.p[4 * i + 1] << 8 |
                (uint32_t)r.p[4 * i + 2] << 16 | (uint32_t)r.p[4 * i + 3] << 24;

  kvidx_hasher_opts o;
  kvidx_hasher_opts_init(&o);
  o.algo = (kvidx_hash_algo)(algo % 4);
  o.block_size = 1u + bs % 64;
  o.seed = (flags & 1) ? seed : NULL;
  kvidx_hasher *h;
  if (kvidx_hasher_new(&o, &h) != 0)
    return 0;
  kvidx_hash_extra x = {(flags & 2) ? lora : NULL, (flags & 4) ? salt : NULL,
                        mm, n_mm};
  static kvidx_digest all[FUZZ_MAX_BLOCKS], again[FUZZ_MAX_BLOCKS];
  uint64_t keys[FUZZ_MAX_BLOCKS];
  int n = kvidx_hash_blocks(h, NULL, 0, tokens, n_tok, &x, all, keys,
                            FUZZ_MAX_BLOCKS);
  /* Every lower SIMD level (AVX2, portable) gives the same digests. */
  int simd_was = kvidx__hash_set_simd(KVIDX__SIMD_AVX512);
  for (int level = KVIDX__SIMD_AVX2; level >= KVIDX__SIMD_NONE; level--) {
    kvidx__hash_set_simd(level);
    int n2 = kvidx_hash_blocks(h, NULL, 0, tokens, n_tok, &x, again, NULL,
                               FUZZ_MAX_BLOCKS);
    if (n != n2 || (n > 0 && memcmp(all, again, (size_t)n * sizeof *all) != 0))
      __builtin_trap();
  }
  kvidx__hash_set_simd(simd_was);
  for (int i = 0; i < n; i++) {
    if (all[i].len != (o.algo <= KVIDX_HASH_SHA256_CBOR ? 32 : 16) ||
        keys[i] != kvidx_digest_low64(&all[i]))
      __builtin_trap();
  }
  if (n >= 2) {
    int k = 1 + (int)(flags >> 3) % (n - 1);
    size_t off = (size_t)k * o.block_size;
    int m = kvidx_hash_blocks(h, &all[k - 1], (uint32_t)off, tokens + off,
                              n_tok - off, &x, again, NULL,
                              FUZZ_MAX_BLOCKS - (size_t)k);
    if (m != n - k || memcmp(again, all + k, (size_t)m * sizeof *all) != 0)
      __builtin_trap();
  }
  kvidx_hasher_free(h);
  return 0;
}

/*
 * chain.c: the hot path of kvidx_hash_blocks(): a chain of blocks without
 * extra keys (no LoRA, no multimodal items, no cache salt on the block).
 *
 * Such a block's encoding has a fixed shape, so instead of the general
 * serializers (pickle.c / cbor.c, which check the buffer before every piece
 * and track the pickle memo), it is laid out once per call:
 *
 *   pickle: 80 05 95 <frame u64> 43 <n> <parent> 94 28 <tokens>
 *           74 94 4e 87 94 2e
 *   CBOR:   83 <bytes head> <parent> <array head> <tokens> f6
 *
 * The constant bytes are written into the buffer once; per block only the
 * parent digest, the tokens, the tail and (pickle) the frame length are
 * stored, and the digest is taken in one call. The bytes are exactly those
 * of the general path (tests/hash/test_hash.c compares the two).
 */
#include "hash/hash_internal.h"

/* Longest prefix: pickle header (11) + SHORT_BINBYTES head (2) + parent +
 * MEMOIZE + MARK. */
#define CHAIN_PREFIX_MAX (11 + 2 + KVIDX_DIGEST_MAX + 2)
/* Longest tail (pickle TUPLE MEMOIZE NONE TUPLE3 MEMOIZE STOP), stored as
 * one 8-byte word. */
#define CHAIN_TAIL_STORE 8
#define CHAIN_BUF                                                              \
  (CHAIN_PREFIX_MAX + 7 * KVIDX_HASH_CHAIN_MAX_TOKENS + CHAIN_TAIL_STORE +     \
   KVIDX_HASH_TOKEN_SLACK)

typedef struct {
  int pickle;
  int sha;
  size_t bs;
  size_t parent_len;
  size_t parent_at; /* offset of the parent digest bytes */
  size_t tokens_at; /* offset of the first token */
  uint64_t tail;    /* the bytes after the tokens, little-endian */
  size_t tail_len;
  kvidx__token_encoder put_tokens;
} layout;

/* Writes the constant prefix bytes for a parent of parent_len bytes into b
 * and fills L. */
static void layout_init(layout *L, uint8_t *b, kvidx_hash_algo algo, size_t bs,
                        size_t parent_len) {
  L->pickle = algo == KVIDX_HASH_SHA256 || algo == KVIDX_HASH_XXHASH;
  L->sha = algo == KVIDX_HASH_SHA256 || algo == KVIDX_HASH_SHA256_CBOR;
  L->bs = bs;
  L->parent_len = parent_len;
  L->put_tokens = kvidx__token_encoder_for(L->pickle);
  size_t p = 0;
  if (L->pickle) {
    /* PROTO 5, FRAME (length patched per block), SHORT_BINBYTES n. */
    b[p++] = 0x80, b[p++] = 5, b[p++] = 0x95;
    p += 8;
    b[p++] = 0x43, b[p++] = (uint8_t)parent_len;
    L->parent_at = p;
    p += parent_len;
    b[p++] = 0x94; /* MEMOIZE */
    if (bs > 3)
      b[p++] = 0x28; /* MARK */
    L->tokens_at = p;
    /* TUPLE or TUPLE1..3, MEMOIZE, NONE, TUPLE3, MEMOIZE, STOP */
    uint64_t close = bs > 3 ? 0x74 : 0x84 + bs;
    L->tail = close | 0x94u << 8 | 0x4eu << 16 | 0x87ull << 24 | 0x94ull << 32 |
              0x2eull << 40;
    L->tail_len = 6;
    return;
  }
  b[p++] = 0x83; /* array(3) */
  if (parent_len < 24) {
    b[p++] = (uint8_t)(0x40 | parent_len);
  } else {
    b[p++] = 0x58, b[p++] = (uint8_t)parent_len;
  }
  L->parent_at = p;
  p += parent_len;
  if (bs < 24) { /* array head of the tokens, shortest form */
    b[p++] = (uint8_t)(0x80 | bs);
  } else if (bs <= 0xff) {
    b[p++] = 0x98, b[p++] = (uint8_t)bs;
  } else {
    b[p++] = 0x99, b[p++] = (uint8_t)(bs >> 8), b[p++] = (uint8_t)bs;
  }
  L->tokens_at = p;
  L->tail = 0xf6; /* None */
  L->tail_len = 1;
}

/* Stores the parent, tokens and tail of one block in b; returns its
 * length. */
static inline size_t fill_block(const layout *L, uint8_t *b,
                                const uint8_t *parent, const uint32_t *tok) {
  /* Digest-sized copies are fixed-size moves. */
  if (L->parent_len == 16)
    memcpy(b + L->parent_at, parent, 16);
  else if (L->parent_len == 32)
    memcpy(b + L->parent_at, parent, 32);
  else
    memcpy(b + L->parent_at, parent, L->parent_len);
  uint8_t *end = L->put_tokens(b + L->tokens_at, tok, L->bs);
  kvidx__store_le64(end, L->tail);
  size_t len = (size_t)(end - b) + L->tail_len;
  if (L->pickle)
    kvidx__store_le64(b + 3, (uint64_t)(len - 11));
  return len;
}

static inline uint64_t load_be64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  v = __builtin_bswap64(v);
#endif
  return v;
}

static inline void store_be64(uint8_t *p, uint64_t v) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  v = __builtin_bswap64(v);
#endif
  memcpy(p, &v, 8);
}

/* Digests b[0..len) into out (all 32 bytes written, as kvidx_digest wants
 * zeros past len); returns the wire key (low 64 bits). */
static inline uint64_t digest_block(const layout *L, const uint8_t *b,
                                    size_t len, kvidx_digest *out) {
  if (L->sha) {
    SHA256_CTX c;
    SHA256_Init(&c);
    SHA256_Update(&c, b, len);
    SHA256_Final(out->bytes, &c);
    out->len = 32;
    return load_be64(out->bytes + 24);
  }
  XXH128_hash_t h = XXH3_128bits(b, len);
  store_be64(out->bytes, h.high64);
  store_be64(out->bytes + 8, h.low64);
  memset(out->bytes + 16, 0, 16);
  out->len = 16;
  return h.low64;
}

void kvidx__hash_chain_plain(kvidx_hash_algo algo, const uint8_t *parent,
                             size_t parent_len, const uint32_t *tokens,
                             size_t bs, size_t n_blocks,
                             kvidx_digest *out_digests, uint64_t *out_keys) {
  _Alignas(64) uint8_t buf[CHAIN_BUF];
  kvidx_digest scratch[2];
  layout L;
  size_t digest_len =
      algo == KVIDX_HASH_SHA256 || algo == KVIDX_HASH_SHA256_CBOR ? 32 : 16;
  layout_init(&L, buf, algo, bs, parent_len);
  for (size_t i = 0; i < n_blocks; i++) {
    if (i == 1 && parent_len != digest_len)
      layout_init(&L, buf, algo, bs, digest_len);
    size_t len = fill_block(&L, buf, parent, tokens + i * bs);
    kvidx_digest *d = out_digests ? &out_digests[i] : &scratch[i & 1];
    uint64_t key = digest_block(&L, buf, len, d);
    if (out_keys)
      out_keys[i] = key;
    parent = d->bytes;
  }
}

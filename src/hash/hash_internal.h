/*
 * hash_internal.h: the pieces behind kvidx/hash.h.
 *
 * A vLLM block hash is H(serialize((parent, tokens, extra_keys))). The
 * serializers (pickle.c, cbor.c) write the one tuple shape vLLM hashes
 * through an emitter (emit.c): a fixed stack buffer that is handed to the
 * digest in one call when the whole encoding fits (the common case: a block
 * of 16 tokens is ~100 bytes), and is streamed into an incremental digest in
 * buffer-sized pieces when it does not. Nothing here allocates.
 */
#ifndef KVIDX_HASH_INTERNAL_H
#define KVIDX_HASH_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The low-level SHA256_* functions are deprecated in OpenSSL 3.0 but remain
 * available; on a stack context they cost 86 ns for a 85-byte block against
 * 136 ns for EVP_Digest() (which allocates a context per call). See
 * docs/hashing.md. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "kvidx.h"

/* Stack buffer of one emitter. Encodings up to this size are digested in one
 * call; longer ones are streamed. 4 KiB holds a 512-token block of any ids. */
#define KVIDX_HASH_EMIT_BUF 4096
/* Largest pickle frame body kvidx produces. CPython splits a pickle into
 * several 64 KiB frames at object boundaries once a frame reaches 65536
 * bytes; kvidx does not reproduce the split and refuses (KVIDX_ETOOBIG) a
 * block whose pickle would need it (> ~9000 tokens, see docs/hashing.md). */
#define KVIDX_HASH_PICKLE_MAX_FRAME 65535u

/* The AVX-512 token encoders (tokens_avx512.c) are built where the compiler
 * supports per-function targets on x86-64; tokens.c checks the CPU. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define KVIDX_HASH_HAVE_AVX512 1
#endif

/* Bytes a token encoder may store past the start of its last token (the
 * AVX-512 encoder writes 64-byte vectors). */
#define KVIDX_HASH_TOKEN_SLACK 64

/* ---- emitter ------------------------------------------------------------ */

typedef enum {
  KVIDX__EMIT_DIGEST = 0, /* bytes go to the digest of `algo` */
  KVIDX__EMIT_COUNT = 1   /* bytes are only counted (size pass) */
} kvidx__emit_mode;

typedef struct {
  kvidx_hash_algo algo;
  kvidx__emit_mode mode;
  int streaming;  /* the incremental digest state below is in use */
  size_t len;     /* bytes pending in buf */
  size_t flushed; /* bytes already handed on (digested or counted) */
  union {
    SHA256_CTX sha;
    XXH3_state_t xxh;
  } st;
  /* + slack: token encoders store past their last byte (up to
   * KVIDX_HASH_TOKEN_SLACK bytes from where a token starts). */
  uint8_t buf[KVIDX_HASH_EMIT_BUF + KVIDX_HASH_TOKEN_SLACK];
} kvidx__emitter;

void kvidx__emit_init(kvidx__emitter *e, kvidx_hash_algo algo,
                      kvidx__emit_mode mode);
/* Finishes the digest into out (DIGEST mode only). */
void kvidx__emit_final(kvidx__emitter *e, kvidx_digest *out);

/*
 * Serializers write through a local cursor p into e->buf (a local pointer,
 * not e->len, so that byte stores, which may alias anything, do not force a
 * reload per byte). Before each piece of at most KVIDX_HASH_EMIT_BUF bytes
 * they call kvidx__emit_ensure(), and kvidx__emit_end() when done. Every
 * write may store up to KVIDX_HASH_TOKEN_SLACK bytes past its piece (the
 * buffer has slack).
 */
static inline uint8_t *kvidx__emit_begin(kvidx__emitter *e) {
  return e->buf + e->len;
}
/* Hands buf[0..p) on (to the incremental digest, or the count); returns the
 * emptied buffer. */
uint8_t *kvidx__emit_flush(kvidx__emitter *e, uint8_t *p);
static inline uint8_t *kvidx__emit_ensure(kvidx__emitter *e, uint8_t *p,
                                          size_t n) {
  if ((size_t)(p - e->buf) + n > KVIDX_HASH_EMIT_BUF)
    return kvidx__emit_flush(e, p);
  return p;
}
static inline void kvidx__emit_end(kvidx__emitter *e, uint8_t *p) {
  e->len = (size_t)(p - e->buf);
}
/* Copies n bytes of any length at p; returns the new cursor. */
uint8_t *kvidx__emit_copy(kvidx__emitter *e, uint8_t *p, const void *src,
                          size_t n);
static inline size_t kvidx__emit_total(const kvidx__emitter *e) {
  return e->flushed + e->len;
}

/* Stores v as 8 little-endian bytes at p (p must have 8 writable bytes). */
static inline void kvidx__store_le64(uint8_t *p, uint64_t v) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  memcpy(p, &v, 8);
#else
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(v >> (8 * i));
#endif
}

/* Loads 8 big-endian bytes at p. */
static inline uint64_t kvidx__load_be64(const uint8_t *p) {
  uint64_t v;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  memcpy(&v, p, 8);
  v = __builtin_bswap64(v);
#else
  v = 0;
  for (int i = 0; i < 8; i++)
    v = v << 8 | p[i];
#endif
  return v;
}

/* Significant bits of v | 1 (1..32): the size class of a token id in the
 * pickle and CBOR encoders. */
static inline unsigned kvidx__bit_length(uint32_t v) {
#if defined(__GNUC__)
  return 32u - (unsigned)__builtin_clz(v | 1u);
#else
  unsigned n = 1;
  while (n < 32 && (v >> n) != 0)
    n++;
  return n;
#endif
}

/* ---- the hashed tuple ---------------------------------------------------- */

/* One extra key of a block: a string, or an mm (identifier, offset) pair. */
typedef struct {
  const char *str;
  uint32_t len;   /* bytes of valid UTF-8, <= KVIDX_HASH_MAX_STR */
  int is_mm;      /* 1: the pair (str, offset) */
  int64_t offset; /* mm item start relative to the block start (may be < 0) */
} kvidx__extra_key;

/* (parent, tuple(tokens), extra_keys or None) */
typedef struct {
  const uint8_t *parent;
  size_t parent_len; /* 1..KVIDX_DIGEST_MAX */
  const uint32_t *tokens;
  size_t n_tokens; /* >= 1 */
  const kvidx__extra_key *extra;
  size_t n_extra; /* 0: None */
} kvidx__block_tuple;

/* Serializes t (pickle protocol 5 / canonical CBOR, as the algo says) into e
 * and finishes the digest. Returns 0 or KVIDX_ETOOBIG. */
int kvidx__pickle_tuple(kvidx__emitter *e, const kvidx__block_tuple *t);
void kvidx__cbor_tuple(kvidx__emitter *e, const kvidx__block_tuple *t);
/* Serializes a lone str (the NONE_HASH seed). */
void kvidx__pickle_str_object(kvidx__emitter *e, const char *s, size_t len);
void kvidx__cbor_str_object(kvidx__emitter *e, const char *s, size_t len);

/* ---- token encoders (tokens.c, tokens_avx2.c, tokens_avx512.c) ---------- */

/*
 * Write n token ids as consecutive pickle ints (BININT1 / BININT2 / BININT /
 * LONG1) or CBOR uints at d and return the end. They may store up to
 * KVIDX_HASH_TOKEN_SLACK bytes past the start of the last token, so d needs
 * 7 * n + KVIDX_HASH_TOKEN_SLACK writable bytes. kvidx__token_encoder_for()
 * picks the best version this CPU runs (AVX-512, else AVX2, else portable)
 * unless SIMD is capped; all give the same bytes.
 */
typedef uint8_t *(*kvidx__token_encoder)(uint8_t *d, const uint32_t *tok,
                                         size_t n);
uint8_t *kvidx__pickle_tokens_scalar(uint8_t *d, const uint32_t *tok, size_t n);
uint8_t *kvidx__cbor_tokens_scalar(uint8_t *d, const uint32_t *tok, size_t n);
uint8_t *kvidx__pickle_tokens_avx2(uint8_t *d, const uint32_t *tok, size_t n);
uint8_t *kvidx__cbor_tokens_avx2(uint8_t *d, const uint32_t *tok, size_t n);
uint8_t *kvidx__pickle_tokens_avx512(uint8_t *d, const uint32_t *tok, size_t n);
uint8_t *kvidx__cbor_tokens_avx512(uint8_t *d, const uint32_t *tok, size_t n);
/* Builds the AVX2 encoders' tables (once; tokens.c calls it before the
 * AVX2 level is first used). */
void kvidx__hash_avx2_init(void);

/* SIMD levels of the token encoders. */
enum { KVIDX__SIMD_NONE = 0, KVIDX__SIMD_AVX2 = 1, KVIDX__SIMD_AVX512 = 2 };
/* The highest level this build and CPU can run. */
int kvidx__hash_simd_usable(void);
/* 1 if this build has the AVX-512 encoders and this CPU can run them. */
int kvidx__hash_avx512_usable(void);
/* The level calls use now. */
int kvidx__hash_simd_level(void);
/* The encoder of the format (pickle if pickle != 0) that calls will use. */
kvidx__token_encoder kvidx__token_encoder_for(int pickle);
/* Sets the SIMD level for the whole process to `level`, or to the highest
 * usable one below it; returns the previous level. At start it is the
 * highest usable, capped by the environment: KVIDX_HASH_NO_SIMD=1 (none),
 * or KVIDX_HASH_SIMD=none|avx2|avx512. For tests and benchmarks: every
 * level must give the same bytes. */
int kvidx__hash_set_simd(int level);

/* ---- chain.c ------------------------------------------------------------- */

/* Longest block the plain-chain fast path takes (its buffers live on the
 * stack); longer blocks use the general emitter path. */
#define KVIDX_HASH_CHAIN_MAX_TOKENS 256

/*
 * Hashes n_blocks consecutive blocks of bs tokens (bs <=
 * KVIDX_HASH_CHAIN_MAX_TOKENS) that have no extra keys (None), starting from
 * parent (1..KVIDX_DIGEST_MAX bytes). Writes out_digests[i] and/or
 * out_keys[i] (either may be NULL). Hashes the same bytes as
 * kvidx__pickle_tuple / kvidx__cbor_tuple.
 */
void kvidx__hash_chain_plain(kvidx_hash_algo algo, const uint8_t *parent,
                             size_t parent_len, const uint32_t *tokens,
                             size_t bs, size_t n_blocks,
                             kvidx_digest *out_digests, uint64_t *out_keys);

#endif

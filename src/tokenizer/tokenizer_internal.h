/*
 * tokenizer_internal.h: the in-memory form of a loaded tokenizer.json and the
 * internal interfaces between the stages of an encode.
 *
 * Encode pipeline (mirrors tokenizers/src/tokenizer/mod.rs):
 *   raw text --added tokens (normalized=false)--> segments
 *   segment  --normalizer--> normalized buffer (bytes + alignments)
 *            --added tokens (normalized=true)--> sub-segments
 *            --pre-tokenizer--> pieces --model--> ids
 *   ids      --post-processor--> final ids
 *
 * Alignments: when offsets are wanted, every byte of a working buffer carries
 * the [start, end) byte span of the original text it came from (all bytes of
 * one character share the character's span), as HF's NormalizedString does.
 * When offsets are not wanted no alignment is kept at all.
 *
 * Byte-level BPE does not materialise the GPT-2 byte->char mapping: the vocab
 * is decoded back to raw bytes at load time, so the model sees raw bytes.
 */
#ifndef KVIDX_TOKENIZER_INTERNAL_H
#define KVIDX_TOKENIZER_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <jansson.h>
#include <pcre2.h>
#include <stddef.h>
#include <stdint.h>

#include "kvidx.h"

/* Named limits. */
#define KVIDX_TOK_MAX_COMPONENT_DEPTH 16 /* nested Sequence levels */
#define KVIDX_TOK_MAX_TOKEN_BYTES 4096   /* longest vocab/added token */
#define KVIDX_TOK_MAX_ID 0xffffffu       /* largest vocab id: tables dense */
#define KVIDX_TOK_CACHE_SLOTS 65536      /* per-thread word cache slots */
#define KVIDX_TOK_CACHE_ARENA (4u << 20) /* per-thread word cache bytes */
#define KVIDX_TOK_CACHE_KEY_MAX 256      /* cached pre-token bytes, at most */
#define KVIDX_TOK_CACHE_IDS_MAX 128      /* cached ids per pre-token */

/* Zeroed memory for big hash tables (huge pages when >= 2 MB); free(). */
void *kvidx__table_calloc(size_t n, size_t size);

/* ---- string table: id <-> bytes ---------------------------------------- */

typedef struct {
  char *pool;
  size_t pool_len, pool_cap;
  uint32_t *off, *len; /* per id; len == UINT32_MAX: no such id */
  uint32_t n_ids;      /* ids are 0..n_ids-1 */
  struct kvidx__strslot {
    uint32_t hash, id1, off, len; /* id1 = id + 1; 0 = empty slot */
  } * slots; /* the string's bytes are compared without touching off[]/len[] */
  size_t mask;
  size_t count;
} kvidx__strtab;

int kvidx__strtab_init(kvidx__strtab *t, size_t expected);
void kvidx__strtab_free(kvidx__strtab *t);
/* Sets the string of id (first definition wins for the reverse map). */
int kvidx__strtab_put(kvidx__strtab *t, uint32_t id, const char *s, size_t len);
/* Id of s, or -1. */
int64_t kvidx__strtab_get(const kvidx__strtab *t, const char *s, size_t len);
/* The same lookup split in two, so a loader can hash a batch of keys,
 * prefetch their slots and then probe (hiding the cache misses). */
uint32_t kvidx__strtab_hash(const char *s, size_t len);
void kvidx__strtab_prefetch(const kvidx__strtab *t, uint32_t h);
int64_t kvidx__strtab_get_h(const kvidx__strtab *t, const char *s, size_t len,
                            uint32_t h);
/* String of id, or NULL (sets *len). */
const char *kvidx__strtab_str(const kvidx__strtab *t, uint32_t id, size_t *len);

/* ---- merges: (left id, right id) -> (rank, merged id) ---------------------
 */

typedef struct {
  uint64_t key; /* (a << 32 | b) + 1; 0 = empty */
  uint32_t rank, id;
} kvidx__pair_slot;

typedef struct {
  kvidx__pair_slot *slots;
  size_t mask, count;
} kvidx__pairmap;

int kvidx__pairmap_init(kvidx__pairmap *m, size_t expected);
void kvidx__pairmap_free(kvidx__pairmap *m);
int kvidx__pairmap_put(kvidx__pairmap *m, uint32_t a, uint32_t b, uint32_t rank,
                       uint32_t id);

static inline uint64_t kvidx__pair_hash(uint64_t k) {
  k *= 0x9E3779B97F4A7C15ull;
  return k ^ (k >> 29);
}

static inline void kvidx__pairmap_prefetch(const kvidx__pairmap *m, uint32_t a,
                                           uint32_t b) {
  uint64_t key = (((uint64_t)a << 32) | b) + 1;
  __builtin_prefetch(&m->slots[kvidx__pair_hash(key) & m->mask]);
}

static inline const kvidx__pair_slot *
kvidx__pairmap_get(const kvidx__pairmap *m, uint32_t a, uint32_t b) {
  uint64_t key = (((uint64_t)a << 32) | b) + 1;
  size_t i = (size_t)kvidx__pair_hash(key) & m->mask;
  for (;;) {
    const kvidx__pair_slot *s = &m->slots[i];
    if (s->key == key)
      return s;
    if (s->key == 0)
      return NULL;
    i = (i + 1) & m->mask;
  }
}

/* ---- components ------------------------------------------------------------
 */

typedef enum {
  KVIDX__NORM_NFC,
  KVIDX__NORM_NFD,
  KVIDX__NORM_NFKC,
  KVIDX__NORM_NFKD,
  KVIDX__NORM_LOWERCASE,
  KVIDX__NORM_REPLACE,
  KVIDX__NORM_PREPEND,
  KVIDX__NORM_STRIP,
  KVIDX__NORM_STRIP_ACCENTS,
  KVIDX__NORM_BERT,
  KVIDX__NORM_SEQUENCE
} kvidx__norm_type;

/* A pattern of Split / Replace: a literal string or a compiled regex. */
typedef struct {
  char *literal; /* NULL for a regex */
  size_t literal_len;
  pcre2_code *re;
  int fast; /* KVIDX__FAST_*: a hand-written matcher replaces re */
} kvidx__pattern;

enum {
  KVIDX__FAST_NONE = 0,
  KVIDX__FAST_L3,      /* Llama-3 */
  KVIDX__FAST_QWEN,    /* Qwen2/3 */
  KVIDX__FAST_OSS,     /* gpt-oss (o200k) */
  KVIDX__FAST_DIGITS3, /* \p{N}{1,3} */
  KVIDX__FAST_DS_CJK,  /* DeepSeek-V3's CJK range */
  KVIDX__FAST_DS_MAIN, /* DeepSeek-V3's main pattern */
  KVIDX__FAST_GPT2     /* ByteLevel's use_regex pattern */
};

typedef struct kvidx__normalizer {
  kvidx__norm_type type;
  kvidx__pattern pattern; /* REPLACE */
  char *content;          /* REPLACE content / PREPEND text */
  size_t content_len;
  int strip_left, strip_right;                              /* STRIP */
  int clean_text, handle_chinese, strip_accents, lowercase; /* BERT */
  struct kvidx__normalizer *children;                       /* SEQUENCE */
  size_t n_children;
} kvidx__normalizer;

typedef enum {
  KVIDX__PT_SPLIT,
  KVIDX__PT_BYTELEVEL,
  KVIDX__PT_METASPACE,
  KVIDX__PT_DIGITS,
  KVIDX__PT_WHITESPACE,
  KVIDX__PT_WHITESPACE_SPLIT,
  KVIDX__PT_PUNCTUATION,
  KVIDX__PT_BERT,
  KVIDX__PT_SEQUENCE
} kvidx__pretok_type;

typedef enum {
  KVIDX__SPLIT_REMOVED,
  KVIDX__SPLIT_ISOLATED,
  KVIDX__SPLIT_MERGED_PREV,
  KVIDX__SPLIT_MERGED_NEXT,
  KVIDX__SPLIT_CONTIGUOUS
} kvidx__split_behavior;

typedef struct kvidx__pretok {
  kvidx__pretok_type type;
  kvidx__pattern pattern;         /* SPLIT; BYTELEVEL with use_regex */
  kvidx__split_behavior behavior; /* SPLIT, PUNCTUATION */
  int invert;                     /* SPLIT */
  int add_prefix_space;           /* BYTELEVEL */
  int use_regex;                  /* BYTELEVEL */
  int individual_digits;          /* DIGITS */
  uint32_t replacement;           /* METASPACE char */
  int prepend_scheme;             /* METASPACE: 0 always, 1 first, 2 never */
  int meta_split;                 /* METASPACE split */
  struct kvidx__pretok *children; /* SEQUENCE */
  size_t n_children;
} kvidx__pretok;

typedef enum { KVIDX__MODEL_BPE, KVIDX__MODEL_WORDPIECE } kvidx__model_type;

typedef struct {
  kvidx__model_type type;
  kvidx__strtab vocab; /* model vocab as written (byte-level: mapped chars) */
  /* BPE */
  kvidx__pairmap merges;
  int byte_level;       /* pre-tokenizer ends in ByteLevel: see file header */
  kvidx__strtab raw;    /* byte-level: vocab decoded to raw bytes */
  int32_t byte_id[256]; /* byte-level: id of each single byte, -1 none */
  int32_t fallback_id[256]; /* byte_fallback: id of "<0xNN>", -1 none */
  int byte_fallback, fuse_unk, ignore_merges;
  int64_t unk_id;                 /* -1: none */
  char *cont_prefix, *eow_suffix; /* NULL when absent or "" */
  size_t cont_prefix_len, eow_suffix_len;
  /* SentencePiece-style BPE (no pre-tokenizer): long pieces are cut before
   * each U+2581 that follows a known char other than U+2581 and other than
   * the chars in sp_unsafe (chars that some vocab token has right before a
   * U+2581). No merge can then cross a cut, so the result is the same, and
   * the pieces become cacheable words. */
  int sp_split;
  uint32_t sp_unsafe[16];
  size_t n_sp_unsafe;
  /* WordPiece */
  size_t max_input_chars;
} kvidx__model;

typedef struct {
  char *content;
  size_t len;
  uint32_t id;
  int special, normalized, lstrip, rstrip, single_word;
} kvidx__added_token;

/* Leftmost-longest matcher over a set of added tokens: a byte trie. */
typedef struct {
  uint32_t *first; /* per node: first child edge index, or UINT32_MAX */
  uint32_t *edge_next;
  uint8_t *edge_byte;
  uint32_t *edge_to;
  int32_t *node_token; /* index into added tokens, or -1 */
  size_t n_nodes, n_edges, cap_nodes, cap_edges;
  uint32_t root_child[256]; /* fast first step from the root */
  uint8_t first_byte[256];  /* bytes that can start a token */
  size_t n_tokens;
} kvidx__trie;

typedef enum {
  KVIDX__POST_NONE,
  KVIDX__POST_TEMPLATE, /* also used for Bert/Roberta processing */
  KVIDX__POST_BYTELEVEL
} kvidx__post_type;

typedef struct {
  uint32_t *prefix, *suffix; /* special ids around $A (single sequence) */
  size_t n_prefix, n_suffix;
  int trim_offsets; /* ByteLevel / Roberta trim_offsets anywhere in chain */
  int has_template;
} kvidx__post;

struct kvidx_tokenizer {
  uint64_t serial; /* unique per load: keys the per-thread word cache */
  kvidx__normalizer *normalizer; /* NULL: none */
  kvidx__pretok *pretok;         /* NULL: none */
  kvidx__model model;
  kvidx__added_token *added;
  size_t n_added;
  kvidx__trie trie_raw;  /* normalized=false tokens, on raw text */
  kvidx__trie trie_norm; /* normalized=true tokens, on normalized text */
  kvidx__post post;
  uint32_t vocab_size; /* max id + 1 over model and added tokens */
  int has_bos_override;
};

/* ---- loading (load.c, json_scan.c) ----------------------------------------
 */

/* Error reporting while loading: message into a caller buffer. */
typedef struct {
  char *buf;
  size_t len;
} kvidx__errbuf;

void kvidx__errf(kvidx__errbuf *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Byte spans of model.vocab and model.merges inside a tokenizer.json text,
 * found without building a DOM (jansson takes ~230 ms on Qwen3's 11 MB). */
typedef struct {
  size_t vocab_start, vocab_end;   /* 0/0: absent */
  size_t merges_start, merges_end; /* 0/0: absent */
} kvidx__json_spans;

int kvidx__json_find_spans(const char *s, size_t n, kvidx__json_spans *out,
                           kvidx__errbuf *err);
/* Iterates a JSON object {"str": int, ...}; cb gets each decoded key. */
int kvidx__json_each_vocab(const char *s, size_t n,
                           int (*cb)(void *ud, const char *k, size_t klen,
                                     int64_t v),
                           void *ud, kvidx__errbuf *err);
/* Iterates a JSON array of "a b" strings or ["a","b"] pairs. */
int kvidx__json_each_merge(const char *s, size_t n,
                           int (*cb)(void *ud, const char *a, size_t alen,
                                     const char *b, size_t blen),
                           void *ud, kvidx__errbuf *err);

int kvidx__pattern_compile(kvidx__pattern *p, const char *literal,
                           size_t literal_len, const char *regex,
                           kvidx__errbuf *err);
void kvidx__pattern_free(kvidx__pattern *p);

int kvidx__trie_build(kvidx__trie *t, const kvidx__added_token *toks, size_t n,
                      int normalized);
void kvidx__trie_free(kvidx__trie *t);

/* Component parsers: build from a jansson value (NULL/null: none). */
int kvidx__normalizer_parse(const json_t *j, kvidx__normalizer **out,
                            kvidx__errbuf *err, int depth);
int kvidx__pretok_parse(const json_t *j, kvidx__pretok **out,
                        kvidx__errbuf *err, int depth);
void kvidx__normalizer_free(kvidx__normalizer *n);
void kvidx__pretok_free(kvidx__pretok *p);

/* GPT-2 byte <-> char mapping of ByteLevel. */
uint32_t kvidx__bytelevel_char(uint8_t b);
/* Inverse: byte of char c, or -1 when c is not in the mapping. */
int kvidx__bytelevel_byte(uint32_t c);

/* ---- encode workspace (encode.c) ------------------------------------------
 */

/* A growable byte buffer with optional alignments (2 uint32 per byte). */
typedef struct {
  uint8_t *b;
  uint32_t *al;
  size_t len, cap;
  int track; /* keep alignments */
} kvidx__nbuf;

int kvidx__nbuf_reserve(kvidx__nbuf *nb, size_t extra);
/* Appends bytes, each aligned to [s, e) (ignored when not tracking). */
int kvidx__nbuf_append(kvidx__nbuf *nb, const uint8_t *p, size_t n, uint32_t s,
                       uint32_t e);
/* Appends bytes copying alignments from al (2 per byte) when tracking. */
int kvidx__nbuf_append_al(kvidx__nbuf *nb, const uint8_t *p, size_t n,
                          const uint32_t *al);

/* Applies a normalizer to in[0..n) with alignments al (NULL when not
 * tracking), writing into out (which is reset). */
int kvidx__normalize(const kvidx__normalizer *norm, const uint8_t *in, size_t n,
                     const uint32_t *al, kvidx__nbuf *out, kvidx__nbuf *tmp);

/* 1 when norm certainly leaves in[0..n) unchanged (Unicode normalizers on
 * text already in that form): the caller may then skip normalizing. */
int kvidx__normalize_is_noop(const kvidx__normalizer *norm, const uint8_t *in,
                             size_t n);

/* A piece of pre-tokenization: a byte range of a buffer. */
typedef struct {
  uint32_t off, len;
  uint8_t src; /* 0: the normalized buffer, 1..: a scratch buffer */
} kvidx__piece;

typedef struct {
  kvidx__piece *v;
  size_t n, cap;
} kvidx__pieces;

int kvidx__pieces_push(kvidx__pieces *p, uint8_t src, size_t off, size_t len);

#define KVIDX__PT_BUFS 4
typedef struct {
  kvidx__nbuf bufs[KVIDX__PT_BUFS]; /* [0] = input; transforms write others */
  kvidx__pieces a, b;               /* double buffer of piece lists */
  pcre2_match_data *md;
  size_t next_buf;
} kvidx__pt_ctx;

/* Pre-tokenizes ctx->bufs[0] (whole buffer) into ctx->a. */
int kvidx__pretokenize(const kvidx__pretok *pt, kvidx__pt_ctx *ctx,
                       uint32_t orig_base);

/* Hand-written matchers: end of the match starting exactly at i, or i when
 * the pattern does not match there (leftmost-first alternation). */
size_t kvidx__fast_match(int which, const uint8_t *s, size_t n, size_t i);

/* ---- model (bpe.c, wordpiece.c) -------------------------------------------
 */

/* Output sink of the model: ids with the byte range [s, e) of the piece each
 * came from (relative to the piece). */
typedef struct {
  uint32_t *ids;
  uint32_t *spans; /* 2 per id */
  size_t n, cap;
} kvidx__idbuf;

int kvidx__idbuf_push(kvidx__idbuf *b, uint32_t id, uint32_t s, uint32_t e);

/* Doubles the capacity of a pair of parallel arrays, ids (1 per token) and
 * spans (2 per token), starting at first_cap; both the model's idbuf and the
 * public kvidx_encoding grow this way. On failure nothing is lost: the arrays
 * stay valid at their old capacity. */
int kvidx__grow_ids_spans(uint32_t **ids, uint32_t **spans, size_t *cap,
                          size_t first_cap);

/* Per-thread scratch of the BPE merge. */
typedef struct {
  uint32_t *sym_id;
  uint32_t *sym_start, *sym_len;
  int32_t *prev, *next;
  uint64_t *heap;
  size_t cap, heap_cap;
} kvidx__bpe_scratch;

int kvidx__bpe_word(const kvidx__model *m, const uint8_t *w, size_t n,
                    kvidx__bpe_scratch *sc, kvidx__idbuf *out);
int kvidx__wordpiece_word(const kvidx__model *m, const uint8_t *w, size_t n,
                          kvidx__idbuf *out);

#endif

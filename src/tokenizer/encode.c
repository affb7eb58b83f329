/*
 * encode.c: kvidx_tokenizer_encode, the pipeline of tokenizer_internal.h, and
 * the per-thread workspace it runs in.
 *
 * Threading: a tokenizer is immutable after load. Everything an encode
 * writes lives in a per-thread workspace (pthread key, freed at thread exit):
 * the working buffers, the BPE scratch and the word cache. So encode takes no
 * lock and allocates nothing once the buffers have grown.
 *
 * Word cache: a direct-mapped table of KVIDX_TOK_CACHE_SLOTS slots per
 * thread, keyed by (tokenizer serial, pre-token bytes), pointing into an
 * arena of KVIDX_TOK_CACHE_ARENA bytes that holds the key, ids and token ends.
 * Pre-tokens of at most KVIDX_TOK_CACHE_KEY_MAX bytes are cached. A collision
 * overwrites the slot; when the arena is full, table and arena are reset.
 * So the memory bound is fixed (~5.5 MB per thread) and a miss costs one BPE
 * merge. The serial is unique per load, so a freed tokenizer's entries can
 * never be hit by another one loaded at the same address.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "tokenizer/added.h"
#include "tokenizer/tokenizer_internal.h"
#include "tokenizer/unicode.h"

typedef struct {
  uint64_t serial, hash;
  uint32_t off; /* into the arena: key bytes, then ids, then ends */
  uint16_t klen, nids;
} cache_slot;

typedef struct {
  cache_slot *slots;
  uint8_t *arena;
  size_t used;
} word_cache;

typedef struct {
  kvidx__nbuf norm, tmp, ident;
  kvidx__pt_ctx pt;
  kvidx__idbuf ids, acc;
  kvidx__bpe_scratch bpe;
  word_cache cache;
} workspace;

static pthread_key_t ws_key;
static pthread_once_t ws_once = PTHREAD_ONCE_INIT;
static int ws_key_ok;

static void nbuf_free(kvidx__nbuf *b) {
  free(b->b);
  free(b->al);
}

static void ws_free(void *p) {
  workspace *ws = p;
  if (!ws)
    return;
  nbuf_free(&ws->norm);
  nbuf_free(&ws->tmp);
  nbuf_free(&ws->ident);
  for (int i = 1; i < KVIDX__PT_BUFS; i++)
    nbuf_free(&ws->pt.bufs[i]);
  free(ws->pt.a.v);
  free(ws->pt.b.v);
  pcre2_match_data_free(ws->pt.md);
  free(ws->ids.ids);
  free(ws->ids.spans);
  free(ws->acc.ids);
  free(ws->acc.spans);
  free(ws->bpe.sym_id);
  free(ws->bpe.sym_start);
  free(ws->bpe.sym_len);
  free(ws->bpe.prev);
  free(ws->bpe.next);
  free(ws->bpe.heap);
  free(ws->cache.slots);
  free(ws->cache.arena);
  free(ws);
}

static void ws_key_init(void) {
  ws_key_ok = pthread_key_create(&ws_key, ws_free) == 0;
}

static workspace *get_ws(void) {
  pthread_once(&ws_once, ws_key_init);
  if (!ws_key_ok)
    return NULL;
  workspace *ws = pthread_getspecific(ws_key);
  if (ws)
    return ws;
  ws = calloc(1, sizeof *ws);
  if (!ws)
    return NULL;
  ws->cache.slots = calloc(KVIDX_TOK_CACHE_SLOTS, sizeof *ws->cache.slots);
  ws->cache.arena = malloc(KVIDX_TOK_CACHE_ARENA);
  if (!ws->cache.slots || !ws->cache.arena ||
      pthread_setspecific(ws_key, ws) != 0) {
    ws_free(ws);
    return NULL;
  }
  return ws;
}

/* ---- output
 * ------------------------------------------------------------------------- */

static int enc_push(kvidx_encoding *enc, uint32_t id, uint32_t s, uint32_t e) {
  if (enc->n == enc->cap) {
    int rc = kvidx__grow_ids_spans(&enc->ids, &enc->offsets, &enc->cap, 1024);
    if (rc)
      return rc;
  }
  enc->ids[enc->n] = id;
  enc->offsets[2 * enc->n] = s;
  enc->offsets[2 * enc->n + 1] = e;
  enc->n++;
  return 0;
}

void kvidx_encoding_init(kvidx_encoding *enc) {
  memset(enc, 0, sizeof *enc);
}

void kvidx_encoding_free(kvidx_encoding *enc) {
  if (!enc)
    return;
  free(enc->ids);
  free(enc->offsets);
  enc->ids = enc->offsets = NULL;
  enc->n = enc->cap = 0;
}

/* ---- model with cache
 * ------------------------------------------------------------------ */

static int model_piece(const kvidx_tokenizer *tok, workspace *ws,
                       const uint8_t *p, size_t n) {
  const kvidx__model *m = &tok->model;
  ws->ids.n = 0;
  if (m->type == KVIDX__MODEL_WORDPIECE)
    return kvidx__wordpiece_word(m, p, n, &ws->ids);
  if (n > KVIDX_TOK_CACHE_KEY_MAX)
    return kvidx__bpe_word(m, p, n, &ws->bpe, &ws->ids);
  word_cache *wc = &ws->cache;
  uint64_t h = XXH3_64bits(p, n) ^ (tok->serial * 0x9E3779B97F4A7C15ull);
  cache_slot *c = &wc->slots[h & (KVIDX_TOK_CACHE_SLOTS - 1)];
  if (c->hash == h && c->serial == tok->serial && c->klen == n &&
      memcmp(wc->arena + c->off, p, n) == 0) {
    const uint8_t *d = wc->arena + c->off + ((n + 3) & ~(size_t)3);
    const uint32_t *ids = (const uint32_t *)(const void *)d;
    const uint16_t *ends = (const uint16_t *)(const void *)(d + 4 * c->nids);
    uint32_t s = 0;
    for (size_t i = 0; i < c->nids; i++) {
      int rc = kvidx__idbuf_push(&ws->ids, ids[i], s, ends[i]);
      if (rc)
        return rc;
      s = ends[i];
    }
    return 0;
  }
  int rc = kvidx__bpe_word(m, p, n, &ws->bpe, &ws->ids);
  if (rc || ws->ids.n > KVIDX_TOK_CACHE_IDS_MAX)
    return rc;
  /* Cache only results whose spans tile the piece (no dropped chars). */
  uint32_t s = 0;
  for (size_t i = 0; i < ws->ids.n; i++) {
    if (ws->ids.spans[2 * i] != s)
      return 0;
    s = ws->ids.spans[2 * i + 1];
  }
  if (s != n)
    return 0;
  size_t need = ((n + 3) & ~(size_t)3) + ws->ids.n * 6;
  need = (need + 3) & ~(size_t)3;
  if (wc->used + need > KVIDX_TOK_CACHE_ARENA) {
    memset(wc->slots, 0, KVIDX_TOK_CACHE_SLOTS * sizeof *wc->slots);
    wc->used = 0;
  }
  uint8_t *d = wc->arena + wc->used;
  memcpy(d, p, n);
  uint32_t *ids = (uint32_t *)(void *)(d + ((n + 3) & ~(size_t)3));
  uint16_t *ends = (uint16_t *)(void *)(ids + ws->ids.n);
  for (size_t i = 0; i < ws->ids.n; i++) {
    ids[i] = ws->ids.ids[i];
    ends[i] = (uint16_t)ws->ids.spans[2 * i + 1];
  }
  c->serial = tok->serial;
  c->hash = h;
  c->off = (uint32_t)wc->used;
  c->klen = (uint16_t)n;
  c->nids = (uint16_t)ws->ids.n;
  wc->used += need;
  return 0;
}

/* ---- pipeline
 * ----------------------------------------------------------------------------
 */

/* Models one piece, cut into words first for SentencePiece-style BPE (see
 * kvidx__model.sp_split); ws->ids gets the ids with piece-relative spans. */
static int model_words(const kvidx_tokenizer *tok, workspace *ws,
                       const uint8_t *p, size_t n, kvidx__idbuf *acc) {
  const kvidx__model *m = &tok->model;
  if (!m->sp_split || n <= 16)
    return model_piece(tok, ws, p, n);
  acc->n = 0;
  size_t start = 0, i = 0;
  uint32_t prev = 0x2581;
  int prev_known = 0;
  int rc = 0;
  while (i < n && !rc) {
    uint32_t c;
    size_t l = kvidx__utf8_decode(p + i, &c);
    if (c == 0x2581 && prev != 0x2581 && prev_known && i > start) {
      int safe = 1;
      for (size_t k = 0; k < m->n_sp_unsafe; k++)
        safe &= m->sp_unsafe[k] != prev;
      if (safe) {
        rc = model_piece(tok, ws, p + start, i - start);
        for (size_t k = 0; k < ws->ids.n && !rc; k++)
          rc = kvidx__idbuf_push(acc, ws->ids.ids[k],
                                 (uint32_t)start + ws->ids.spans[2 * k],
                                 (uint32_t)start + ws->ids.spans[2 * k + 1]);
        start = i;
      }
    }
    /* A char unknown to the vocab becomes byte-fallback or unk symbols,
     * whose strings are not the char: never cut right after one. */
    prev_known = kvidx__strtab_get(&m->vocab, (const char *)p + i, l) >= 0;
    prev = c;
    i += l;
  }
  if (!rc)
    rc = model_piece(tok, ws, p + start, n - start);
  for (size_t k = 0; k < ws->ids.n && !rc; k++)
    rc = kvidx__idbuf_push(acc, ws->ids.ids[k],
                           (uint32_t)start + ws->ids.spans[2 * k],
                           (uint32_t)start + ws->ids.spans[2 * k + 1]);
  if (rc)
    return rc;
  /* Hand the result back in ws->ids. */
  kvidx__idbuf sw = ws->ids;
  ws->ids = *acc;
  *acc = sw;
  return 0;
}

/* Pre-tokenizes and models buf[0..n) (alignments al or NULL). */
static int pretok_and_model(const kvidx_tokenizer *tok, workspace *ws,
                            const uint8_t *buf, const uint32_t *al, size_t n,
                            uint32_t orig_base, kvidx_encoding *enc) {
  if (n == 0)
    return 0;
  kvidx__pt_ctx *pt = &ws->pt;
  /* bufs[0] aliases the caller's buffer; stages never write to it. */
  pt->bufs[0].b = (uint8_t *)buf;
  pt->bufs[0].al = (uint32_t *)al;
  pt->bufs[0].len = n;
  pt->bufs[0].cap = n;
  pt->bufs[0].track = al != NULL;
  int rc = kvidx__pretokenize(tok->pretok, pt, orig_base);
  for (size_t i = 0; i < pt->a.n && !rc; i++) {
    const kvidx__piece *pc = &pt->a.v[i];
    const kvidx__nbuf *src = &pt->bufs[pc->src];
    rc = model_words(tok, ws, src->b + pc->off, pc->len, &ws->acc);
    for (size_t k = 0; k < ws->ids.n && !rc; k++) {
      uint32_t s = 0, e = 0;
      if (src->track) {
        const uint32_t *pal = src->al + 2 * pc->off;
        s = pal[2 * ws->ids.spans[2 * k]];
        e = pal[2 * (ws->ids.spans[2 * k + 1] - 1) + 1];
      }
      rc = enc_push(enc, ws->ids.ids[k], s, e);
    }
  }
  memset(&pt->bufs[0], 0, sizeof pt->bufs[0]);
  return rc;
}

/* Identity alignments of text[a..b): each byte gets its char's span. */
static int identity(workspace *ws, const uint8_t *text, size_t a, size_t b) {
  kvidx__nbuf *id = &ws->ident;
  id->len = 0;
  id->track = 1;
  if (kvidx__nbuf_reserve(id, b - a))
    return KVIDX_ENOMEM;
  for (size_t i = a; i < b;) {
    size_t l = kvidx__utf8_len(text[i]);
    for (size_t k = 0; k < l; k++) {
      id->al[2 * (i - a + k)] = (uint32_t)i;
      id->al[2 * (i - a + k) + 1] = (uint32_t)(i + l);
    }
    i += l;
  }
  id->len = b - a;
  return 0;
}

static int process_text(const kvidx_tokenizer *tok, workspace *ws,
                        const uint8_t *text, size_t a, size_t b,
                        kvidx_encoding *enc) {
  if (a == b)
    return 0;
  int track = enc->want_offsets;
  int rc = 0;
  if (track && (rc = identity(ws, text, a, b)) != 0)
    return rc;
  const uint8_t *nb = text + a;
  const uint32_t *nal = track ? ws->ident.al : NULL;
  size_t nn = b - a;
  if (tok->normalizer && !kvidx__normalize_is_noop(tok->normalizer, nb, nn)) {
    rc = kvidx__normalize(tok->normalizer, nb, nn, nal, &ws->norm, &ws->tmp);
    if (rc)
      return rc;
    nb = ws->norm.b;
    nal = track ? ws->norm.al : NULL;
    nn = ws->norm.len;
  }
  if (tok->trie_norm.n_tokens == 0)
    return pretok_and_model(tok, ws, nb, nal, nn, (uint32_t)a, enc);
  size_t pos = 0;
  kvidx__added_match m;
  while (!rc && kvidx__added_find(tok, &tok->trie_norm, nb, nn, pos, &m)) {
    rc = pretok_and_model(tok, ws, nb + pos, nal ? nal + 2 * pos : NULL,
                          m.start - pos, (uint32_t)a, enc);
    if (!rc)
      rc = enc_push(enc, m.id, nal ? nal[2 * m.start] : 0,
                    nal ? nal[2 * (m.end - 1) + 1] : 0);
    pos = m.end;
  }
  if (!rc)
    rc = pretok_and_model(tok, ws, nb + pos, nal ? nal + 2 * pos : NULL,
                          nn - pos, (uint32_t)a, enc);
  return rc;
}

/* ByteLevel / Roberta trim_offsets: a token's span loses its leading and
 * trailing spaces (processors/byte_level.rs::process_offsets). */
static void trim_offsets(const kvidx_tokenizer *tok, const uint8_t *text,
                         kvidx_encoding *enc, size_t from, size_t to) {
  for (size_t i = from; i < to; i++) {
    uint32_t *o = &enc->offsets[2 * i];
    while (o[0] < o[1] && text[o[0]] == ' ')
      o[0]++;
    while (o[1] > o[0] && text[o[1] - 1] == ' ')
      o[1]--;
  }
  (void)tok;
}

int kvidx_tokenizer_encode(const kvidx_tokenizer *tok, const char *text,
                           size_t len, int add_special, kvidx_encoding *enc) {
  if (!tok || !enc || (!text && len))
    return KVIDX_EINVAL;
  enc->n = 0;
  if (len > UINT32_MAX - 1)
    return KVIDX_ETOOBIG;
  const uint8_t *s = (const uint8_t *)text;
  if (len && kvidx__utf8_valid_prefix(s, len) != len)
    return KVIDX_EUTF8;
  workspace *ws = get_ws();
  if (!ws)
    return KVIDX_ENOMEM;
  int rc = 0;
  if (add_special)
    for (size_t i = 0; i < tok->post.n_prefix && !rc; i++)
      rc = enc_push(enc, tok->post.prefix[i], 0, 0);
  size_t body = enc->n;
  size_t pos = 0;
  kvidx__added_match m;
  while (!rc && kvidx__added_find(tok, &tok->trie_raw, s, len, pos, &m)) {
    rc = process_text(tok, ws, s, pos, m.start, enc);
    if (!rc)
      rc = enc_push(enc, m.id, (uint32_t)m.start, (uint32_t)m.end);
    pos = m.end;
  }
  if (!rc)
    rc = process_text(tok, ws, s, pos, len, enc);
  if (!rc && enc->want_offsets && tok->post.trim_offsets)
    trim_offsets(tok, s, enc, body, enc->n);
  if (add_special)
    for (size_t i = 0; i < tok->post.n_suffix && !rc; i++)
      rc = enc_push(enc, tok->post.suffix[i], 0, 0);
  if (rc)
    enc->n = 0;
  return rc;
}

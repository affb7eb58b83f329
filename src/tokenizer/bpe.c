/*
 * bpe.c: the BPE model (tokenizers/src/models/bpe/model.rs::merge_word and
 * word.rs::merge_all) and the WordPiece model (models/wordpiece/mod.rs).
 *
 * BPE on one pre-token:
 *  1. ignore_merges: a pre-token that is itself in the vocab is one token.
 *  2. Initial symbols: one per byte (byte-level) or per char (with
 *     continuing_subword_prefix / end_of_word_suffix); an unknown char becomes
 *     its <0xNN> tokens (byte_fallback) or unk (fused when fuse_unk), or is
 *     dropped without an unk token. The reference's quirk is kept: a pending
 *     unk is flushed only before the next known char, not before byte
 *     fallback tokens.
 *  3. Merges with a binary min-heap on (rank, position) with lazy deletion,
 *     an entry being stale when its left symbol is gone, has no right
 *     neighbour, or the pair there now merges into a different id -- the
 *     reference's exact rule, which differs from "lowest rank first" only in
 *     rare ties of different pairs merging into the same token.
 * All scratch memory lives in a per-thread kvidx__bpe_scratch: no allocation
 * per word once warm.
 */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer_internal.h"
#include "tokenizer/unicode.h"

int kvidx__grow_ids_spans(uint32_t **ids, uint32_t **spans, size_t *cap,
                          size_t first_cap) {
  size_t ncap = *cap ? *cap * 2 : first_cap;
  uint32_t *ni = realloc(*ids, ncap * sizeof *ni);
  if (!ni)
    return KVIDX_ENOMEM;
  *ids = ni;
  uint32_t *ns = realloc(*spans, ncap * 2 * sizeof *ns);
  if (!ns)
    return KVIDX_ENOMEM;
  *spans = ns;
  *cap = ncap;
  return 0;
}

int kvidx__idbuf_push(kvidx__idbuf *b, uint32_t id, uint32_t s, uint32_t e) {
  if (b->n == b->cap) {
    int rc = kvidx__grow_ids_spans(&b->ids, &b->spans, &b->cap, 256);
    if (rc)
      return rc;
  }
  b->ids[b->n] = id;
  b->spans[2 * b->n] = s;
  b->spans[2 * b->n + 1] = e;
  b->n++;
  return 0;
}

static int scratch_reserve(kvidx__bpe_scratch *sc, size_t n) {
  if (n <= sc->cap)
    return 0;
  size_t cap = sc->cap ? sc->cap : 64;
  while (cap < n)
    cap *= 2;
  uint32_t *a = realloc(sc->sym_id, cap * sizeof *a);
  if (!a)
    return KVIDX_ENOMEM;
  sc->sym_id = a;
  if (!(a = realloc(sc->sym_start, cap * sizeof *a)))
    return KVIDX_ENOMEM;
  sc->sym_start = a;
  if (!(a = realloc(sc->sym_len, cap * sizeof *a)))
    return KVIDX_ENOMEM;
  sc->sym_len = a;
  int32_t *p = realloc(sc->prev, cap * sizeof *p);
  if (!p)
    return KVIDX_ENOMEM;
  sc->prev = p;
  if (!(p = realloc(sc->next, cap * sizeof *p)))
    return KVIDX_ENOMEM;
  sc->next = p;
  /* Heap entries: (rank << 32 | pos) and the new id, 2 words each. */
  uint64_t *h = realloc(sc->heap, cap * 2 * sizeof *h);
  if (!h)
    return KVIDX_ENOMEM;
  sc->heap = h;
  sc->cap = cap;
  sc->heap_cap = cap;
  return 0;
}

/* ---- heap of (key = rank << 32 | pos, new id) ------------------------------
 */

typedef struct {
  uint64_t *v; /* 2 per entry: key, new id */
  size_t n;
} heap;

static void heap_push(heap *h, uint64_t key, uint64_t id) {
  size_t i = h->n++;
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (h->v[2 * p] <= key)
      break;
    h->v[2 * i] = h->v[2 * p];
    h->v[2 * i + 1] = h->v[2 * p + 1];
    i = p;
  }
  h->v[2 * i] = key;
  h->v[2 * i + 1] = id;
}

static void heap_pop(heap *h, uint64_t *key, uint64_t *id) {
  *key = h->v[0];
  *id = h->v[1];
  h->n--;
  uint64_t k = h->v[2 * h->n], d = h->v[2 * h->n + 1];
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= h->n)
      break;
    if (c + 1 < h->n && h->v[2 * (c + 1)] < h->v[2 * c])
      c++;
    if (h->v[2 * c] >= k)
      break;
    h->v[2 * i] = h->v[2 * c];
    h->v[2 * i + 1] = h->v[2 * c + 1];
    i = c;
  }
  h->v[2 * i] = k;
  h->v[2 * i + 1] = d;
}

/* ---- initial symbols
 * ------------------------------------------------------------ */

typedef struct {
  kvidx__bpe_scratch *sc;
  size_t n;
  int64_t unk_id; /* pending unk, -1 none */
  uint32_t unk_start, unk_len;
} syms;

static int sym_add(syms *s, uint32_t id, uint32_t start, uint32_t len) {
  if (scratch_reserve(s->sc, s->n + 1))
    return KVIDX_ENOMEM;
  s->sc->sym_id[s->n] = id;
  s->sc->sym_start[s->n] = start;
  s->sc->sym_len[s->n] = len;
  s->n++;
  return 0;
}

static int flush_unk(syms *s) {
  if (s->unk_id < 0)
    return 0;
  int rc = sym_add(s, (uint32_t)s->unk_id, s->unk_start, s->unk_len);
  s->unk_id = -1;
  return rc;
}

static int unknown(const kvidx__model *m, syms *s, uint32_t start,
                   uint32_t len) {
  if (m->unk_id < 0)
    return 0; /* no unk token: the char is dropped */
  if (s->unk_id >= 0 && m->fuse_unk) {
    s->unk_len = start + len - s->unk_start;
    return 0;
  }
  int rc = flush_unk(s);
  s->unk_id = m->unk_id;
  s->unk_start = start;
  s->unk_len = len;
  return rc;
}

static int initial_bytes(const kvidx__model *m, const uint8_t *w, size_t n,
                         syms *s) {
  int rc = scratch_reserve(s->sc, n);
  for (size_t i = 0; i < n && !rc; i++) {
    int32_t id = m->byte_id[w[i]];
    if (id >= 0) {
      if ((rc = flush_unk(s)) == 0)
        rc = sym_add(s, (uint32_t)id, (uint32_t)i, 1);
    } else {
      rc = unknown(m, s, (uint32_t)i, 1);
    }
  }
  return rc ? rc : flush_unk(s);
}

static int initial_chars(const kvidx__model *m, const uint8_t *w, size_t n,
                         syms *s) {
  char buf[64];
  int rc = 0;
  for (size_t i = 0; i < n && !rc;) {
    size_t l = kvidx__utf8_len(w[i]);
    const char *str = (const char *)w + i;
    size_t slen = l;
    int decorated = (i > 0 && m->cont_prefix) || (i + l == n && m->eow_suffix);
    if (decorated) {
      size_t o = 0;
      if (i > 0 && m->cont_prefix && m->cont_prefix_len < 32) {
        memcpy(buf, m->cont_prefix, m->cont_prefix_len);
        o = m->cont_prefix_len;
      }
      memcpy(buf + o, w + i, l);
      o += l;
      if (i + l == n && m->eow_suffix && m->eow_suffix_len < 24) {
        memcpy(buf + o, m->eow_suffix, m->eow_suffix_len);
        o += m->eow_suffix_len;
      }
      str = buf;
      slen = o;
    }
    int64_t id = kvidx__strtab_get(&m->vocab, str, slen);
    if (id >= 0) {
      if ((rc = flush_unk(s)) == 0)
        rc = sym_add(s, (uint32_t)id, (uint32_t)i, (uint32_t)l);
    } else {
      int all = m->byte_fallback;
      for (size_t k = 0; all && k < slen; k++)
        all = m->fallback_id[(uint8_t)str[k]] >= 0;
      if (all) {
        for (size_t k = 0; k < slen && !rc; k++)
          rc = sym_add(s, (uint32_t)m->fallback_id[(uint8_t)str[k]],
                       (uint32_t)(i + (k < l ? k : l - 1)), 1);
      } else {
        rc = unknown(m, s, (uint32_t)i, (uint32_t)l);
      }
    }
    i += l;
  }
  return rc ? rc : flush_unk(s);
}

/* ---- merge
 * ----------------------------------------------------------------------- */

static void merge_all(const kvidx__model *m, kvidx__bpe_scratch *sc, size_t n) {
  uint32_t *id = sc->sym_id, *len = sc->sym_len;
  int32_t *prev = sc->prev, *next = sc->next;
  heap h = {sc->heap, 0};
  for (size_t i = 0; i < n; i++) {
    prev[i] = (int32_t)i - 1;
    next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
  }
  for (size_t i = 0; i + 1 < n; i++) {
    const kvidx__pair_slot *p =
        kvidx__pairmap_get(&m->merges, id[i], id[i + 1]);
    if (p)
      heap_push(&h, ((uint64_t)p->rank << 32) | i, p->id);
  }
  while (h.n > 0) {
    uint64_t key, nid;
    heap_pop(&h, &key, &nid);
    uint32_t pos = (uint32_t)key;
    if (len[pos] == 0 || next[pos] < 0)
      continue;
    uint32_t r = (uint32_t)next[pos];
    const kvidx__pair_slot *p = kvidx__pairmap_get(&m->merges, id[pos], id[r]);
    if (!p || p->id != nid)
      continue; /* stale entry */
    id[pos] = (uint32_t)nid;
    len[pos] += len[r];
    len[r] = 0;
    next[pos] = next[r];
    if (next[r] >= 0)
      prev[next[r]] = (int32_t)pos;
    if (prev[pos] >= 0) {
      uint32_t l = (uint32_t)prev[pos];
      p = kvidx__pairmap_get(&m->merges, id[l], id[pos]);
      if (p)
        heap_push(&h, ((uint64_t)p->rank << 32) | l, p->id);
    }
    if (next[pos] >= 0) {
      p = kvidx__pairmap_get(&m->merges, id[pos], id[next[pos]]);
      if (p)
        heap_push(&h, ((uint64_t)p->rank << 32) | pos, p->id);
    }
  }
}

int kvidx__bpe_word(const kvidx__model *m, const uint8_t *w, size_t n,
                    kvidx__bpe_scratch *sc, kvidx__idbuf *out) {
  if (n == 0)
    return 0;
  if (m->ignore_merges) {
    int64_t id = kvidx__strtab_get(m->byte_level ? &m->raw : &m->vocab,
                                   (const char *)w, n);
    if (id >= 0)
      return kvidx__idbuf_push(out, (uint32_t)id, 0, (uint32_t)n);
  }
  syms s = {sc, 0, -1, 0, 0};
  int rc =
      m->byte_level ? initial_bytes(m, w, n, &s) : initial_chars(m, w, n, &s);
  if (rc)
    return rc;
  /* n-1 initial heap entries plus at most 2 per merge (n-1 merges). */
  if (scratch_reserve(sc, 3 * s.n + 2))
    return KVIDX_ENOMEM;
  merge_all(m, sc, s.n);
  for (size_t i = 0; i < s.n && !rc;
       i = sc->next[i] < 0 ? s.n : (size_t)sc->next[i])
    rc = kvidx__idbuf_push(out, sc->sym_id[i], sc->sym_start[i],
                           sc->sym_start[i] + sc->sym_len[i]);
  return rc;
}

/* ---- WordPiece
 * ------------------------------------------------------------------- */

int kvidx__wordpiece_word(const kvidx__model *m, const uint8_t *w, size_t n,
                          kvidx__idbuf *out) {
  if (n == 0)
    return 0;
  size_t chars = 0;
  for (size_t i = 0; i < n; i += kvidx__utf8_len(w[i]))
    chars++;
  size_t mark = out->n;
  if (chars > m->max_input_chars)
    return kvidx__idbuf_push(out, (uint32_t)m->unk_id, 0, (uint32_t)n);
  char buf[KVIDX_TOK_MAX_TOKEN_BYTES + 16];
  size_t start = 0;
  while (start < n) {
    size_t end = n;
    int64_t found = -1;
    while (start < end) {
      const char *str = (const char *)w + start;
      size_t slen = end - start;
      if (start > 0) {
        if (m->cont_prefix_len + slen > sizeof buf)
          break;
        memcpy(buf, m->cont_prefix, m->cont_prefix_len);
        memcpy(buf + m->cont_prefix_len, w + start, slen);
        str = buf;
        slen += m->cont_prefix_len;
      }
      found = slen <= KVIDX_TOK_MAX_TOKEN_BYTES
                  ? kvidx__strtab_get(&m->vocab, str, slen)
                  : -1;
      if (found >= 0)
        break;
      /* Drop the last char. */
      end--;
      while (end > start && (w[end] & 0xC0) == 0x80)
        end--;
    }
    if (found < 0) {
      out->n = mark;
      return kvidx__idbuf_push(out, (uint32_t)m->unk_id, 0, (uint32_t)n);
    }
    int rc =
        kvidx__idbuf_push(out, (uint32_t)found, (uint32_t)start, (uint32_t)end);
    if (rc)
      return rc;
    start = end;
  }
  return 0;
}

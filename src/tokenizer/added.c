/*
 * added.c: matching of added tokens (tokenizers/src/tokenizer/
 * added_vocabulary.rs). Two tries are built at load time: one over the
 * normalized=false contents, run on the raw text, and one over the
 * (normalized) contents of the normalized=true tokens, run on each normalized
 * segment.
 *
 * Matching is leftmost-longest and non-overlapping, like the reference's
 * daachorse automaton: the first position where any token starts wins, with
 * the longest token there; a match rejected by single_word is skipped and
 * not rescanned for shorter tokens. lstrip / rstrip absorb adjacent
 * whitespace into the token's span.
 */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/added.h"
#include "tokenizer/unicode.h"

static int add_node(kvidx__trie *t) {
  if (t->n_nodes == t->cap_nodes) {
    size_t cap = t->cap_nodes ? t->cap_nodes * 2 : 64;
    uint32_t *f = realloc(t->first, cap * sizeof *f);
    if (!f)
      return -1;
    t->first = f;
    int32_t *nt = realloc(t->node_token, cap * sizeof *nt);
    if (!nt)
      return -1;
    t->node_token = nt;
    t->cap_nodes = cap;
  }
  t->first[t->n_nodes] = UINT32_MAX;
  t->node_token[t->n_nodes] = -1;
  return (int)t->n_nodes++;
}

static uint32_t child(const kvidx__trie *t, uint32_t node, uint8_t b) {
  if (node == 0)
    return t->root_child[b];
  for (uint32_t e = t->first[node]; e != UINT32_MAX; e = t->edge_next[e])
    if (t->edge_byte[e] == b)
      return t->edge_to[e];
  return UINT32_MAX;
}

static int add_edge(kvidx__trie *t, uint32_t from, uint8_t b, uint32_t *to) {
  int n = add_node(t);
  if (n < 0)
    return KVIDX_ENOMEM;
  *to = (uint32_t)n;
  if (from == 0) {
    t->root_child[b] = *to;
    return 0;
  }
  if (t->n_edges == t->cap_edges) {
    size_t cap = t->cap_edges ? t->cap_edges * 2 : 64;
    uint32_t *nx = realloc(t->edge_next, cap * sizeof *nx);
    if (!nx)
      return KVIDX_ENOMEM;
    t->edge_next = nx;
    uint8_t *eb = realloc(t->edge_byte, cap);
    if (!eb)
      return KVIDX_ENOMEM;
    t->edge_byte = eb;
    uint32_t *et = realloc(t->edge_to, cap * sizeof *et);
    if (!et)
      return KVIDX_ENOMEM;
    t->edge_to = et;
    t->cap_edges = cap;
  }
  size_t e = t->n_edges++;
  t->edge_byte[e] = b;
  t->edge_to[e] = *to;
  t->edge_next[e] = t->first[from];
  t->first[from] = (uint32_t)e;
  return 0;
}

int kvidx__trie_build(kvidx__trie *t, const kvidx__added_token *toks, size_t n,
                      int normalized) {
  memset(t, 0, sizeof *t);
  for (int b = 0; b < 256; b++)
    t->root_child[b] = UINT32_MAX;
  if (add_node(t) < 0)
    return KVIDX_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    if (!toks[i].normalized != !normalized || toks[i].len == 0)
      continue;
    uint32_t node = 0;
    for (size_t k = 0; k < toks[i].len; k++) {
      uint8_t b = (uint8_t)toks[i].content[k];
      uint32_t c = child(t, node, b);
      if (c == UINT32_MAX) {
        int rc = add_edge(t, node, b, &c);
        if (rc)
          return rc;
      }
      node = c;
    }
    /* A later token with the same content replaces the earlier one. */
    t->node_token[node] = (int32_t)i;
    t->first_byte[(uint8_t)toks[i].content[0]] = 1;
    t->n_tokens++;
  }
  return 0;
}

void kvidx__trie_free(kvidx__trie *t) {
  free(t->first);
  free(t->edge_next);
  free(t->edge_byte);
  free(t->edge_to);
  free(t->node_token);
  memset(t, 0, sizeof *t);
}

/* Does s[0..i) end with a \w char / s[i..n) start with one? */
static int ends_with_word(const uint8_t *s, size_t i) {
  if (i == 0)
    return 0;
  size_t p = i - 1;
  while (p > 0 && (s[p] & 0xC0) == 0x80)
    p--;
  uint32_t c;
  kvidx__utf8_decode(s + p, &c);
  return (kvidx__uc_class(c) & KVIDX_UC_W) != 0;
}

static int starts_with_word(const uint8_t *s, size_t n, size_t i) {
  if (i >= n)
    return 0;
  uint32_t c;
  kvidx__utf8_decode(s + i, &c);
  return (kvidx__uc_class(c) & KVIDX_UC_W) != 0;
}

static int is_ws_at(const uint8_t *s, size_t i, size_t *len) {
  uint32_t c;
  *len = kvidx__utf8_decode(s + i, &c);
  return (kvidx__uc_class(c) & KVIDX_UC_WS) != 0;
}

int kvidx__added_find(const kvidx_tokenizer *tok, const kvidx__trie *t,
                      const uint8_t *s, size_t n, size_t from,
                      kvidx__added_match *m) {
  if (t->n_tokens == 0)
    return 0;
  size_t i = from;
  while (i < n) {
    if (!t->first_byte[s[i]]) {
      i++;
      continue;
    }
    /* Longest token starting at i. */
    uint32_t node = 0;
    int32_t best = -1;
    size_t best_end = 0;
    for (size_t k = i; k < n; k++) {
      node = child(t, node, s[k]);
      if (node == UINT32_MAX)
        break;
      if (t->node_token[node] >= 0) {
        best = t->node_token[node];
        best_end = k + 1;
      }
    }
    if (best < 0) {
      i++;
      continue;
    }
    const kvidx__added_token *a = &tok->added[best];
    size_t ms = i, me = best_end;
    if (a->single_word &&
        (ends_with_word(s, ms) || starts_with_word(s, n, me))) {
      i = me; /* rejected: not rescanned for shorter tokens */
      continue;
    }
    if (a->lstrip) {
      while (ms > from) {
        size_t p = ms - 1, l;
        while (p > from && (s[p] & 0xC0) == 0x80)
          p--;
        if (!is_ws_at(s, p, &l))
          break;
        ms = p;
      }
    }
    if (a->rstrip) {
      size_t l;
      while (me < n && is_ws_at(s, me, &l))
        me += l;
    }
    m->start = ms;
    m->end = me;
    m->id = a->id;
    return 1;
  }
  return 0;
}

/*
 * load.c: builds a kvidx_tokenizer from tokenizer.json (+ the sibling
 * tokenizer_config.json), as tokenizers/src/tokenizer/serialization.rs and
 * transformers do.
 *
 * The big members (model.vocab, model.merges) are read by json_scan.c; the
 * rest of the document, a few kB once those spans are replaced by `null`, is
 * parsed with jansson. Every component type is checked against the list this
 * engine implements: an unknown one is a load error naming it, never a silent
 * mis-tokenization.
 *
 * Added tokens get their ids re-derived as the reference's
 * AddedVocabulary::add_tokens does (the JSON "id" is ignored): the vocab id if
 * the content is in the model vocab, else the next id after the larger of the
 * vocab size and the highest added id so far.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/log.h"
#include "tokenizer/tokenizer_internal.h"
#include "tokenizer/unicode.h"

/* Read limit for tokenizer.json: the largest real files are ~35 MB. */
#define KVIDX_TOK_MAX_FILE_BYTES (512u << 20)

static atomic_uint_fast64_t next_serial = 1;

void kvidx__errf(kvidx__errbuf *e, const char *fmt, ...) {
  if (!e || !e->buf || e->len == 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->buf, e->len, fmt, ap);
  va_end(ap);
}

/* ---- GPT-2 byte mapping ----------------------------------------------------
 */

static int bytelevel_direct(unsigned b) {
  return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) ||
         (b >= 0xAE && b <= 0xFF);
}

uint32_t kvidx__bytelevel_char(uint8_t b) {
  if (bytelevel_direct(b))
    return b;
  /* The other 68 bytes, ascending, map to U+0100 + n. */
  uint32_t n = 0;
  for (unsigned x = 0; x < b; x++)
    if (!bytelevel_direct(x))
      n++;
  return 0x100 + n;
}

int kvidx__bytelevel_byte(uint32_t c) {
  if (c < 0x100)
    return bytelevel_direct(c) ? (int)c : -1;
  if (c >= 0x100 + 68)
    return -1;
  /* The n-th byte outside the direct ranges: 0x00-0x20 (33), 0x7F-0xA0
   * (34), 0xAD (1). */
  uint32_t n = c - 0x100;
  if (n < 33)
    return (int)n;
  if (n < 67)
    return (int)(0x7F + n - 33);
  return 0xAD;
}

/* ---- small jansson helpers
 * --------------------------------------------------- */

static int get_bool(const json_t *o, const char *k, int dflt) {
  const json_t *v = json_object_get(o, k);
  if (!v || json_is_null(v))
    return dflt;
  return json_is_true(v);
}

static const char *get_str(const json_t *o, const char *k) {
  const json_t *v = json_object_get(o, k);
  return json_is_string(v) ? json_string_value(v) : NULL;
}

/* ---- model
 * ------------------------------------------------------------------- */

static int on_vocab(void *ud, const char *k, size_t klen, int64_t v) {
  kvidx__model *m = ud;
  /* The id -> token tables are arrays indexed by id: a sparse id would
   * make a few bytes of JSON allocate gigabytes. (The scanner passes only
   * non-negative ids.) */
  if (v > (int64_t)KVIDX_TOK_MAX_ID)
    return KVIDX_ERANGE;
  return kvidx__strtab_put(&m->vocab, (uint32_t)v, k, klen);
}

/* Merges are resolved in batches: the three vocab lookups of each merge
 * (a, b and a+b) are random accesses into a table of several MB, so the
 * batch's keys are hashed and their slots prefetched before any probe. On
 * Qwen3 this is most of the load time. */
#define MERGE_BATCH 64

typedef struct {
  uint32_t off[3], len[3], h[3]; /* a, b, merged; offsets into arena */
} pending_merge;

typedef struct {
  kvidx__model *m;
  uint32_t rank;
  kvidx__errbuf *err;
  pending_merge batch[MERGE_BATCH];
  size_t n;
  int64_t id_delta; /* merged id - rank of the last merge */
  char *arena;
  size_t used;
} merge_ctx;

static int flush_merges(merge_ctx *c) {
  kvidx__model *m = c->m;
  /* GPT-2-style files list the vocab in merge order, so the merged token's
   * id is usually rank + a constant: try that id first (a sequential read of
   * the pool) and hash only when it misses. */
  int64_t guess[MERGE_BATCH];
  for (size_t i = 0; i < c->n; i++) {
    pending_merge *p = &c->batch[i];
    size_t gl;
    const char *g = kvidx__strtab_str(
        &m->vocab, (uint32_t)(c->rank + i + c->id_delta), &gl);
    guess[i] =
        (g && gl == p->len[2] && memcmp(g, c->arena + p->off[2], gl) == 0)
            ? (int64_t)(c->rank + i + c->id_delta)
            : -1;
    for (int k = 0; k < 3; k++) {
      if (k == 2 && guess[i] >= 0)
        break;
      p->h[k] = kvidx__strtab_hash(c->arena + p->off[k], p->len[k]);
      kvidx__strtab_prefetch(&m->vocab, p->h[k]);
    }
  }
  uint32_t ids[MERGE_BATCH][3];
  for (size_t i = 0; i < c->n; i++) {
    const pending_merge *p = &c->batch[i];
    int64_t id[3];
    for (int k = 0; k < 3; k++)
      id[k] = (k == 2 && guess[i] >= 0)
                  ? guess[i]
                  : kvidx__strtab_get_h(&m->vocab, c->arena + p->off[k],
                                        p->len[k], p->h[k]);
    if (id[2] >= 0)
      c->id_delta = id[2] - (int64_t)(c->rank + i);
    if (id[0] < 0 || id[1] < 0 || id[2] < 0) {
      kvidx__errf(c->err,
                  "BPE merge %u (\"%.*s\" \"%.*s\"): token not in the vocab",
                  c->rank + (uint32_t)i, (int)(p->len[0] > 64 ? 64 : p->len[0]),
                  c->arena + p->off[0], (int)(p->len[1] > 64 ? 64 : p->len[1]),
                  c->arena + p->off[1]);
      return KVIDX_EPARSE;
    }
    for (int k = 0; k < 3; k++)
      ids[i][k] = (uint32_t)id[k];
    kvidx__pairmap_prefetch(&m->merges, ids[i][0], ids[i][1]);
  }
  for (size_t i = 0; i < c->n; i++) {
    int rc = kvidx__pairmap_put(&m->merges, ids[i][0], ids[i][1], c->rank++,
                                ids[i][2]);
    if (rc)
      return rc;
  }
  c->n = 0;
  c->used = 0;
  return 0;
}

static int on_merge(void *ud, const char *a, size_t alen, const char *b,
                    size_t blen) {
  merge_ctx *c = ud;
  /* The merged token drops b's continuing-subword prefix (model.rs). */
  size_t skip = c->m->cont_prefix_len <= blen ? c->m->cont_prefix_len : 0;
  pending_merge *p = &c->batch[c->n++];
  const char *src[3] = {a, b, NULL};
  size_t len[3] = {alen, blen, alen + blen - skip};
  for (int k = 0; k < 2; k++) {
    p->off[k] = (uint32_t)c->used;
    p->len[k] = (uint32_t)len[k];
    memcpy(c->arena + c->used, src[k], len[k]);
    c->used += len[k];
  }
  p->off[2] = (uint32_t)c->used;
  p->len[2] = (uint32_t)len[2];
  memcpy(c->arena + c->used, a, alen);
  memcpy(c->arena + c->used + alen, b + skip, blen - skip);
  c->used += len[2];
  return c->n == MERGE_BATCH ? flush_merges(c) : 0;
}

static int dup_nonempty(const char *s, char **out, size_t *out_len) {
  *out = NULL;
  *out_len = 0;
  if (!s || !*s)
    return 0; /* "" is the same as null */
  *out = strdup(s);
  if (!*out)
    return KVIDX_ENOMEM;
  *out_len = strlen(s);
  return 0;
}

/* Byte-level: the vocab decoded from GPT-2 chars back to raw bytes. Tokens
 * with a char outside the mapping can never be produced and are left out. */
static int build_raw_vocab(kvidx__model *m) {
  int rc = kvidx__strtab_init(&m->raw, m->vocab.count);
  if (rc)
    return rc;
  uint8_t *buf = malloc(KVIDX_TOK_MAX_TOKEN_BYTES);
  if (!buf)
    return KVIDX_ENOMEM;
  for (uint32_t id = 0; id < m->vocab.n_ids && !rc; id++) {
    size_t len;
    const char *s = kvidx__strtab_str(&m->vocab, id, &len);
    if (!s)
      continue;
    size_t o = 0, i = 0;
    int ok = 1;
    while (i < len) {
      uint32_t cp;
      i += kvidx__utf8_decode((const uint8_t *)s + i, &cp);
      int b = kvidx__bytelevel_byte(cp);
      if (b < 0) {
        ok = 0;
        break;
      }
      buf[o++] = (uint8_t)b;
    }
    if (ok)
      rc = kvidx__strtab_put(&m->raw, id, (const char *)buf, o);
  }
  free(buf);
  for (int b = 0; b < 256 && !rc; b++) {
    uint8_t c = (uint8_t)b;
    m->byte_id[b] = (int32_t)kvidx__strtab_get(&m->raw, (const char *)&c, 1);
  }
  return rc;
}

/* Decides whether SentencePiece-style pieces may be cut before U+2581
 * (see kvidx__model.sp_split): collects the chars that some vocab token has
 * right before a U+2581. */
static void find_sp_cuts(kvidx__model *m) {
  m->sp_split = 0;
  m->n_sp_unsafe = 0;
  if (m->ignore_merges || m->cont_prefix || m->eow_suffix ||
      kvidx__strtab_get(&m->vocab, "\xe2\x96\x81", 3) < 0)
    return;
  for (uint32_t id = 0; id < m->vocab.n_ids; id++) {
    size_t len;
    const char *s = kvidx__strtab_str(&m->vocab, id, &len);
    if (!s)
      continue;
    uint32_t prev = 0x2581;
    for (size_t i = 0; i < len;) {
      uint32_t c;
      i += kvidx__utf8_decode((const uint8_t *)s + i, &c);
      if (c == 0x2581 && prev != 0x2581) {
        size_t k = 0;
        while (k < m->n_sp_unsafe && m->sp_unsafe[k] != prev)
          k++;
        if (k == m->n_sp_unsafe) {
          if (k == sizeof m->sp_unsafe / sizeof m->sp_unsafe[0])
            return; /* too many: no cutting */
          m->sp_unsafe[m->n_sp_unsafe++] = prev;
        }
      }
      prev = c;
    }
  }
  m->sp_split = 1;
}

static int load_model(kvidx__model *m, const json_t *jm, const char *text,
                      const kvidx__json_spans *sp, int byte_level,
                      kvidx__errbuf *err) {
  const char *type = get_str(jm, "type");
  if (!type)
    type = sp->merges_end ? "BPE" : "?";
  if (strcmp(type, "BPE") == 0) {
    m->type = KVIDX__MODEL_BPE;
  } else if (strcmp(type, "WordPiece") == 0) {
    m->type = KVIDX__MODEL_WORDPIECE;
  } else {
    kvidx__errf(err,
                "unsupported model type \"%s\" (supported: BPE, "
                "WordPiece)",
                type);
    return KVIDX_EUNSUPPORTED;
  }
  if (!sp->vocab_end) {
    kvidx__errf(err, "model has no vocab");
    return KVIDX_EPARSE;
  }
  if (json_is_number(json_object_get(jm, "dropout")) &&
      json_number_value(json_object_get(jm, "dropout")) > 0.0) {
    kvidx__errf(err, "BPE dropout > 0 is random: unsupported");
    return KVIDX_EUNSUPPORTED;
  }
  int rc =
      kvidx__strtab_init(&m->vocab, (sp->vocab_end - sp->vocab_start) / 12);
  if (!rc)
    rc = kvidx__json_each_vocab(text + sp->vocab_start,
                                sp->vocab_end - sp->vocab_start, on_vocab, m,
                                err);
  if (rc == KVIDX_ERANGE)
    kvidx__errf(err, "vocab id out of range: ids must be 0..%u",
                KVIDX_TOK_MAX_ID);
  if (rc)
    return rc;
  const char *unk = get_str(jm, "unk_token");
  m->unk_id = unk ? kvidx__strtab_get(&m->vocab, unk, strlen(unk)) : -1;
  if (m->type == KVIDX__MODEL_WORDPIECE) {
    const json_t *mic = json_object_get(jm, "max_input_chars_per_word");
    m->max_input_chars =
        json_is_integer(mic) ? (size_t)json_integer_value(mic) : 100;
    if ((rc = dup_nonempty(get_str(jm, "continuing_subword_prefix"),
                           &m->cont_prefix, &m->cont_prefix_len)) != 0)
      return rc;
    if (!json_object_get(jm, "continuing_subword_prefix")) {
      if (!(m->cont_prefix = strdup("##")))
        return KVIDX_ENOMEM;
      m->cont_prefix_len = 2;
    }
    if (m->unk_id < 0) {
      kvidx__errf(err, "WordPiece unk_token \"%s\" not in the vocab",
                  unk ? unk : "(null)");
      return KVIDX_EPARSE;
    }
    return 0;
  }
  m->byte_fallback = get_bool(jm, "byte_fallback", 0);
  m->fuse_unk = get_bool(jm, "fuse_unk", 0);
  m->ignore_merges = get_bool(jm, "ignore_merges", 0);
  if ((rc = dup_nonempty(get_str(jm, "continuing_subword_prefix"),
                         &m->cont_prefix, &m->cont_prefix_len)) != 0 ||
      (rc = dup_nonempty(get_str(jm, "end_of_word_suffix"), &m->eow_suffix,
                         &m->eow_suffix_len)) != 0)
    return rc;
  m->byte_level = byte_level;
  if (byte_level && (m->cont_prefix || m->eow_suffix)) {
    kvidx__errf(err, "byte-level BPE with continuing_subword_prefix or "
                     "end_of_word_suffix: unsupported");
    return KVIDX_EUNSUPPORTED;
  }
  for (int b = 0; b < 256; b++) {
    char name[8];
    snprintf(name, sizeof name, "<0x%02X>", b);
    m->fallback_id[b] = (int32_t)kvidx__strtab_get(&m->vocab, name, 6);
    m->byte_id[b] = -1;
  }
  size_t mlen = sp->merges_end - sp->merges_start;
  if ((rc = kvidx__pairmap_init(&m->merges, mlen / 10)) != 0)
    return rc;
  if (sp->merges_end) {
    merge_ctx *mc = calloc(1, sizeof *mc);
    if (!mc)
      return KVIDX_ENOMEM;
    mc->m = m;
    mc->err = err;
    /* Each merge stores at most 4 token-sized strings' worth of bytes. */
    mc->arena = malloc(MERGE_BATCH * 4 * (size_t)KVIDX_TOK_MAX_TOKEN_BYTES);
    rc = mc->arena ? kvidx__json_each_merge(text + sp->merges_start, mlen,
                                            on_merge, mc, err)
                   : KVIDX_ENOMEM;
    if (!rc)
      rc = flush_merges(mc);
    free(mc->arena);
    free(mc);
    if (rc)
      return rc;
  }
  if (byte_level)
    return build_raw_vocab(m);
  find_sp_cuts(m);
  return 0;
}

static void model_free(kvidx__model *m) {
  kvidx__strtab_free(&m->vocab);
  kvidx__strtab_free(&m->raw);
  kvidx__pairmap_free(&m->merges);
  free(m->cont_prefix);
  free(m->eow_suffix);
}

/* ---- added tokens
 * ------------------------------------------------------------ */

static int64_t token_to_id(const kvidx_tokenizer *t, const char *s,
                           size_t len) {
  for (size_t i = 0; i < t->n_added; i++)
    if (t->added[i].len == len && memcmp(t->added[i].content, s, len) == 0)
      return t->added[i].id;
  return kvidx__strtab_get(&t->model.vocab, s, len);
}

static int load_added(kvidx_tokenizer *t, const json_t *arr,
                      kvidx__errbuf *err) {
  if (!arr || json_is_null(arr))
    return 0;
  if (!json_is_array(arr)) {
    kvidx__errf(err, "added_tokens is not an array");
    return KVIDX_EPARSE;
  }
  size_t n = json_array_size(arr);
  t->added = calloc(n ? n : 1, sizeof *t->added);
  if (!t->added)
    return KVIDX_ENOMEM;
  uint32_t model_size = (uint32_t)t->model.vocab.count;
  for (size_t i = 0; i < n; i++) {
    const json_t *o = json_array_get(arr, i);
    const char *content = get_str(o, "content");
    if (!content) {
      kvidx__errf(err, "added_tokens[%zu] has no content", i);
      return KVIDX_EPARSE;
    }
    size_t len = strlen(content);
    if (len == 0)
      continue; /* the reference skips empty tokens */
    kvidx__added_token tok = {0};
    tok.len = len;
    tok.special = get_bool(o, "special", 0);
    tok.normalized = get_bool(o, "normalized", !tok.special);
    tok.lstrip = get_bool(o, "lstrip", 0);
    tok.rstrip = get_bool(o, "rstrip", 0);
    tok.single_word = get_bool(o, "single_word", 0);
    /* An identical token (same content and flags) is skipped. */
    int dup = 0;
    for (size_t k = 0; k < t->n_added; k++) {
      kvidx__added_token *a = &t->added[k];
      if (a->len == len && memcmp(a->content, content, len) == 0 &&
          a->special == tok.special && a->normalized == tok.normalized &&
          a->lstrip == tok.lstrip && a->rstrip == tok.rstrip &&
          a->single_word == tok.single_word)
        dup = 1;
    }
    if (dup)
      continue;
    int64_t id = token_to_id(t, content, len);
    if (id < 0) {
      uint32_t max = 0;
      int any = 0;
      for (size_t k = 0; k < t->n_added; k++) {
        if (!any || t->added[k].id > max)
          max = t->added[k].id;
        any = 1;
      }
      if (!any)
        id = model_size;
      else
        id = (max >= model_size || model_size == 0) ? (int64_t)max + 1
                                                    : (int64_t)model_size;
    }
    tok.id = (uint32_t)id;
    if (!(tok.content = strdup(content)))
      return KVIDX_ENOMEM;
    t->added[t->n_added++] = tok;
  }
  return 0;
}

/* The normalized=true tokens are matched on normalized text, so their
 * contents are normalized once here. */
static int normalize_added(kvidx_tokenizer *t) {
  if (!t->normalizer)
    return 0;
  kvidx__nbuf out = {0}, tmp = {0};
  int rc = 0;
  for (size_t i = 0; i < t->n_added && !rc; i++) {
    kvidx__added_token *a = &t->added[i];
    if (!a->normalized)
      continue;
    rc = kvidx__normalize(t->normalizer, (const uint8_t *)a->content, a->len,
                          NULL, &out, &tmp);
    if (rc)
      break;
    char *c = malloc(out.len + 1);
    if (!c) {
      rc = KVIDX_ENOMEM;
      break;
    }
    memcpy(c, out.b, out.len);
    c[out.len] = 0;
    free(a->content);
    a->content = c;
    a->len = out.len;
  }
  free(out.b);
  free(out.al);
  free(tmp.b);
  free(tmp.al);
  return rc;
}

/* ---- post-processor
 * ------------------------------------------------------------ */

static int push_id(uint32_t **v, size_t *n, uint32_t id) {
  uint32_t *p = realloc(*v, (*n + 1) * sizeof *p);
  if (!p)
    return KVIDX_ENOMEM;
  p[(*n)++] = id;
  *v = p;
  return 0;
}

/* Wraps the current prefix/suffix: new = pre + old prefix, old suffix + suf. */
static int wrap(kvidx__post *p, const uint32_t *pre, size_t npre,
                const uint32_t *suf, size_t nsuf) {
  uint32_t *np = malloc((npre + p->n_prefix + 1) * sizeof *np);
  if (!np)
    return KVIDX_ENOMEM;
  if (npre)
    memcpy(np, pre, npre * sizeof *np);
  if (p->n_prefix)
    memcpy(np + npre, p->prefix, p->n_prefix * sizeof *np);
  free(p->prefix);
  p->prefix = np;
  p->n_prefix += npre;
  for (size_t i = 0; i < nsuf; i++)
    if (push_id(&p->suffix, &p->n_suffix, suf[i]))
      return KVIDX_ENOMEM;
  p->has_template = 1;
  return 0;
}

static int post_template(kvidx__post *p, const json_t *j, kvidx__errbuf *err) {
  const json_t *single = json_object_get(j, "single");
  const json_t *specials = json_object_get(j, "special_tokens");
  if (!json_is_array(single)) {
    kvidx__errf(err, "TemplateProcessing without a \"single\" template");
    return KVIDX_EPARSE;
  }
  uint32_t *pre = NULL, *suf = NULL;
  size_t npre = 0, nsuf = 0;
  int seen_a = 0, rc = 0;
  for (size_t i = 0; i < json_array_size(single) && !rc; i++) {
    const json_t *item = json_array_get(single, i);
    const json_t *st = json_object_get(item, "SpecialToken");
    const json_t *sq = json_object_get(item, "Sequence");
    if (sq) {
      const char *id = get_str(sq, "id");
      if (!id || strcmp(id, "A") != 0 || seen_a) {
        kvidx__errf(err, "TemplateProcessing single template: only one $A "
                         "sequence is supported");
        rc = KVIDX_EUNSUPPORTED;
      }
      seen_a = 1;
      continue;
    }
    const char *name = st ? get_str(st, "id") : NULL;
    const json_t *def = name ? json_object_get(specials, name) : NULL;
    const json_t *ids = json_object_get(def, "ids");
    if (!json_is_array(ids)) {
      kvidx__errf(err, "TemplateProcessing: special token \"%s\" undefined",
                  name ? name : "?");
      rc = KVIDX_EPARSE;
      break;
    }
    for (size_t k = 0; k < json_array_size(ids) && !rc; k++)
      rc = seen_a
               ? push_id(&suf, &nsuf,
                         (uint32_t)json_integer_value(json_array_get(ids, k)))
               : push_id(&pre, &npre,
                         (uint32_t)json_integer_value(json_array_get(ids, k)));
  }
  if (!rc && !seen_a) {
    /* The reference library then drops the input and returns only the
     * template's special tokens; no real tokenizer has such a template, and
     * passing the input through instead would tokenize differently. */
    kvidx__errf(err, "TemplateProcessing single template without the $A "
                     "sequence is not supported");
    rc = KVIDX_EUNSUPPORTED;
  }
  if (!rc)
    rc = wrap(p, pre, npre, suf, nsuf);
  free(pre);
  free(suf);
  return rc;
}

static int post_pair(kvidx__post *p, const json_t *j, const char *first,
                     const char *last, kvidx__errbuf *err) {
  const json_t *a = json_object_get(j, first), *b = json_object_get(j, last);
  if (!json_is_array(a) || !json_is_array(b)) {
    kvidx__errf(err, "post_processor: missing %s/%s", first, last);
    return KVIDX_EPARSE;
  }
  uint32_t pre = (uint32_t)json_integer_value(json_array_get(a, 1));
  uint32_t suf = (uint32_t)json_integer_value(json_array_get(b, 1));
  return wrap(p, &pre, 1, &suf, 1);
}

static int load_post(kvidx__post *p, const json_t *j, kvidx__errbuf *err,
                     int depth) {
  if (!j || json_is_null(j))
    return 0;
  const char *type = get_str(j, "type");
  if (!type || depth > KVIDX_TOK_MAX_COMPONENT_DEPTH) {
    kvidx__errf(err, "post_processor without a type");
    return KVIDX_EPARSE;
  }
  if (strcmp(type, "TemplateProcessing") == 0)
    return post_template(p, j, err);
  if (strcmp(type, "ByteLevel") == 0) {
    p->trim_offsets |= get_bool(j, "trim_offsets", 1);
    return 0;
  }
  if (strcmp(type, "BertProcessing") == 0)
    return post_pair(p, j, "cls", "sep", err);
  if (strcmp(type, "RobertaProcessing") == 0) {
    p->trim_offsets |= get_bool(j, "trim_offsets", 1);
    return post_pair(p, j, "cls", "sep", err);
  }
  if (strcmp(type, "Sequence") == 0) {
    const json_t *ps = json_object_get(j, "processors");
    for (size_t i = 0; i < json_array_size(ps); i++) {
      int rc = load_post(p, json_array_get(ps, i), err, depth + 1);
      if (rc)
        return rc;
    }
    return 0;
  }
  kvidx__errf(err, "unsupported post_processor type \"%s\"", type);
  return KVIDX_EUNSUPPORTED;
}

/* ---- tokenizer_config.json
 * --------------------------------------------------- */

static const char *special_content(const json_t *v) {
  if (json_is_string(v))
    return json_string_value(v);
  return get_str(v, "content");
}

/* transformers' LlamaTokenizerFast / GemmaTokenizerFast rebuild the
 * post-processor from add_bos_token / add_eos_token (update_post_processor);
 * other classes leave tokenizer.json's post-processor alone. Explicit
 * overrides in opts always rebuild. */
static int apply_config(kvidx_tokenizer *t, const json_t *cfg,
                        const kvidx_tokenizer_opts *opts, kvidx__errbuf *err) {
  int add_bos = -1, add_eos = -1;
  const char *bos = NULL, *eos = NULL;
  if (cfg) {
    const char *cls = get_str(cfg, "tokenizer_class");
    int rebuilds = cls && (strncmp(cls, "LlamaTokenizer", 14) == 0 ||
                           strncmp(cls, "GemmaTokenizer", 14) == 0 ||
                           strncmp(cls, "CodeLlamaTokenizer", 18) == 0);
    bos = special_content(json_object_get(cfg, "bos_token"));
    eos = special_content(json_object_get(cfg, "eos_token"));
    if (rebuilds) {
      add_bos = get_bool(cfg, "add_bos_token", 1);
      add_eos = get_bool(cfg, "add_eos_token", 0);
    }
  }
  if (opts && opts->add_bos >= 0)
    add_bos = opts->add_bos;
  if (opts && opts->add_eos >= 0)
    add_eos = opts->add_eos;
  if (add_bos < 0 && add_eos < 0)
    return 0;
  if (add_bos < 0)
    add_bos = 0;
  if (add_eos < 0)
    add_eos = 0;
  kvidx__post np = {0};
  np.trim_offsets = 0;
  uint32_t pre = 0, suf = 0;
  if (add_bos) {
    int64_t id = bos ? token_to_id(t, bos, strlen(bos)) : -1;
    if (id < 0) {
      kvidx__errf(err, "add_bos_token is set but bos_token \"%s\" is unknown",
                  bos ? bos : "(none)");
      return KVIDX_ECONFIG;
    }
    pre = (uint32_t)id;
  }
  if (add_eos) {
    int64_t id = eos ? token_to_id(t, eos, strlen(eos)) : -1;
    if (id < 0) {
      kvidx__errf(err, "add_eos_token is set but eos_token \"%s\" is unknown",
                  eos ? eos : "(none)");
      return KVIDX_ECONFIG;
    }
    suf = (uint32_t)id;
  }
  int rc = wrap(&np, &pre, add_bos ? 1 : 0, &suf, add_eos ? 1 : 0);
  if (rc)
    return rc;
  free(t->post.prefix);
  free(t->post.suffix);
  t->post = np;
  t->has_bos_override = 1;
  return 0;
}

/* ---- top level
 * ------------------------------------------------------------------ */

/* Is the pre-tokenizer byte-level, i.e. does it end in ByteLevel? ByteLevel
 * anywhere else would need the mapped chars to be visible to later stages,
 * which this engine does not materialise: rejected. */
static int check_byte_level(const kvidx__pretok *p, int *byte_level,
                            kvidx__errbuf *err) {
  *byte_level = 0;
  if (!p)
    return 0;
  if (p->type == KVIDX__PT_BYTELEVEL) {
    *byte_level = 1;
    return 0;
  }
  if (p->type != KVIDX__PT_SEQUENCE)
    return 0;
  for (size_t i = 0; i < p->n_children; i++) {
    const kvidx__pretok *c = &p->children[i];
    int last = i + 1 == p->n_children;
    if (c->type == KVIDX__PT_BYTELEVEL && last)
      *byte_level = 1;
    else if (c->type == KVIDX__PT_BYTELEVEL || c->type == KVIDX__PT_SEQUENCE) {
      int inner;
      if (c->type == KVIDX__PT_SEQUENCE) {
        int rc = check_byte_level(c, &inner, err);
        if (rc)
          return rc;
        if (!inner)
          continue;
      }
      kvidx__errf(err, "ByteLevel pre-tokenizer before other pre-tokenizers "
                       "in a Sequence: unsupported");
      return KVIDX_EUNSUPPORTED;
    }
  }
  return 0;
}

static int check_top(const json_t *root, kvidx__errbuf *err) {
  const json_t *dec = json_object_get(root, "decoder");
  (void)dec; /* decoding is not part of encode; any decoder is accepted */
  if (!json_is_object(json_object_get(root, "model"))) {
    kvidx__errf(err, "tokenizer.json has no model object");
    return KVIDX_EPARSE;
  }
  return 0;
}

static int build(kvidx_tokenizer *t, const char *text, size_t len,
                 const json_t *cfg, const kvidx_tokenizer_opts *opts,
                 kvidx__errbuf *err) {
  kvidx__json_spans sp;
  int rc = kvidx__json_find_spans(text, len, &sp, err);
  if (rc)
    return rc;
  /* The document minus the two big spans, for jansson. */
  size_t a0 = sp.vocab_start, a1 = sp.vocab_end;
  size_t b0 = sp.merges_start, b1 = sp.merges_end;
  if (b1 && (!a1 || b0 < a0)) {
    size_t x0 = a0, x1 = a1;
    a0 = b0, a1 = b1, b0 = x0, b1 = x1;
  }
  size_t small_cap = len - (a1 - a0) - (b1 - b0) + 16;
  char *small = malloc(small_cap);
  if (!small)
    return KVIDX_ENOMEM;
  size_t o = 0;
  if (a1) {
    memcpy(small, text, a0);
    o = a0;
    memcpy(small + o, "null", 4);
    o += 4;
    if (b1) {
      memcpy(small + o, text + a1, b0 - a1);
      o += b0 - a1;
      memcpy(small + o, "null", 4);
      o += 4;
      memcpy(small + o, text + b1, len - b1);
      o += len - b1;
    } else {
      memcpy(small + o, text + a1, len - a1);
      o += len - a1;
    }
  } else {
    memcpy(small, text, len);
    o = len;
  }
  json_error_t jerr;
  json_t *root = json_loadb(small, o, JSON_REJECT_DUPLICATES, &jerr);
  free(small);
  if (!root) {
    kvidx__errf(err, "tokenizer.json: %s (line %d)", jerr.text, jerr.line);
    return KVIDX_EPARSE;
  }
  if ((rc = check_top(root, err)) != 0)
    goto out;
  if ((rc = kvidx__normalizer_parse(json_object_get(root, "normalizer"),
                                    &t->normalizer, err, 0)) != 0)
    goto out;
  if ((rc = kvidx__pretok_parse(json_object_get(root, "pre_tokenizer"),
                                &t->pretok, err, 0)) != 0)
    goto out;
  int byte_level;
  if ((rc = check_byte_level(t->pretok, &byte_level, err)) != 0)
    goto out;
  if ((rc = load_model(&t->model, json_object_get(root, "model"), text, &sp,
                       byte_level, err)) != 0)
    goto out;
  if ((rc = load_added(t, json_object_get(root, "added_tokens"), err)) != 0 ||
      (rc = normalize_added(t)) != 0)
    goto out;
  if ((rc = kvidx__trie_build(&t->trie_raw, t->added, t->n_added, 0)) != 0 ||
      (rc = kvidx__trie_build(&t->trie_norm, t->added, t->n_added, 1)) != 0)
    goto out;
  if ((rc = load_post(&t->post, json_object_get(root, "post_processor"), err,
                      0)) != 0)
    goto out;
  rc = apply_config(t, cfg, opts, err);
  t->vocab_size = t->model.vocab.n_ids;
  while (t->vocab_size > 0 &&
         t->model.vocab.len[t->vocab_size - 1] == UINT32_MAX)
    t->vocab_size--;
  for (size_t i = 0; i < t->n_added; i++)
    if (t->added[i].id + 1 > t->vocab_size)
      t->vocab_size = t->added[i].id + 1;
out:
  json_decref(root);
  return rc;
}

void kvidx_tokenizer_opts_init(kvidx_tokenizer_opts *opts) {
  opts->add_bos = -1;
  opts->add_eos = -1;
  opts->ignore_config = 0;
}

void kvidx_tokenizer_free(kvidx_tokenizer *t) {
  if (!t)
    return;
  kvidx__normalizer_free(t->normalizer);
  kvidx__pretok_free(t->pretok);
  model_free(&t->model);
  for (size_t i = 0; i < t->n_added; i++)
    free(t->added[i].content);
  free(t->added);
  kvidx__trie_free(&t->trie_raw);
  kvidx__trie_free(&t->trie_norm);
  free(t->post.prefix);
  free(t->post.suffix);
  free(t);
}

int kvidx_tokenizer_load_mem(const char *json, size_t json_len,
                             const char *config, size_t config_len,
                             const kvidx_tokenizer_opts *opts,
                             kvidx_tokenizer **out, char *errbuf,
                             size_t err_len) {
  kvidx__errbuf err = {errbuf, err_len};
  if (errbuf && err_len)
    errbuf[0] = 0;
  if (!json || !out)
    return KVIDX_EINVAL;
  *out = NULL;
  json_t *cfg = NULL;
  if (config) {
    json_error_t jerr;
    cfg = json_loadb(config, config_len, JSON_DECODE_INT_AS_REAL, &jerr);
    if (!cfg || !json_is_object(cfg)) {
      kvidx__errf(&err, "tokenizer_config.json: %s (line %d)",
                  cfg ? "not an object" : jerr.text, jerr.line);
      json_decref(cfg);
      return KVIDX_EPARSE;
    }
  }
  kvidx_tokenizer *t = calloc(1, sizeof *t);
  if (!t) {
    json_decref(cfg);
    return KVIDX_ENOMEM;
  }
  t->serial = atomic_fetch_add(&next_serial, 1);
  int rc = build(t, json, json_len, cfg, opts, &err);
  json_decref(cfg);
  if (rc) {
    if (errbuf && err_len && !errbuf[0])
      kvidx__errf(&err, "%s", kvidx_strerror(rc));
    kvidx_tokenizer_free(t);
    return rc;
  }
  *out = t;
  return 0;
}

static int read_file(const char *path, char **out, size_t *len,
                     kvidx__errbuf *err) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    kvidx__errf(err, "%s: %s", path, strerror(errno));
    return errno == ENOENT ? KVIDX_ENOTFOUND : KVIDX_EIO;
  }
  /* Sized from fstat when possible (one read, no regrowth), but read to EOF
   * whatever the size says (pipes, files that change). */
  struct stat st;
  size_t cap = (fstat(fileno(f), &st) == 0 && st.st_size > 0)
                   ? (size_t)st.st_size + 1
                   : (size_t)1 << 20;
  size_t n = 0;
  char *buf = malloc(cap);
  int rc = 0;
  while (buf) {
    if (n == cap) {
      if (cap >= KVIDX_TOK_MAX_FILE_BYTES) {
        kvidx__errf(err, "%s: larger than %u bytes", path,
                    KVIDX_TOK_MAX_FILE_BYTES);
        rc = KVIDX_ETOOBIG;
        break;
      }
      char *nb = realloc(buf, cap * 2);
      if (!nb) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = nb;
      cap *= 2;
    }
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (got == 0) {
      if (ferror(f)) {
        kvidx__errf(err, "%s: read error", path);
        rc = KVIDX_EIO;
      }
      break;
    }
  }
  fclose(f);
  if (!buf)
    return KVIDX_ENOMEM;
  if (rc) {
    free(buf);
    return rc;
  }
  *out = buf;
  *len = n;
  return 0;
}

int kvidx_tokenizer_load(const char *path, const kvidx_tokenizer_opts *opts,
                         kvidx_tokenizer **out, char *errbuf, size_t err_len) {
  kvidx__errbuf err = {errbuf, err_len};
  if (errbuf && err_len)
    errbuf[0] = 0;
  if (!path || !out)
    return KVIDX_EINVAL;
  char *json = NULL, *cfg = NULL;
  size_t json_len = 0, cfg_len = 0;
  int rc = read_file(path, &json, &json_len, &err);
  if (rc)
    return rc;
  if (!opts || !opts->ignore_config) {
    /* The sibling tokenizer_config.json, when present. */
    const char *slash = strrchr(path, '/');
    size_t dir_len = slash ? (size_t)(slash - path) + 1 : 0;
    char *cpath = malloc(dir_len + sizeof "tokenizer_config.json");
    if (!cpath) {
      free(json);
      return KVIDX_ENOMEM;
    }
    memcpy(cpath, path, dir_len);
    strcpy(cpath + dir_len, "tokenizer_config.json");
    rc = read_file(cpath, &cfg, &cfg_len, &err);
    free(cpath);
    if (rc == KVIDX_ENOTFOUND) {
      rc = 0;
      if (errbuf && err_len)
        errbuf[0] = 0;
    }
    if (rc) {
      free(json);
      return rc;
    }
  }
  rc = kvidx_tokenizer_load_mem(json, json_len, cfg, cfg_len, opts, out, errbuf,
                                err_len);
  free(json);
  free(cfg);
  return rc;
}

uint32_t kvidx_tokenizer_vocab_size(const kvidx_tokenizer *tok) {
  return tok ? tok->vocab_size : 0;
}

int64_t kvidx_tokenizer_token_to_id(const kvidx_tokenizer *tok,
                                    const char *token, size_t len) {
  if (!tok || !token)
    return -1;
  return token_to_id(tok, token, len);
}

const char *kvidx_tokenizer_id_to_token(const kvidx_tokenizer *tok, uint32_t id,
                                        size_t *len) {
  if (!tok || !len)
    return NULL;
  for (size_t i = 0; i < tok->n_added; i++)
    if (tok->added[i].id == id) {
      *len = tok->added[i].len;
      return tok->added[i].content;
    }
  return kvidx__strtab_str(&tok->model.vocab, id, len);
}

/*
 * pretok.c: pre-tokenizers (tokenizers/src/pre_tokenizers) and the patterns
 * of Split / Replace.
 *
 * A pre-tokenizer turns the normalized buffer into pieces (byte ranges).
 * Splitting stages only cut ranges; transforming stages (ByteLevel's prefix
 * space, Metaspace) copy their pieces into a scratch buffer. Each stage works
 * on every piece of the previous stage separately, so regex lookahead and end
 * of input are per piece, as in the reference.
 *
 * Regexes: the reference uses Oniguruma. The patterns of the main models are
 * recognised byte for byte and run by the hand-written matchers of
 * split_fast.c; any other regex runs on PCRE2 (UTF, UCP, JIT) after \s and \S
 * are rewritten to the White_Space class (PCRE2's UCP \s also matches
 * U+180E, Oniguruma's does not). PCRE2 10.42 has Unicode 14 tables, older
 * than the reference's 16: see docs/tokenizer.md.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer_internal.h"
#include "tokenizer/unicode.h"

/* ---- patterns
 * ---------------------------------------------------------------- */

static const struct {
  const char *re;
  int fast;
} known[] = {
    {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
     "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
     KVIDX__FAST_L3},
    {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
     "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
     KVIDX__FAST_QWEN},
    {"[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{"
     "Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?["
     "\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'"
     "s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/"
     "]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
     KVIDX__FAST_OSS},
    {"\\p{N}{1,3}", KVIDX__FAST_DIGITS3},
    {"[\xe4\xb8\x80-\xe9\xbe\xa5\xe3\x81\x80-\xe3\x82\x9f\xe3\x82\xa0-\xe3\x83"
     "\xbf]+",
     KVIDX__FAST_DS_CJK},
    {"[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}"
     "\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)"
     "|\\s+",
     KVIDX__FAST_DS_MAIN},
    {"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!"
     "\\S)|\\s+",
     KVIDX__FAST_GPT2},
};

/* ---- Oniguruma classes for PCRE2 ------------------------------------------
 */

/* \p{..} names this engine has the reference's (Unicode 16) tables for. */
static const struct {
  const char *name;
  unsigned bits;
} uc_names[] = {{"L", KVIDX_UC_L},   {"N", KVIDX_UC_N},   {"Lu", KVIDX_UC_LU},
                {"Lt", KVIDX_UC_LT}, {"Lm", KVIDX_UC_LM}, {"Lo", KVIDX_UC_LO},
                {"Ll", KVIDX_UC_LL}, {"M", KVIDX_UC_M},   {"P", KVIDX_UC_P},
                {"S", KVIDX_UC_S}};
#define N_UC_NAMES (sizeof uc_names / sizeof uc_names[0])

static char *uc_ranges[N_UC_NAMES];
static pthread_once_t uc_ranges_once = PTHREAD_ONCE_INIT;

/* "\x{a}-\x{b}..." listing of each class, for use inside [...]. */
static void build_uc_ranges(void) {
  for (size_t k = 0; k < N_UC_NAMES; k++) {
    size_t cap = 1 << 16, o = 0;
    char *str = malloc(cap);
    if (!str)
      return;
    uint32_t c = 0;
    while (c <= 0x10FFFF) {
      if (!(kvidx__uc_class(c) & uc_names[k].bits)) {
        c++;
        continue;
      }
      uint32_t e = c;
      while (e + 1 <= 0x10FFFF && (kvidx__uc_class(e + 1) & uc_names[k].bits))
        e++;
      if (o + 32 >= cap) {
        char *nstr = realloc(str, cap *= 2);
        if (!nstr) {
          free(str);
          return;
        }
        str = nstr;
      }
      o += (size_t)(e == c ? sprintf(str + o, "\\x{%x}", c)
                           : sprintf(str + o, "\\x{%x}-\\x{%x}", c, e));
      c = e + 1;
    }
    str[o] = 0;
    uc_ranges[k] = str;
  }
}

/* Index of the class named at s ("{Lu}..." or "L..."), its length in *len. */
static int uc_lookup(const char *s, size_t *len) {
  if (*s != '{') {
    for (size_t k = 0; k < N_UC_NAMES; k++)
      if (uc_names[k].name[1] == 0 && *s == uc_names[k].name[0]) {
        *len = 1;
        return (int)k;
      }
    return -1;
  }
  const char *close = strchr(s, '}');
  if (!close)
    return -1;
  for (size_t k = 0; k < N_UC_NAMES; k++)
    if (strlen(uc_names[k].name) == (size_t)(close - s - 1) &&
        strncmp(s + 1, uc_names[k].name, (size_t)(close - s - 1)) == 0) {
      *len = (size_t)(close - s) + 1;
      return (int)k;
    }
  return -1;
}

#define WS_LIST                                                                \
  "\\x{9}-\\x{d}\\x{20}\\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}"    \
  "\\x{2029}\\x{202f}\\x{205f}\\x{3000}"

/* Rewrites Oniguruma's \s / \S to the explicit White_Space class and, when
 * expand is set, \p{X} / \P{X} for the classes above to explicit ranges of
 * the reference's tables (PCRE2 10.42's own are Unicode 14). \P{X} inside a
 * [...] is left to PCRE2. */
static char *rewrite_regex(const char *re, int expand) {
  size_t n = strlen(re);
  size_t cap = n * 8 + 256;
  char *out = malloc(cap);
  if (!out)
    return NULL;
  size_t o = 0;
  int in_class = 0;
  for (size_t i = 0; i < n; i++) {
    char c = re[i];
    const char *ins = NULL;
    size_t skip = 0;
    int negate = 0;
    if (c == '\\' && i + 1 < n) {
      char d = re[i + 1];
      if (d == 's' || (d == 'S' && !in_class)) {
        ins = WS_LIST;
        negate = d == 'S';
        skip = 1;
      } else if (expand && (d == 'p' || (d == 'P' && !in_class)) &&
                 uc_ranges[0]) {
        size_t l;
        int k = uc_lookup(re + i + 2, &l);
        if (k >= 0 && uc_ranges[k]) {
          ins = uc_ranges[k];
          negate = d == 'P';
          skip = 1 + l;
        }
      }
    }
    size_t need = (ins ? strlen(ins) : 0) + 8;
    if (o + need >= cap) {
      while (o + need >= cap)
        cap *= 2;
      char *p = realloc(out, cap);
      if (!p) {
        free(out);
        return NULL;
      }
      out = p;
    }
    if (ins) {
      o += (size_t)sprintf(out + o, "%s%s%s",
                           in_class ? ""
                           : negate ? "[^"
                                    : "[",
                           ins, in_class ? "" : "]");
      i += skip;
      continue;
    }
    if (c == '\\' && i + 1 < n) {
      out[o++] = c;
      out[o++] = re[++i];
      continue;
    }
    if (c == '[' && !in_class)
      in_class = 1;
    else if (c == ']' && in_class)
      in_class = 0;
    out[o++] = c;
  }
  out[o] = 0;
  return out;
}

int kvidx__pattern_compile(kvidx__pattern *p, const char *literal,
                           size_t literal_len, const char *regex,
                           kvidx__errbuf *err) {
  memset(p, 0, sizeof *p);
  if (literal) {
    p->literal = malloc(literal_len + 1);
    if (!p->literal)
      return KVIDX_ENOMEM;
    memcpy(p->literal, literal, literal_len);
    p->literal[literal_len] = 0;
    p->literal_len = literal_len;
    return 0;
  }
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
    if (strcmp(regex, known[i].re) == 0)
      p->fast = known[i].fast;
  /* Expanded classes first (unless a hand-written matcher takes over); if
   * the pattern then exceeds PCRE2's size limits, PCRE2's own tables. */
  if (!p->fast)
    pthread_once(&uc_ranges_once, build_uc_ranges);
  int ec = 0;
  PCRE2_SIZE eo;
  for (int expand = !p->fast; expand >= 0 && !p->re; expand--) {
    char *re = rewrite_regex(regex, expand);
    if (!re)
      return KVIDX_ENOMEM;
    p->re = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED,
                          PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK, &ec, &eo,
                          NULL);
    free(re);
  }
  if (!p->re) {
    PCRE2_UCHAR msg[128];
    pcre2_get_error_message(ec, msg, sizeof msg);
    kvidx__errf(err, "regex \"%.80s\": %s", regex, (const char *)msg);
    return KVIDX_EPARSE;
  }
  pcre2_jit_compile(p->re, PCRE2_JIT_COMPLETE); /* best effort */
  return 0;
}

void kvidx__pattern_free(kvidx__pattern *p) {
  free(p->literal);
  pcre2_code_free(p->re);
  memset(p, 0, sizeof *p);
}

/* ---- piece lists
 * ------------------------------------------------------------------ */

int kvidx__pieces_push(kvidx__pieces *p, uint8_t src, size_t off, size_t len) {
  if (len == 0)
    return 0; /* empty splits are dropped */
  if (p->n == p->cap) {
    size_t cap = p->cap ? p->cap * 2 : 256;
    kvidx__piece *v = realloc(p->v, cap * sizeof *v);
    if (!v)
      return KVIDX_ENOMEM;
    p->v = v;
    p->cap = cap;
  }
  p->v[p->n].src = src;
  p->v[p->n].off = (uint32_t)off;
  p->v[p->n].len = (uint32_t)len;
  p->n++;
  return 0;
}

/* A found match list of one piece, for the non-Isolated behaviours. */
typedef struct {
  uint32_t s, e;
  int m;
} mspan;

typedef struct {
  mspan *v;
  size_t n, cap;
} mlist;

static int ml_push(mlist *l, size_t s, size_t e, int m) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 64;
    mspan *v = realloc(l->v, cap * sizeof *v);
    if (!v)
      return KVIDX_ENOMEM;
    l->v = v;
    l->cap = cap;
  }
  l->v[l->n++] = (mspan){(uint32_t)s, (uint32_t)e, m};
  return 0;
}

/* Predicates of the char-based splitters. */
enum { PRED_WS, PRED_NUM, PRED_PUNCT };

static int pred(int which, uint32_t c) {
  unsigned k = kvidx__uc_class(c);
  switch (which) {
  case PRED_WS:
    return (k & KVIDX_UC_WS) != 0;
  case PRED_NUM:
    return (k & KVIDX_UC_NUM) != 0;
  default:
    return (c < 0x80 && c > 0x20 && c < 0x7F &&
            !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
              (c >= 'A' && c <= 'Z'))) ||
           kvidx__uc9_punct(c);
  }
}

/* Finds all matches of a Split pattern in s[0..n) as (span, is_match)
 * covering the whole piece, like pattern.rs's find_matches. */
static int find_matches(const kvidx__pattern *pat, const uint8_t *s, size_t n,
                        pcre2_match_data *md, mlist *out) {
  size_t prev = 0, i = 0;
  int rc = 0;
  if (pat->literal) {
    if (pat->literal_len == 0)
      return ml_push(out, 0, n, 0);
    while (i + pat->literal_len <= n) {
      const uint8_t *f = memmem(s + i, n - i, pat->literal, pat->literal_len);
      if (!f)
        break;
      size_t ms = (size_t)(f - s);
      if (ms > prev && (rc = ml_push(out, prev, ms, 0)) != 0)
        return rc;
      if ((rc = ml_push(out, ms, ms + pat->literal_len, 1)) != 0)
        return rc;
      prev = i = ms + pat->literal_len;
    }
  } else if (pat->fast) {
    while (i < n) {
      size_t e = kvidx__fast_match(pat->fast, s, n, i);
      if (e > i) {
        if (i > prev && (rc = ml_push(out, prev, i, 0)) != 0)
          return rc;
        if ((rc = ml_push(out, i, e, 1)) != 0)
          return rc;
        prev = i = e;
      } else {
        i += kvidx__utf8_len(s[i]);
      }
    }
  } else {
    while (i <= n) {
      int r = pcre2_match(pat->re, s, n, i, PCRE2_NO_UTF_CHECK, md, NULL);
      if (r < 0)
        break;
      PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
      size_t ms = ov[0], me = ov[1];
      if (ms > prev && (rc = ml_push(out, prev, ms, 0)) != 0)
        return rc;
      if ((rc = ml_push(out, ms, me, 1)) != 0)
        return rc;
      prev = me;
      if (me == ms) {
        if (ms >= n)
          break;
        i = ms + kvidx__utf8_len(s[ms]);
      } else {
        i = me;
      }
    }
  }
  if (prev < n)
    rc = ml_push(out, prev, n, 0);
  return rc;
}

static int find_pred(int which, const uint8_t *s, size_t n, mlist *out) {
  size_t prev = 0;
  int rc = 0;
  for (size_t i = 0; i < n && !rc;) {
    uint32_t c;
    size_t l = kvidx__utf8_decode(s + i, &c);
    if (pred(which, c)) {
      if (i > prev)
        rc = ml_push(out, prev, i, 0);
      if (!rc)
        rc = ml_push(out, i, i + l, 1);
      prev = i + l;
    }
    i += l;
  }
  if (!rc && prev < n)
    rc = ml_push(out, prev, n, 0);
  return rc;
}

/* Applies a split behaviour (normalizer.rs::split) to a match list and
 * appends the resulting pieces (relative to base). */
static int apply_behavior(kvidx__split_behavior b, int invert, mlist *ml,
                          kvidx__pieces *out, uint8_t src, size_t base) {
  int rc = 0;
  if (invert)
    for (size_t i = 0; i < ml->n; i++)
      ml->v[i].m = !ml->v[i].m;
  mspan *v = ml->v;
  size_t n = ml->n, k = 0;
  switch (b) {
  case KVIDX__SPLIT_REMOVED:
    for (size_t i = 0; i < n && !rc; i++)
      if (!v[i].m)
        rc = kvidx__pieces_push(out, src, base + v[i].s, v[i].e - v[i].s);
    return rc;
  case KVIDX__SPLIT_ISOLATED:
    for (size_t i = 0; i < n && !rc; i++)
      rc = kvidx__pieces_push(out, src, base + v[i].s, v[i].e - v[i].s);
    return rc;
  case KVIDX__SPLIT_MERGED_PREV: {
    int prev_match = 0;
    for (size_t i = 0; i < n; i++) {
      if (v[i].m && !prev_match && k > 0)
        v[k - 1].e = v[i].e;
      else
        v[k++] = v[i];
      prev_match = v[i].m;
    }
    break;
  }
  case KVIDX__SPLIT_MERGED_NEXT: {
    /* Right to left: a match is merged into the following piece. */
    int prev_match = 0;
    size_t w = n;
    for (size_t i = n; i-- > 0;) {
      int m = v[i].m;
      if (m && !prev_match && w < n)
        v[w].s = v[i].s;
      else
        v[--w] = v[i];
      prev_match = m;
    }
    for (size_t i = w; i < n && !rc; i++)
      rc = kvidx__pieces_push(out, src, base + v[i].s, v[i].e - v[i].s);
    return rc;
  }
  case KVIDX__SPLIT_CONTIGUOUS: {
    int prev_match = 0;
    for (size_t i = 0; i < n; i++) {
      if (v[i].m == prev_match && k > 0)
        v[k - 1].e = v[i].e;
      else
        v[k++] = v[i];
      prev_match = v[i].m;
    }
    break;
  }
  }
  for (size_t i = 0; i < k && !rc; i++)
    rc = kvidx__pieces_push(out, src, base + v[i].s, v[i].e - v[i].s);
  return rc;
}

/* ---- stages
 * ------------------------------------------------------------------------ */

static const uint8_t *piece_bytes(kvidx__pt_ctx *ctx, const kvidx__piece *p) {
  return ctx->bufs[p->src].b + p->off;
}

/* Isolated split with a hand-written matcher, straight into out. */
static int split_fast_isolated(int fast, const uint8_t *s, size_t n,
                               kvidx__pieces *out, uint8_t src, size_t base) {
  size_t prev = 0, i = 0;
  int rc = 0;
  while (i < n && !rc) {
    size_t e = kvidx__fast_match(fast, s, n, i);
    if (e > i) {
      if (i > prev)
        rc = kvidx__pieces_push(out, src, base + prev, i - prev);
      if (!rc)
        rc = kvidx__pieces_push(out, src, base + i, e - i);
      prev = i = e;
    } else {
      i += kvidx__utf8_len(s[i]);
    }
  }
  if (!rc && prev < n)
    rc = kvidx__pieces_push(out, src, base + prev, n - prev);
  return rc;
}

static int split_stage(const kvidx__pattern *pat, kvidx__split_behavior b,
                       int invert, kvidx__pt_ctx *ctx, mlist *ml) {
  int rc = 0;
  ctx->b.n = 0;
  if (!pat->literal && !pat->re && !pat->fast)
    return KVIDX_EINVAL;
  if (!pat->literal && !pat->fast && !ctx->md) {
    ctx->md = pcre2_match_data_create(8, NULL);
    if (!ctx->md)
      return KVIDX_ENOMEM;
  }
  for (size_t i = 0; i < ctx->a.n && !rc; i++) {
    kvidx__piece p = ctx->a.v[i];
    const uint8_t *s = piece_bytes(ctx, &p);
    if (pat->fast && b == KVIDX__SPLIT_ISOLATED && !invert) {
      rc = split_fast_isolated(pat->fast, s, p.len, &ctx->b, p.src, p.off);
      continue;
    }
    ml->n = 0;
    rc = find_matches(pat, s, p.len, ctx->md, ml);
    if (!rc)
      rc = apply_behavior(b, invert, ml, &ctx->b, p.src, p.off);
  }
  kvidx__pieces sw = ctx->a;
  ctx->a = ctx->b;
  ctx->b = sw;
  return rc;
}

static int pred_stage(int which, kvidx__split_behavior b, kvidx__pt_ctx *ctx,
                      mlist *ml) {
  int rc = 0;
  ctx->b.n = 0;
  for (size_t i = 0; i < ctx->a.n && !rc; i++) {
    kvidx__piece p = ctx->a.v[i];
    ml->n = 0;
    rc = find_pred(which, piece_bytes(ctx, &p), p.len, ml);
    if (!rc)
      rc = apply_behavior(b, 0, ml, &ctx->b, p.src, p.off);
  }
  kvidx__pieces sw = ctx->a;
  ctx->a = ctx->b;
  ctx->b = sw;
  return rc;
}

/* Whitespace: \w+|[^\w\s]+ kept, the rest removed. */
static int whitespace_stage(kvidx__pt_ctx *ctx) {
  int rc = 0;
  ctx->b.n = 0;
  for (size_t k = 0; k < ctx->a.n && !rc; k++) {
    kvidx__piece p = ctx->a.v[k];
    const uint8_t *s = piece_bytes(ctx, &p);
    size_t i = 0;
    while (i < p.len && !rc) {
      uint32_t c;
      size_t l = kvidx__utf8_decode(s + i, &c);
      unsigned cls = kvidx__uc_class(c);
      if (cls & KVIDX_UC_WS && !(cls & KVIDX_UC_W)) {
        i += l;
        continue;
      }
      int word = (cls & KVIDX_UC_W) != 0;
      size_t j = i + l;
      while (j < p.len) {
        size_t l2 = kvidx__utf8_decode(s + j, &c);
        unsigned c2 = kvidx__uc_class(c);
        int w2 = (c2 & KVIDX_UC_W) != 0;
        if (word ? !w2 : (w2 || (c2 & KVIDX_UC_WS)))
          break;
        j += l2;
      }
      rc = kvidx__pieces_push(&ctx->b, p.src, p.off + i, j - i);
      i = j;
    }
  }
  kvidx__pieces sw = ctx->a;
  ctx->a = ctx->b;
  ctx->b = sw;
  return rc;
}

/* A transforming stage writes into the next scratch buffer. */
static kvidx__nbuf *next_buf(kvidx__pt_ctx *ctx, uint8_t *src) {
  if (ctx->next_buf >= KVIDX__PT_BUFS)
    return NULL;
  *src = (uint8_t)ctx->next_buf;
  kvidx__nbuf *nb = &ctx->bufs[ctx->next_buf++];
  nb->len = 0;
  nb->track = ctx->bufs[0].track;
  return nb;
}

static int copy_piece(kvidx__pt_ctx *ctx, kvidx__nbuf *dst,
                      const kvidx__piece *p, size_t from, size_t len) {
  const kvidx__nbuf *sb = &ctx->bufs[p->src];
  return kvidx__nbuf_append_al(dst, sb->b + p->off + from, len,
                               sb->track ? sb->al + 2 * (p->off + from) : NULL);
}

/* ByteLevel's add_prefix_space: " " before each piece not starting with a
 * space, aligned to the piece's first char. */
static int prefix_space_stage(kvidx__pt_ctx *ctx) {
  uint8_t src;
  kvidx__nbuf *nb = next_buf(ctx, &src);
  if (!nb)
    return KVIDX_ELIMIT;
  ctx->b.n = 0;
  int rc = 0;
  for (size_t i = 0; i < ctx->a.n && !rc; i++) {
    kvidx__piece p = ctx->a.v[i];
    const kvidx__nbuf *sb = &ctx->bufs[p.src];
    size_t start = nb->len;
    if (sb->b[p.off] != ' ') {
      uint32_t s0 = sb->track ? sb->al[2 * p.off] : 0;
      uint32_t e0 = sb->track ? sb->al[2 * p.off + 1] : 0;
      rc = kvidx__nbuf_append(nb, (const uint8_t *)" ", 1, s0, e0);
    }
    if (!rc)
      rc = copy_piece(ctx, nb, &p, 0, p.len);
    if (!rc)
      rc = kvidx__pieces_push(&ctx->b, src, start, nb->len - start);
  }
  kvidx__pieces sw = ctx->a;
  ctx->a = ctx->b;
  ctx->b = sw;
  return rc;
}

/* Metaspace: ' ' -> replacement, prepend per scheme, optional split before
 * each replacement char (MergedWithNext). */
static int metaspace_stage(const kvidx__pretok *pt, kvidx__pt_ctx *ctx,
                           uint32_t orig_base, mlist *ml) {
  uint8_t src;
  kvidx__nbuf *nb = next_buf(ctx, &src);
  if (!nb)
    return KVIDX_ELIMIT;
  uint8_t rep[4];
  size_t rl = kvidx__utf8_encode(pt->replacement, rep);
  ctx->b.n = 0;
  int rc = 0;
  for (size_t i = 0; i < ctx->a.n && !rc; i++) {
    kvidx__piece p = ctx->a.v[i];
    const kvidx__nbuf *sb = &ctx->bufs[p.src];
    const uint8_t *s = sb->b + p.off;
    size_t start = nb->len;
    uint32_t first_s = sb->track ? sb->al[2 * p.off] : orig_base;
    uint32_t first_e = sb->track ? sb->al[2 * p.off + 1] : 0;
    int starts_rep = (s[0] == ' ') || (p.len >= rl && memcmp(s, rep, rl) == 0);
    int prepend = 0;
    if (pt->prepend_scheme == 0)
      prepend = !starts_rep;
    else if (pt->prepend_scheme == 1)
      prepend = !starts_rep && first_s == 0 && (sb->track || orig_base == 0);
    if (prepend)
      rc = kvidx__nbuf_append(nb, rep, rl, first_s, first_e);
    for (size_t k = 0; k < p.len && !rc; k++) {
      if (s[k] == ' ')
        rc = kvidx__nbuf_append(nb, rep, rl,
                                sb->track ? sb->al[2 * (p.off + k)] : 0,
                                sb->track ? sb->al[2 * (p.off + k) + 1] : 0);
      else
        rc = copy_piece(ctx, nb, &p, k, 1);
    }
    if (rc)
      break;
    if (!pt->meta_split) {
      rc = kvidx__pieces_push(&ctx->b, src, start, nb->len - start);
      continue;
    }
    kvidx__pattern lit = {(char *)rep, rl, NULL, 0};
    ml->n = 0;
    rc = find_matches(&lit, nb->b + start, nb->len - start, NULL, ml);
    if (!rc)
      rc = apply_behavior(KVIDX__SPLIT_MERGED_NEXT, 0, ml, &ctx->b, src, start);
  }
  kvidx__pieces sw = ctx->a;
  ctx->a = ctx->b;
  ctx->b = sw;
  return rc;
}

static int run_stage(const kvidx__pretok *pt, kvidx__pt_ctx *ctx,
                     uint32_t orig_base, mlist *ml) {
  int rc = 0;
  switch (pt->type) {
  case KVIDX__PT_SPLIT:
    return split_stage(&pt->pattern, pt->behavior, pt->invert, ctx, ml);
  case KVIDX__PT_BYTELEVEL:
    if (pt->add_prefix_space && (rc = prefix_space_stage(ctx)) != 0)
      return rc;
    if (pt->use_regex)
      rc = split_stage(&pt->pattern, KVIDX__SPLIT_ISOLATED, 0, ctx, ml);
    return rc; /* the byte mapping itself is virtual: see load.c */
  case KVIDX__PT_METASPACE:
    return metaspace_stage(pt, ctx, orig_base, ml);
  case KVIDX__PT_DIGITS:
    return pred_stage(PRED_NUM,
                      pt->individual_digits ? KVIDX__SPLIT_ISOLATED
                                            : KVIDX__SPLIT_CONTIGUOUS,
                      ctx, ml);
  case KVIDX__PT_WHITESPACE:
    return whitespace_stage(ctx);
  case KVIDX__PT_WHITESPACE_SPLIT:
    return pred_stage(PRED_WS, KVIDX__SPLIT_REMOVED, ctx, ml);
  case KVIDX__PT_PUNCTUATION:
    return pred_stage(PRED_PUNCT, pt->behavior, ctx, ml);
  case KVIDX__PT_BERT:
    if ((rc = pred_stage(PRED_WS, KVIDX__SPLIT_REMOVED, ctx, ml)) != 0)
      return rc;
    return pred_stage(PRED_PUNCT, KVIDX__SPLIT_ISOLATED, ctx, ml);
  case KVIDX__PT_SEQUENCE:
    for (size_t i = 0; i < pt->n_children && !rc; i++)
      rc = run_stage(&pt->children[i], ctx, orig_base, ml);
    return rc;
  }
  return KVIDX_EINVAL;
}

int kvidx__pretokenize(const kvidx__pretok *pt, kvidx__pt_ctx *ctx,
                       uint32_t orig_base) {
  ctx->a.n = 0;
  ctx->next_buf = 1;
  int rc = kvidx__pieces_push(&ctx->a, 0, 0, ctx->bufs[0].len);
  if (rc || !pt)
    return rc;
  /* Fast path: one Isolated split with a hand-written matcher, possibly
   * followed by a ByteLevel without prefix space or regex. */
  const kvidx__pretok *first = pt;
  if (pt->type == KVIDX__PT_SEQUENCE && pt->n_children >= 1)
    first = &pt->children[0];
  mlist ml = {0};
  rc = run_stage(pt, ctx, orig_base, &ml);
  (void)first;
  free(ml.v);
  return rc;
}

/* ---- parsing
 * ------------------------------------------------------------------------ */

static int parse_behavior(const char *s, kvidx__split_behavior *b) {
  static const char *names[] = {"Removed", "Isolated", "MergedWithPrevious",
                                "MergedWithNext", "Contiguous"};
  for (int i = 0; i < 5; i++)
    if (s && strcmp(s, names[i]) == 0) {
      *b = (kvidx__split_behavior)i;
      return 0;
    }
  return KVIDX_EPARSE;
}

static int parse_one(const json_t *j, kvidx__pretok *pt, kvidx__errbuf *err,
                     int depth) {
  const char *type = json_string_value(json_object_get(j, "type"));
  if (!type) {
    kvidx__errf(err, "pre_tokenizer without a type");
    return KVIDX_EPARSE;
  }
  if (depth > KVIDX_TOK_MAX_COMPONENT_DEPTH) {
    kvidx__errf(err, "pre_tokenizer Sequence nested too deep");
    return KVIDX_ELIMIT;
  }
  if (strcmp(type, "Split") == 0) {
    pt->type = KVIDX__PT_SPLIT;
    const char *beh = json_string_value(json_object_get(j, "behavior"));
    if (parse_behavior(beh, &pt->behavior)) {
      kvidx__errf(err, "Split: unknown behavior \"%s\"", beh ? beh : "?");
      return KVIDX_EPARSE;
    }
    pt->invert = json_is_true(json_object_get(j, "invert"));
    const json_t *pat = json_object_get(j, "pattern");
    const json_t *s = json_object_get(pat, "String");
    const json_t *r = json_object_get(pat, "Regex");
    if (json_is_string(s))
      return kvidx__pattern_compile(&pt->pattern, json_string_value(s),
                                    json_string_length(s), NULL, err);
    if (json_is_string(r))
      return kvidx__pattern_compile(&pt->pattern, NULL, 0, json_string_value(r),
                                    err);
    kvidx__errf(err, "Split: pattern must be String or Regex");
    return KVIDX_EPARSE;
  }
  if (strcmp(type, "ByteLevel") == 0) {
    pt->type = KVIDX__PT_BYTELEVEL;
    pt->add_prefix_space =
        !json_is_false(json_object_get(j, "add_prefix_space"));
    pt->use_regex = !json_is_false(json_object_get(j, "use_regex"));
    if (pt->use_regex)
      return kvidx__pattern_compile(
          &pt->pattern, NULL, 0,
          "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|"
          "\\s+(?!\\S)|\\s+",
          err);
    return 0;
  }
  if (strcmp(type, "Metaspace") == 0) {
    pt->type = KVIDX__PT_METASPACE;
    const char *rep = json_string_value(json_object_get(j, "replacement"));
    uint32_t c = 0x2581;
    if (rep && *rep)
      kvidx__utf8_decode((const uint8_t *)rep, &c);
    pt->replacement = c;
    const char *scheme =
        json_string_value(json_object_get(j, "prepend_scheme"));
    if (scheme)
      pt->prepend_scheme = strcmp(scheme, "first") == 0   ? 1
                           : strcmp(scheme, "never") == 0 ? 2
                                                          : 0;
    else
      pt->prepend_scheme =
          json_is_false(json_object_get(j, "add_prefix_space")) ? 2 : 0;
    pt->meta_split = !json_is_false(json_object_get(j, "split"));
    return 0;
  }
  if (strcmp(type, "Digits") == 0) {
    pt->type = KVIDX__PT_DIGITS;
    pt->individual_digits =
        json_is_true(json_object_get(j, "individual_digits"));
    return 0;
  }
  if (strcmp(type, "Whitespace") == 0) {
    pt->type = KVIDX__PT_WHITESPACE;
    return 0;
  }
  if (strcmp(type, "WhitespaceSplit") == 0) {
    pt->type = KVIDX__PT_WHITESPACE_SPLIT;
    return 0;
  }
  if (strcmp(type, "Punctuation") == 0) {
    pt->type = KVIDX__PT_PUNCTUATION;
    const char *beh = json_string_value(json_object_get(j, "behavior"));
    pt->behavior = KVIDX__SPLIT_ISOLATED;
    if (beh && parse_behavior(beh, &pt->behavior)) {
      kvidx__errf(err, "Punctuation: unknown behavior \"%s\"", beh);
      return KVIDX_EPARSE;
    }
    return 0;
  }
  if (strcmp(type, "BertPreTokenizer") == 0) {
    pt->type = KVIDX__PT_BERT;
    return 0;
  }
  if (strcmp(type, "Sequence") == 0) {
    pt->type = KVIDX__PT_SEQUENCE;
    const json_t *arr = json_object_get(j, "pretokenizers");
    size_t n = json_array_size(arr);
    pt->children = calloc(n ? n : 1, sizeof *pt->children);
    if (!pt->children)
      return KVIDX_ENOMEM;
    for (size_t i = 0; i < n; i++) {
      pt->n_children++;
      int rc =
          parse_one(json_array_get(arr, i), &pt->children[i], err, depth + 1);
      if (rc)
        return rc;
    }
    return 0;
  }
  kvidx__errf(err, "unsupported pre_tokenizer type \"%s\"", type);
  return KVIDX_EUNSUPPORTED;
}

int kvidx__pretok_parse(const json_t *j, kvidx__pretok **out,
                        kvidx__errbuf *err, int depth) {
  *out = NULL;
  if (!j || json_is_null(j))
    return 0;
  kvidx__pretok *pt = calloc(1, sizeof *pt);
  if (!pt)
    return KVIDX_ENOMEM;
  int rc = parse_one(j, pt, err, depth);
  if (rc) {
    kvidx__pretok_free(pt);
    return rc;
  }
  *out = pt;
  return 0;
}

static void free_fields(kvidx__pretok *p) {
  kvidx__pattern_free(&p->pattern);
  for (size_t i = 0; i < p->n_children; i++)
    free_fields(&p->children[i]);
  free(p->children);
}

void kvidx__pretok_free(kvidx__pretok *p) {
  if (!p)
    return;
  free_fields(p);
  free(p);
}

/*
 * normalizer.c: the normalizers of tokenizer.json (tokenizers/src/normalizers)
 * applied to a byte buffer while keeping, per output byte, the span of the
 * original text it came from (HF's NormalizedString alignments).
 *
 * Alignment rules reproduced (hf-tokenizer-json.md, NormalizedString): a char
 * that replaces another inherits its span; inserted chars inherit the span of
 * the char they were produced from; Prepend gives the new chars the first
 * char's span; a composed char takes the span of the first char it was
 * composed from.
 *
 * Unicode normalization uses utf8proc (Unicode 15 in Debian 12) where the
 * reference uses Unicode 9.0 tables: characters whose combining class or
 * decomposition changed after 9.0 normalize differently (docs/tokenizer.md).
 * The text is cut into chunks at characters that can neither reorder nor
 * compose with what precedes them, so each chunk normalizes on its own and
 * the common case (a chunk of one character without decomposition) is a copy.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tokenizer/tokenizer_internal.h"
#include "tokenizer/unicode.h"

/* ---- nbuf ------------------------------------------------------------------
 */

int kvidx__nbuf_reserve(kvidx__nbuf *nb, size_t extra) {
  /* A buffer first used without offset tracking has no alignment array yet:
   * it must be made even when the bytes fit. */
  if (nb->len + extra <= nb->cap && (nb->al != NULL || !nb->track))
    return 0;
  size_t cap = nb->cap ? nb->cap : 256;
  while (cap < nb->len + extra)
    cap *= 2;
  uint8_t *b = realloc(nb->b, cap);
  if (!b)
    return KVIDX_ENOMEM;
  nb->b = b;
  if (nb->track || nb->al) {
    uint32_t *al = realloc(nb->al, cap * 2 * sizeof *al);
    if (!al)
      return KVIDX_ENOMEM;
    nb->al = al;
  }
  nb->cap = cap;
  return 0;
}

int kvidx__nbuf_append(kvidx__nbuf *nb, const uint8_t *p, size_t n, uint32_t s,
                       uint32_t e) {
  if (kvidx__nbuf_reserve(nb, n))
    return KVIDX_ENOMEM;
  memcpy(nb->b + nb->len, p, n);
  if (nb->track) {
    uint32_t *al = nb->al + 2 * nb->len;
    for (size_t i = 0; i < n; i++) {
      al[2 * i] = s;
      al[2 * i + 1] = e;
    }
  }
  nb->len += n;
  return 0;
}

int kvidx__nbuf_append_al(kvidx__nbuf *nb, const uint8_t *p, size_t n,
                          const uint32_t *al) {
  if (n == 0)
    return 0; /* nb->b may still be NULL: memcpy(NULL, ..., 0) is UB */
  if (kvidx__nbuf_reserve(nb, n))
    return KVIDX_ENOMEM;
  memcpy(nb->b + nb->len, p, n);
  if (nb->track && al)
    memcpy(nb->al + 2 * nb->len, al, n * 2 * sizeof *al);
  nb->len += n;
  return 0;
}

/* Appends code point c aligned to [s, e). */
static int put_cp(kvidx__nbuf *out, uint32_t c, uint32_t s, uint32_t e) {
  uint8_t tmp[4];
  size_t n = kvidx__utf8_encode(c, tmp);
  return kvidx__nbuf_append(out, tmp, n, s, e);
}

#define AL_S(al, i) ((al) ? (al)[2 * (i)] : 0)
#define AL_E(al, i) ((al) ? (al)[2 * (i) + 1] : 0)

/* ---- Unicode normalization
 * --------------------------------------------------- */

/* Code points with a combining class or decomposition that were assigned
 * after Unicode 9.0 (scripts/gen-nfc-post9.c): unassigned, hence inert, for
 * the reference; copied verbatim here and never combined with anything. */
static const uint32_t post9_ranges[][2] = {
    {0x7FD, 0x7FD},     {0x898, 0x89F},     {0x8CA, 0x8D3},
    {0x9FE, 0x9FE},     {0xC3C, 0xC3C},     {0xD3B, 0xD3C},
    {0xEBA, 0xEBA},     {0x1715, 0x1715},   {0x1ABF, 0x1ACE},
    {0x1DF6, 0x1DFA},   {0x32FF, 0x32FF},   {0xA7F2, 0xA7F4},
    {0xA82C, 0xA82C},   {0xAB69, 0xAB69},   {0x10781, 0x10785},
    {0x10787, 0x107B0}, {0x107B2, 0x107BA}, {0x10D24, 0x10D27},
    {0x10EAB, 0x10EAC}, {0x10EFD, 0x10EFF}, {0x10F46, 0x10F50},
    {0x10F82, 0x10F85}, {0x11070, 0x11070}, {0x1133B, 0x1133B},
    {0x1145E, 0x1145E}, {0x11839, 0x1183A}, {0x11938, 0x11938},
    {0x1193D, 0x1193E}, {0x11943, 0x11943}, {0x119E0, 0x119E0},
    {0x11A34, 0x11A34}, {0x11A47, 0x11A47}, {0x11A99, 0x11A99},
    {0x11D42, 0x11D42}, {0x11D44, 0x11D45}, {0x11D97, 0x11D97},
    {0x11F41, 0x11F42}, {0x16FF0, 0x16FF1}, {0x1E030, 0x1E06D},
    {0x1E08F, 0x1E08F}, {0x1E130, 0x1E136}, {0x1E2AE, 0x1E2AE},
    {0x1E2EC, 0x1E2EF}, {0x1E4EC, 0x1E4EF}, {0x1F16C, 0x1F16C},
    {0x1FBF0, 0x1FBF9},
};

/* Bit set of code points before which a chunk may start (see file header),
 * and of the post-9.0 code points above. */
static uint8_t *boundary_bits, *post9_bits;
/* Per form (NFC, NFD, NFKC, NFKD): boundary chars that the form leaves
 * unchanged. A text made only of those (or ASCII) is its own normal form. */
static uint8_t *stable_bits[4];
static pthread_once_t boundary_once = PTHREAD_ONCE_INIT;

static void build_boundaries(void) {
  uint8_t *combines = calloc(0x110000 / 8, 1);
  uint8_t *bits = calloc(0x110000 / 8, 1);
  uint8_t *post9 = calloc(0x110000 / 8, 1);
  if (!combines || !bits || !post9) {
    free(combines);
    free(bits);
    free(post9);
    return; /* the caller fails with KVIDX_ENOMEM */
  }
  for (size_t r = 0; r < sizeof post9_ranges / sizeof post9_ranges[0]; r++)
    for (uint32_t c = post9_ranges[r][0]; c <= post9_ranges[r][1]; c++)
      post9[c >> 3] |= (uint8_t)(1u << (c & 7));
  utf8proc_int32_t d[32];
  int last;
  for (int32_t c = 0; c < 0x110000; c++) {
    if (c >= 0xD800 && c <= 0xDFFF)
      continue;
    last = 0;
    utf8proc_ssize_t n = utf8proc_decompose_char(
        c, d, 32, UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT, &last);
    for (utf8proc_ssize_t k = 1; k < n && k < 32; k++)
      combines[d[k] >> 3] |= (uint8_t)(1u << (d[k] & 7));
  }
  for (int32_t c = 0; c < 0x110000; c++) {
    if (c >= 0xD800 && c <= 0xDFFF)
      continue;
    if (utf8proc_get_property(c)->combining_class != 0 ||
        (combines[c >> 3] >> (c & 7)) & 1)
      continue;
    last = 0;
    utf8proc_ssize_t n = utf8proc_decompose_char(
        c, d, 32, UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT, &last);
    if (n < 1 || utf8proc_get_property(d[0])->combining_class != 0 ||
        (combines[d[0] >> 3] >> (d[0] & 7)) & 1)
      continue;
    bits[c >> 3] |= (uint8_t)(1u << (c & 7));
  }
  free(combines);
  post9_bits = post9;
  static const utf8proc_option_t forms[4] = {
      UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPOSE,
      UTF8PROC_STABLE | UTF8PROC_DECOMPOSE,
      UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT | UTF8PROC_COMPOSE,
      UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT};
  for (int f = 0; f < 4; f++) {
    uint8_t *st = malloc(0x110000 / 8);
    if (!st)
      return;
    memcpy(st, bits, 0x110000 / 8);
    for (int32_t c = 0x80; c < 0x110000; c++) {
      if (!((st[c >> 3] >> (c & 7)) & 1))
        continue;
      int hangul = c >= 0xAC00 && c <= 0xD7A3;
      if (utf8proc_get_property(c)->decomp_seqindex == UINT16_MAX && !hangul)
        continue;
      last = 0;
      utf8proc_ssize_t n = utf8proc_decompose_char(
          c, d, 32, forms[f] & ~UTF8PROC_COMPOSE, &last);
      if (n > 0 && n <= 32 && (forms[f] & UTF8PROC_COMPOSE))
        n = utf8proc_normalize_utf32(d, n, forms[f]);
      if (n != 1 || d[0] != c)
        st[c >> 3] &= (uint8_t) ~(1u << (c & 7));
    }
    stable_bits[f] = st;
  }
  boundary_bits = bits;
}

static int form_index(kvidx__norm_type t) {
  return t == KVIDX__NORM_NFC    ? 0
         : t == KVIDX__NORM_NFD  ? 1
         : t == KVIDX__NORM_NFKC ? 2
                                 : 3;
}

static int is_stable(const uint8_t *st, uint32_t c) {
  return c < 0x80 || ((st[c >> 3] >> (c & 7)) & 1);
}

static int is_post9(uint32_t c) {
  return c >= 0x7FD && (post9_bits[c >> 3] >> (c & 7)) & 1;
}

static int is_boundary(uint32_t c) {
  if (c < 0x80)
    return 1;
  return (boundary_bits[c >> 3] >> (c & 7)) & 1;
}

/*
 * Writes the normalized chars buf[0..m) of the chunk in[0..n) (nchars chars)
 * with alignments as the reference's NormalizedString gets them:
 * - decomposition (no compose): the chars of one input char's decomposition
 *   all take that char's span;
 * - composition: an output char equal to the next input char takes its span;
 *   another (composed) one takes the next input char's span and absorbs as
 *   many input chars as the remaining counts require.
 * Canonical reordering is not tracked (reordered marks keep the order-based
 * span): offsets only, ids are unaffected.
 */
static int put_aligned(const uint8_t *in, size_t n, size_t nchars,
                       const uint32_t *al, const utf8proc_int32_t *buf,
                       size_t m, utf8proc_option_t opt, int compose,
                       kvidx__nbuf *out) {
  size_t p = 0, pchar = 0; /* next input char: byte offset, index */
  size_t left = 0;         /* decomposition: outputs left for input p */
  int rc = 0;
  for (size_t k = 0; k < m && !rc; k++) {
    uint32_t c;
    size_t l = kvidx__utf8_decode(in + p, &c);
    if (!compose) {
      if (left == 0) {
        utf8proc_int32_t d[32];
        int last = 0;
        utf8proc_ssize_t dl =
            utf8proc_decompose_char((utf8proc_int32_t)c, d, 32, opt, &last);
        left = dl > 0 ? (size_t)dl : 1;
      }
      rc = put_cp(out, (uint32_t)buf[k], AL_S(al, p), AL_E(al, p));
      if (--left == 0 && p + l < n) {
        p += l;
        pchar++;
      }
      continue;
    }
    rc = put_cp(out, (uint32_t)buf[k], AL_S(al, p), AL_E(al, p));
    size_t absorb = 1;
    if ((uint32_t)buf[k] != c && nchars - pchar > m - k)
      absorb += (nchars - pchar) - (m - k);
    while (absorb-- > 0 && p + l < n) {
      p += l;
      pchar++;
      l = kvidx__utf8_len(in[p]);
    }
  }
  return rc;
}

static int unicode_normalize(kvidx__norm_type type, const uint8_t *in, size_t n,
                             const uint32_t *al, kvidx__nbuf *out) {
  pthread_once(&boundary_once, build_boundaries);
  if (!boundary_bits)
    return KVIDX_ENOMEM;
  const uint8_t *st = stable_bits[form_index(type)];
  utf8proc_option_t opt = UTF8PROC_STABLE | UTF8PROC_DECOMPOSE;
  if (type == KVIDX__NORM_NFKC || type == KVIDX__NORM_NFKD)
    opt |= UTF8PROC_COMPAT;
  int compose = type == KVIDX__NORM_NFC || type == KVIDX__NORM_NFKC;
  int compat = (opt & UTF8PROC_COMPAT) != 0;
  utf8proc_int32_t stackbuf[64], *buf = stackbuf;
  size_t bufcap = 64;
  size_t i = 0;
  int rc = 0;
  while (i < n && !rc) {
    /* Copy a run of stable chars, but leave its last char to the chunk
     * below when a combining char follows. */
    size_t j = i, lastc = i;
    while (j < n) {
      uint32_t d;
      size_t l = kvidx__utf8_decode(in + j, &d);
      if (!is_stable(st, d))
        break;
      lastc = j;
      j += l;
    }
    if (j < n && j > i) {
      uint32_t d;
      kvidx__utf8_decode(in + j, &d);
      if (!is_boundary(d) || is_post9(d))
        j = lastc;
    }
    if (j > i) {
      rc = kvidx__nbuf_append_al(out, in + i, j - i, al ? al + 2 * i : NULL);
      i = j;
      continue;
    }
    /* The chunk: one char plus everything up to the next boundary. */
    uint32_t c;
    size_t end = i + kvidx__utf8_decode(in + i, &c);
    const utf8proc_property_t *pr =
        c < 0x80 ? NULL : utf8proc_get_property((utf8proc_int32_t)c);
    size_t nchars = 1;
    if (pr && is_post9(c)) {
      rc = kvidx__nbuf_append_al(out, in + i, end - i, al ? al + 2 * i : NULL);
      i = end;
      continue;
    }
    while (end < n) {
      uint32_t d;
      size_t l = kvidx__utf8_decode(in + end, &d);
      if (is_boundary(d) || is_post9(d))
        break;
      end += l;
      nchars++;
    }
    int hangul = c >= 0xAC00 && c <= 0xD7A3; /* algorithmic decomposition */
    if (nchars == 1 && (!hangul || compose) &&
        (!pr || pr->decomp_seqindex == UINT16_MAX ||
         (!compat && pr->decomp_type != 0))) {
      rc = kvidx__nbuf_append_al(out, in + i, end - i, al ? al + 2 * i : NULL);
      i = end;
      continue;
    }
    utf8proc_ssize_t got;
    for (;;) {
      got = utf8proc_decompose(in + i, (utf8proc_ssize_t)(end - i), buf,
                               (utf8proc_ssize_t)bufcap, opt);
      if (got < 0) {
        rc = KVIDX_EUTF8;
        break;
      }
      if ((size_t)got <= bufcap)
        break;
      if (buf != stackbuf)
        free(buf);
      bufcap = (size_t)got;
      buf = malloc(bufcap * sizeof *buf);
      if (!buf) {
        buf = stackbuf;
        rc = KVIDX_ENOMEM;
        break;
      }
    }
    if (rc)
      break;
    if (compose)
      got = utf8proc_normalize_utf32(buf, got, opt | UTF8PROC_COMPOSE);
    rc = put_aligned(in + i, end - i, nchars, al ? al + 2 * i : NULL, buf,
                     (size_t)got, opt, compose, out);
    i = end;
  }
  if (buf != stackbuf)
    free(buf);
  return rc;
}

int kvidx__normalize_is_noop(const kvidx__normalizer *norm, const uint8_t *in,
                             size_t n) {
  if (!norm)
    return 1;
  if (norm->type == KVIDX__NORM_SEQUENCE) {
    for (size_t k = 0; k < norm->n_children; k++)
      if (!kvidx__normalize_is_noop(&norm->children[k], in, n))
        return 0;
    return 1;
  }
  if (norm->type > KVIDX__NORM_NFKD)
    return 0;
  pthread_once(&boundary_once, build_boundaries);
  if (!boundary_bits)
    return 0;
  const uint8_t *st = stable_bits[form_index(norm->type)];
  size_t i = 0;
  while (i < n) {
    /* ASCII is stable under every form: 8 bytes at a time. */
    while (i + 8 <= n) {
      uint64_t w;
      memcpy(&w, in + i, 8);
      if (w & 0x8080808080808080ull)
        break;
      i += 8;
    }
    if (i >= n)
      break;
    if (in[i] < 0x80) {
      i++;
      continue;
    }
    uint32_t c;
    i += kvidx__utf8_decode(in + i, &c);
    if (!is_stable(st, c))
      return 0;
  }
  return 1;
}

/* ---- per-char maps
 * ------------------------------------------------------------- */

/* Rust char::to_lowercase: the simple mapping, except U+0130 which has a
 * two-char full lowercase mapping. */
static int lowercase(const uint8_t *in, size_t n, const uint32_t *al,
                     kvidx__nbuf *out) {
  int rc = 0;
  for (size_t i = 0; i < n && !rc;) {
    if (in[i] < 0x80) {
      size_t j = i;
      while (j < n && in[j] < 0x80)
        j++;
      if ((rc = kvidx__nbuf_append_al(out, in + i, j - i,
                                      al ? al + 2 * i : NULL)) != 0)
        break;
      for (size_t k = out->len - (j - i); k < out->len; k++)
        if (out->b[k] >= 'A' && out->b[k] <= 'Z')
          out->b[k] = (uint8_t)(out->b[k] + 32);
      i = j;
      continue;
    }
    uint32_t c;
    size_t l = kvidx__utf8_decode(in + i, &c);
    if (c == 0x130) {
      rc = put_cp(out, 'i', AL_S(al, i), AL_E(al, i));
      if (!rc)
        rc = put_cp(out, 0x307, AL_S(al, i), AL_E(al, i));
    } else {
      rc = put_cp(out, (uint32_t)utf8proc_tolower((utf8proc_int32_t)c),
                  AL_S(al, i), AL_E(al, i));
    }
    i += l;
  }
  return rc;
}

static int is_chinese_char(uint32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* BertNormalizer's clean_text and handle_chinese_chars in one pass. */
static int bert_clean(const kvidx__normalizer *nz, const uint8_t *in, size_t n,
                      const uint32_t *al, kvidx__nbuf *out) {
  int rc = 0;
  for (size_t i = 0; i < n && !rc;) {
    uint32_t c;
    size_t l = kvidx__utf8_decode(in + i, &c);
    uint32_t s = AL_S(al, i), e = AL_E(al, i);
    if (nz->clean_text) {
      /* bert.rs: drop NUL, U+FFFD and "control" chars (is_other except
       * \t \n \r) first, then map whitespace to ' '. */
      int tnr = c == '\t' || c == '\n' || c == '\r';
      if (c == 0 || c == 0xFFFD || (!tnr && kvidx__uc9_other(c))) {
        i += l;
        continue;
      }
      if (tnr || (kvidx__uc_class(c) & KVIDX_UC_WS))
        c = ' ';
    }
    if (nz->handle_chinese && is_chinese_char(c)) {
      rc = put_cp(out, ' ', s, e);
      if (!rc)
        rc = put_cp(out, c, s, e);
      if (!rc)
        rc = put_cp(out, ' ', s, e);
    } else {
      rc = put_cp(out, c, s, e);
    }
    i += l;
  }
  return rc;
}

/* Drops marks: nonspacing ones only (Mn, BertNormalizer's strip_accents,
 * unicode_categories' is_mark_nonspacing) or all of Mn/Mc/Me (the
 * StripAccents normalizer's is_combining_mark). Both tables are Unicode 9.0
 * in the reference. */
static int strip_marks(const uint8_t *in, size_t n, const uint32_t *al,
                       int all_marks, kvidx__nbuf *out) {
  int rc = 0;
  for (size_t i = 0; i < n && !rc;) {
    uint32_t c;
    size_t l = kvidx__utf8_decode(in + i, &c);
    int drop = all_marks
                   ? (kvidx__uc_class(c) & KVIDX_UC_M) && !kvidx__uc_after9(c)
                   : kvidx__uc9_mn(c);
    if (!drop)
      rc = kvidx__nbuf_append_al(out, in + i, l, al ? al + 2 * i : NULL);
    i += l;
  }
  return rc;
}

static int strip(const kvidx__normalizer *nz, const uint8_t *in, size_t n,
                 const uint32_t *al, kvidx__nbuf *out) {
  size_t a = 0, b = n;
  while (nz->strip_left && a < b) {
    uint32_t c;
    size_t l = kvidx__utf8_decode(in + a, &c);
    if (!(kvidx__uc_class(c) & KVIDX_UC_WS))
      break;
    a += l;
  }
  while (nz->strip_right && b > a) {
    size_t p = b - 1;
    while (p > a && (in[p] & 0xC0) == 0x80)
      p--;
    uint32_t c;
    kvidx__utf8_decode(in + p, &c);
    if (!(kvidx__uc_class(c) & KVIDX_UC_WS))
      break;
    b = p;
  }
  return kvidx__nbuf_append_al(out, in + a, b - a, al ? al + 2 * a : NULL);
}

/* Replace: non-overlapping leftmost matches, each replaced by the content
 * aligned to the span of the whole match. */
static int replace(const kvidx__normalizer *nz, const uint8_t *in, size_t n,
                   const uint32_t *al, kvidx__nbuf *out) {
  const kvidx__pattern *p = &nz->pattern;
  pcre2_match_data *md = NULL;
  if (!p->literal) {
    md = pcre2_match_data_create_from_pattern(p->re, NULL);
    if (!md)
      return KVIDX_ENOMEM;
  }
  size_t i = 0;
  int rc = 0;
  while (i <= n && !rc) {
    size_t ms, me;
    if (p->literal) {
      if (p->literal_len == 0)
        break;
      const uint8_t *f = p->literal_len <= n - i
                             ? memmem(in + i, n - i, p->literal, p->literal_len)
                             : NULL;
      if (!f)
        break;
      ms = (size_t)(f - in);
      me = ms + p->literal_len;
    } else {
      int r = pcre2_match(p->re, in, n, i, PCRE2_NO_UTF_CHECK, md, NULL);
      if (r < 0)
        break;
      PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
      ms = ov[0];
      me = ov[1];
      if (me == ms) {
        /* An empty match replaces nothing; step over one char. */
        if (ms >= n)
          break;
        size_t l = kvidx__utf8_len(in[ms]);
        rc = kvidx__nbuf_append_al(out, in + i, ms + l - i,
                                   al ? al + 2 * i : NULL);
        i = ms + l;
        continue;
      }
    }
    rc = kvidx__nbuf_append_al(out, in + i, ms - i, al ? al + 2 * i : NULL);
    if (!rc)
      rc = kvidx__nbuf_append(out, (const uint8_t *)nz->content,
                              nz->content_len, AL_S(al, ms), AL_E(al, me - 1));
    i = me;
  }
  if (!rc && i < n)
    rc = kvidx__nbuf_append_al(out, in + i, n - i, al ? al + 2 * i : NULL);
  pcre2_match_data_free(md);
  return rc;
}

static int apply_one(const kvidx__normalizer *nz, const uint8_t *in, size_t n,
                     const uint32_t *al, kvidx__nbuf *out,
                     kvidx__nbuf *scratch) {
  switch (nz->type) {
  case KVIDX__NORM_NFC:
  case KVIDX__NORM_NFD:
  case KVIDX__NORM_NFKC:
  case KVIDX__NORM_NFKD:
    return unicode_normalize(nz->type, in, n, al, out);
  case KVIDX__NORM_LOWERCASE:
    return lowercase(in, n, al, out);
  case KVIDX__NORM_REPLACE:
    return replace(nz, in, n, al, out);
  case KVIDX__NORM_PREPEND:
    if (n > 0) {
      int rc = kvidx__nbuf_append(out, (const uint8_t *)nz->content,
                                  nz->content_len, AL_S(al, 0), AL_E(al, 0));
      if (rc)
        return rc;
    }
    return kvidx__nbuf_append_al(out, in, n, al);
  case KVIDX__NORM_STRIP:
    return strip(nz, in, n, al, out);
  case KVIDX__NORM_STRIP_ACCENTS:
    return strip_marks(in, n, al, 1, out);
  case KVIDX__NORM_BERT: {
    /* clean + chinese, then (NFD + strip marks), then lowercase. */
    scratch->len = 0;
    scratch->track = out->track;
    int rc = bert_clean(nz, in, n, al, scratch);
    if (rc)
      return rc;
    if (nz->strip_accents) {
      kvidx__nbuf t = {0};
      t.track = out->track;
      rc = unicode_normalize(KVIDX__NORM_NFD, scratch->b, scratch->len,
                             scratch->track ? scratch->al : NULL, &t);
      if (!rc) {
        scratch->len = 0;
        rc = strip_marks(t.b, t.len, t.track ? t.al : NULL, 0, scratch);
      }
      free(t.b);
      free(t.al);
      if (rc)
        return rc;
    }
    if (nz->lowercase)
      return lowercase(scratch->b, scratch->len,
                       scratch->track ? scratch->al : NULL, out);
    return kvidx__nbuf_append_al(out, scratch->b, scratch->len,
                                 scratch->track ? scratch->al : NULL);
  }
  case KVIDX__NORM_SEQUENCE:
    break;
  }
  return KVIDX_EINVAL;
}

int kvidx__normalize(const kvidx__normalizer *norm, const uint8_t *in, size_t n,
                     const uint32_t *al, kvidx__nbuf *out, kvidx__nbuf *tmp) {
  out->len = 0;
  out->track = al != NULL;
  tmp->track = out->track;
  if (!norm)
    return kvidx__nbuf_append_al(out, in, n, al);
  if (norm->type != KVIDX__NORM_SEQUENCE) {
    kvidx__nbuf scratch = {0};
    int rc = apply_one(norm, in, n, al, out, &scratch);
    free(scratch.b);
    free(scratch.al);
    return rc;
  }
  /* Sequence (flattened at parse time): ping-pong between out and tmp. */
  int rc = kvidx__nbuf_append_al(out, in, n, al);
  kvidx__nbuf scratch = {0};
  for (size_t k = 0; k < norm->n_children && !rc; k++) {
    tmp->len = 0;
    rc = apply_one(&norm->children[k], out->b, out->len,
                   out->track ? out->al : NULL, tmp, &scratch);
    kvidx__nbuf sw = *out;
    *out = *tmp;
    *tmp = sw;
  }
  free(scratch.b);
  free(scratch.al);
  return rc;
}

/* ---- parsing
 * ------------------------------------------------------------------------ */

static int parse_pattern(const json_t *j, kvidx__pattern *p,
                         kvidx__errbuf *err) {
  const json_t *s = json_object_get(j, "String");
  const json_t *r = json_object_get(j, "Regex");
  if (json_is_string(s))
    return kvidx__pattern_compile(p, json_string_value(s),
                                  json_string_length(s), NULL, err);
  if (json_is_string(r))
    return kvidx__pattern_compile(p, NULL, 0, json_string_value(r), err);
  kvidx__errf(err, "pattern must be {\"String\": ...} or {\"Regex\": ...}");
  return KVIDX_EPARSE;
}

static int parse_one(const json_t *j, kvidx__normalizer *nz, kvidx__errbuf *err,
                     int depth);

static int parse_children(const json_t *arr, kvidx__normalizer *nz,
                          kvidx__errbuf *err, int depth) {
  /* Nested Sequences are flattened: apply order is the same. */
  for (size_t i = 0; i < json_array_size(arr); i++) {
    const json_t *c = json_array_get(arr, i);
    const char *type = json_string_value(json_object_get(c, "type"));
    if (type && strcmp(type, "Sequence") == 0) {
      if (depth > KVIDX_TOK_MAX_COMPONENT_DEPTH) {
        kvidx__errf(err, "normalizer Sequence nested too deep");
        return KVIDX_ELIMIT;
      }
      int rc =
          parse_children(json_object_get(c, "normalizers"), nz, err, depth + 1);
      if (rc)
        return rc;
      continue;
    }
    kvidx__normalizer *ch =
        realloc(nz->children, (nz->n_children + 1) * sizeof *ch);
    if (!ch)
      return KVIDX_ENOMEM;
    nz->children = ch;
    memset(&ch[nz->n_children], 0, sizeof *ch);
    nz->n_children++;
    int rc = parse_one(c, &ch[nz->n_children - 1], err, depth + 1);
    if (rc)
      return rc;
  }
  return 0;
}

static int dup_str(const json_t *v, char **out, size_t *len) {
  *out = strndup(json_string_value(v), json_string_length(v));
  *len = json_string_length(v);
  return *out ? 0 : KVIDX_ENOMEM;
}

static int parse_one(const json_t *j, kvidx__normalizer *nz, kvidx__errbuf *err,
                     int depth) {
  const char *type = json_string_value(json_object_get(j, "type"));
  if (!type) {
    kvidx__errf(err, "normalizer without a type");
    return KVIDX_EPARSE;
  }
  static const struct {
    const char *name;
    kvidx__norm_type t;
  } simple[] = {{"NFC", KVIDX__NORM_NFC},
                {"NFD", KVIDX__NORM_NFD},
                {"NFKC", KVIDX__NORM_NFKC},
                {"NFKD", KVIDX__NORM_NFKD},
                {"Lowercase", KVIDX__NORM_LOWERCASE},
                {"StripAccents", KVIDX__NORM_STRIP_ACCENTS}};
  for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++) {
    if (strcmp(type, simple[i].name) == 0) {
      nz->type = simple[i].t;
      return 0;
    }
  }
  if (strcmp(type, "Sequence") == 0) {
    nz->type = KVIDX__NORM_SEQUENCE;
    return parse_children(json_object_get(j, "normalizers"), nz, err, depth);
  }
  if (strcmp(type, "Replace") == 0) {
    nz->type = KVIDX__NORM_REPLACE;
    const json_t *c = json_object_get(j, "content");
    if (!json_is_string(c)) {
      kvidx__errf(err, "Replace normalizer without content");
      return KVIDX_EPARSE;
    }
    int rc = dup_str(c, &nz->content, &nz->content_len);
    return rc ? rc
              : parse_pattern(json_object_get(j, "pattern"), &nz->pattern, err);
  }
  if (strcmp(type, "Prepend") == 0) {
    nz->type = KVIDX__NORM_PREPEND;
    const json_t *c = json_object_get(j, "prepend");
    if (!json_is_string(c)) {
      kvidx__errf(err, "Prepend normalizer without prepend");
      return KVIDX_EPARSE;
    }
    return dup_str(c, &nz->content, &nz->content_len);
  }
  if (strcmp(type, "Strip") == 0) {
    nz->type = KVIDX__NORM_STRIP;
    nz->strip_left = json_is_true(json_object_get(j, "strip_left"));
    nz->strip_right = json_is_true(json_object_get(j, "strip_right"));
    return 0;
  }
  if (strcmp(type, "BertNormalizer") == 0) {
    nz->type = KVIDX__NORM_BERT;
    const json_t *v;
    nz->clean_text = !json_is_false(json_object_get(j, "clean_text"));
    nz->handle_chinese =
        !json_is_false(json_object_get(j, "handle_chinese_chars"));
    nz->lowercase = !json_is_false(json_object_get(j, "lowercase"));
    v = json_object_get(j, "strip_accents");
    nz->strip_accents =
        (!v || json_is_null(v)) ? nz->lowercase : json_is_true(v);
    return 0;
  }
  kvidx__errf(err, "unsupported normalizer type \"%s\"", type);
  return KVIDX_EUNSUPPORTED;
}

int kvidx__normalizer_parse(const json_t *j, kvidx__normalizer **out,
                            kvidx__errbuf *err, int depth) {
  *out = NULL;
  if (!j || json_is_null(j))
    return 0;
  kvidx__normalizer *nz = calloc(1, sizeof *nz);
  if (!nz)
    return KVIDX_ENOMEM;
  int rc = parse_one(j, nz, err, depth);
  if (rc) {
    kvidx__normalizer_free(nz);
    return rc;
  }
  if (nz->type == KVIDX__NORM_SEQUENCE && nz->n_children == 0) {
    kvidx__normalizer_free(nz); /* Sequence[]: a no-op */
    return 0;
  }
  *out = nz;
  return 0;
}

static void free_fields(kvidx__normalizer *n) {
  kvidx__pattern_free(&n->pattern);
  free(n->content);
  for (size_t i = 0; i < n->n_children; i++)
    free_fields(&n->children[i]);
  free(n->children);
}

void kvidx__normalizer_free(kvidx__normalizer *n) {
  if (!n)
    return;
  free_fields(n);
  free(n);
}

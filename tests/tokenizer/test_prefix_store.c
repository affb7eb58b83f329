/*
 * test_prefix_store.c: the prompt prefix store (src/tokenizer/prefix_store.c)
 * on hand-made encodings: chunking by end offset, longest matched prefix,
 * overlap ratio, per-model separation, LRU bound, bad input.
 */
#include <stdlib.h>
#include <string.h>

#include "../common/test.h"
#include "kvidx.h"
#include "kvidx/tokenizer_registry.h"

/* An encoding owned by the test (the store only reads or grows it). */
static kvidx_encoding enc_make(const uint32_t *ids, const uint32_t *offs,
                               size_t n) {
  kvidx_encoding e;
  memset(&e, 0, sizeof(e));
  e.want_offsets = 1;
  e.n = e.cap = n;
  e.ids = malloc((n ? n : 1) * sizeof(uint32_t));
  e.offsets = malloc((n ? n : 1) * 2 * sizeof(uint32_t));
  if (n) {
    memcpy(e.ids, ids, n * sizeof(uint32_t));
    memcpy(e.offsets, offs, 2 * n * sizeof(uint32_t));
  }
  return e;
}

static void enc_release(kvidx_encoding *e) {
  free(e->ids);
  free(e->offsets);
  memset(e, 0, sizeof(*e));
}

/* Fake tokenizer: one token per `width` bytes, id = the bytes' sum + start. */
static kvidx_encoding fake_encode(const char *text, size_t len, size_t width) {
  size_t n = (len + width - 1) / width;
  uint32_t *ids = malloc((n ? n : 1) * sizeof(uint32_t));
  uint32_t *offs = malloc((n ? n : 1) * 2 * sizeof(uint32_t));
  kvidx_encoding e;
  for (size_t i = 0; i < n; i++) {
    size_t s = i * width, t = s + width < len ? s + width : len;
    uint32_t id = 0;
    for (size_t k = s; k < t; k++)
      id += (unsigned char)text[k];
    ids[i] = id;
    offs[2 * i] = (uint32_t)s;
    offs[2 * i + 1] = (uint32_t)t;
  }
  e = enc_make(ids, offs, n);
  free(ids);
  free(offs);
  return e;
}

/* A store with llm-d's behaviour (word_boundary off) unless said otherwise. */
static kvidx_prefix_store *store_new_wb(size_t block, size_t max_blocks,
                                        int word_boundary) {
  kvidx_prefix_store_opts o;
  kvidx_prefix_store *ps = NULL;
  kvidx_prefix_store_opts_init(&o);
  CHECK_EQ_INT(o.word_boundary, 1);
  o.block_chars = block;
  o.max_blocks = max_blocks;
  o.word_boundary = word_boundary;
  CHECK_OK(kvidx_prefix_store_new(&o, &ps));
  return ps;
}

static kvidx_prefix_store *store_new(size_t block, size_t max_blocks) {
  return store_new_wb(block, max_blocks, 0);
}

/* llm-d's own example (lru_store_test.go): block size 4. */
TEST(llmd_example) {
  const char *text = "The capital of France is Paris";
  uint32_t ids[] = {1, 2, 3, 4, 5, 6};
  uint32_t offs[] = {0, 3, 4, 11, 12, 14, 15, 21, 22, 24, 25, 30};
  kvidx_encoding e = enc_make(ids, offs, 6), out;
  kvidx_prefix_store *ps = store_new(4, 100);
  double overlap = -1;
  size_t matched = 0;
  CHECK_OK(kvidx_prefix_store_add(ps, "m", text, strlen(text), &e));
  memset(&out, 0, sizeof(out));
  out.want_offsets = 1;
  /* Same prompt: 7 whole chunks (28 bytes) of 30; token 6 ends at 30. */
  CHECK_OK(kvidx_prefix_store_find_ex(ps, "m", text, strlen(text), &out,
                                      &overlap, &matched));
  CHECK_EQ_INT(matched, 28);
  CHECK_EQ_DBL(overlap, 28.0 / 30.0, 1e-12);
  CHECK_EQ_INT(out.n, 5);
  for (size_t i = 0; i < 5; i++) {
    CHECK_EQ_INT(out.ids[i], ids[i]);
    CHECK_EQ_INT(out.offsets[2 * i + 1], offs[2 * i + 1]);
  }
  /* A prompt diverging in the 4th chunk ("Fr" -> "Ge"): 3 chunks match. */
  const char *other = "The capital of Germany is Berlin";
  CHECK_OK(kvidx_prefix_store_find_ex(ps, "m", other, strlen(other), &out,
                                      &overlap, &matched));
  CHECK_EQ_INT(matched, 12);
  CHECK_EQ_INT(out.n, 2); /* "The"(0,3) "capital"(4,11); "of" ends at 14 */
  CHECK_EQ_INT(out.ids[1], 2);
  CHECK_EQ_DBL(overlap, 12.0 / (double)strlen(other), 1e-12);
  kvidx_prefix_store_free(ps);
  enc_release(&e);
  enc_release(&out);
}

/* The same example with word_boundary: answers stop at the start of the last
 * whitespace run before the matched length. */
TEST(word_boundary_cut) {
  const char *text = "The capital of France is Paris";
  uint32_t ids[] = {1, 2, 3, 4, 5, 6};
  uint32_t offs[] = {0, 3, 4, 11, 12, 14, 15, 21, 22, 24, 25, 30};
  kvidx_encoding e = enc_make(ids, offs, 6), out;
  kvidx_prefix_store *ps = store_new_wb(4, 100, 1);
  double overlap = -1;
  size_t matched = 0;
  CHECK_OK(kvidx_prefix_store_add(ps, "m", text, strlen(text), &e));
  memset(&out, 0, sizeof(out));
  /* 28 bytes match ("...is Par"): cut at the space before "Paris" -> 24. */
  CHECK_OK(kvidx_prefix_store_find_ex(ps, "m", text, strlen(text), &out,
                                      &overlap, &matched));
  CHECK_EQ_INT(matched, 24);
  CHECK_EQ_DBL(overlap, 24.0 / 30.0, 1e-12);
  CHECK_EQ_INT(out.n, 5);
  /* "The capital of Germany": 12 bytes match ("The capital "), the cut is
   * the space run at 11 -> "The", "capital". */
  const char *other = "The capital of Germany is Berlin";
  CHECK_OK(kvidx_prefix_store_find_ex(ps, "m", other, strlen(other), &out,
                                      &overlap, &matched));
  CHECK_EQ_INT(matched, 11);
  CHECK_EQ_INT(out.n, 2);
  /* Diverging inside the first word: nothing. */
  const char *third = "Tha capital of France is Paris";
  CHECK_OK(kvidx_prefix_store_find_ex(ps, "m", third, strlen(third), &out,
                                      &overlap, &matched));
  CHECK_EQ_INT(matched, 0);
  CHECK_EQ_INT(out.n, 0);
  kvidx_prefix_store_free(ps);
  enc_release(&e);
  enc_release(&out);
}

TEST(models_are_separate) {
  const char *text = "0123456789abcdefghijklmnopqrstuvwxyz";
  kvidx_encoding e = fake_encode(text, strlen(text), 3), out;
  kvidx_prefix_store *ps = store_new(8, 100);
  double overlap = -1;
  memset(&out, 0, sizeof(out));
  CHECK_OK(kvidx_prefix_store_add(ps, "org/a", text, strlen(text), &e));
  CHECK_OK(
      kvidx_prefix_store_find(ps, "org/b", text, strlen(text), &out, &overlap));
  CHECK_EQ_INT(out.n, 0);
  CHECK_EQ_DBL(overlap, 0, 0);
  CHECK_OK(
      kvidx_prefix_store_find(ps, "org/a", text, strlen(text), &out, &overlap));
  CHECK_EQ_DBL(overlap, 32.0 / 36.0, 1e-12);
  CHECK_EQ_INT(out.n, 10); /* tokens ending at <= 32: ends 3,6,...,30 */
  kvidx_prefix_store_free(ps);
  enc_release(&e);
  enc_release(&out);
}

/* Find returns exactly the stored tokens ending inside the matched chunks,
 * for every length of shared prefix. */
TEST(every_divergence_point) {
  char a[200], b[200];
  kvidx_prefix_store *ps = store_new(16, 1000);
  kvidx_encoding ea, out;
  for (size_t i = 0; i < sizeof(a); i++)
    a[i] = (char)('a' + (i * 7) % 26);
  ea = fake_encode(a, sizeof(a), 5);
  CHECK_OK(kvidx_prefix_store_add(ps, "m", a, sizeof(a), &ea));
  memset(&out, 0, sizeof(out));
  for (size_t d = 0; d < sizeof(a); d++) {
    size_t matched = 99999, want_tokens = 0;
    double overlap;
    memcpy(b, a, sizeof(b));
    b[d] = '#';
    CHECK_OK(kvidx_prefix_store_find_ex(ps, "m", b, sizeof(b), &out, &overlap,
                                        &matched));
    CHECK_EQ_INT(matched, d / 16 * 16);
    for (size_t t = 0; t < ea.n; t++)
      if (ea.offsets[2 * t + 1] <= matched)
        want_tokens++;
    CHECK_EQ_INT(out.n, want_tokens);
    for (size_t t = 0; t < out.n; t++)
      CHECK_EQ_INT(out.ids[t], ea.ids[t]);
  }
  kvidx_prefix_store_free(ps);
  enc_release(&ea);
  enc_release(&out);
}

TEST(short_and_empty_prompts) {
  kvidx_prefix_store *ps = store_new(256, 10);
  kvidx_encoding e = fake_encode("hello", 5, 2), empty, out;
  double overlap = -1;
  memset(&empty, 0, sizeof(empty));
  memset(&out, 0, sizeof(out));
  CHECK_OK(kvidx_prefix_store_add(ps, "m", "hello", 5, &e));
  CHECK_OK(kvidx_prefix_store_add(ps, "m", "", 0, &empty));
  CHECK_OK(kvidx_prefix_store_find(ps, "m", "hello", 5, &out, &overlap));
  CHECK_EQ_INT(out.n, 0);
  CHECK_EQ_DBL(overlap, 0, 0);
  CHECK_OK(kvidx_prefix_store_find(ps, "m", "", 0, &out, &overlap));
  kvidx_prefix_store_stats st;
  kvidx_prefix_store_get_stats(ps, &st);
  CHECK_EQ_INT(st.blocks, 0);
  CHECK_EQ_INT(st.misses, 2);
  kvidx_prefix_store_free(ps);
  enc_release(&e);
  enc_release(&out);
}

TEST(lru_bound) {
  /* Three prompts of 2 chunks each, room for 4 chunks. */
  const char *p[3] = {"AAAAaaaa", "BBBBbbbb", "CCCCcccc"};
  kvidx_encoding e[3], out;
  kvidx_prefix_store *ps = store_new(4, 4);
  kvidx_prefix_store_stats st;
  double ov;
  memset(&out, 0, sizeof(out));
  for (int i = 0; i < 3; i++)
    e[i] = fake_encode(p[i], 8, 2);
  CHECK_OK(kvidx_prefix_store_add(ps, "m", p[0], 8, &e[0]));
  CHECK_OK(kvidx_prefix_store_add(ps, "m", p[1], 8, &e[1]));
  /* Touch A so that B is the least recently used. */
  CHECK_OK(kvidx_prefix_store_find(ps, "m", p[0], 8, &out, &ov));
  CHECK_EQ_DBL(ov, 1.0, 0);
  CHECK_OK(kvidx_prefix_store_add(ps, "m", p[2], 8, &e[2]));
  kvidx_prefix_store_get_stats(ps, &st);
  CHECK_EQ_INT(st.blocks, 4);
  CHECK_EQ_INT(st.evictions, 2);
  CHECK_OK(kvidx_prefix_store_find(ps, "m", p[1], 8, &out, &ov));
  CHECK_EQ_DBL(ov, 0, 0);
  CHECK_OK(kvidx_prefix_store_find(ps, "m", p[0], 8, &out, &ov));
  CHECK_EQ_DBL(ov, 1.0, 0);
  CHECK_EQ_INT(out.n, 4);
  CHECK_OK(kvidx_prefix_store_find(ps, "m", p[2], 8, &out, &ov));
  CHECK_EQ_DBL(ov, 1.0, 0);
  kvidx_prefix_store_free(ps);
  for (int i = 0; i < 3; i++)
    enc_release(&e[i]);
  enc_release(&out);
}

/* A prompt of more chunks than fit the stack key buffer, re-added over
 * itself (replacing blocks), and a table that has to grow. */
TEST(long_prompt_and_growth) {
  size_t len = 1 << 20;
  char *t = malloc(len);
  kvidx_encoding e, out;
  kvidx_prefix_store *ps = store_new(64, 100000);
  kvidx_prefix_store_stats st;
  double ov;
  size_t matched;
  for (size_t i = 0; i < len; i++)
    t[i] = (char)(' ' + (i * 31 + i / 97) % 90);
  e = fake_encode(t, len, 7);
  memset(&out, 0, sizeof(out));
  out.want_offsets = 1;
  CHECK_OK(kvidx_prefix_store_add(ps, "m", t, len, &e));
  CHECK_OK(kvidx_prefix_store_add(ps, "m", t, len, &e));
  kvidx_prefix_store_get_stats(ps, &st);
  CHECK_EQ_INT(st.blocks, len / 64);
  CHECK_OK(kvidx_prefix_store_find_ex(ps, "m", t, len, &out, &ov, &matched));
  CHECK_EQ_INT(matched, len);
  CHECK_EQ_INT(out.n, e.n);
  CHECK(memcmp(out.ids, e.ids, e.n * sizeof(uint32_t)) == 0);
  CHECK(memcmp(out.offsets, e.offsets, 2 * e.n * sizeof(uint32_t)) == 0);
  kvidx_prefix_store_free(ps);
  enc_release(&e);
  enc_release(&out);
  free(t);
}

TEST(bad_input) {
  kvidx_prefix_store *ps = store_new(4, 10);
  kvidx_prefix_store_opts o;
  kvidx_prefix_store *bad = NULL;
  uint32_t ids[] = {1, 2};
  uint32_t offs[] = {0, 4, 4, 99}; /* past the end of the text */
  kvidx_encoding e = enc_make(ids, offs, 2), out;
  memset(&out, 0, sizeof(out));
  CHECK_EQ_INT(kvidx_prefix_store_add(ps, "m", "abcdefgh", 8, &e),
               KVIDX_EINVAL);
  e.offsets[3] = 8;
  e.want_offsets = 0;
  CHECK_EQ_INT(kvidx_prefix_store_add(ps, "m", "abcdefgh", 8, &e),
               KVIDX_EINVAL);
  e.want_offsets = 1;
  CHECK_OK(kvidx_prefix_store_add(ps, "m", "abcdefgh", 8, &e));
  CHECK_EQ_INT(kvidx_prefix_store_add(ps, NULL, "abcdefgh", 8, &e),
               KVIDX_EINVAL);
  CHECK_EQ_INT(kvidx_prefix_store_find(ps, "m", NULL, 8, &out, NULL),
               KVIDX_EINVAL);
  kvidx_prefix_store_opts_init(&o);
  o.block_chars = 0;
  CHECK_EQ_INT(kvidx_prefix_store_new(&o, &bad), KVIDX_EINVAL);
  CHECK(bad == NULL);
  kvidx_prefix_store_free(ps);
  enc_release(&e);
}

TEST_MAIN(TEST_CASE(llmd_example), TEST_CASE(word_boundary_cut),
          TEST_CASE(models_are_separate), TEST_CASE(every_divergence_point),
          TEST_CASE(short_and_empty_prompts), TEST_CASE(lru_bound),
          TEST_CASE(long_prompt_and_growth), TEST_CASE(bad_input))

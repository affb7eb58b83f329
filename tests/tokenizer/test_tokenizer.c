/*
 * test_tokenizer.c: unit tests of the tokenizer engine on small synthetic
 * tokenizer.json documents (no downloaded files needed): byte-level BPE
 * merges and ranks, ignore_merges, byte_fallback and fuse_unk, WordPiece,
 * added tokens (leftmost-longest, lstrip/rstrip, normalized=true), the
 * normalizers and pre-tokenizers with their offsets, post-processors and
 * tokenizer_config.json, and the error paths (unknown components, corrupt
 * JSON, invalid UTF-8). The comparison with the Rust reference on real files
 * is tests/tokenizer/golden.py.
 */
#include <pthread.h>

#include "test.h"

/* ---- helpers ------------------------------------------------------------- */

static kvidx_tokenizer *load_str(const char *json, const char *config) {
  kvidx_tokenizer *t = NULL;
  char err[256];
  int rc = kvidx_tokenizer_load_mem(json, strlen(json), config,
                                    config ? strlen(config) : 0, NULL, &t, err,
                                    sizeof err);
  if (rc)
    FAILF("load failed: %s (%s)", err, kvidx_err_name(rc));
  return t;
}

static int load_err(const char *json, char *err, size_t len) {
  kvidx_tokenizer *t = NULL;
  int rc =
      kvidx_tokenizer_load_mem(json, strlen(json), NULL, 0, NULL, &t, err, len);
  if (rc == 0) {
    kvidx_tokenizer_free(t);
    FAILF("load of a bad document succeeded");
  }
  CHECK(t == NULL);
  return rc;
}

/* Encodes and compares with an expected id list (terminated by -1). */
static void check_ids(const kvidx_tokenizer *t, const char *text, int special,
                      const int *want) {
  kvidx_encoding enc;
  kvidx_encoding_init(&enc);
  CHECK_OK(kvidx_tokenizer_encode(t, text, strlen(text), special, &enc));
  size_t n = 0;
  while (want[n] >= 0)
    n++;
  char got[512] = "", exp[512] = "";
  for (size_t i = 0; i < enc.n && strlen(got) < 480; i++)
    snprintf(got + strlen(got), sizeof got - strlen(got), "%u ", enc.ids[i]);
  for (size_t i = 0; i < n && strlen(exp) < 480; i++)
    snprintf(exp + strlen(exp), sizeof exp - strlen(exp), "%d ", want[i]);
  if (enc.n != n || strcmp(got, exp) != 0)
    FAILF("\"%s\": got [%s] want [%s]", text, got, exp);
  kvidx_encoding_free(&enc);
}

#define IDS(...) ((const int[]){__VA_ARGS__, -1})
#define NOIDS ((const int[]){-1})

/* Byte-level BPE over "abc" with merges a+b (rank 0), ab+c (rank 1), b+c
 * (rank 2), a space token and Qwen-style added tokens. */
static const char *BYTE_BPE =
    "{\"version\":\"1.0\",\"added_tokens\":["
    "{\"id\":99,\"content\":\"<|x|>\",\"special\":true,\"normalized\":false},"
    "{\"id\":98,\"content\":\"<|x|>y\",\"special\":false,\"normalized\":false}"
    "],\"normalizer\":{\"type\":\"NFC\"},"
    "\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":"
    "\"Split\",\"pattern\":{\"Regex\":\"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r"
    "\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}| ?[^\\\\s\\\\p{L}\\\\p{N}]+["
    "\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"},\"behavior\":"
    "\"Isolated\",\"invert\":false},{\"type\":\"ByteLevel\",\"add_prefix_"
    "space\":false,\"trim_offsets\":false,\"use_regex\":false}]},"
    "\"post_processor\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,"
    "\"trim_offsets\":false,\"use_regex\":false},"
    "\"decoder\":null,"
    "\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":null,"
    "\"ignore_merges\":false,\"vocab\":{\"a\":0,\"b\":1,\"c\":2,\"\\u0120\":3,"
    "\"ab\":4,\"abc\":5,\"bc\":6,\"\\u0120a\":7,\"1\":8,\"\\u00c3\":9,"
    "\"\\u00a9\":10,\"y\":11,\"\\u00c3\\u00a9\":12},"
    "\"merges\":[\"a b\",\"ab c\",\"b c\",\"\\u0120 a\","
    "\"\\u00c3 \\u00a9\"]}}";

/* ---- BPE ------------------------------------------------------------------
 */

TEST(bpe_byte_level_merges) {
  kvidx_tokenizer *t = load_str(BYTE_BPE, NULL);
  check_ids(t, "abc", 1, IDS(5));
  check_ids(t, "cab", 1, IDS(2, 4));
  check_ids(t, "bc a", 1, IDS(6, 7));
  check_ids(t, "11", 1, IDS(8, 8));
  /* "é" NFC-composed from e + U+0301 is not in this vocab; the composed
   * form's bytes C3 A9 merge. */
  check_ids(t, "\xc3\xa9", 1, IDS(12));
  check_ids(t, "", 1, NOIDS);
  CHECK_EQ_INT(kvidx_tokenizer_vocab_size(t), 15); /* 13 + 2 added */
  kvidx_tokenizer_free(t);
}

TEST(bpe_added_tokens_leftmost_longest) {
  kvidx_tokenizer *t = load_str(BYTE_BPE, NULL);
  /* The JSON ids (99, 98) are ignored: added tokens get 13, 14. */
  CHECK_EQ_INT(kvidx_tokenizer_token_to_id(t, "<|x|>", 5), 13);
  CHECK_EQ_INT(kvidx_tokenizer_token_to_id(t, "<|x|>y", 6), 14);
  check_ids(t, "a<|x|>ya<|x|>", 0, IDS(0, 14, 0, 13));
  kvidx_tokenizer_free(t);
}

TEST(bpe_offsets) {
  kvidx_tokenizer *t = load_str(BYTE_BPE, NULL);
  kvidx_encoding enc;
  kvidx_encoding_init(&enc);
  enc.want_offsets = 1;
  const char *text = "abc a<|x|>";
  CHECK_OK(kvidx_tokenizer_encode(t, text, strlen(text), 1, &enc));
  CHECK_EQ_INT(enc.n, 3);
  CHECK_EQ_INT(enc.offsets[0], 0);
  CHECK_EQ_INT(enc.offsets[1], 3);
  CHECK_EQ_INT(enc.offsets[2], 3);
  CHECK_EQ_INT(enc.offsets[3], 5);
  CHECK_EQ_INT(enc.offsets[4], 5);
  CHECK_EQ_INT(enc.offsets[5], 10);
  kvidx_encoding_free(&enc);
  kvidx_tokenizer_free(t);
}

static const char *SP_BPE =
    "{\"added_tokens\":[{\"id\":0,\"content\":\"<unk>\",\"special\":true},"
    "{\"id\":1,\"content\":\"<s>\",\"special\":true,\"normalized\":false}],"
    "\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":"
    "\"Prepend\",\"prepend\":\"\\u2581\"},{\"type\":\"Replace\",\"pattern\":"
    "{\"String\":\" \"},\"content\":\"\\u2581\"}]},\"pre_tokenizer\":null,"
    "\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{"
    "\"SpecialToken\":{\"id\":\"<s>\",\"type_id\":0}},{\"Sequence\":{\"id\":"
    "\"A\",\"type_id\":0}}],\"special_tokens\":{\"<s>\":{\"id\":\"<s>\","
    "\"ids\":[1],\"tokens\":[\"<s>\"]}}},"
    "\"model\":{\"type\":\"BPE\",\"unk_token\":\"<unk>\",\"byte_fallback\":"
    "true,\"fuse_unk\":true,\"vocab\":{\"<unk>\":0,\"<s>\":1,\"<0xE2>\":2,"
    "\"<0x82>\":3,\"<0xAC>\":4,\"\\u2581\":5,\"h\":6,\"i\":7,\"\\u2581h\":8,"
    "\"\\u2581hi\":9},\"merges\":[\"\\u2581 h\",\"\\u2581h i\"]}}";

TEST(bpe_sentencepiece_style) {
  kvidx_tokenizer *t = load_str(SP_BPE, NULL);
  check_ids(t, "hi", 1, IDS(1, 9));
  check_ids(t, "hi", 0, IDS(9));
  /* U+20AC is not in the vocab: byte fallback to <0xE2><0x82><0xAC>. */
  check_ids(t, "hi \xe2\x82\xac", 0, IDS(9, 5, 2, 3, 4));
  /* Prepend applies per segment between added tokens. */
  check_ids(t, "hi<s>hi", 0, IDS(9, 1, 9));
  kvidx_tokenizer_free(t);
}

TEST(wordpiece_bert) {
  const char *json =
      "{\"added_tokens\":[{\"id\":0,\"content\":\"[UNK]\",\"special\":true},"
      "{\"id\":1,\"content\":\"[CLS]\",\"special\":true},{\"id\":2,"
      "\"content\":\"[SEP]\",\"special\":true}],\"normalizer\":{\"type\":"
      "\"BertNormalizer\",\"clean_text\":true,\"handle_chinese_chars\":true,"
      "\"strip_accents\":null,\"lowercase\":true},\"pre_tokenizer\":{"
      "\"type\":\"BertPreTokenizer\"},\"post_processor\":{\"type\":"
      "\"BertProcessing\",\"sep\":[\"[SEP]\",2],\"cls\":[\"[CLS]\",1]},"
      "\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\","
      "\"continuing_subword_prefix\":\"##\",\"max_input_chars_per_word\":100,"
      "\"vocab\":{\"[UNK]\":0,\"[CLS]\":1,\"[SEP]\":2,\"hello\":3,\"!\":4,"
      "\"un\":5,\"##aff\":6,\"##able\":7,\"\\u4e2d\":8,\"cafe\":9}}}";
  kvidx_tokenizer *t = load_str(json, NULL);
  check_ids(t, "Hello!", 1, IDS(1, 3, 4, 2));
  check_ids(t, "unaffable", 0, IDS(5, 6, 7));
  check_ids(t, "unaffablex", 0, IDS(0));
  check_ids(t, "hello\xe4\xb8\xad", 0, IDS(3, 8));
  check_ids(t, "CAF\xc3\x89", 0, IDS(9));    /* accents stripped, lowercased */
  check_ids(t, "hello\x0bhello", 0, IDS(0)); /* \v is a control: removed */
  kvidx_tokenizer_free(t);
}

/* ---- config and post-processing --------------------------------------------
 */

TEST(config_add_bos_rebuilds_template) {
  const char *cfg = "{\"tokenizer_class\":\"LlamaTokenizerFast\","
                    "\"add_bos_token\":true,\"add_eos_token\":true,"
                    "\"bos_token\":{\"content\":\"<|x|>\"},\"eos_token\":"
                    "\"<|x|>y\",\"model_max_length\":1e30}";
  kvidx_tokenizer *t = load_str(BYTE_BPE, cfg);
  check_ids(t, "abc", 1, IDS(13, 5, 14));
  check_ids(t, "abc", 0, IDS(5));
  kvidx_tokenizer_free(t);
  /* Another class leaves the post-processor alone. */
  const char *cfg2 = "{\"tokenizer_class\":\"Qwen2Tokenizer\","
                     "\"add_bos_token\":true,\"bos_token\":\"<|x|>\"}";
  t = load_str(BYTE_BPE, cfg2);
  check_ids(t, "abc", 1, IDS(5));
  kvidx_tokenizer_free(t);
}

/* ---- errors
 * ------------------------------------------------------------------ */

TEST(error_unknown_components_named) {
  char err[256];
  CHECK_EQ_INT(load_err("{\"model\":{\"type\":\"Unigram\",\"vocab\":[]}}", err,
                        sizeof err),
               KVIDX_EUNSUPPORTED);
  CHECK(strstr(err, "Unigram") != NULL);
  CHECK_EQ_INT(load_err("{\"normalizer\":{\"type\":\"Precompiled\"},"
                        "\"model\":{\"type\":\"BPE\",\"vocab\":{},"
                        "\"merges\":[]}}",
                        err, sizeof err),
               KVIDX_EUNSUPPORTED);
  CHECK(strstr(err, "Precompiled") != NULL);
  CHECK_EQ_INT(load_err("{\"pre_tokenizer\":{\"type\":\"Frobnicate\"},"
                        "\"model\":{\"type\":\"BPE\",\"vocab\":{},"
                        "\"merges\":[]}}",
                        err, sizeof err),
               KVIDX_EUNSUPPORTED);
  CHECK(strstr(err, "Frobnicate") != NULL);
  CHECK_EQ_INT(load_err("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},"
                        "\"merges\":[\"a b\"]}}",
                        err, sizeof err),
               KVIDX_EPARSE);
  CHECK(strstr(err, "merge") != NULL);
  /* A single template without $A (found by fuzz_tokenizer_load: an empty
   * one passed NULL to memcpy) is refused, not taken as "$A". */
  static const char *const templates[] = {
      "[]", "[{\"SpecialToken\":{\"id\":\"<s>\",\"type_id\":0}}]"};
  for (size_t i = 0; i < sizeof templates / sizeof templates[0]; i++) {
    char json[512];
    snprintf(json, sizeof json,
             "{\"post_processor\":{\"type\":\"TemplateProcessing\","
             "\"single\":%s,\"special_tokens\":{\"<s>\":{\"id\":\"<s>\","
             "\"ids\":[1],\"tokens\":[\"<s>\"]}}},\"model\":{\"type\":"
             "\"BPE\",\"vocab\":{\"<s>\":1},\"merges\":[]}}",
             templates[i]);
    CHECK_EQ_INT(load_err(json, err, sizeof err), KVIDX_EUNSUPPORTED);
    CHECK(strstr(err, "$A") != NULL);
  }
  /* Vocab ids index dense tables: one far out of range (found by
   * fuzz_tokenizer_load: 1027179750 asked for 4 GiB) is refused before
   * anything is allocated for it (a negative one is a parse error). */
  static const char *const bad_ids[] = {"16777216", "1027179750", "4294967294"};
  for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
    char json[256];
    snprintf(json, sizeof json,
             "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":%s},"
             "\"merges\":[]}}",
             bad_ids[i]);
    CHECK_EQ_INT(load_err(json, err, sizeof err), KVIDX_ERANGE);
    CHECK(strstr(err, "vocab id") != NULL);
  }
}

TEST(error_truncated_and_corrupt_json) {
  char err[256];
  size_t n = strlen(BYTE_BPE);
  /* Every truncation of a valid document is an error, never a crash. */
  for (size_t cut = 0; cut < n; cut += 7) {
    char *p = malloc(cut + 1);
    memcpy(p, BYTE_BPE, cut);
    p[cut] = 0;
    kvidx_tokenizer *t = NULL;
    int rc =
        kvidx_tokenizer_load_mem(p, cut, NULL, 0, NULL, &t, err, sizeof err);
    if (rc == 0)
      FAILF("truncation at %zu loaded", cut);
    free(p);
  }
  CHECK_EQ_INT(load_err("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":x}}}",
                        err, sizeof err),
               KVIDX_EPARSE);
  CHECK_EQ_INT(load_err("not json", err, sizeof err), KVIDX_EPARSE);
}

TEST(error_missing_file) {
  kvidx_tokenizer *t = NULL;
  char err[256];
  CHECK_EQ_INT(kvidx_tokenizer_load("/nonexistent/tokenizer.json", NULL, &t,
                                    err, sizeof err),
               KVIDX_ENOTFOUND);
  CHECK(strstr(err, "/nonexistent") != NULL);
}

TEST(encode_bad_input) {
  kvidx_tokenizer *t = load_str(BYTE_BPE, NULL);
  kvidx_encoding enc;
  kvidx_encoding_init(&enc);
  CHECK_EQ_INT(kvidx_tokenizer_encode(t, "a\xff", 2, 1, &enc), KVIDX_EUTF8);
  CHECK_EQ_INT(kvidx_tokenizer_encode(t, "\xed\xa0\x80", 3, 1, &enc),
               KVIDX_EUTF8); /* a surrogate */
  CHECK_EQ_INT(kvidx_tokenizer_encode(t, "\xc3", 1, 1, &enc), KVIDX_EUTF8);
  CHECK_EQ_INT(enc.n, 0);
  /* NUL bytes are text like any other; this vocab has no byte 0 and no
   * unk token, so it is dropped (as the reference does). */
  CHECK_OK(kvidx_tokenizer_encode(t, "a\0b", 3, 1, &enc));
  CHECK_EQ_INT(enc.n, 2);
  CHECK_EQ_INT(enc.ids[0], 0);
  CHECK_EQ_INT(enc.ids[1], 1);
  kvidx_encoding_free(&enc);
  kvidx_tokenizer_free(t);
}

TEST(encode_multi_megabyte) {
  kvidx_tokenizer *t = load_str(BYTE_BPE, NULL);
  size_t n = 4u << 20;
  char *s = malloc(n);
  for (size_t i = 0; i < n; i++)
    s[i] = "abc "[i % 4];
  kvidx_encoding enc;
  kvidx_encoding_init(&enc);
  CHECK_OK(kvidx_tokenizer_encode(t, s, n, 0, &enc));
  /* "abc", " abc", ...: " abc" merges a+b first, so it is [Ġ, abc]
   * (checked against the reference). */
  CHECK_EQ_INT(enc.n, n / 2); /* the text ends with a lone " " */
  CHECK_EQ_INT(enc.ids[0], 5);
  CHECK_EQ_INT(enc.ids[1], 3);
  CHECK_EQ_INT(enc.ids[2], 5);
  /* A single 4 MB pre-token: the BPE heap path on 4M symbols. */
  memset(s, 'a', n);
  CHECK_OK(kvidx_tokenizer_encode(t, s, n, 0, &enc));
  CHECK_EQ_INT(enc.n, n); /* no a+a merge: one token per byte */
  kvidx_encoding_free(&enc);
  free(s);
  kvidx_tokenizer_free(t);
}

/* ---- threads
 * ------------------------------------------------------------------ */

static void *encode_loop(void *arg) {
  const kvidx_tokenizer *t = arg;
  kvidx_encoding enc;
  kvidx_encoding_init(&enc);
  for (int i = 0; i < 2000; i++) {
    if (kvidx_tokenizer_encode(t, "abc bc a cab", 12, 1, &enc) != 0 ||
        enc.n != 7 || enc.ids[0] != 5 || enc.ids[2] != 6 || enc.ids[6] != 4)
      return (void *)1;
  }
  kvidx_encoding_free(&enc);
  return NULL;
}

TEST(encode_threads_share_tokenizer) {
  kvidx_tokenizer *t = load_str(BYTE_BPE, NULL);
  pthread_t th[4];
  for (int i = 0; i < 4; i++)
    CHECK_EQ_INT(pthread_create(&th[i], NULL, encode_loop, t), 0);
  for (int i = 0; i < 4; i++) {
    void *r;
    pthread_join(th[i], &r);
    CHECK(r == NULL);
  }
  kvidx_tokenizer_free(t);
}

TEST_MAIN(TEST_CASE(bpe_byte_level_merges),
          TEST_CASE(bpe_added_tokens_leftmost_longest), TEST_CASE(bpe_offsets),
          TEST_CASE(bpe_sentencepiece_style), TEST_CASE(wordpiece_bert),
          TEST_CASE(config_add_bos_rebuilds_template),
          TEST_CASE(error_unknown_components_named),
          TEST_CASE(error_truncated_and_corrupt_json),
          TEST_CASE(error_missing_file), TEST_CASE(encode_bad_input),
          TEST_CASE(encode_multi_megabyte),
          TEST_CASE(encode_threads_share_tokenizer))

/*
 * test_prefix_store_reuse.c: one kvidx_encoding used first as the output of
 * a prefix-store lookup and then of a tokenizer encode, as the indexer does
 * for every prompt (kvidx_indexer_score_prompt: find, and on a miss encode
 * with offsets into the same encoding). The lookup must leave the encoding
 * in the state kvidx_tokenizer_encode() expects: offsets sized for cap
 * tokens, even when offsets were off during the lookup. Before the fix this
 * crashed kvidxd on a prompt scored from a second HTTP thread.
 */
#include "test.h"

/* WordPiece over "ab", "c", "##c", split on whitespace. */
static const char *WORDPIECE =
    "{\"version\":\"1.0\",\"added_tokens\":[],\"normalizer\":null,"
    "\"pre_tokenizer\":{\"type\":\"WhitespaceSplit\"},\"post_processor\":null,"
    "\"decoder\":null,\"model\":{\"type\":\"WordPiece\",\"unk_token\":"
    "\"[UNK]\",\"continuing_subword_prefix\":\"##\","
    "\"max_input_chars_per_word\":100,\"vocab\":{\"[UNK]\":0,\"ab\":1,"
    "\"##c\":2,\"c\":3}}}";

/* "ab abc c ab " repeated: 5 tokens per 12 bytes. */
static char *make_text(size_t reps) {
  char *t = malloc(12 * reps + 1);
  for (size_t i = 0; i < reps; i++)
    memcpy(t + 12 * i, "ab abc c ab ", 12);
  t[12 * reps] = '\0';
  return t;
}

TEST(encode_with_offsets_after_lookup_without) {
  kvidx_tokenizer *tok = NULL;
  char err[256] = "";
  CHECK_OK(kvidx_tokenizer_load_mem(WORDPIECE, strlen(WORDPIECE), NULL, 0, NULL,
                                    &tok, err, sizeof err));
  kvidx_prefix_store_opts po;
  kvidx_prefix_store_opts_init(&po);
  po.block_chars = 16;
  kvidx_prefix_store *ps = NULL;
  CHECK_OK(kvidx_prefix_store_new(&po, &ps));
  char *text = make_text(200);
  size_t len = strlen(text);

  /* Store the tokens of the first half of the text. */
  kvidx_encoding first;
  kvidx_encoding_init(&first);
  first.want_offsets = 1;
  CHECK_OK(kvidx_tokenizer_encode(tok, text, len / 2, 1, &first));
  CHECK_OK(kvidx_prefix_store_add(ps, "m", text, len / 2, &first));

  /* A fresh encoding, offsets off: the lookup finds the stored half. */
  kvidx_encoding enc;
  kvidx_encoding_init(&enc);
  double overlap = 0;
  CHECK_OK(kvidx_prefix_store_find(ps, "m", text, len, &enc, &overlap));
  CHECK(enc.n > 0);
  CHECK(overlap > 0.3 && overlap < 0.7);

  /* Then the full encode, with offsets, into the same encoding. */
  enc.want_offsets = 1;
  CHECK_OK(kvidx_tokenizer_encode(tok, text, len, 1, &enc));
  CHECK_EQ_INT(enc.n, 5 * 200);
  CHECK_EQ_INT(enc.offsets[2 * (enc.n - 1)], len - 3);
  CHECK_EQ_INT(enc.offsets[2 * (enc.n - 1) + 1], len - 1);

  kvidx_encoding_free(&enc);
  kvidx_encoding_free(&first);
  free(text);
  kvidx_prefix_store_free(ps);
  kvidx_tokenizer_free(tok);
}

TEST_MAIN(TEST_CASE(encode_with_offsets_after_lookup_without))

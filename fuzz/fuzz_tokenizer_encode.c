/*
 * fuzz_tokenizer_encode.c: libFuzzer target for kvidx_tokenizer_encode.
 *
 * The first input byte picks one of three small tokenizers covering the
 * engine's paths (byte-level BPE with NFC, the Qwen split regex and added
 * tokens with lstrip/rstrip/single_word; SentencePiece-style BPE with
 * byte_fallback, fuse_unk and Metaspace; WordPiece with BertNormalizer and
 * BertPreTokenizer); the rest is the text. Checks: invalid UTF-8 is
 * KVIDX_EUTF8, never a crash; otherwise every id is below the vocab size and
 * every offset span lies inside the text.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kvidx.h"

static const char *DOCS[3] = {
    "{\"added_tokens\":["
    "{\"id\":0,\"content\":\"<|x|>\",\"special\":true,\"normalized\":false},"
    "{\"id\":0,\"content\":\"<|x|>y\",\"special\":false,\"normalized\":false,"
    "\"lstrip\":true,\"rstrip\":true},"
    "{\"id\":0,\"content\":\"word\",\"special\":false,\"normalized\":true,"
    "\"single_word\":true}],"
    "\"normalizer\":{\"type\":\"NFC\"},"
    "\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":"
    "\"Split\",\"pattern\":{\"Regex\":\"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r"
    "\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}| ?[^\\\\s\\\\p{L}\\\\p{N}]+["
    "\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"},\"behavior\":"
    "\"Isolated\",\"invert\":false},{\"type\":\"Digits\",\"individual_digits\""
    ":false},{\"type\":\"ByteLevel\",\"add_prefix_space\":true,"
    "\"use_regex\":true}]},"
    "\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{"
    "\"SpecialToken\":{\"id\":\"<|x|>\",\"type_id\":0}},{\"Sequence\":{\"id\":"
    "\"A\",\"type_id\":0}}],\"special_tokens\":{\"<|x|>\":{\"id\":\"<|x|>\","
    "\"ids\":[13],\"tokens\":[\"<|x|>\"]}}},"
    "\"model\":{\"type\":\"BPE\",\"ignore_merges\":true,\"vocab\":{\"a\":0,"
    "\"b\":1,\"c\":2,\"\\u0120\":3,\"ab\":4,\"abc\":5,\"bc\":6,\"\\u0120a\":7,"
    "\"1\":8,\"\\u00c3\":9,\"\\u00a9\":10,\"y\":11,\"\\u00c3\\u00a9\":12},"
    "\"merges\":[\"a b\",\"ab c\",\"b c\",\"\\u0120 a\",\"\\u00c3 \\u00a9\"]}}",

    "{\"added_tokens\":[{\"id\":0,\"content\":\"<unk>\",\"special\":true},"
    "{\"id\":1,\"content\":\"<s>\",\"special\":true,\"normalized\":false}],"
    "\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFKD\"}"
    ","
    "{\"type\":\"Lowercase\"},{\"type\":\"Strip\",\"strip_left\":true,"
    "\"strip_right\":true},{\"type\":\"Replace\",\"pattern\":{\"Regex\":"
    "\"\\\\s+\"},\"content\":\" \"}]},"
    "\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":"
    "\"Metaspace\",\"replacement\":\"\\u2581\",\"prepend_scheme\":\"first\","
    "\"split\":true},{\"type\":\"Punctuation\",\"behavior\":\"Contiguous\"}]},"
    "\"post_processor\":{\"type\":\"RobertaProcessing\",\"sep\":[\"<s>\",1],"
    "\"cls\":[\"<s>\",1],\"trim_offsets\":true},"
    "\"model\":{\"type\":\"BPE\",\"unk_token\":\"<unk>\",\"byte_fallback\":"
    "true,\"fuse_unk\":true,\"continuing_subword_prefix\":\"##\","
    "\"end_of_word_suffix\":\"</w>\",\"vocab\":{\"<unk>\":0,\"<s>\":1,"
    "\"<0xE2>\":2,\"<0x82>\":3,\"<0xAC>\":4,\"\\u2581\":5,\"h\":6,\"##i\":7,"
    "\"\\u2581h\":8,\"\\u2581hi\":9,\"##i</w>\":10,\"\\u2581hi</w>\":11},"
    "\"merges\":[\"\\u2581 h\",\"\\u2581h ##i\",\"\\u2581h ##i</w>\"]}}",

    "{\"added_tokens\":[{\"id\":0,\"content\":\"[UNK]\",\"special\":true},"
    "{\"id\":1,\"content\":\"[CLS]\",\"special\":true},{\"id\":2,"
    "\"content\":\"[SEP]\",\"special\":true}],\"normalizer\":{\"type\":"
    "\"BertNormalizer\",\"lowercase\":true},\"pre_tokenizer\":{\"type\":"
    "\"Sequence\",\"pretokenizers\":[{\"type\":\"BertPreTokenizer\"},"
    "{\"type\":\"Whitespace\"},{\"type\":\"WhitespaceSplit\"},{\"type\":"
    "\"Split\",\"pattern\":{\"String\":\"a\"},\"behavior\":\"MergedWithNext\","
    "\"invert\":true}]},"
    "\"post_processor\":{\"type\":\"BertProcessing\",\"sep\":[\"[SEP]\",2],"
    "\"cls\":[\"[CLS]\",1]},"
    "\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\","
    "\"max_input_chars_per_word\":20,\"vocab\":{\"[UNK]\":0,\"[CLS]\":1,"
    "\"[SEP]\":2,\"hello\":3,\"!\":4,\"un\":5,\"##aff\":6,\"##able\":7,"
    "\"\\u4e2d\":8,\"a\":9,\"##a\":10}}}",
};

static kvidx_tokenizer *toks[3];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  int which = data[0] % 3;
  if (!toks[which]) {
    char err[256];
    if (kvidx_tokenizer_load_mem(DOCS[which], strlen(DOCS[which]), NULL, 0,
                                 NULL, &toks[which], err, sizeof err) != 0)
      abort(); /* the built-in documents must load */
  }
  const kvidx_tokenizer *t = toks[which];
  const char *text = (const char *)data + 1;
  size_t len = size - 1;
  kvidx_encoding enc;
  kvidx_encoding_init(&enc);
  enc.want_offsets = (data[0] & 4) != 0;
  int rc = kvidx_tokenizer_encode(t, text, len, data[0] & 8, &enc);
  if (rc != 0 && rc != KVIDX_EUTF8)
    abort();
  uint32_t vs = kvidx_tokenizer_vocab_size(t);
  for (size_t i = 0; rc == 0 && i < enc.n; i++) {
    if (enc.ids[i] >= vs)
      abort();
    if (enc.want_offsets && (enc.offsets[2 * i] > enc.offsets[2 * i + 1] ||
                             enc.offsets[2 * i + 1] > len))
      abort();
  }
  kvidx_encoding_free(&enc);
  return 0;
}

/*
 * fuzz_tokenizer_load.c: libFuzzer target for the tokenizer.json loader
 * (kvidx_tokenizer_load_mem: the hand-written vocab/merges scanner, jansson
 * for the rest, every component parser). Input: a tokenizer.json document,
 * optionally followed by "\n\x00CONFIG\x00\n" and a tokenizer_config.json.
 * A document that loads is then used to encode a few fixed texts, so
 * half-valid configurations reach the encoder too. Errors are fine; crashes,
 * leaks and sanitizer reports are not.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kvidx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char sep[] = "\n\0CONFIG\0\n";
  const char *json = (const char *)data;
  size_t json_len = size;
  const char *cfg = NULL;
  size_t cfg_len = 0;
  const void *p = memmem(data, size, sep, sizeof sep - 1);
  if (p) {
    json_len = (size_t)((const uint8_t *)p - data);
    cfg = json + json_len + sizeof sep - 1;
    cfg_len = size - json_len - (sizeof sep - 1);
  }
  kvidx_tokenizer *t = NULL;
  char err[256];
  if (kvidx_tokenizer_load_mem(json, json_len, cfg, cfg_len, NULL, &t, err,
                               sizeof err) != 0)
    return 0;
  static const char *texts[] = {"", "Hello world, I'm here! 123",
                                "a\xc3\xa9\xe4\xb8\xad \xf0\x9f\x98\x80\n\n x",
                                "<|x|> <s> [CLS]"};
  kvidx_encoding enc;
  kvidx_encoding_init(&enc);
  enc.want_offsets = 1;
  for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
    (void)kvidx_tokenizer_encode(t, texts[i], strlen(texts[i]), 1, &enc);
  kvidx_encoding_free(&enc);
  kvidx_tokenizer_free(t);
  return 0;
}

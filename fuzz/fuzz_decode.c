/*
 * fuzz_decode.c: libFuzzer driver for the event decoder. Feeds the input as
 * one EventBatch payload to kvidx_batch_decode() (with a callback that reads
 * every field of every delivered event, so ASan sees any bad view) and to the
 * dp-rank peek used by the ingestor. Seed corpus: fuzz/corpus/fuzz_decode/
 * (vLLM's reference encodings and every layout of kvidx_batch_writer).
 */
#include <stddef.h>
#include <stdint.h>

#include "events/decode_internal.h"
#include "kvidx.h"

static int touch(void *userdata, const kvidx_event *ev) {
  uint64_t *acc = userdata;
  for (size_t i = 0; i < ev->n_block_hashes; i++)
    *acc += ev->block_hashes[i];
  for (size_t i = 0; i < ev->n_token_ids; i++)
    *acc += ev->token_ids[i];
  for (size_t i = 0; i < ev->lora_name_len; i++)
    *acc += (uint8_t)ev->lora_name[i];
  for (size_t i = 0; i < ev->spec_kind_len; i++)
    *acc += (uint8_t)ev->spec_kind[i];
  for (size_t i = 0; i < ev->extra_keys_len; i++)
    *acc += ev->extra_keys[i];
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static kvidx_decoder *d;
  if (d == NULL && kvidx_decoder_new(&d) != 0)
    return 0;
  uint64_t acc = 0;
  kvidx_batch_info info;
  (void)kvidx_batch_decode(d, data, size, touch, &acc, &info);
  int64_t dp;
  (void)kvidx__batch_peek(data, size, &dp);
  return acc == 42 ? 0 : 0;
}

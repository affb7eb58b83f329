/*
 * fuzz_score_request.c: libFuzzer driver for the /v1/score and /v1/tokenize
 * body parser (src/server/request.c).
 *
 * The input is the body, copied into an exactly sized heap buffer so that
 * ASan catches any read past its end (the parser never sees a NUL). Besides
 * ASan/UBSan findings it traps when a property fails:
 *  - a rejected body has a non-empty error message with a byte offset;
 *  - an accepted body's counts respect the limits, its strings are
 *    NUL-terminated inside the scratch buffer, and parsing it again (the
 *    scratch reused) gives the same result;
 *  - a body made of the accepted token ids re-serialised parses to the same
 *    ids.
 * Seed corpus: fuzz/corpus/fuzz_score_request/.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/request.h"

#define FUZZ_MAX_TOKENS 4096
#define FUZZ_MAX_PODS 64

static kvidx__request req, again;

static void check_same(const kvidx__request *a, const kvidx__request *b) {
  if (a->n_tokens != b->n_tokens || a->n_pods != b->n_pods ||
      a->has_token_ids != b->has_token_ids ||
      (a->model == NULL) != (b->model == NULL) ||
      (a->prompt == NULL) != (b->prompt == NULL) ||
      (a->model && strcmp(a->model, b->model) != 0) ||
      (a->prompt && (a->prompt_len != b->prompt_len ||
                     memcmp(a->prompt, b->prompt, a->prompt_len) != 0)) ||
      (a->n_tokens && memcmp(a->token_ids, b->token_ids, a->n_tokens * 4) != 0))
    __builtin_trap();
  for (size_t i = 0; i < a->n_pods; i++) {
    if (strcmp(a->pods[i], b->pods[i]) != 0)
      __builtin_trap();
  }
}

static void check_ids_round_trip(const kvidx__request *r) {
  size_t cap = r->n_tokens * 12 + 32;
  char *body = malloc(cap);
  if (body == NULL)
    return;
  size_t n = (size_t)snprintf(body, cap, "{\"token_ids\":[");
  for (size_t i = 0; i < r->n_tokens; i++)
    n += (size_t)snprintf(body + n, cap - n, "%s%u", i ? "," : "",
                          r->token_ids[i]);
  n += (size_t)snprintf(body + n, cap - n, "]}");
  if (kvidx__request_parse(&again, body, n, FUZZ_MAX_TOKENS, FUZZ_MAX_PODS) !=
          KVIDX_REQ_OK ||
      again.n_tokens != r->n_tokens ||
      (r->n_tokens &&
       memcmp(again.token_ids, r->token_ids, r->n_tokens * 4) != 0))
    __builtin_trap();
  free(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *body = malloc(size ? size : 1);
  if (body == NULL)
    return 0;
  memcpy(body, data, size);
  int st =
      kvidx__request_parse(&req, body, size, FUZZ_MAX_TOKENS, FUZZ_MAX_PODS);
  if (st != KVIDX_REQ_OK) {
    if (req.error[0] == '\0' || strstr(req.error, "at byte") == NULL)
      __builtin_trap();
    free(body);
    return 0;
  }
  if (req.n_tokens > FUZZ_MAX_TOKENS || req.n_pods > FUZZ_MAX_PODS)
    __builtin_trap();
  if (kvidx__request_parse(&again, body, size, FUZZ_MAX_TOKENS,
                           FUZZ_MAX_PODS) != KVIDX_REQ_OK)
    __builtin_trap();
  check_same(&req, &again);
  if (req.has_token_ids)
    check_ids_round_trip(&req);
  free(body);
  return 0;
}

/*
 * request.h: the allocation-free (in steady state) parser of the JSON bodies
 * of POST /v1/score and POST /v1/tokenize.
 *
 * Why not jansson here: a score request carries up to hundreds of thousands
 * of token ids, and jansson allocates one json_t per array element. At 8,192
 * tokens that is 8,192 mallocs and frees per request, several times the cost
 * of hashing and looking up the whole prompt (see docs/http-api.md for the
 * measurement). This parser reads the one object shape it needs in a single
 * pass, writes token ids straight into a reusable uint32_t array and
 * unescapes strings into a reusable buffer. It is strict JSON (RFC 8259):
 * anything else is an error with the byte offset. Unknown fields are skipped.
 */
#ifndef KVIDX_SERVER_REQUEST_H
#define KVIDX_SERVER_REQUEST_H

#include <stddef.h>
#include <stdint.h>

/* Nesting depth accepted inside skipped (unknown) values. */
#define KVIDX_REQUEST_MAX_DEPTH 64

typedef enum {
  KVIDX_REQ_OK = 0,
  KVIDX_REQ_BAD_JSON = 1,  /* not JSON: 400 */
  KVIDX_REQ_BAD_FIELD = 2, /* a field has the wrong type or value: 400 */
  KVIDX_REQ_TOO_MANY = 3,  /* more tokens or pods than the limits: 413 */
  KVIDX_REQ_NOMEM = 4      /* 500 */
} kvidx__request_status;

typedef struct {
  /* Parsed fields. Strings are NUL-terminated, valid until the next parse
   * or kvidx__request_free. has_* say whether the field was present. */
  const char *model;
  const char *prompt;
  size_t prompt_len; /* may contain NUL bytes (from \u0000) */
  const char *lora_name;
  int has_token_ids;
  const uint32_t *token_ids;
  size_t n_tokens;
  const char **pods;
  size_t n_pods;
  /* Human-readable reason of the last failure. */
  char error[160];
  /* Reusable scratch. */
  char *strbuf_;
  size_t strbuf_cap_, strbuf_len_;
  uint32_t *tokens_, *tokens2_; /* tokens2_: second half, fast path */
  size_t tokens_cap_;
  const char **pods_;
  size_t pods_cap_;
} kvidx__request;

void kvidx__request_init(kvidx__request *r);
void kvidx__request_free(kvidx__request *r);
/*
 * Parses body[0..len). Limits: max_tokens token ids, max_pods pod names.
 * Returns a kvidx__request_status; on failure r->error says what and where.
 * Checks only syntax and types; which fields are required is the caller's
 * business.
 */
int kvidx__request_parse(kvidx__request *r, const char *body, size_t len,
                         size_t max_tokens, size_t max_pods);

/*
 * The token_ids fast path in use: 0 the portable SWAR parser, 1 SSE2 bit
 * masks with one id converted at a time, 2 the same with AVX-512
 * conversion of eight ids at a time. The best level the CPU supports is
 * picked on first use; level >= 0 forces a lower one (tests check that all
 * levels agree), -1 only reports. Returns the level now in use.
 */
int kvidx__request_simd(int level);

#endif

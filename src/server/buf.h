/*
 * buf.h: a growable byte buffer for building HTTP responses (JSON and the
 * Prometheus text format). Sticky errors as in mpack: once an append fails
 * for lack of memory, later appends are no-ops and one check of `failed` at
 * the end suffices.
 */
#ifndef KVIDX_SERVER_BUF_H
#define KVIDX_SERVER_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "common/log.h"

typedef struct {
  char *data;
  size_t len, cap;
  int failed;
} kvidx__buf;

void kvidx__buf_init(kvidx__buf *b);
void kvidx__buf_free(kvidx__buf *b);
/* Empties the buffer, keeping its memory. */
void kvidx__buf_reset(kvidx__buf *b);
void kvidx__buf_append(kvidx__buf *b, const char *s, size_t n);
void kvidx__buf_puts(kvidx__buf *b, const char *s);
void kvidx__buf_printf(kvidx__buf *b, const char *fmt, ...) KVIDX_PRINTF_(2, 3);
void kvidx__buf_u64(kvidx__buf *b, uint64_t v);
/* A double in the shortest form that reads back the same ("%.17g" at most);
 * integral values print without a fraction. */
void kvidx__buf_double(kvidx__buf *b, double v);
/* A JSON string literal with quotes; control characters and invalid UTF-8
 * bytes are escaped (\u00XX / U+FFFD) so the output is always valid JSON. */
void kvidx__buf_json_str(kvidx__buf *b, const char *s, size_t n);

#endif

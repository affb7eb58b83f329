/*
 * decode_internal.h: internal helpers of the event decoder shared with the
 * applier and the ingestor.
 */
#ifndef KVIDX_EVENTS_DECODE_INTERNAL_H
#define KVIDX_EVENTS_DECODE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "kvidx.h"

/* vLLM medium name -> tier, case-insensitive; s NULL means GPU (nil).
 * KVIDX_ENOTFOUND for an unknown name. */
int kvidx__medium_tier(const char *s, size_t len, kvidx_tier *out);

/* Reads only the data_parallel_rank of a batch (-1 when absent or nil),
 * skipping over the events without decoding them. Returns 0 or a KVIDX_E*
 * code for a batch that is malformed at that level. */
int kvidx__batch_peek(const uint8_t *payload, size_t len, int64_t *dp_rank);

#endif

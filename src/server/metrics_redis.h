/*
 * metrics_redis.h: Prometheus lines for the Redis index backend's health
 * (connection state, reconnects, pods resynced after lost writes), appended
 * to /metrics by the HTTP server. Nothing is written for other backends.
 */
#ifndef KVIDX_SERVER_METRICS_REDIS_H
#define KVIDX_SERVER_METRICS_REDIS_H

#include "kvidx.h"
#include "server/buf.h"

/* Appends the kvidx_redis_* series for idx to b when idx is a Redis index.
 * Thread-safe (reads atomics only). */
void kvidx__metrics_render_redis(kvidx_index *idx, kvidx__buf *b);

#endif

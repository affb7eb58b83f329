/*
 * metrics_redis.c: the kvidx_redis_* Prometheus series (see metrics_redis.h
 * and docs/redis.md, "Failure behaviour"). Kept apart from metrics.c so the
 * server's registry does not need to know about backend internals.
 */
#include "server/metrics_redis.h"

#include "index/redis.h"

static void series(kvidx__buf *b, const char *name, const char *type,
                   const char *help, uint64_t v) {
  kvidx__buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s ", name, help, name,
                    type, name);
  kvidx__buf_u64(b, v);
  kvidx__buf_append(b, "\n", 1);
}

void kvidx__metrics_render_redis(kvidx_index *idx, kvidx__buf *b) {
  kvidx__redis_status rs;
  if (idx == NULL || kvidx__redis_index_status(idx, &rs) != 0)
    return; /* not a Redis index */
  series(b, "kvidx_redis_up", "gauge",
         "1 when the Redis index backend is connected", (uint64_t)rs.up);
  series(b, "kvidx_redis_reconnects_total", "counter",
         "Reconnections to Redis after an outage", rs.reconnects);
  series(b, "kvidx_redis_resync_pods_total", "counter",
         "Pods cleared because some of their writes to Redis were lost",
         rs.resyncs);
  series(b, "kvidx_redis_resync_pending_pods", "gauge",
         "Pods waiting to be cleared when Redis answers again", rs.dirty_pods);
}

/*
 * log.c: leveled, structured logging to stderr (or a user sink).
 *
 * Lines look like
 *   2026-11-28T01:02:03.456Z level=warn component=events msg="..." k=v
 * The message is formatted into a stack buffer (lines longer than
 * KVIDX_LOG_LINE_MAX are cut) and written with one fwrite so lines from
 * different threads do not interleave.
 */
#include "common/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define KVIDX_LOG_LINE_MAX 2048

static atomic_int log_level = -1; /* -1: not yet read from the environment */
static kvidx_log_fn log_sink;
static void *log_sink_ud;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

int kvidx_log_level_parse(const char *name, kvidx_log_level *out) {
  if (name == NULL || out == NULL)
    return KVIDX_EINVAL;
  for (int i = 0; i < 4; i++) {
    if (strcasecmp(name, level_names[i]) == 0) {
      *out = (kvidx_log_level)i;
      return 0;
    }
  }
  if (strcasecmp(name, "warning") == 0) {
    *out = KVIDX_LOG_WARN;
    return 0;
  }
  return KVIDX_EINVAL;
}

static int current_level(void) {
  int lvl = atomic_load_explicit(&log_level, memory_order_relaxed);
  if (lvl >= 0)
    return lvl;
  kvidx_log_level parsed = KVIDX_LOG_INFO;
  const char *env = getenv("KVIDX_LOG_LEVEL");
  if (env != NULL && kvidx_log_level_parse(env, &parsed) != 0)
    parsed = KVIDX_LOG_INFO;
  atomic_store(&log_level, (int)parsed);
  return (int)parsed;
}

void kvidx_log_set_level(kvidx_log_level level) {
  atomic_store(&log_level, (int)level);
}

kvidx_log_level kvidx_log_get_level(void) {
  return (kvidx_log_level)current_level();
}

void kvidx_log_set_handler(kvidx_log_fn fn, void *userdata) {
  log_sink = fn;
  log_sink_ud = userdata;
}

int kvidx__log_enabled(kvidx_log_level level) {
  return (int)level <= current_level();
}

static void default_sink(kvidx_log_level level, const char *component,
                         const char *msg) {
  char line[KVIDX_LOG_LINE_MAX + 128];
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  int n = snprintf(line, sizeof line,
                   "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s "
                   "component=%s %s\n",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                   tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L,
                   level_names[level], component, msg);
  if (n < 0)
    return;
  size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
  if (len > 0 && line[len - 1] != '\n')
    line[len - 1] = '\n';
  fwrite(line, 1, len, stderr);
}

void kvidx__log(kvidx_log_level level, const char *component, const char *fmt,
                ...) {
  char msg[KVIDX_LOG_LINE_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (level > KVIDX_LOG_DEBUG)
    level = KVIDX_LOG_DEBUG;
  if (log_sink != NULL)
    log_sink(log_sink_ud, level, component, msg);
  else
    default_sink(level, component, msg);
}

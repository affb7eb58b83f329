/*
 * log.h: internal logging. kvidx__log(level, component, fmt, ...) formats one
 * line and hands it to the configured sink (kvidx_log_set_handler). The level
 * check is a relaxed atomic load, so a disabled debug line costs one branch.
 * Use key=value pairs after the message for anything a machine may grep.
 */
#ifndef KVIDX_COMMON_LOG_H
#define KVIDX_COMMON_LOG_H

#include "kvidx.h"

#if defined(__GNUC__)
#define KVIDX_PRINTF_(a, b) __attribute__((format(printf, a, b)))
#else
#define KVIDX_PRINTF_(a, b)
#endif

int kvidx__log_enabled(kvidx_log_level level);
void kvidx__log(kvidx_log_level level, const char *component, const char *fmt,
                ...) KVIDX_PRINTF_(3, 4);

#define KVIDX_LOG_(lvl, comp, ...)                                             \
  do {                                                                         \
    if (kvidx__log_enabled(lvl))                                               \
      kvidx__log(lvl, comp, __VA_ARGS__);                                      \
  } while (0)
#define kvidx_log_error(comp, ...)                                             \
  KVIDX_LOG_(KVIDX_LOG_ERROR, comp, __VA_ARGS__)
#define kvidx_log_warn(comp, ...) KVIDX_LOG_(KVIDX_LOG_WARN, comp, __VA_ARGS__)
#define kvidx_log_info(comp, ...) KVIDX_LOG_(KVIDX_LOG_INFO, comp, __VA_ARGS__)
#define kvidx_log_debug(comp, ...)                                             \
  KVIDX_LOG_(KVIDX_LOG_DEBUG, comp, __VA_ARGS__)

#endif

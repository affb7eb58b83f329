/*
 * kvidx.h: the whole public API of libkvidx, a KV-cache block indexer for LLM
 * inference fleets.
 *
 * libkvidx keeps a near-real-time map of which vLLM pods hold which KV-cache
 * blocks, fed by vLLM's KV events, and scores pods for a new prompt by the
 * length of the prompt prefix they already hold.
 *
 * Conventions (see docs/api.md):
 *  - Every function that can fail returns an int: 0 on success, a negative
 *    KVIDX_E* code on failure. kvidx_strerror() turns it into text.
 *  - Objects are opaque handles made by *_new() and released by *_free();
 *    *_opts_init() fills an options struct with defaults.
 *  - Ownership and threading are stated next to each function.
 *
 * This header holds what all subsystems share (errors, logging, version) and
 * includes the subsystem headers under kvidx/.
 */
#ifndef KVIDX_H
#define KVIDX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define KVIDX_EXPORT __attribute__((visibility("default")))
#else
#define KVIDX_EXPORT
#endif

#define KVIDX_VERSION_MAJOR 0
#define KVIDX_VERSION_MINOR 1
#define KVIDX_VERSION_PATCH 0
#define KVIDX_VERSION_STRING "0.1.0"

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/* ------------------------------------------------------------------------ */

/*
 * The one table of error codes. XX(name, value, message). Values are negative
 * and stable; new codes are appended.
 */
#define KVIDX_ERRNO_MAP(XX)                                                    \
  XX(EINVAL, -1, "invalid argument")                                           \
  XX(ENOMEM, -2, "out of memory")                                              \
  XX(ERANGE, -3, "value out of range")                                         \
  XX(EPROTO, -4, "malformed message")                                          \
  XX(ENOTFOUND, -5, "not found")                                               \
  XX(EIO, -6, "I/O error")                                                     \
  XX(EUNSUPPORTED, -7, "unsupported")                                          \
  XX(EFULL, -8, "capacity or queue full")                                      \
  XX(ETIMEDOUT, -9, "timed out")                                               \
  XX(EUNAVAIL, -10, "backend unavailable")                                     \
  XX(EPARSE, -11, "parse error")                                               \
  XX(EEXIST, -12, "already exists")                                            \
  XX(ETOOBIG, -13, "too large")                                                \
  XX(EUTF8, -14, "invalid UTF-8")                                              \
  XX(ESTATE, -15, "invalid state for this call")                               \
  XX(ECONFIG, -16, "invalid configuration")                                    \
  XX(ETRUNC, -17, "truncated input")                                           \
  XX(ELIMIT, -18, "limit exceeded")                                            \
  XX(ESYS, -19, "system call failed")

typedef enum {
  KVIDX_OK = 0,
#define KVIDX_ERRNO_ENUM_(name, value, msg) KVIDX_##name = (value),
  KVIDX_ERRNO_MAP(KVIDX_ERRNO_ENUM_)
#undef KVIDX_ERRNO_ENUM_
} kvidx_errno;

/* Message for an error code ("success" for 0, "unknown error" otherwise).
 * Returns a static string; thread-safe. */
KVIDX_EXPORT const char *kvidx_strerror(int err);
/* Symbolic name of an error code, e.g. "KVIDX_EINVAL". Static; thread-safe. */
KVIDX_EXPORT const char *kvidx_err_name(int err);

/* ------------------------------------------------------------------------ */
/* Logging                                                                  */
/* ------------------------------------------------------------------------ */

typedef enum {
  KVIDX_LOG_ERROR = 0,
  KVIDX_LOG_WARN = 1,
  KVIDX_LOG_INFO = 2,
  KVIDX_LOG_DEBUG = 3
} kvidx_log_level;

/*
 * A log sink. component is a short subsystem name ("index", "events"...),
 * msg one line without a trailing newline. Called from any thread; must be
 * thread-safe. The default sink writes structured lines to stderr:
 *   2026-11-28T01:02:03.456Z level=warn component=events msg="..." k=v
 */
typedef void (*kvidx_log_fn)(void *userdata, kvidx_log_level level,
                             const char *component, const char *msg);

/* Messages above level are discarded. Default KVIDX_LOG_INFO, or the value of
 * the environment variable KVIDX_LOG_LEVEL at first use. Thread-safe. */
KVIDX_EXPORT void kvidx_log_set_level(kvidx_log_level level);
KVIDX_EXPORT kvidx_log_level kvidx_log_get_level(void);
/* Parses "error", "warn", "info", "debug" (case-insensitive). */
KVIDX_EXPORT int kvidx_log_level_parse(const char *name, kvidx_log_level *out);
/* Replaces the sink; NULL restores the default. Not thread-safe with respect
 * to concurrent logging: call it at start-up. */
KVIDX_EXPORT void kvidx_log_set_handler(kvidx_log_fn fn, void *userdata);

/* Library version string, e.g. "0.1.0". */
KVIDX_EXPORT const char *kvidx_version(void);

#ifdef __cplusplus
}
#endif

#include "kvidx/hash.h"
#include "kvidx/index.h"
#include "kvidx/score.h"
#include "kvidx/events.h"
#include "kvidx/tokenizer.h"
#include "kvidx/tokenizer_registry.h"
#include "kvidx/indexer.h"
#include "kvidx/server.h"

#endif /* KVIDX_H */

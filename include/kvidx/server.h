/*
 * kvidx/server.h: the service around an indexer — the JSON configuration
 * (llm-d kv-cache-manager field names plus kvidx's own), the HTTP/JSON API
 * and the Prometheus metrics. kvidxd is a thin main() over this header.
 * Configuration reference: docs/configuration.md; HTTP: docs/http-api.md.
 */
#ifndef KVIDX_SERVER_H
#define KVIDX_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "kvidx/indexer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- configuration ---------------------------------------------------- */

typedef struct kvidx_config kvidx_config;

/* Makes a configuration holding every default (the embedded default:
 * in-memory index, SUB bound on port 5557 of all interfaces, HTTP on
 * 127.0.0.1:8080).
 * Returns 0 or KVIDX_ENOMEM. Not thread-safe (configure, then use). */
KVIDX_EXPORT int kvidx_config_new(kvidx_config **out);
KVIDX_EXPORT void kvidx_config_free(kvidx_config *c);

/*
 * Overlays a JSON document on c. Fields absent from the document keep their
 * value. Unknown fields and wrong types are errors: returns KVIDX_ECONFIG and
 * writes a message naming the field (e.g. "kvBlockIndexConfig.inMemoryConfig
 * .size: expected a non-negative integer") to err. KVIDX_EPARSE for invalid
 * JSON (with line and column), KVIDX_EIO when the file cannot be read.
 */
KVIDX_EXPORT int kvidx_config_load_file(kvidx_config *c, const char *path,
                                        char *err, size_t err_len);
KVIDX_EXPORT int kvidx_config_load_string(kvidx_config *c, const char *json,
                                          char *err, size_t err_len);

/*
 * Sets one common setting by its command-line name (without the dashes):
 * "http", "zmq-bind", "zmq-connect" (appends; value
 * "ENDPOINT[,pod=ID][,model=NAME][,replay=ENDPOINT]"), "block-size",
 * "hash-algo", "hash-seed", "tokenizer-dir", "model-tokenizer" (appends;
 * "MODEL=PATH"), "redis", "log-level". Returns 0, KVIDX_ENOTFOUND for an
 * unknown name, KVIDX_ECONFIG with a message in err for a bad value.
 */
KVIDX_EXPORT int kvidx_config_set(kvidx_config *c, const char *name,
                                  const char *value, char *err, size_t err_len);
/*
 * Applies the environment overrides (KVIDX_HTTP, KVIDX_ZMQ_BIND,
 * KVIDX_ZMQ_CONNECT (space separated), KVIDX_BLOCK_SIZE, KVIDX_HASH_ALGO,
 * KVIDX_HASH_SEED, KVIDX_TOKENIZER_DIR or LOCAL_TOKENIZER_DIR, KVIDX_REDIS,
 * KVIDX_LOG_LEVEL). Errors as kvidx_config_set, the message naming the
 * variable.
 */
KVIDX_EXPORT int kvidx_config_apply_env(kvidx_config *c, char *err,
                                        size_t err_len);

/* The effective configuration as indented JSON (same schema as the file).
 * Returns a malloc'd string the caller frees, NULL on ENOMEM. */
KVIDX_EXPORT char *kvidx_config_to_json(const kvidx_config *c);

/* Logs the effective configuration, one structured info line per section
 * (component=config section=NAME value=JSON); secrets are redacted. */
KVIDX_EXPORT void kvidx_config_log(const kvidx_config *c);

/* Indexer options described by c. Pointers in opts point into c: keep c
 * alive while opts is used. */
KVIDX_EXPORT void kvidx_config_indexer_opts(const kvidx_config *c,
                                            kvidx_indexer_opts *opts);
/* The configured log level (KVIDX_LOG_INFO by default). */
KVIDX_EXPORT kvidx_log_level kvidx_config_log_level(const kvidx_config *c);

/* ---- HTTP server ------------------------------------------------------ */

/* Named limits of the HTTP API (defaults; configurable in httpConfig). */
#define KVIDX_HTTP_MAX_BODY_DEFAULT (8u << 20) /* bytes per request body */
#define KVIDX_HTTP_MAX_PODS_DEFAULT 4096       /* "pods" entries per request */
#define KVIDX_HTTP_CONN_TIMEOUT_DEFAULT 30     /* idle seconds per connection */
#define KVIDX_HTTP_MAX_CONNECTIONS_DEFAULT 1024

typedef struct kvidx_server kvidx_server;

/*
 * Makes the HTTP server for ix as configured by c (address, threads,
 * limits) and starts listening. ix is not owned and must outlive the server.
 * Returns 0, KVIDX_ECONFIG for a bad address, KVIDX_EIO when it cannot
 * listen.
 */
KVIDX_EXPORT int kvidx_server_start(const kvidx_config *c, kvidx_indexer *ix,
                                    kvidx_server **out);
/* The TCP port the server listens on (useful with port 0). */
KVIDX_EXPORT int kvidx_server_port(const kvidx_server *s);
/* The configured drain time of kvidx_server_stop, in milliseconds. */
KVIDX_EXPORT int kvidx_server_shutdown_timeout_ms(const kvidx_server *s);

/* Logs one structured line (level, component, message) through kvidx's log
 * sink, for programs built on the public API such as kvidxd. Thread-safe. */
KVIDX_EXPORT void kvidx_server_logf(kvidx_log_level level,
                                    const char *component, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/*
 * Stops accepting connections, waits up to timeout_ms (negative: the
 * configured httpConfig.shutdownTimeoutMs) for in-flight requests to finish,
 * then closes everything and frees the server. Returns 0 when all requests
 * finished in time, KVIDX_ETIMEDOUT otherwise (the server is freed either
 * way). /readyz answers 503 from the start of the call.
 */
KVIDX_EXPORT int kvidx_server_stop(kvidx_server *s, int timeout_ms);

#ifdef __cplusplus
}
#endif
#endif /* KVIDX_SERVER_H */

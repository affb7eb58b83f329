/*
 * redis_url.h: parsing of the Redis/Valkey address of the Redis index backend.
 *
 * Accepted forms (the ones llm-d's kv-cache-manager accepts, minus TLS which
 * Debian's hiredis 0.14 cannot do):
 *   redis://[[user]:pass@]host[:port][/db]
 *   valkey://...                       same protocol, same syntax
 *   unix://[[user]:pass@]/path/to.sock[?db=N]
 *   host:port                          bare address, as llm-d's config allows
 * user and pass may be percent-encoded. Port defaults to 6379, db to 0.
 * With a password and no user the backend sends AUTH pass (requirepass); with
 * both it sends AUTH user pass (Redis 6 ACL). rediss:// and valkeys:// are
 * rejected with KVIDX_EUNSUPPORTED.
 *
 * Pure: no I/O, no allocation.
 */
#ifndef KVIDX_INDEX_REDIS_URL_H
#define KVIDX_INDEX_REDIS_URL_H

#include <stddef.h>

#define KVIDX__REDIS_DEFAULT_PORT 6379
/* Field limits, in bytes including the terminating NUL. */
#define KVIDX__REDIS_URL_MAX_HOST 256
#define KVIDX__REDIS_URL_MAX_PATH 108 /* sizeof(sockaddr_un.sun_path) */
#define KVIDX__REDIS_URL_MAX_CRED 256
/* Databases a URL may select (SELECT accepts 0..databases-1; 16 by default,
 * but a server may be configured with more). */
#define KVIDX__REDIS_URL_MAX_DB 1000000

typedef struct {
  int is_unix;                          /* 1: path is set, host/port unused */
  char host[KVIDX__REDIS_URL_MAX_HOST]; /* without IPv6 brackets */
  int port;
  char path[KVIDX__REDIS_URL_MAX_PATH];
  char user[KVIDX__REDIS_URL_MAX_CRED]; /* "" = none */
  char pass[KVIDX__REDIS_URL_MAX_CRED]; /* "" = none */
  int has_pass;                         /* pass was given (may be empty) */
  int db;
} kvidx__redis_url;

/*
 * Parses url into *out. Returns 0, KVIDX_EINVAL (NULL, malformed, bad port or
 * db, field too long) or KVIDX_EUNSUPPORTED (TLS scheme or unknown scheme).
 */
int kvidx__redis_url_parse(const char *url, kvidx__redis_url *out);

/* Writes a printable form of u without the password (for logs) into buf. */
void kvidx__redis_url_describe(const kvidx__redis_url *u, char *buf,
                               size_t size);

#endif

/*
 * fuzz_redis_url.c: libFuzzer driver for the Redis index URL parser
 * (src/index/redis_url.c).
 *
 * The input is the URL (any bytes; a NUL ends it early, as it would in C).
 * Besides ASan/UBSan findings it traps when a property fails:
 *  - a rejected URL leaves the output zeroed;
 *  - an accepted one has NUL-terminated fields, a port in 1..65535 (TCP), a
 *    db in range, and a non-empty host or an absolute socket path;
 *  - re-parsing the canonical form ("redis://host:port/db", brackets for
 *    IPv6) gives the same host, port and db;
 *  - the description printed for logs does not depend on the password.
 * Seed corpus: fuzz/corpus/fuzz_redis_url/.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "index/redis_url.h"

#define FUZZ_MAX_URL 4096

static void check_accepted(const kvidx__redis_url *u) {
  if (memchr(u->host, '\0', sizeof u->host) == NULL ||
      memchr(u->path, '\0', sizeof u->path) == NULL ||
      memchr(u->user, '\0', sizeof u->user) == NULL ||
      memchr(u->pass, '\0', sizeof u->pass) == NULL)
    __builtin_trap();
  if (u->db < 0 || u->db > KVIDX__REDIS_URL_MAX_DB)
    __builtin_trap();
  if (u->is_unix) {
    if (u->path[0] != '/')
      __builtin_trap();
    return;
  }
  if (u->host[0] == '\0' || u->port < 1 || u->port > 65535)
    __builtin_trap();
  /* Canonical form round trip (hosts with '/', '@' or '[' cannot be
   * written back unescaped; skip those). */
  if (strpbrk(u->host, "/@[]?") != NULL)
    return;
  char canon[KVIDX__REDIS_URL_MAX_HOST + 64];
  if (strchr(u->host, ':') != NULL)
    snprintf(canon, sizeof canon, "redis://[%s]:%d/%d", u->host, u->port,
             u->db);
  else
    snprintf(canon, sizeof canon, "redis://%s:%d/%d", u->host, u->port, u->db);
  kvidx__redis_url again;
  if (kvidx__redis_url_parse(canon, &again) != 0 ||
      strcmp(again.host, u->host) != 0 || again.port != u->port ||
      again.db != u->db)
    __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char url[FUZZ_MAX_URL + 1];
  if (size > FUZZ_MAX_URL)
    size = FUZZ_MAX_URL;
  memcpy(url, data, size);
  url[size] = '\0';
  kvidx__redis_url u;
  int rc = kvidx__redis_url_parse(url, &u);
  if (rc != 0) {
    static const kvidx__redis_url zero;
    if (memcmp(&u, &zero, sizeof u) != 0)
      __builtin_trap();
    return 0;
  }
  check_accepted(&u);
  /* The log description must not depend on the password at all. */
  char desc[KVIDX__REDIS_URL_MAX_HOST + KVIDX__REDIS_URL_MAX_PATH + 64];
  char other[sizeof desc];
  kvidx__redis_url_describe(&u, desc, sizeof desc);
  kvidx__redis_url v = u;
  snprintf(v.pass, sizeof v.pass, "%s", u.pass[0] == 'x' ? "y" : "x");
  kvidx__redis_url_describe(&v, other, sizeof other);
  if (strcmp(desc, other) != 0)
    __builtin_trap();
  return 0;
}

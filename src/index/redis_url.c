/*
 * redis_url.c: parser for the Redis index address (see redis_url.h for the
 * accepted forms).
 *
 * The URL is split by hand rather than with a generic URI library because the
 * grammar is tiny and the failure modes matter: every rejection says what was
 * wrong, and nothing is allocated, so the parser can be fuzzed and unit-tested
 * without a server.
 */
#include "index/redis_url.h"

#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "kvidx.h"

static int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Copies s[0..len) into dst (size bytes) decoding %XX escapes. */
static int copy_decoded(char *dst, size_t size, const char *s, size_t len) {
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= len)
        return KVIDX_EINVAL;
      int hi = hex_value(s[i + 1]);
      int lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0)
        return KVIDX_EINVAL;
      c = (char)(hi * 16 + lo);
      i += 2;
    }
    if (c == '\0' || o + 1 >= size)
      return KVIDX_EINVAL;
    dst[o++] = c;
  }
  dst[o] = '\0';
  return 0;
}

static int copy_plain(char *dst, size_t size, const char *s, size_t len) {
  if (len + 1 > size || memchr(s, '\0', len) != NULL)
    return KVIDX_EINVAL;
  memcpy(dst, s, len);
  dst[len] = '\0';
  return 0;
}

/* Parses a decimal in s[0..len) into [min, max]. */
static int parse_decimal(const char *s, size_t len, long min, long max,
                         int *out) {
  if (len == 0 || len > 9)
    return KVIDX_EINVAL;
  long v = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9')
      return KVIDX_EINVAL;
    v = v * 10 + (s[i] - '0');
  }
  if (v < min || v > max)
    return KVIDX_EINVAL;
  *out = (int)v;
  return 0;
}

/* "user:pass" or ":pass" or "user" in s[0..len). */
static int parse_userinfo(const char *s, size_t len, kvidx__redis_url *out) {
  const char *colon = memchr(s, ':', len);
  size_t ulen = colon ? (size_t)(colon - s) : len;
  if (copy_decoded(out->user, sizeof out->user, s, ulen) != 0)
    return KVIDX_EINVAL;
  if (colon != NULL) {
    out->has_pass = 1;
    const char *p = colon + 1;
    if (copy_decoded(out->pass, sizeof out->pass, p, len - ulen - 1) != 0)
      return KVIDX_EINVAL;
  }
  return 0;
}

/* "host[:port]" or "[v6]:port" in s[0..len). */
static int parse_hostport(const char *s, size_t len, kvidx__redis_url *out) {
  const char *host = s;
  size_t hlen;
  const char *rest;
  if (len > 0 && s[0] == '[') {
    const char *close = memchr(s, ']', len);
    if (close == NULL)
      return KVIDX_EINVAL;
    host = s + 1;
    hlen = (size_t)(close - host);
    rest = close + 1;
  } else {
    const char *colon = memchr(s, ':', len);
    hlen = colon ? (size_t)(colon - s) : len;
    rest = s + hlen;
  }
  size_t rlen = len - (size_t)(rest - s);
  if (hlen == 0)
    return KVIDX_EINVAL;
  if (copy_plain(out->host, sizeof out->host, host, hlen) != 0)
    return KVIDX_EINVAL;
  out->port = KVIDX__REDIS_DEFAULT_PORT;
  if (rlen == 0)
    return 0;
  if (rest[0] != ':')
    return KVIDX_EINVAL;
  return parse_decimal(rest + 1, rlen - 1, 1, 65535, &out->port);
}

/* The part after "unix://": "[userinfo@]/path[?db=N]". */
static int parse_unix(const char *s, kvidx__redis_url *out) {
  out->is_unix = 1;
  const char *slash = strchr(s, '/');
  if (slash == NULL)
    return KVIDX_EINVAL;
  if (slash != s) {
    /* Everything before the path must be "userinfo@". */
    if (slash[-1] != '@')
      return KVIDX_EINVAL;
    if (parse_userinfo(s, (size_t)(slash - s) - 1, out) != 0)
      return KVIDX_EINVAL;
  }
  const char *q = strchr(slash, '?');
  size_t plen = q ? (size_t)(q - slash) : strlen(slash);
  if (copy_decoded(out->path, sizeof out->path, slash, plen) != 0)
    return KVIDX_EINVAL;
  if (q != NULL) {
    if (strncmp(q, "?db=", 4) != 0)
      return KVIDX_EINVAL;
    return parse_decimal(q + 4, strlen(q + 4), 0, KVIDX__REDIS_URL_MAX_DB,
                         &out->db);
  }
  return 0;
}

/* The part after "redis://": "[userinfo@]host[:port][/db]". */
static int parse_tcp(const char *s, kvidx__redis_url *out) {
  size_t len = strlen(s);
  const char *slash = memchr(s, '/', len);
  size_t auth_len = slash ? (size_t)(slash - s) : len;
  /* The last '@' before the path ends the userinfo (a password may hold an
   * unescaped '@'; a host cannot). */
  const char *at = NULL;
  for (size_t i = 0; i < auth_len; i++)
    if (s[i] == '@')
      at = s + i;
  const char *hp = s;
  if (at != NULL) {
    if (parse_userinfo(s, (size_t)(at - s), out) != 0)
      return KVIDX_EINVAL;
    hp = at + 1;
  }
  if (parse_hostport(hp, auth_len - (size_t)(hp - s), out) != 0)
    return KVIDX_EINVAL;
  if (slash != NULL && slash[1] != '\0')
    return parse_decimal(slash + 1, strlen(slash + 1), 0,
                         KVIDX__REDIS_URL_MAX_DB, &out->db);
  return 0;
}

int kvidx__redis_url_parse(const char *url, kvidx__redis_url *out) {
  if (url == NULL || out == NULL)
    return KVIDX_EINVAL;
  memset(out, 0, sizeof *out);
  static const char *const tls[] = {"rediss://", "valkeys://"};
  for (size_t i = 0; i < sizeof tls / sizeof tls[0]; i++) {
    if (strncmp(url, tls[i], strlen(tls[i])) == 0) {
      kvidx_log_error("redis",
                      "TLS URLs are not supported by this build "
                      "(hiredis without SSL) url_scheme=%s",
                      tls[i]);
      return KVIDX_EUNSUPPORTED;
    }
  }
  int rc;
  if (strncmp(url, "redis://", 8) == 0)
    rc = parse_tcp(url + 8, out);
  else if (strncmp(url, "valkey://", 9) == 0)
    rc = parse_tcp(url + 9, out);
  else if (strncmp(url, "unix://", 7) == 0)
    rc = parse_unix(url + 7, out);
  else if (strstr(url, "://") != NULL)
    return KVIDX_EUNSUPPORTED;
  else
    rc = parse_tcp(url, out); /* bare host:port, as llm-d accepts */
  if (rc != 0)
    memset(out, 0, sizeof *out);
  return rc;
}

void kvidx__redis_url_describe(const kvidx__redis_url *u, char *buf,
                               size_t size) {
  const char *auth = u->has_pass ? (u->user[0] ? "user+pass" : "pass") : "none";
  if (u->is_unix)
    snprintf(buf, size, "unix://%s db=%d auth=%s", u->path, u->db, auth);
  else if (strchr(u->host, ':') != NULL)
    snprintf(buf, size, "redis://[%s]:%d/%d auth=%s", u->host, u->port, u->db,
             auth);
  else
    snprintf(buf, size, "redis://%s:%d/%d auth=%s", u->host, u->port, u->db,
             auth);
}

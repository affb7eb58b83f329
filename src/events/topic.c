/*
 * topic.c: "kv@<pod-id>@<model>" topic parsing and the UTF-8 check it needs.
 * A topic is attacker-controlled text that ends up in logs, metrics labels
 * and JSON, so it is rejected unless it is well-formed UTF-8 without NUL.
 */
#include "events/topic.h"

#include <stdint.h>
#include <string.h>

#include "kvidx.h"

int kvidx__utf8_valid(const char *s, size_t len) {
  const uint8_t *p = (const uint8_t *)s, *end = p + len;
  while (p < end) {
    uint8_t b = *p;
    size_t n;
    uint32_t cp;
    if (b == 0)
      return 0;
    if (b < 0x80) {
      p++;
      continue;
    }
    if ((b & 0xe0) == 0xc0) {
      n = 1;
      cp = b & 0x1fu;
    } else if ((b & 0xf0) == 0xe0) {
      n = 2;
      cp = b & 0x0fu;
    } else if ((b & 0xf8) == 0xf0) {
      n = 3;
      cp = b & 0x07u;
    } else {
      return 0;
    }
    if ((size_t)(end - p) <= n)
      return 0;
    for (size_t i = 1; i <= n; i++) {
      if ((p[i] & 0xc0) != 0x80)
        return 0;
      cp = (cp << 6) | (p[i] & 0x3fu);
    }
    /* overlong forms, surrogates and values past U+10FFFF */
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) ||
        (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
      return 0;
    p += n + 1;
  }
  return 1;
}

int kvidx__topic_parse(const char *topic, size_t len, kvidx__topic *out,
                       const char **why) {
  memset(out, 0, sizeof *out);
  if (!kvidx__utf8_valid(topic, len)) {
    *why = "topic is not valid UTF-8";
    return KVIDX_EPROTO;
  }
  const char *end = topic + len;
  const char *a = memchr(topic, '@', len);
  if (a == NULL) {
    *why = "topic has no '@' (expected kv@<pod>@<model>)";
    return KVIDX_EPROTO;
  }
  const char *b = memchr(a + 1, '@', (size_t)(end - a - 1));
  if (b == NULL) {
    *why = "topic has one '@' (expected kv@<pod>@<model>)";
    return KVIDX_EPROTO;
  }
  out->pod = a + 1;
  out->pod_len = (size_t)(b - a - 1);
  out->model = b + 1;
  out->model_len = (size_t)(end - b - 1);
  if (out->pod_len == 0 || out->model_len == 0) {
    *why = "topic has an empty pod id or model name";
    return KVIDX_EPROTO;
  }
  if (out->pod_len > KVIDX_EVENTS_MAX_NAME ||
      out->model_len > KVIDX_EVENTS_MAX_NAME) {
    *why = "topic pod id or model name is too long";
    return KVIDX_EPROTO;
  }
  return 0;
}

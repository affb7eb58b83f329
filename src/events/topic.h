/*
 * topic.h: parsing of ZeroMQ topics of the llm-d convention
 * "kv@<pod-id>@<model-name>" (internal to src/events/).
 */
#ifndef KVIDX_EVENTS_TOPIC_H
#define KVIDX_EVENTS_TOPIC_H

#include <stddef.h>

/* Longest pod id and model name accepted (bytes). */
#define KVIDX_EVENTS_MAX_NAME 255

typedef struct {
  const char *pod;
  size_t pod_len;
  const char *model;
  size_t model_len;
} kvidx__topic;

/*
 * Splits topic[0..len) into pod and model: the text after the first '@' up
 * to the second '@' is the pod, the rest the model (a model name may itself
 * contain '@'). The prefix before the first '@' is not checked (the SUB
 * filter did that). Returns 0, or KVIDX_EPROTO with *why set to a static
 * phrase: no '@', empty pod or model, names too long, invalid UTF-8, or a NUL
 * byte. Views point into topic.
 */
int kvidx__topic_parse(const char *topic, size_t len, kvidx__topic *out,
                       const char **why);

/* 1 when s[0..len) is well-formed UTF-8 without NUL bytes. */
int kvidx__utf8_valid(const char *s, size_t len);

#endif

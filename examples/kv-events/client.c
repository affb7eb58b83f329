/*
 * client.c: the two kvidxd HTTP calls the kv-events example needs, with
 * libcurl and jansson:
 *   POST /v1/score {"model", "prompt", "pods"} -> {"scores": {pod: n}}
 *   GET  /v1/pods  -> {"pods": [{"pod", "last_seq", ...}]}
 * Events are applied asynchronously, after they arrive over ZeroMQ. A pod's
 * last_seq in /v1/pods is the last batch kvidxd has applied, so comparing
 * it with the seq the pod published shows when kvidxd has caught up.
 *   DELETE /v1/pods/{pod} -> forget a pod (what a scheduler does when a pod
 *   goes away; here it lets the example run again against the same kvidxd).
 */
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kv_events.h"

#define MAX_RESPONSE (1u << 20)
#define POLL_INTERVAL_MS 10

struct kvidxd_client {
  CURL *curl;
  char base[256];
  char *body;
  size_t len;
};

static size_t on_data(char *data, size_t size, size_t nmemb, void *userdata) {
  kvidxd_client *c = userdata;
  size_t n = size * nmemb;
  if (c->len + n > MAX_RESPONSE)
    return 0;
  char *grown = realloc(c->body, c->len + n + 1);
  if (grown == NULL)
    return 0;
  memcpy(grown + c->len, data, n);
  c->body = grown;
  c->len += n;
  c->body[c->len] = '\0';
  return n;
}

/* GET (post_body NULL), POST a JSON body, or DELETE (del) base+path.
 * Returns the parsed JSON of a 200 response, or NULL (and prints why unless
 * the status is quiet_status). */
static json_t *request(kvidxd_client *c, const char *path,
                       const char *post_body, int del, long quiet_status) {
  char url[512];
  snprintf(url, sizeof url, "%s%s", c->base, path);
  struct curl_slist *headers =
      curl_slist_append(NULL, "Content-Type: application/json");
  c->len = 0;
  curl_easy_setopt(c->curl, CURLOPT_URL, url);
  curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, del ? "DELETE" : NULL);
  if (post_body != NULL)
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, post_body);
  else
    curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
  CURLcode rc = curl_easy_perform(c->curl);
  curl_slist_free_all(headers);
  long status = 0;
  curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
  if (rc != CURLE_OK || status != 200) {
    if (rc != CURLE_OK || status != quiet_status)
      fprintf(stderr, "example_kv-events: %s: %s %.200s\n", url,
              rc != CURLE_OK ? curl_easy_strerror(rc) : "HTTP error",
              rc == CURLE_OK && c->body ? c->body : "");
    return NULL;
  }
  return json_loads(c->body ? c->body : "", 0, NULL);
}

static json_t *call(kvidxd_client *c, const char *path, const char *post_body) {
  return request(c, path, post_body, 0, 0);
}

kvidxd_client *kvidxd_client_new(const char *base_url) {
  kvidxd_client *c = calloc(1, sizeof *c);
  if (c == NULL || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    free(c);
    return NULL;
  }
  snprintf(c->base, sizeof c->base, "%s", base_url);
  c->curl = curl_easy_init();
  if (c->curl == NULL) {
    kvidxd_client_free(c);
    return NULL;
  }
  curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, c);
  curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, 5000L);
  return c;
}

void kvidxd_client_free(kvidxd_client *c) {
  if (c == NULL)
    return;
  if (c->curl != NULL)
    curl_easy_cleanup(c->curl);
  free(c->body);
  free(c);
  curl_global_cleanup();
}

int kvidxd_score(kvidxd_client *c, const char *model, const char *text,
                 const char *const *pods, size_t n_pods, double *score) {
  json_t *list = json_array();
  for (size_t i = 0; i < n_pods; i++)
    json_array_append_new(list, json_string(pods[i]));
  json_t *req = json_pack("{s:s, s:s, s:o}", "model", model, "prompt", text,
                          "pods", list);
  char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
  json_decref(req);
  json_t *resp = body ? call(c, "/v1/score", body) : NULL;
  free(body);
  json_t *scores = json_object_get(resp, "scores");
  if (!json_is_object(scores)) {
    json_decref(resp);
    return -1;
  }
  for (size_t i = 0; i < n_pods; i++) {
    json_t *v = json_object_get(scores, pods[i]);
    score[i] = json_is_number(v) ? json_number_value(v) : 0.0;
  }
  json_decref(resp);
  return 0;
}

/* last_seq of pod in a /v1/pods response; -1 when the pod is not listed. */
static int64_t last_seq_of(json_t *resp, const char *pod) {
  size_t i;
  json_t *entry;
  json_array_foreach(json_object_get(resp, "pods"), i, entry) {
    const char *name = json_string_value(json_object_get(entry, "pod"));
    json_t *seq = json_object_get(entry, "last_seq");
    if (name != NULL && strcmp(name, pod) == 0 && json_is_integer(seq))
      return (int64_t)json_integer_value(seq);
  }
  return -1;
}

int kvidxd_forget_pod(kvidxd_client *c, const char *pod) {
  char path[256];
  snprintf(path, sizeof path, "/v1/pods/%s", pod);
  json_t *resp = request(c, path, NULL, 1, 404);
  long status = 0;
  curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
  json_decref(resp);
  return status == 200 || status == 404 ? 0 : -1;
}

int kvidxd_wait_applied(kvidxd_client *c, const char *pod, uint64_t seq,
                        int timeout_ms) {
  struct timespec pause = {0, POLL_INTERVAL_MS * 1000000L};
  for (int waited = 0; waited <= timeout_ms; waited += POLL_INTERVAL_MS) {
    json_t *resp = call(c, "/v1/pods", NULL);
    int64_t last = last_seq_of(resp, pod);
    json_decref(resp);
    if (last == (int64_t)seq)
      return 0;
    nanosleep(&pause, NULL);
  }
  fprintf(stderr,
          "example_kv-events: kvidxd has not applied seq %llu of %s "
          "after %d ms\n",
          (unsigned long long)seq, pod, timeout_ms);
  return -1;
}

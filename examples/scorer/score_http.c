/*
 * score_http.c: prefix scores from kvidxd over HTTP, for schedulers that are
 * not written in C or that should not hold the index themselves:
 *
 *   POST /v1/score {"model": M, "prompt": TEXT, "pods": [candidates]}
 *   200 {"model": M, "tokens": T, "blocks": B, "scores": {"pod-a": 4, ...}}
 *
 * Pods that hold nothing may be left out of "scores", so a missing pod means
 * 0. libcurl does the HTTP and jansson the JSON. One curl handle is reused
 * for all requests, which keeps the connection to kvidxd open.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scorer.h"

/* Largest response accepted; a score response is a few hundred bytes. */
#define MAX_RESPONSE (1u << 20)

typedef struct {
  CURL *curl;
  char url[512];
  char *body;
  size_t len;
} http_state;

static size_t on_data(char *data, size_t size, size_t nmemb, void *userdata) {
  http_state *s = userdata;
  size_t n = size * nmemb;
  if (s->len + n > MAX_RESPONSE)
    return 0; /* makes curl fail with CURLE_WRITE_ERROR */
  char *grown = realloc(s->body, s->len + n + 1);
  if (grown == NULL)
    return 0;
  memcpy(grown + s->len, data, n);
  s->body = grown;
  s->len += n;
  s->body[s->len] = '\0';
  return n;
}

/* POSTs the request; returns the HTTP status, or -1 on a transport error. */
static long post_json(http_state *s, const char *json) {
  struct curl_slist *headers =
      curl_slist_append(NULL, "Content-Type: application/json");
  s->len = 0;
  curl_easy_setopt(s->curl, CURLOPT_URL, s->url);
  curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(s->curl, CURLOPT_POSTFIELDS, json);
  curl_easy_setopt(s->curl, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(s->curl, CURLOPT_WRITEDATA, s);
  curl_easy_setopt(s->curl, CURLOPT_TIMEOUT_MS, 5000L);
  CURLcode rc = curl_easy_perform(s->curl);
  curl_slist_free_all(headers);
  if (rc != CURLE_OK) {
    fprintf(stderr, "example_scorer: POST %s: %s\n", s->url,
            curl_easy_strerror(rc));
    return -1;
  }
  long status = 0;
  curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
  return status;
}

static char *request_json(const scenario *sc, const char *text) {
  json_t *pods = json_array();
  for (size_t p = 0; p < sc->n_pods; p++)
    json_array_append_new(pods, json_string(sc->pods[p]));
  json_t *req = json_pack("{s:s, s:s, s:o}", "model", EXAMPLE_MODEL, "prompt",
                          text, "pods", pods);
  char *s = req ? json_dumps(req, JSON_COMPACT) : NULL;
  json_decref(req);
  return s;
}

/* Reads {"tokens", "blocks", "scores": {pod: number}} into out. */
static int parse_response(const char *body, const scenario *sc,
                          prefix_scores *out) {
  json_error_t err;
  json_t *root = json_loads(body, 0, &err);
  json_int_t tokens = 0, blocks = 0;
  json_t *scores = NULL;
  if (root == NULL ||
      json_unpack(root, "{s:I, s:I, s:o}", "tokens", &tokens, "blocks", &blocks,
                  "scores", &scores) ||
      !json_is_object(scores)) {
    fprintf(stderr, "example_scorer: unexpected response: %.200s\n", body);
    json_decref(root);
    return -1;
  }
  memset(out, 0, sizeof *out);
  out->tokens = (size_t)tokens;
  out->blocks = (size_t)blocks;
  for (size_t p = 0; p < sc->n_pods; p++) {
    json_t *v = json_object_get(scores, sc->pods[p]);
    out->score[p] = json_is_number(v) ? json_number_value(v) : 0.0;
  }
  json_decref(root);
  return 0;
}

static int http_score(score_source *src, const scenario *sc, const char *text,
                      prefix_scores *out) {
  http_state *s = src->state;
  char *json = request_json(sc, text);
  if (json == NULL)
    return -1;
  long status = post_json(s, json);
  free(json);
  if (status != 200) {
    if (status > 0)
      fprintf(stderr, "example_scorer: HTTP %ld: %.200s\n", status,
              s->body ? s->body : "");
    return -1;
  }
  return parse_response(s->body, sc, out);
}

static void http_close(score_source *src) {
  http_state *s = src->state;
  curl_easy_cleanup(s->curl);
  free(s->body);
  free(s);
  curl_global_cleanup();
}

int score_source_http(const char *url, score_source *out) {
  http_state *s = calloc(1, sizeof *s);
  if (s == NULL || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    free(s);
    return -1;
  }
  snprintf(s->url, sizeof s->url, "%s/v1/score", url);
  s->curl = curl_easy_init();
  if (s->curl == NULL) {
    free(s);
    curl_global_cleanup();
    return -1;
  }
  out->score = http_score;
  out->close = http_close;
  out->state = s;
  return 0;
}

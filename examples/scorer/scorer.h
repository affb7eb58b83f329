/*
 * scorer.h: the two ways the scheduler example gets prefix scores from kvidx
 * (in-process through libkvidx, or over HTTP from kvidxd), behind one small
 * interface so the scheduling loop in main.c is the same for both.
 */
#ifndef EXAMPLE_SCORER_H
#define EXAMPLE_SCORER_H

#include <stddef.h>

#define EXAMPLE_MODEL "Qwen/Qwen3-8B"
#define EXAMPLE_MAX_PODS 8
#define EXAMPLE_MAX_LINES 64

/* The fleet and the request stream, read from scenario.txt. */
typedef struct {
  const char *pods[EXAMPLE_MAX_PODS];
  size_t n_pods;
  const char *warm_pod[EXAMPLE_MAX_LINES]; /* warm_pod[i] served warm_text[i] */
  const char *warm_text[EXAMPLE_MAX_LINES];
  size_t n_warm;
  const char *requests[EXAMPLE_MAX_LINES];
  size_t n_requests;
} scenario;

/* kvidx's answer for one prompt over the scenario's pods. */
typedef struct {
  size_t tokens, blocks;
  double score[EXAMPLE_MAX_PODS]; /* tier-weighted cached prefix, in blocks */
} prefix_scores;

/* A source of prefix scores. score() returns 0 or prints why it failed and
 * returns -1; close() releases everything. */
typedef struct score_source {
  int (*score)(struct score_source *src, const scenario *sc, const char *text,
               prefix_scores *out);
  void (*close)(struct score_source *src);
  void *state;
} score_source;

/* libkvidx in-process: an embedded indexer that loads the tokenizer at
 * tokenizer_path and learns the warm caches from the events the warm pods
 * would publish. */
int score_source_inproc(const char *tokenizer_path, const scenario *sc,
                        score_source *out);
/* kvidxd over HTTP: POST url/v1/score. The warm caches are whatever kvidxd
 * has received from the fleet. */
int score_source_http(const char *url, score_source *out);

#endif

/*
 * examples/scorer: how a scheduler uses kvidx. A minimal scheduling loop:
 * for each incoming request it asks kvidx how much of the prompt each
 * candidate pod already holds in its KV cache, combines that with a load
 * signal it keeps itself (requests in flight per pod), picks a pod and says
 * why.
 *
 * The formula (weights and capacity are the constants below):
 *
 *   prefix(p) = score(p) / blocks      fraction of the prompt's full blocks
 *                                      that p holds (tier-weighted), 0..1
 *   load(p)   = in_flight(p) / CAPACITY                                0..1
 *   total(p)  = W_PREFIX * prefix(p) + W_LOAD * (1 - load(p))
 *
 * A pod at CAPACITY is not a candidate. The highest total wins; ties go to
 * the larger prefix, then to fewer requests in flight, then to the first pod
 * listed. Both terms are in 0..1, so the weights say directly how much a
 * fully cached prompt is worth against an idle pod. llm-d's scheduler
 * combines its prefix-cache scorer and queue scorer the same way (weighted
 * sum of normalised scores).
 *
 * Two ways to get the scores, same loop:
 *   example_scorer --inproc TOKENIZER_JSON [SCENARIO]   libkvidx linked in
 *   example_scorer --http URL [SCENARIO]                kvidxd's /v1/score
 * SCENARIO defaults to scenario.txt next to this file (see its header).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scorer.h"

#define W_PREFIX 1.0
#define W_LOAD 1.0
#define CAPACITY 4

#ifndef EXAMPLE_SCENARIO
#define EXAMPLE_SCENARIO "examples/scorer/scenario.txt"
#endif

/* Copies s with each two-character "\n" turned into a newline. */
static char *unescape(const char *s) {
  char *out = malloc(strlen(s) + 1), *o = out;
  if (out == NULL)
    return NULL;
  for (; *s; s++) {
    if (s[0] == '\\' && s[1] == 'n') {
      *o++ = '\n';
      s++;
    } else {
      *o++ = *s;
    }
  }
  *o = '\0';
  return out;
}

/* One scenario line: "pods A B C", "warm POD TEXT" or "request TEXT". */
static int parse_line(scenario *sc, char *line) {
  if (strncmp(line, "pods ", 5) == 0) {
    for (char *save, *t = strtok_r(line + 5, " ", &save); t != NULL;
         t = strtok_r(NULL, " ", &save))
      if (sc->n_pods < EXAMPLE_MAX_PODS)
        sc->pods[sc->n_pods++] = strdup(t);
    return 0;
  }
  if (strncmp(line, "warm ", 5) == 0 && sc->n_warm < EXAMPLE_MAX_LINES) {
    char *text = strchr(line + 5, ' ');
    if (text == NULL)
      return -1;
    *text++ = '\0';
    sc->warm_pod[sc->n_warm] = strdup(line + 5);
    sc->warm_text[sc->n_warm++] = unescape(text);
    return 0;
  }
  if (strncmp(line, "request ", 8) == 0 && sc->n_requests < EXAMPLE_MAX_LINES) {
    sc->requests[sc->n_requests++] = unescape(line + 8);
    return 0;
  }
  return -1;
}

static void free_scenario(scenario *sc) {
  for (size_t i = 0; i < sc->n_pods; i++)
    free((char *)sc->pods[i]);
  for (size_t i = 0; i < sc->n_warm; i++) {
    free((char *)sc->warm_pod[i]);
    free((char *)sc->warm_text[i]);
  }
  for (size_t i = 0; i < sc->n_requests; i++)
    free((char *)sc->requests[i]);
}

static int read_scenario(const char *path, scenario *sc) {
  FILE *f = fopen(path, "r");
  if (f == NULL) {
    perror(path);
    return -1;
  }
  memset(sc, 0, sizeof *sc);
  char line[8192];
  int rc = 0;
  while (rc == 0 && fgets(line, sizeof line, f) != NULL) {
    line[strcspn(line, "\r\n")] = '\0';
    if (line[0] != '\0' && line[0] != '#' && parse_line(sc, line) != 0) {
      fprintf(stderr, "%s: cannot read line: %.60s\n", path, line);
      rc = -1;
    }
  }
  fclose(f);
  if (rc == 0 && sc->n_pods > 0)
    return 0;
  free_scenario(sc);
  return -1;
}

/* The tail of a prompt (its last line), shortened for printing. */
static void preview(const char *text, char *out, size_t cap) {
  const char *nl = strrchr(text, '\n');
  snprintf(out, cap, "%s", nl ? nl + 1 : text);
  if (strlen(out) == cap - 1 && cap > 4)
    memcpy(out + cap - 4, "...", 4);
}

/* Picks the pod with the highest total among those below CAPACITY. */
static int pick(const scenario *sc, const double *prefix, const double *total,
                const int *in_flight) {
  int best = -1;
  for (size_t p = 0; p < sc->n_pods; p++) {
    if (in_flight[p] >= CAPACITY)
      continue;
    if (best < 0 || total[p] > total[best] ||
        (total[p] == total[best] &&
         (prefix[p] > prefix[best] ||
          (prefix[p] == prefix[best] && in_flight[p] < in_flight[best]))))
      best = (int)p;
  }
  return best;
}

/* One sentence on why `chosen` won, naming the trade-off when it did not
 * hold the longest prefix. */
static void explain(const scenario *sc, const prefix_scores *ps,
                    const double *prefix, const int *in_flight, int chosen) {
  size_t most = 0;
  for (size_t p = 1; p < sc->n_pods; p++)
    if (prefix[p] > prefix[most])
      most = p;
  const char *name = sc->pods[chosen];
  if (prefix[most] == 0.0)
    printf("  -> %s: no pod holds a prefix of this prompt; %s is the least "
           "loaded\n",
           name, name);
  else if (prefix[chosen] == prefix[most])
    printf("  -> %s: it holds the longest cached prefix (%.2f of %zu "
           "blocks)%s\n",
           name, ps->score[chosen], ps->blocks,
           in_flight[chosen] > 0 ? ", worth more than its extra load" : "");
  else if (in_flight[most] >= CAPACITY)
    printf("  -> %s: %s holds more (%.2f blocks) but is full (%d/%d)\n", name,
           sc->pods[most], ps->score[most], in_flight[most], CAPACITY);
  else
    printf("  -> %s: %s holds more (%.2f blocks) but has %d requests in "
           "flight; the load term outweighs the cache\n",
           name, sc->pods[most], ps->score[most], in_flight[most]);
}

/* The scheduling loop. Returns 0, or -1 when kvidx could not be asked. */
static int schedule(const scenario *sc, score_source *src) {
  int in_flight[EXAMPLE_MAX_PODS] = {0};
  printf("total = %.2f * prefix + %.2f * (1 - in_flight / %d)\n", W_PREFIX,
         W_LOAD, CAPACITY);
  for (size_t r = 0; r < sc->n_requests; r++) {
    prefix_scores ps;
    if (src->score(src, sc, sc->requests[r], &ps) != 0)
      return -1;
    double prefix[EXAMPLE_MAX_PODS], total[EXAMPLE_MAX_PODS];
    char tail[56];
    preview(sc->requests[r], tail, sizeof tail);
    printf("\nrequest %zu: %zu tokens, %zu blocks: \"%s\"\n", r + 1, ps.tokens,
           ps.blocks, tail);
    printf("  %-6s %7s %7s %9s %7s\n", "pod", "cached", "prefix", "in-flight",
           "total");
    for (size_t p = 0; p < sc->n_pods; p++) {
      prefix[p] = ps.blocks ? ps.score[p] / (double)ps.blocks : 0.0;
      total[p] = W_PREFIX * prefix[p] +
                 W_LOAD * (1.0 - (double)in_flight[p] / CAPACITY);
      printf("  %-6s %7.2f %7.2f %7d/%d %7.2f\n", sc->pods[p], ps.score[p],
             prefix[p], in_flight[p], CAPACITY, total[p]);
    }
    int chosen = pick(sc, prefix, total, in_flight);
    if (chosen < 0) {
      printf("  -> queued: every pod is full\n");
      continue;
    }
    explain(sc, &ps, prefix, in_flight, chosen);
    /* The request now runs on the chosen pod. (That pod will also publish
     * BlockStored events for it; this demo leaves the caches as they are,
     * so that both ways in see the same state.) */
    in_flight[chosen]++;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3 || argc > 4 ||
      (strcmp(argv[1], "--inproc") != 0 && strcmp(argv[1], "--http") != 0)) {
    fprintf(stderr, "usage: example_scorer --inproc TOKENIZER_JSON [SCENARIO]\n"
                    "       example_scorer --http URL [SCENARIO]\n");
    return 2;
  }
  scenario sc;
  if (read_scenario(argc == 4 ? argv[3] : EXAMPLE_SCENARIO, &sc) != 0)
    return 1;
  score_source src;
  int rc = strcmp(argv[1], "--inproc") == 0
               ? score_source_inproc(argv[2], &sc, &src)
               : score_source_http(argv[2], &src);
  if (rc != 0) {
    free_scenario(&sc);
    return 1;
  }
  rc = schedule(&sc, &src);
  src.close(&src);
  free_scenario(&sc);
  return rc == 0 ? 0 : 1;
}

/*
 * cmd_tokenize_bench.c: `kvidx tokenize-bench`, the kvidx side of
 * bench/bench_tokenizer.sh: times the tokenizer in-process, so that neither
 * process start, JSON parsing of the input nor printing of the ids counts.
 *
 *   kvidx tokenize-bench --tokenizer PATH --input FILE.jsonl [--repeat N]
 *                        [--special]
 *
 * Reads every {"text": ...} line of FILE, loads the tokenizer (timed), then
 * encodes all texts one after the other on this one thread, N times (default
 * 3) after one warm-up pass, and prints one JSON line:
 *   {"load_ms":..,"rss_load_mb":..,"best_s":..,"bytes":..,"tokens":..}
 * best_s is the fastest pass; rss_load_mb is the growth of the resident set
 * across the load (VmRSS from /proc/self/status). Then the prefix store
 * (default options) is filled with every text's encoding and the fastest
 * pass of kvidx_prefix_store_find over all texts (every one a full hit) is
 * added as "ps_find_s", with the tokens it returned as "ps_tokens".
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "kvidx.h"
#include "kvidx/tokenizer_registry.h"

#define BENCH_MAX_REPEAT 1000

typedef struct {
  char **text;
  size_t *len;
  size_t n, cap, bytes;
} text_list;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Resident set size in MiB, or 0 if /proc is not there. */
static double rss_mb(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  double kb = 0;
  if (!f)
    return 0;
  while (fgets(line, sizeof(line), f))
    if (strncmp(line, "VmRSS:", 6) == 0)
      kb = strtod(line + 6, NULL);
  fclose(f);
  return kb / 1024.0;
}

static int push_text(text_list *t, const char *s, size_t len) {
  if (t->n == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 256;
    char **nt = realloc(t->text, cap * sizeof(*nt));
    size_t *nl;
    if (!nt)
      return -1;
    t->text = nt;
    if (!(nl = realloc(t->len, cap * sizeof(*nl))))
      return -1;
    t->len = nl;
    t->cap = cap;
  }
  if (!(t->text[t->n] = malloc(len ? len : 1)))
    return -1;
  memcpy(t->text[t->n], s, len);
  t->len[t->n++] = len;
  t->bytes += len;
  return 0;
}

static int read_input(const char *path, text_list *t) {
  FILE *f = fopen(path, "r");
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  int rc = 0;
  if (!f) {
    fprintf(stderr, "kvidx tokenize-bench: cannot open %s\n", path);
    return -1;
  }
  while (rc == 0 && (n = getline(&line, &cap, f)) > 0) {
    json_error_t err;
    json_t *j = json_loadb(line, (size_t)n, JSON_ALLOW_NUL, &err);
    json_t *s = j ? json_object_get(j, "text") : NULL;
    if (!json_is_string(s)) {
      fprintf(stderr,
              "kvidx tokenize-bench: %s: a line without a \"text\" string\n",
              path);
      rc = -1;
    } else {
      rc = push_text(t, json_string_value(s), json_string_length(s));
    }
    json_decref(j);
  }
  free(line);
  fclose(f);
  return rc;
}

/* One pass over all texts; returns its seconds, or -1 on an encode error. */
static double pass(const kvidx_tokenizer *tok, const text_list *t, int special,
                   kvidx_encoding *enc, size_t *tokens) {
  double t0 = now_s();
  *tokens = 0;
  for (size_t i = 0; i < t->n; i++) {
    int rc = kvidx_tokenizer_encode(tok, t->text[i], t->len[i], special, enc);
    if (rc != 0) {
      fprintf(stderr, "kvidx tokenize-bench: text %zu: %s\n", i + 1,
              kvidx_strerror(rc));
      return -1;
    }
    *tokens += enc->n;
  }
  return now_s() - t0;
}

/* Fastest of repeat find passes over all texts after adding them all; -1 on
 * error. */
static double prefix_store_pass(const kvidx_tokenizer *tok, const text_list *t,
                                int repeat, size_t *found) {
  kvidx_prefix_store *ps = NULL;
  kvidx_encoding enc;
  double best = -1;
  kvidx_encoding_init(&enc);
  enc.want_offsets = 1;
  if (kvidx_prefix_store_new(NULL, &ps) != 0)
    return -1;
  for (size_t i = 0; i < t->n; i++)
    if (kvidx_tokenizer_encode(tok, t->text[i], t->len[i], 0, &enc) != 0 ||
        kvidx_prefix_store_add(ps, "m", t->text[i], t->len[i], &enc) != 0)
      goto done;
  for (int r = 0; r < repeat; r++) {
    double t0 = now_s(), ov;
    *found = 0;
    for (size_t i = 0; i < t->n; i++) {
      if (kvidx_prefix_store_find(ps, "m", t->text[i], t->len[i], &enc, &ov) !=
          0)
        goto done;
      *found += enc.n;
    }
    double s = now_s() - t0;
    if (best < 0 || s < best)
      best = s;
  }
done:
  kvidx_prefix_store_free(ps);
  kvidx_encoding_free(&enc);
  return best;
}

static int usage(void) {
  fprintf(stderr, "usage: kvidx tokenize-bench --tokenizer PATH --input "
                  "FILE.jsonl [--repeat N] [--special]\n");
  return 2;
}

static int run(int argc, char **argv) {
  const char *path = NULL, *input = NULL;
  int repeat = 3, special = 0, rc = 1;
  text_list t = {0};
  kvidx_tokenizer *tok = NULL;
  kvidx_encoding enc;
  char err[512] = "";
  double rss0, t0, load_ms, best = -1;
  size_t tokens = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--tokenizer") == 0 && i + 1 < argc)
      path = argv[++i];
    else if (strcmp(argv[i], "--input") == 0 && i + 1 < argc)
      input = argv[++i];
    else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc)
      repeat = atoi(argv[++i]);
    else if (strcmp(argv[i], "--special") == 0)
      special = 1;
    else
      return usage();
  }
  if (!path || !input || repeat < 1 || repeat > BENCH_MAX_REPEAT)
    return usage();
  if (read_input(input, &t) != 0)
    goto done;
  rss0 = rss_mb();
  t0 = now_s();
  int lrc = kvidx_tokenizer_load(path, NULL, &tok, err, sizeof(err));
  load_ms = (now_s() - t0) * 1e3;
  if (lrc != 0) {
    fprintf(stderr, "kvidx tokenize-bench: %s: %s\n", path,
            err[0] ? err : kvidx_strerror(lrc));
    goto done;
  }
  double rss_load = rss_mb() - rss0;
  kvidx_encoding_init(&enc);
  if (pass(tok, &t, special, &enc, &tokens) >= 0) {
    for (int r = 0; r < repeat; r++) {
      double s = pass(tok, &t, special, &enc, &tokens);
      if (s < 0) {
        best = -1;
        break;
      }
      if (best < 0 || s < best)
        best = s;
    }
  }
  kvidx_encoding_free(&enc);
  size_t ps_tokens = 0;
  double ps_s = best >= 0 ? prefix_store_pass(tok, &t, repeat, &ps_tokens) : -1;
  if (best >= 0) {
    printf("{\"load_ms\":%.3f,\"rss_load_mb\":%.1f,\"best_s\":%.6f,"
           "\"bytes\":%zu,\"tokens\":%zu,\"ps_find_s\":%.6f,"
           "\"ps_tokens\":%zu}\n",
           load_ms, rss_load, best, t.bytes, tokens, ps_s, ps_tokens);
    rc = 0;
  }
done:
  kvidx_tokenizer_free(tok);
  for (size_t i = 0; i < t.n; i++)
    free(t.text[i]);
  free(t.text);
  free(t.len);
  return rc;
}

KVIDX_CLI_COMMAND(tokenize_bench_command, "tokenize-bench",
                  "time the tokenizer in-process over a JSONL file (bench)",
                  run)

/*
 * cmd_tokenize.c: `kvidx tokenize`, text -> token ids with a tokenizer.json.
 *
 *   kvidx tokenize --tokenizer PATH [--no-special] [--offsets] [--jsonl]
 *                  [--no-config] [--bos 0|1] [--eos 0|1]
 *
 * Default mode: the whole of stdin is one text; prints a JSON array of ids
 * (with --offsets: {"ids":[...],"offsets":[[s,e],...]}). --jsonl: each stdin
 * line is a JSON object with a "text" string; one output line
 * {"ids":[...]} per input line, in order (a line that cannot be encoded gives
 * {"error":"..."} and the exit status becomes 1). This is the bulk mode the
 * golden and differential tests use, so output is formatted by hand.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kvidx.h"

typedef struct {
  char *b;
  size_t n, cap;
} outbuf;

static void ob_reserve(outbuf *o, size_t extra) {
  if (o->n + extra <= o->cap)
    return;
  size_t cap = o->cap ? o->cap : 1 << 16;
  while (cap < o->n + extra)
    cap *= 2;
  char *b = realloc(o->b, cap);
  if (!b) {
    fprintf(stderr, "kvidx tokenize: out of memory\n");
    exit(1);
  }
  o->b = b;
  o->cap = cap;
}

static void ob_str(outbuf *o, const char *s) {
  size_t l = strlen(s);
  ob_reserve(o, l);
  memcpy(o->b + o->n, s, l);
  o->n += l;
}

static void ob_u32(outbuf *o, uint32_t v) {
  char tmp[12];
  int k = 0;
  do {
    tmp[k++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  ob_reserve(o, (size_t)k);
  while (k)
    o->b[o->n++] = tmp[--k];
}

static void ob_flush(outbuf *o) {
  if (o->n && fwrite(o->b, 1, o->n, stdout) != o->n) {
    perror("kvidx tokenize: write");
    exit(1);
  }
  o->n = 0;
}

static void put_encoding(outbuf *o, const kvidx_encoding *enc, int offsets,
                         int object) {
  if (object)
    ob_str(o, "{\"ids\":");
  ob_str(o, "[");
  for (size_t i = 0; i < enc->n; i++) {
    if (i)
      ob_str(o, ",");
    ob_u32(o, enc->ids[i]);
  }
  ob_str(o, "]");
  if (offsets) {
    ob_str(o, ",\"offsets\":[");
    for (size_t i = 0; i < enc->n; i++) {
      ob_str(o, i ? ",[" : "[");
      ob_u32(o, enc->offsets[2 * i]);
      ob_str(o, ",");
      ob_u32(o, enc->offsets[2 * i + 1]);
      ob_str(o, "]");
    }
    ob_str(o, "]");
  }
  if (object)
    ob_str(o, "}");
}

static char *read_all(FILE *f, size_t *len) {
  size_t cap = 1 << 16, n = 0;
  char *b = malloc(cap);
  while (b) {
    if (n == cap) {
      char *nb = realloc(b, cap * 2);
      if (!nb) {
        free(b);
        return NULL;
      }
      b = nb;
      cap *= 2;
    }
    size_t got = fread(b + n, 1, cap - n, f);
    n += got;
    if (got == 0)
      break;
  }
  *len = n;
  return b;
}

static void usage(FILE *f) {
  fprintf(f, "usage: kvidx tokenize --tokenizer PATH [--no-special] "
             "[--offsets] [--jsonl]\n"
             "                      [--no-config] [--bos 0|1] [--eos 0|1]\n"
             "  reads text from stdin and prints token ids as a JSON array\n"
             "  --no-special  encode without special tokens (no BOS/EOS)\n"
             "  --offsets     also print byte offsets of each token\n"
             "  --jsonl       stdin: one {\"text\":...} per line; stdout: "
             "one {\"ids\":[...]} per line\n"
             "  --no-config   ignore tokenizer_config.json (plain "
             "Tokenizer.from_file behaviour)\n"
             "  --bos/--eos   override add_bos_token / add_eos_token\n");
}

static int run_jsonl(const kvidx_tokenizer *tok, char *in, size_t len,
                     int special, int offsets) {
  kvidx_encoding enc;
  kvidx_encoding_init(&enc);
  enc.want_offsets = offsets;
  outbuf o = {0};
  int status = 0;
  size_t pos = 0;
  while (pos < len) {
    char *nl = memchr(in + pos, '\n', len - pos);
    size_t end = nl ? (size_t)(nl - in) : len;
    size_t ll = end - pos;
    if (ll > 0 && in[pos + ll - 1] == '\r')
      ll--;
    if (ll > 0) {
      json_error_t jerr;
      json_t *j = json_loadb(in + pos, ll, JSON_ALLOW_NUL, &jerr);
      const json_t *t = json_object_get(j, "text");
      int rc = KVIDX_EPARSE;
      if (json_is_string(t))
        rc = kvidx_tokenizer_encode(tok, json_string_value(t),
                                    json_string_length(t), special, &enc);
      if (rc == 0) {
        put_encoding(&o, &enc, offsets, 1);
      } else {
        ob_str(&o, "{\"error\":\"");
        ob_str(&o, j && !json_is_string(t) ? "no \\\"text\\\" string"
                                           : kvidx_strerror(rc));
        ob_str(&o, "\"}");
        status = 1;
      }
      ob_str(&o, "\n");
      json_decref(j);
      if (o.n > (1 << 20))
        ob_flush(&o);
    }
    pos = end + 1;
  }
  ob_flush(&o);
  free(o.b);
  kvidx_encoding_free(&enc);
  return status;
}

static int cmd_tokenize(int argc, char **argv) {
  const char *path = NULL;
  int special = 1, offsets = 0, jsonl = 0;
  kvidx_tokenizer_opts opts;
  kvidx_tokenizer_opts_init(&opts);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--tokenizer") == 0 && i + 1 < argc)
      path = argv[++i];
    else if (strcmp(a, "--no-special") == 0)
      special = 0;
    else if (strcmp(a, "--offsets") == 0)
      offsets = 1;
    else if (strcmp(a, "--jsonl") == 0)
      jsonl = 1;
    else if (strcmp(a, "--no-config") == 0)
      opts.ignore_config = 1;
    else if (strcmp(a, "--bos") == 0 && i + 1 < argc)
      opts.add_bos = atoi(argv[++i]) != 0;
    else if (strcmp(a, "--eos") == 0 && i + 1 < argc)
      opts.add_eos = atoi(argv[++i]) != 0;
    else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      return 0;
    } else {
      fprintf(stderr, "kvidx tokenize: unknown option '%s'\n", a);
      usage(stderr);
      return 2;
    }
  }
  if (!path) {
    usage(stderr);
    return 2;
  }
  char err[512];
  kvidx_tokenizer *tok = NULL;
  int rc = kvidx_tokenizer_load(path, &opts, &tok, err, sizeof err);
  if (rc) {
    fprintf(stderr, "kvidx tokenize: %s: %s (%s)\n", path, err,
            kvidx_err_name(rc));
    return 1;
  }
  size_t len;
  char *in = read_all(stdin, &len);
  if (!in) {
    fprintf(stderr, "kvidx tokenize: out of memory reading stdin\n");
    kvidx_tokenizer_free(tok);
    return 1;
  }
  int status = 0;
  if (jsonl) {
    status = run_jsonl(tok, in, len, special, offsets);
  } else {
    kvidx_encoding enc;
    kvidx_encoding_init(&enc);
    enc.want_offsets = offsets;
    rc = kvidx_tokenizer_encode(tok, in, len, special, &enc);
    if (rc) {
      fprintf(stderr, "kvidx tokenize: %s\n", kvidx_strerror(rc));
      status = 1;
    } else {
      outbuf o = {0};
      put_encoding(&o, &enc, offsets, offsets);
      ob_str(&o, "\n");
      ob_flush(&o);
      free(o.b);
    }
    kvidx_encoding_free(&enc);
  }
  free(in);
  kvidx_tokenizer_free(tok);
  return status;
}

KVIDX_CLI_COMMAND(tokenize_command, "tokenize",
                  "text -> token ids with a HuggingFace tokenizer.json",
                  cmd_tokenize)

/*
 * cmd_hash.c: `kvidx hash`, vLLM's prefix-caching block hashes of token ids.
 *
 * Reads token ids (decimal, separated by spaces, commas, tabs or newlines)
 * from stdin and prints one line per full block: the 64-bit wire value (as
 * in vLLM's KV events) in decimal, or the full digest in lowercase hex with
 * --hex. With --batch every input line is its own prompt and gets one output
 * line with its block values separated by spaces (how the differential test
 * hashes thousands of prompts in a few processes).
 *
 * Exit status: 0 ok, 1 bad input data or hashing error, 2 usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kvidx.h"

/* Most --mm options accepted. */
#define HASH_CLI_MAX_MM 256

typedef struct {
  kvidx_hasher_opts opts;
  kvidx_hash_extra extra;
  kvidx_mm_item mm[HASH_CLI_MAX_MM];
  kvidx_digest parent;
  int has_parent;
  uint32_t first_token;
  int hex, batch;
} hash_cli;

typedef struct {
  uint32_t *v;
  size_t n, cap;
} token_vec;

static void usage(FILE *f) {
  fprintf(
      f,
      "usage: kvidx hash [options] < token-ids\n"
      "\n"
      "Prints vLLM's prefix-caching hash of every full block of the token\n"
      "ids read from stdin (decimal, separated by spaces, commas or\n"
      "newlines), one line per block.\n"
      "\n"
      "  --algo ALGO        sha256 (default), sha256_cbor, xxhash, "
      "xxhash_cbor\n"
      "  --seed STR         PYTHONHASHSEED of the engines (\"\" counts as "
      "set)\n"
      "  --no-seed          PYTHONHASHSEED unset: root \"vllm-none-hash\" "
      "(default)\n"
      "  --block-size N     tokens per block (default 16)\n"
      "  --lora-name NAME   LoRA adapter name (an extra key of every block)\n"
      "  --cache-salt S     cache salt (an extra key of the first block)\n"
      "  --mm ID:OFF:LEN    a multimodal item over tokens [OFF, OFF+LEN); "
      "repeatable,\n"
      "                     in prompt order\n"
      "  --parent HEX       continue the chain after this digest\n"
      "  --first-token N    position of the first input token in the prompt\n"
      "  --hex              print full digests in hex, not 64-bit values\n"
      "  --batch            one prompt per input line, one output line each\n");
}

static int parse_u32(const char *s, uint32_t *out) {
  char *end;
  if (s[0] < '0' || s[0] > '9')
    return -1;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0' || v > UINT32_MAX)
    return -1;
  *out = (uint32_t)v;
  return 0;
}

/* ID:OFFSET:LENGTH, split at the last two colons (ids may hold colons). */
static int parse_mm(char *arg, kvidx_mm_item *m) {
  char *len = strrchr(arg, ':');
  if (len == NULL)
    return -1;
  *len++ = '\0';
  char *off = strrchr(arg, ':');
  if (off == NULL)
    return -1;
  *off++ = '\0';
  m->identifier = arg;
  return parse_u32(off, &m->offset) || parse_u32(len, &m->length) ? -1 : 0;
}

/* Parses argv into c; returns 0, or 2 after printing a usage error. */
static int parse_args(int argc, char **argv, hash_cli *c) {
  enum {
    O_ALGO = 1,
    O_SEED,
    O_NOSEED,
    O_BS,
    O_LORA,
    O_SALT,
    O_MM,
    O_PARENT,
    O_FIRST,
    O_HEX,
    O_BATCH,
    O_HELP
  };
  static const struct option longopts[] = {
      {"algo", required_argument, 0, O_ALGO},
      {"seed", required_argument, 0, O_SEED},
      {"no-seed", no_argument, 0, O_NOSEED},
      {"block-size", required_argument, 0, O_BS},
      {"lora-name", required_argument, 0, O_LORA},
      {"cache-salt", required_argument, 0, O_SALT},
      {"mm", required_argument, 0, O_MM},
      {"parent", required_argument, 0, O_PARENT},
      {"first-token", required_argument, 0, O_FIRST},
      {"hex", no_argument, 0, O_HEX},
      {"batch", no_argument, 0, O_BATCH},
      {"help", no_argument, 0, O_HELP},
      {0, 0, 0, 0}};
  int opt;
  opterr = 0;
  while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (opt) {
    case O_ALGO:
      if (kvidx_hash_algo_parse(optarg, &c->opts.algo) != 0) {
        fprintf(stderr, "kvidx hash: unknown --algo '%s'\n", optarg);
        return 2;
      }
      break;
    case O_SEED:
      c->opts.seed = optarg;
      break;
    case O_NOSEED:
      c->opts.seed = NULL;
      break;
    case O_BS:
      if (parse_u32(optarg, &c->opts.block_size) || c->opts.block_size == 0) {
        fprintf(stderr, "kvidx hash: bad --block-size '%s'\n", optarg);
        return 2;
      }
      break;
    case O_LORA:
      c->extra.lora_name = optarg;
      break;
    case O_SALT:
      c->extra.cache_salt = optarg;
      break;
    case O_MM:
      if (c->extra.n_mm == HASH_CLI_MAX_MM ||
          parse_mm(optarg, &c->mm[c->extra.n_mm]) != 0) {
        fprintf(stderr, "kvidx hash: bad --mm (want ID:OFFSET:LENGTH)\n");
        return 2;
      }
      c->extra.n_mm++;
      break;
    case O_PARENT:
      if (kvidx_digest_from_hex(optarg, &c->parent) != 0) {
        fprintf(stderr, "kvidx hash: bad --parent '%s' (want hex)\n", optarg);
        return 2;
      }
      c->has_parent = 1;
      break;
    case O_FIRST:
      if (parse_u32(optarg, &c->first_token)) {
        fprintf(stderr, "kvidx hash: bad --first-token '%s'\n", optarg);
        return 2;
      }
      break;
    case O_HEX:
      c->hex = 1;
      break;
    case O_BATCH:
      c->batch = 1;
      break;
    case O_HELP:
      usage(stdout);
      exit(0);
    default:
      fprintf(stderr, "kvidx hash: unknown or incomplete option '%s'\n",
              argv[optind - 1]);
      usage(stderr);
      return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "kvidx hash: unexpected argument '%s'\n", argv[optind]);
    return 2;
  }
  c->extra.mm = c->mm;
  return 0;
}

static int push_token(token_vec *t, uint32_t v) {
  if (t->n == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 1024;
    uint32_t *p = realloc(t->v, cap * sizeof *p);
    if (p == NULL)
      return -1;
    t->v = p;
    t->cap = cap;
  }
  t->v[t->n++] = v;
  return 0;
}

/* Parses the token ids of one line (or of all input when !batch) into t.
 * Returns 0, or 1 after printing what was wrong. */
static int parse_tokens(const char *s, size_t len, size_t line, token_vec *t) {
  size_t i = 0;
  t->n = 0;
  while (i < len) {
    char ch = s[i];
    if (ch == ' ' || ch == ',' || ch == '\t' || ch == '\r' || ch == '\n') {
      i++;
      continue;
    }
    size_t j = i;
    unsigned long long v = 0;
    while (j < len && s[j] >= '0' && s[j] <= '9' && v <= UINT32_MAX)
      v = v * 10 + (unsigned)(s[j++] - '0');
    int sep = j == len || s[j] == ' ' || s[j] == ',' || s[j] == '\t' ||
              s[j] == '\r' || s[j] == '\n';
    if (j == i || !sep || v > UINT32_MAX) {
      size_t k = i;
      while (k < len && k - i < 20 && s[k] != ' ' && s[k] != ',' &&
             s[k] != '\n')
        k++;
      fprintf(stderr,
              "kvidx hash: line %zu: '%.*s' is not a token id (a decimal "
              "integer 0..4294967295)\n",
              line, (int)(k - i), s + i);
      return 1;
    }
    if (push_token(t, (uint32_t)v) != 0) {
      fprintf(stderr, "kvidx hash: out of memory\n");
      return 1;
    }
    i = j;
  }
  return 0;
}

/* Hashes one prompt and prints its blocks. Returns 0 or 1. */
static int hash_prompt(const hash_cli *c, const kvidx_hasher *h,
                       const token_vec *t, size_t line) {
  size_t n = t->n / c->opts.block_size;
  kvidx_digest *d = malloc((n ? n : 1) * sizeof *d);
  if (d == NULL) {
    fprintf(stderr, "kvidx hash: out of memory\n");
    return 1;
  }
  int rc = kvidx_hash_blocks(h, c->has_parent ? &c->parent : NULL,
                             c->first_token, t->v, t->n, &c->extra, d, NULL, n);
  if (rc < 0) {
    fprintf(stderr, "kvidx hash: line %zu: %s (%s)\n", line, kvidx_strerror(rc),
            kvidx_err_name(rc));
    free(d);
    return 1;
  }
  for (int i = 0; i < rc; i++) {
    const char *sep = c->batch ? (i + 1 < rc ? " " : "") : "\n";
    if (c->hex) {
      char hex[2 * KVIDX_DIGEST_MAX + 1];
      kvidx_digest_to_hex(&d[i], hex, sizeof hex);
      printf("%s%s", hex, sep);
    } else {
      printf("%llu%s", (unsigned long long)kvidx_digest_low64(&d[i]), sep);
    }
  }
  if (c->batch)
    putchar('\n');
  free(d);
  return 0;
}

static char *read_all(FILE *f, size_t *len) {
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  while (buf != NULL) {
    n += fread(buf + n, 1, cap - n, f);
    if (n < cap)
      break;
    char *p = realloc(buf, cap * 2);
    if (p == NULL) {
      free(buf);
      return NULL;
    }
    buf = p;
    cap *= 2;
  }
  if (buf != NULL && ferror(f)) {
    free(buf);
    return NULL;
  }
  *len = n;
  return buf;
}

static int run_hash(int argc, char **argv) {
  hash_cli c;
  memset(&c, 0, sizeof c);
  kvidx_hasher_opts_init(&c.opts);
  int rc = parse_args(argc, argv, &c);
  if (rc != 0)
    return rc;
  kvidx_hasher *h = NULL;
  if ((rc = kvidx_hasher_new(&c.opts, &h)) != 0) {
    fprintf(stderr, "kvidx hash: %s (%s)\n", kvidx_strerror(rc),
            kvidx_err_name(rc));
    return rc == KVIDX_ENOMEM ? 1 : 2;
  }
  /* Hashing no tokens validates the extra keys once, so a bad option is a
   * usage error rather than an error on every input line. */
  rc = kvidx_hash_blocks(h, NULL, 0, NULL, 0, &c.extra, NULL, NULL, 0);
  if (rc < 0) {
    fprintf(stderr,
            "kvidx hash: bad --lora-name, --cache-salt or --mm: %s (%s)\n",
            kvidx_strerror(rc), kvidx_err_name(rc));
    kvidx_hasher_free(h);
    return 2;
  }
  if (!kvidx_hasher_reproducible(h))
    fprintf(stderr,
            "kvidx hash: warning: with PYTHONHASHSEED unset vLLM "
            "uses a random root for %s; these hashes will not match "
            "an engine's\n",
            kvidx_hash_algo_name(c.opts.algo));
  size_t len = 0;
  char *in = read_all(stdin, &len);
  if (in == NULL) {
    fprintf(stderr, "kvidx hash: cannot read stdin\n");
    kvidx_hasher_free(h);
    return 1;
  }
  token_vec t = {NULL, 0, 0};
  rc = 0;
  if (!c.batch) {
    rc = parse_tokens(in, len, 1, &t) || hash_prompt(&c, h, &t, 1);
  } else {
    size_t line = 1;
    for (size_t i = 0; i < len && rc == 0; line++) {
      const char *nl = memchr(in + i, '\n', len - i);
      size_t end = nl ? (size_t)(nl - in) : len;
      rc = parse_tokens(in + i, end - i, line, &t) ||
           hash_prompt(&c, h, &t, line);
      i = end + 1;
    }
  }
  free(t.v);
  free(in);
  kvidx_hasher_free(h);
  if (fflush(stdout) != 0) {
    fprintf(stderr, "kvidx hash: cannot write stdout\n");
    return 1;
  }
  return rc ? 1 : 0;
}

KVIDX_CLI_COMMAND(hash_command, "hash",
                  "vLLM block hashes of token ids read from stdin", run_hash)

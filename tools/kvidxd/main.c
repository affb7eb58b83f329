/*
 * main.c: kvidxd, the kvidx indexer service — ZeroMQ KV events in, HTTP/JSON
 * scores out, Prometheus metrics. A thin main() over the public API
 * (kvidx/server.h, kvidx/indexer.h): configuration from the file, then the
 * environment, then the flags; the effective configuration is logged; the
 * main thread then waits for SIGTERM/SIGINT and shuts down in order (stop
 * accepting, finish in-flight requests, stop the subscribers) within a
 * bounded time.
 */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvidx.h"

/* Extra seconds, beyond the HTTP drain timeout, that the whole shutdown may
 * take before the process gives up and exits non-zero. */
#define KVIDXD_SHUTDOWN_GRACE_S 10

static void usage(FILE *f) {
  fprintf(
      f,
      "usage: kvidxd [options]\n"
      "\n"
      "kvidx indexer service: ingests vLLM KV events over ZeroMQ and answers\n"
      "prefix-cache scoring requests over HTTP. With no options it starts with "
      "the\n"
      "embedded default (in-memory index, SUB bound on tcp://*:5557, HTTP on\n"
      "127.0.0.1:8080). Settings come from the config file, then the "
      "environment,\n"
      "then these flags (later wins).\n"
      "\n"
      "options (environment variable in brackets):\n"
      "  --config FILE           JSON configuration (llm-d kv-cache-manager "
      "field\n"
      "                          names; see docs/configuration.md) "
      "[KVIDX_CONFIG]\n"
      "  --http HOST:PORT        HTTP listen address (port 0 = any) "
      "[KVIDX_HTTP]\n"
      "  --zmq-bind ENDPOINT     bind the SUB socket here, 'none' to disable\n"
      "                          (e.g. tcp://*:5557) [KVIDX_ZMQ_BIND]\n"
      "  --zmq-connect SPEC      connect to a vLLM pod's PUB socket; "
      "repeatable;\n"
      "                          SPEC = "
      "ENDPOINT[,pod=ID][,model=NAME][,replay=EP]\n"
      "                          [KVIDX_ZMQ_CONNECT, space separated]\n"
      "  --block-size N          tokens per KV block, as vLLM's --block-size\n"
      "                          [KVIDX_BLOCK_SIZE]\n"
      "  --hash-algo ALGO        sha256 | sha256_cbor | xxhash | xxhash_cbor, "
      "as\n"
      "                          vLLM's --prefix-caching-hash-algo "
      "[KVIDX_HASH_ALGO]\n"
      "  --hash-seed STR         vLLM's PYTHONHASHSEED (unset = vLLM's "
      "default)\n"
      "                          [KVIDX_HASH_SEED]\n"
      "  --tokenizer-dir DIR     auto-discover tokenizer.json files under DIR\n"
      "                          [KVIDX_TOKENIZER_DIR, LOCAL_TOKENIZER_DIR]\n"
      "  --model-tokenizer M=P   tokenizer.json path P for model M; "
      "repeatable\n"
      "  --redis URL             use a Redis/Valkey index "
      "(redis://host:port/db,\n"
      "                          valkey://..., unix:///path) [KVIDX_REDIS]\n"
      "  --log-level LEVEL       error | warn | info | debug "
      "[KVIDX_LOG_LEVEL]\n"
      "  --print-config          print the effective configuration and exit\n"
      "  --version               print the version and exit\n"
      "  -h, --help              this help\n"
      "\n"
      "HTTP API (docs/http-api.md): POST /v1/score, POST /v1/tokenize,\n"
      "GET /v1/pods, DELETE /v1/pods/{pod}, GET /metrics, GET /healthz, GET "
      "/readyz.\n"
      "SIGTERM or SIGINT: graceful shutdown, exit status 0.\n");
}

/* Flags that map onto kvidx_config_set names. */
static const struct option long_opts[] = {
    {"config", required_argument, NULL, 'c'},
    {"http", required_argument, NULL, 1},
    {"zmq-bind", required_argument, NULL, 1},
    {"zmq-connect", required_argument, NULL, 1},
    {"block-size", required_argument, NULL, 1},
    {"hash-algo", required_argument, NULL, 1},
    {"hash-seed", required_argument, NULL, 1},
    {"tokenizer-dir", required_argument, NULL, 1},
    {"model-tokenizer", required_argument, NULL, 1},
    {"redis", required_argument, NULL, 1},
    {"log-level", required_argument, NULL, 1},
    {"print-config", no_argument, NULL, 'p'},
    {"version", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0}};

typedef struct {
  const char *config_file;
  int print_config;
} cli;

/* First pass: --config, --help, --version, --print-config. */
static int parse_meta(int argc, char **argv, cli *o) {
  int idx, ch;
  opterr = 1;
  while ((ch = getopt_long(argc, argv, "h", long_opts, &idx)) != -1) {
    switch (ch) {
    case 'c':
      o->config_file = optarg;
      break;
    case 'p':
      o->print_config = 1;
      break;
    case 'v':
      printf("kvidxd %s\n", kvidx_version());
      exit(0);
    case 'h':
      usage(stdout);
      exit(0);
    case 1:
      break;
    default:
      usage(stderr);
      return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "kvidxd: unexpected argument '%s'\n", argv[optind]);
    return 2;
  }
  return 0;
}

/* Second pass: the settings, applied in command-line order. */
static int apply_flags(int argc, char **argv, kvidx_config *c) {
  int idx, ch;
  optind = 1;
  opterr = 0;
  while ((ch = getopt_long(argc, argv, "h", long_opts, &idx)) != -1) {
    if (ch != 1)
      continue;
    char err[256] = "";
    if (kvidx_config_set(c, long_opts[idx].name, optarg, err, sizeof err)) {
      fprintf(stderr, "kvidxd: --%s %s: %s\n", long_opts[idx].name, optarg,
              err);
      return 2;
    }
  }
  return 0;
}

static kvidx_config *load_config(int argc, char **argv, const cli *o) {
  kvidx_config *c;
  char err[512] = "";
  if (kvidx_config_new(&c))
    return NULL;
  const char *file = o->config_file ? o->config_file : getenv("KVIDX_CONFIG");
  if (file != NULL && file[0] != '\0' &&
      kvidx_config_load_file(c, file, err, sizeof err)) {
    fprintf(stderr, "kvidxd: config %s: %s\n", file, err);
    kvidx_config_free(c);
    return NULL;
  }
  if (kvidx_config_apply_env(c, err, sizeof err)) {
    fprintf(stderr, "kvidxd: environment: %s\n", err);
    kvidx_config_free(c);
    return NULL;
  }
  if (apply_flags(argc, argv, c)) {
    kvidx_config_free(c);
    return NULL;
  }
  return c;
}

static int run(kvidx_config *c, const sigset_t *signals) {
  kvidx_indexer_opts io;
  kvidx_config_indexer_opts(c, &io);
  kvidx_indexer *ix;
  int rc = kvidx_indexer_new(&io, &ix);
  if (rc) {
    kvidx_server_logf(KVIDX_LOG_ERROR, "kvidxd",
                      "cannot create the indexer error=\"%s\"",
                      kvidx_strerror(rc));
    return 1;
  }
  /* Subscribers first: once /healthz answers, events are being received. */
  if ((rc = kvidx_indexer_start(ix))) {
    kvidx_indexer_free(ix);
    return 1;
  }
  kvidx_server *srv;
  if ((rc = kvidx_server_start(c, ix, &srv))) {
    kvidx_indexer_free(ix);
    return 1;
  }
  kvidx_server_logf(KVIDX_LOG_INFO, "kvidxd", "ready version=%s port=%d",
                    kvidx_version(), kvidx_server_port(srv));
  int sig = 0;
  sigwait(signals, &sig);
  int drain_ms = kvidx_server_shutdown_timeout_ms(srv);
  /* If stopping hangs anyway, SIGALRM's default action ends the process. */
  alarm((unsigned)(drain_ms / 1000 + KVIDXD_SHUTDOWN_GRACE_S));
  kvidx_server_logf(KVIDX_LOG_INFO, "kvidxd", "shutting down signal=%s",
                    sig == SIGTERM ? "SIGTERM" : "SIGINT");
  int drained = kvidx_server_stop(srv, drain_ms);
  kvidx_indexer_stop(ix);
  kvidx_indexer_free(ix);
  kvidx_server_logf(KVIDX_LOG_INFO, "kvidxd", "stopped all_requests_done=%s",
                    drained == 0 ? "true" : "false");
  return 0;
}

int main(int argc, char **argv) {
  cli o = {NULL, 0};
  int rc = parse_meta(argc, argv, &o);
  if (rc)
    return rc;
  /* Block the shutdown signals before any thread starts, so every thread
   * inherits the mask and only sigwait() in main sees them. */
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, NULL);
  signal(SIGPIPE, SIG_IGN);
  kvidx_config *c = load_config(argc, argv, &o);
  if (c == NULL)
    return 2;
  kvidx_log_set_level(kvidx_config_log_level(c));
  if (o.print_config) {
    char *json = kvidx_config_to_json(c);
    if (json != NULL)
      printf("%s\n", json);
    free(json);
    kvidx_config_free(c);
    return json ? 0 : 1;
  }
  kvidx_config_log(c);
  rc = run(c, &signals);
  kvidx_config_free(c);
  return rc;
}

/*
 * test_registry.c: the tokenizer registry (src/tokenizer/registry.c,
 * hub_download.c) with real tokenizer.json files written by the test (a tiny
 * BPE whose "ab" id tells the models apart): explicit map, directory
 * discovery in both layouts, name checks, the LRU bound with tokenizers held
 * across eviction, a corrupt file, and downloads from a stand-in hub
 * (tests/tokenizer/hf_hub_server.py) on a loopback port: token, redirect,
 * 404, 401, HF cache layout, reuse of the cache without the endpoint.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/test.h"
#include "kvidx.h"
#include "kvidx/tokenizer_registry.h"

/* ---- helpers ----------------------------------------------------------------
 */

static void mkdirs(const char *path) {
  char buf[1024];
  snprintf(buf, sizeof(buf), "%s", path);
  for (char *p = buf + 1; *p; p++) {
    if (*p == '/') {
      *p = '\0';
      mkdir(buf, 0755);
      *p = '/';
    }
  }
  if (mkdir(buf, 0755) != 0 && errno != EEXIST)
    FAILF("mkdir %s: %s", buf, strerror(errno));
}

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (!f)
    FAILF("fopen %s: %s", path, strerror(errno));
  fputs(text, f);
  fclose(f);
}

/* A tiny BPE tokenizer.json in dir whose "ab" has id ab_id. */
static void write_tokenizer(const char *dir, int ab_id) {
  char path[1024], json[1024];
  mkdirs(dir);
  snprintf(json, sizeof(json),
           "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,"
           "\"added_tokens\":[],\"normalizer\":null,\"pre_tokenizer\":null,"
           "\"post_processor\":null,\"decoder\":null,\"model\":{\"type\":"
           "\"BPE\",\"dropout\":null,\"unk_token\":null,"
           "\"continuing_subword_prefix\":null,\"end_of_word_suffix\":null,"
           "\"fuse_unk\":false,\"byte_fallback\":false,\"ignore_merges\":false,"
           "\"vocab\":{\"a\":0,\"b\":1,\"ab\":%d},\"merges\":[\"a b\"]}}\n",
           ab_id);
  snprintf(path, sizeof(path), "%s/tokenizer.json", dir);
  write_text(path, json);
}

/* The id the tokenizer gives "ab": tells which file was loaded. */
static long ab_id(const kvidx_tokenizer *tok) {
  kvidx_encoding enc;
  long id = -1;
  kvidx_encoding_init(&enc);
  CHECK_OK(kvidx_tokenizer_encode(tok, "ab", 2, 0, &enc));
  if (enc.n == 1)
    id = enc.ids[0];
  kvidx_encoding_free(&enc);
  return id;
}

/* A path under the test's temporary directory; the buffers rotate, so a
 * result stays valid for the next 63 calls. */
static char *tmp_path(const char *fmt, const char *a) {
  static char bufs[64][1024];
  static int next;
  char *b = bufs[next++ % 64];
  char sub[512];
  snprintf(sub, sizeof(sub), fmt, a ? a : "");
  snprintf(b, 1024, "%s/%s", kvidx_test_tmpdir(), sub);
  return b;
}

static kvidx_tokenizer_registry *registry(const char *disc, size_t max_loaded) {
  kvidx_tokenizer_registry_opts o;
  kvidx_tokenizer_registry *r = NULL;
  kvidx_tokenizer_registry_opts_init(&o);
  o.auto_discovery_dir = disc;
  o.hf_cache_dir = tmp_path("empty-hf-cache", NULL);
  o.max_loaded = max_loaded;
  CHECK_OK(kvidx_tokenizer_registry_new(&o, &r));
  return r;
}

/* ---- explicit map and names
 * -------------------------------------------------- */

TEST(explicit_map) {
  kvidx_tokenizer_registry *r = registry(NULL, 8);
  const kvidx_tokenizer *t1 = NULL, *t2 = NULL;
  kvidx_tokenizer_registry_stats st;
  write_tokenizer(tmp_path("x", NULL), 7);
  CHECK_OK(kvidx_tokenizer_registry_add(r, "org/x",
                                        tmp_path("x/tokenizer.json", NULL)));
  CHECK_OK(kvidx_tokenizer_registry_acquire(r, "org/x", &t1));
  CHECK_OK(kvidx_tokenizer_registry_acquire(r, "org/x", &t2));
  CHECK(t1 == t2);
  CHECK_EQ_INT(ab_id(t1), 7);
  kvidx_tokenizer_registry_release(r, t1);
  kvidx_tokenizer_registry_release(r, t2);
  kvidx_tokenizer_registry_get_stats(r, &st);
  CHECK_EQ_INT(st.acquires, 2);
  CHECK_EQ_INT(st.loads, 1);
  CHECK_EQ_INT(st.loaded, 1);
  CHECK_EQ_INT(st.models, 1);
  kvidx_tokenizer_registry_free(r);
}

TEST(unknown_and_bad_names) {
  kvidx_tokenizer_registry *r = registry(tmp_path("nothing", NULL), 8);
  const kvidx_tokenizer *t = (const kvidx_tokenizer *)1;
  kvidx_tokenizer_registry_stats st;
  char longname[KVIDX_TOKENIZER_MODEL_NAME_MAX + 2];
  const char *bad[] = {"",   "../etc", "a/../b", "a//b", "/abs",
                       "a/", "a b",    "a/./b",  "x\n",  ".",
                       "..", "a\\b",   "%2e%2e"};
  CHECK_EQ_INT(kvidx_tokenizer_registry_acquire(r, "org/none", &t),
               KVIDX_ENOTFOUND);
  CHECK(t == NULL);
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    CHECK_EQ_INT(kvidx_tokenizer_registry_acquire(r, bad[i], &t), KVIDX_EINVAL);
  memset(longname, 'a', sizeof(longname) - 1);
  longname[sizeof(longname) - 1] = '\0';
  CHECK_EQ_INT(kvidx_tokenizer_registry_acquire(r, longname, &t), KVIDX_EINVAL);
  /* Unknown names leave nothing behind. */
  kvidx_tokenizer_registry_get_stats(r, &st);
  CHECK_EQ_INT(st.models, 0);
  CHECK_EQ_INT(kvidx_tokenizer_registry_acquire(NULL, "x", &t), KVIDX_EINVAL);
  kvidx_tokenizer_registry_free(r);
}

/* ---- discovery
 * ------------------------------------------------------------------ */

static void count_model(void *ud, const char *model, const char *path,
                        int loaded) {
  (void)model;
  (void)loaded;
  if (path)
    (*(int *)ud)++;
}

TEST(discovery_layouts) {
  const char *disc = tmp_path("disc", NULL);
  const kvidx_tokenizer *t = NULL;
  kvidx_tokenizer_registry *r;
  kvidx_tokenizer_registry_stats st;
  int listed = 0;
  /* HF cache layout: refs/main picks rev2 although rev1 is newer. */
  write_tokenizer(tmp_path("disc/models--org--hf/snapshots/rev2", NULL), 12);
  write_tokenizer(tmp_path("disc/models--org--hf/snapshots/rev1", NULL), 11);
  mkdirs(tmp_path("disc/models--org--hf/refs", NULL));
  write_text(tmp_path("disc/models--org--hf/refs/main", NULL), "rev2\n");
  /* HF layout without refs: the only snapshot. */
  write_tokenizer(tmp_path("disc/models--solo/snapshots/abc", NULL), 14);
  /* Plain nested layout, and a top-level folder. */
  write_tokenizer(tmp_path("disc/org/plain", NULL), 13);
  write_tokenizer(tmp_path("disc/single", NULL), 15);
  /* Not tokenizers: ignored. */
  mkdirs(tmp_path("disc/org/empty", NULL));
  mkdirs(tmp_path("disc/models--org--nosnap/snapshots", NULL));
  r = registry(disc, 8);
  kvidx_tokenizer_registry_get_stats(r, &st);
  CHECK_EQ_INT(st.discovered, 4);
  CHECK_OK(kvidx_tokenizer_registry_list(r, count_model, &listed));
  CHECK_EQ_INT(listed, 4);
  CHECK_OK(kvidx_tokenizer_registry_acquire(r, "org/hf", &t));
  CHECK_EQ_INT(ab_id(t), 12);
  kvidx_tokenizer_registry_release(r, t);
  CHECK_OK(kvidx_tokenizer_registry_acquire(r, "solo", &t));
  CHECK_EQ_INT(ab_id(t), 14);
  kvidx_tokenizer_registry_release(r, t);
  CHECK_OK(kvidx_tokenizer_registry_acquire(r, "org/plain", &t));
  CHECK_EQ_INT(ab_id(t), 13);
  kvidx_tokenizer_registry_release(r, t);
  CHECK_OK(kvidx_tokenizer_registry_acquire(r, "single", &t));
  CHECK_EQ_INT(ab_id(t), 15);
  kvidx_tokenizer_registry_release(r, t);
  CHECK_EQ_INT(kvidx_tokenizer_registry_acquire(r, "org/empty", &t),
               KVIDX_ENOTFOUND);
  /* Added after the scan: found on first use. */
  write_tokenizer(tmp_path("disc/models--org--late/snapshots/r", NULL), 16);
  CHECK_OK(kvidx_tokenizer_registry_acquire(r, "org/late", &t));
  CHECK_EQ_INT(ab_id(t), 16);
  kvidx_tokenizer_registry_release(r, t);
  /* The explicit map wins over discovery (the model is not loaded yet). */
  write_tokenizer(tmp_path("override", NULL), 17);
  write_tokenizer(tmp_path("disc/org/other", NULL), 18);
  CHECK_OK(kvidx_tokenizer_registry_add(
      r, "org/other", tmp_path("override/tokenizer.json", NULL)));
  CHECK_OK(kvidx_tokenizer_registry_acquire(r, "org/other", &t));
  CHECK_EQ_INT(ab_id(t), 17);
  /* ... and a model in use cannot be re-pointed. */
  CHECK_EQ_INT(
      kvidx_tokenizer_registry_add(
          r, "org/other", tmp_path("disc/org/other/tokenizer.json", NULL)),
      KVIDX_ESTATE);
  kvidx_tokenizer_registry_release(r, t);
  kvidx_tokenizer_registry_free(r);
}

/* ---- LRU
 * ----------------------------------------------------------------------------
 */

TEST(lru_bound) {
  const char *disc = tmp_path("lru", NULL);
  const kvidx_tokenizer *t = NULL;
  kvidx_tokenizer_registry *r;
  kvidx_tokenizer_registry_stats st;
  char dir[64], model[64];
  for (int i = 1; i <= 3; i++) {
    snprintf(dir, sizeof(dir), "lru/org/m%d", i);
    write_tokenizer(tmp_path("%s", dir), 100 + i);
  }
  r = registry(disc, 2);
  for (int i = 1; i <= 3; i++) {
    snprintf(model, sizeof(model), "org/m%d", i);
    CHECK_OK(kvidx_tokenizer_registry_acquire(r, model, &t));
    CHECK_EQ_INT(ab_id(t), 100 + i);
    kvidx_tokenizer_registry_release(r, t);
  }
  kvidx_tokenizer_registry_get_stats(r, &st);
  CHECK_EQ_INT(st.loaded, 2);
  CHECK_EQ_INT(st.evictions, 1);
  CHECK_EQ_INT(st.loads, 3);
  /* m1 was the least recently used: it loads again; m3 stays. */
  CHECK_OK(kvidx_tokenizer_registry_acquire(r, "org/m3", &t));
  kvidx_tokenizer_registry_release(r, t);
  CHECK_OK(kvidx_tokenizer_registry_acquire(r, "org/m1", &t));
  CHECK_EQ_INT(ab_id(t), 101);
  kvidx_tokenizer_registry_release(r, t);
  kvidx_tokenizer_registry_get_stats(r, &st);
  CHECK_EQ_INT(st.loads, 4);
  CHECK_EQ_INT(st.loaded, 2);
  kvidx_tokenizer_registry_free(r);
}

TEST(held_tokenizer_survives_eviction) {
  const char *disc = tmp_path("held", NULL);
  const kvidx_tokenizer *held = NULL, *t = NULL;
  kvidx_tokenizer_registry *r;
  kvidx_tokenizer_registry_stats st;
  char dir[64], model[64];
  for (int i = 1; i <= 4; i++) {
    snprintf(dir, sizeof(dir), "held/org/m%d", i);
    write_tokenizer(tmp_path("%s", dir), 200 + i);
  }
  r = registry(disc, 1);
  CHECK_OK(kvidx_tokenizer_registry_acquire(r, "org/m1", &held));
  for (int i = 2; i <= 4; i++) {
    snprintf(model, sizeof(model), "org/m%d", i);
    CHECK_OK(kvidx_tokenizer_registry_acquire(r, model, &t));
    kvidx_tokenizer_registry_release(r, t);
    CHECK_EQ_INT(ab_id(held), 201);
  }
  kvidx_tokenizer_registry_get_stats(r, &st);
  CHECK_EQ_INT(st.loaded, 1); /* only the held one: bound 1, all others idle */
  kvidx_tokenizer_registry_release(r, held);
  kvidx_tokenizer_registry_get_stats(r, &st);
  CHECK_EQ_INT(st.loaded, 1);
  kvidx_tokenizer_registry_free(r);
}

TEST(corrupt_file) {
  const kvidx_tokenizer *t = NULL;
  kvidx_tokenizer_registry *r = registry(NULL, 2);
  int rc;
  mkdirs(tmp_path("bad", NULL));
  write_text(tmp_path("bad/tokenizer.json", NULL), "{\"model\": {\"type\":");
  CHECK_OK(kvidx_tokenizer_registry_add(r, "org/bad",
                                        tmp_path("bad/tokenizer.json", NULL)));
  rc = kvidx_tokenizer_registry_acquire(r, "org/bad", &t);
  CHECK(rc < 0 && rc != KVIDX_ENOTFOUND);
  CHECK(t == NULL);
  /* Fixed on disk: the next acquire retries. */
  write_tokenizer(tmp_path("bad", NULL), 9);
  CHECK_OK(kvidx_tokenizer_registry_acquire(r, "org/bad", &t));
  CHECK_EQ_INT(ab_id(t), 9);
  kvidx_tokenizer_registry_release(r, t);
  kvidx_tokenizer_registry_free(r);
}

/* ---- hub download
 * ------------------------------------------------------------------- */

static pid_t start_hub(const char *root, int port, const char *token) {
  char port_s[16], script[1024];
  pid_t pid;
  snprintf(port_s, sizeof(port_s), "%d", port);
  snprintf(script, sizeof(script), "%s/tests/tokenizer/hf_hub_server.py",
           KVIDX_SOURCE_DIR);
  pid = fork();
  if (pid == 0) {
    execl("/usr/bin/python3", "python3", script, root, port_s, token,
          (char *)NULL);
    _exit(127);
  }
  /* Ready when it answers; at most ~10 s. */
  for (int i = 0; i < 200; i++) {
    char cmd[256];
    snprintf(cmd, sizeof(cmd),
             "curl -s -o /dev/null --max-time 1 http://127.0.0.1:%d/ping",
             port);
    if (system(cmd) == 0)
      return pid;
    usleep(50000);
  }
  kill(pid, SIGTERM);
  FAILF("hub stand-in did not start on port %d", port);
  return -1;
}

static void stop_hub(pid_t pid) {
  kill(pid, SIGTERM);
  waitpid(pid, NULL, 0);
}

static kvidx_tokenizer_registry *hub_registry(int port, const char *token,
                                              const char *cache) {
  kvidx_tokenizer_registry_opts o;
  kvidx_tokenizer_registry *r = NULL;
  char endpoint[64];
  snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%d/", port);
  kvidx_tokenizer_registry_opts_init(&o);
  o.hf_endpoint = port ? endpoint : NULL;
  o.hf_token = token;
  o.hf_cache_dir = cache;
  CHECK_OK(kvidx_tokenizer_registry_new(&o, &r));
  return r;
}

static void read_text(const char *path, char *buf, size_t cap) {
  FILE *f = fopen(path, "r");
  size_t n;
  if (!f)
    FAILF("fopen %s: %s", path, strerror(errno));
  n = fread(buf, 1, cap - 1, f);
  buf[n] = '\0';
  fclose(f);
}

TEST(hub_download) {
  const char *root = tmp_path("hub", NULL);
  const char *cache = tmp_path("hfcache", NULL);
  int port = kvidx_test_free_port();
  const kvidx_tokenizer *t = NULL;
  kvidx_tokenizer_registry *r;
  kvidx_tokenizer_registry_stats st;
  char buf[4096], target[128];
  pid_t hub;
  write_tokenizer(tmp_path("hub/org/remote", NULL), 21);
  write_text(tmp_path("hub/org/remote/tokenizer_config.json", NULL),
             "{\"add_bos_token\": false}\n");
  write_text(tmp_path("hub/org/remote/.commit", NULL), "0123abcd");
  /* A repo answered by a redirect to a "CDN" path, without a config file. */
  mkdirs(tmp_path("hub/org/redir", NULL));
  write_tokenizer(tmp_path("hub/org/redirdata", NULL), 22);
  snprintf(target, sizeof(target), "http://127.0.0.1:%d/cdn/org/redirdata",
           port);
  write_text(tmp_path("hub/org/redir/.redirect", NULL), target);
  hub = start_hub(root, port, "s3cret");

  r = hub_registry(port, "s3cret", cache);
  CHECK_OK(kvidx_tokenizer_registry_acquire(r, "org/remote", &t));
  CHECK_EQ_INT(ab_id(t), 21);
  kvidx_tokenizer_registry_release(r, t);
  read_text(tmp_path("hfcache/models--org--remote/refs/main", NULL), buf,
            sizeof(buf));
  CHECK_EQ_STR(buf, "0123abcd");
  read_text(tmp_path("hfcache/models--org--remote/snapshots/0123abcd/"
                     "tokenizer_config.json",
                     NULL),
            buf, sizeof(buf));
  CHECK(strstr(buf, "add_bos_token") != NULL);
  CHECK_OK(kvidx_tokenizer_registry_acquire(r, "org/redir", &t));
  CHECK_EQ_INT(ab_id(t), 22);
  kvidx_tokenizer_registry_release(r, t);
  CHECK_EQ_INT(kvidx_tokenizer_registry_acquire(r, "org/missing", &t),
               KVIDX_ENOTFOUND);
  kvidx_tokenizer_registry_get_stats(r, &st);
  CHECK_EQ_INT(st.downloads, 2);
  kvidx_tokenizer_registry_free(r);

  /* Every request carried the token. */
  read_text(tmp_path("hub/requests.log", NULL), buf, sizeof(buf));
  CHECK(strstr(buf, "GET /org/remote/resolve/main/tokenizer.json 1") != NULL);
  for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
    if (strstr(line, "/resolve/") && strstr(line, "/org/remote/"))
      CHECK(line[strlen(line) - 1] == '1');

  /* A wrong token is an error, not "not found", and leaves no files. */
  r = hub_registry(port, "wrong", tmp_path("hfcache2", NULL));
  CHECK_EQ_INT(kvidx_tokenizer_registry_acquire(r, "org/remote", &t),
               KVIDX_EIO);
  kvidx_tokenizer_registry_free(r);
  CHECK(access(tmp_path("hfcache2/models--org--remote/snapshots", NULL),
               F_OK) != 0);
  stop_hub(hub);

  /* The cache alone serves the model once the hub is gone. */
  r = hub_registry(0, NULL, cache);
  CHECK_OK(kvidx_tokenizer_registry_acquire(r, "org/remote", &t));
  CHECK_EQ_INT(ab_id(t), 21);
  kvidx_tokenizer_registry_release(r, t);
  kvidx_tokenizer_registry_get_stats(r, &st);
  CHECK_EQ_INT(st.downloads, 0);
  kvidx_tokenizer_registry_free(r);
}

TEST(hub_unreachable) {
  int port = kvidx_test_free_port(); /* nothing listens there */
  const kvidx_tokenizer *t = NULL;
  kvidx_tokenizer_registry *r =
      hub_registry(port, NULL, tmp_path("hfcache3", NULL));
  CHECK_EQ_INT(kvidx_tokenizer_registry_acquire(r, "org/remote", &t),
               KVIDX_EIO);
  kvidx_tokenizer_registry_free(r);
}

TEST(opts_from_env) {
  kvidx_tokenizer_registry_opts o;
  kvidx_tokenizer_registry_opts_init(&o);
  CHECK_EQ_INT(o.max_loaded, 8);
  CHECK(o.auto_discovery_dir == NULL && o.hf_endpoint == NULL);
  setenv("LOCAL_TOKENIZER_DIR", "/models", 1);
  setenv("HF_ENDPOINT", "http://127.0.0.1:1", 1);
  setenv("HF_TOKEN", "", 1); /* empty: left alone */
  kvidx_tokenizer_registry_opts_from_env(&o);
  CHECK_EQ_STR(o.auto_discovery_dir, "/models");
  CHECK_EQ_STR(o.hf_endpoint, "http://127.0.0.1:1");
  CHECK(o.hf_token == NULL);
  setenv("HF_TOKEN", "tok", 1);
  kvidx_tokenizer_registry_opts_from_env(&o);
  CHECK_EQ_STR(o.hf_token, "tok");
}

TEST_MAIN(TEST_CASE(explicit_map), TEST_CASE(unknown_and_bad_names),
          TEST_CASE(discovery_layouts), TEST_CASE(lru_bound),
          TEST_CASE(held_tokenizer_survives_eviction), TEST_CASE(corrupt_file),
          TEST_CASE(hub_download), TEST_CASE(hub_unreachable),
          TEST_CASE(opts_from_env))

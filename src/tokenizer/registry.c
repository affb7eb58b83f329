/*
 * registry.c: model name -> loaded tokenizer, shared by all threads.
 *
 * A model's tokenizer.json is found, in this order:
 *   1. the explicit map (kvidx_tokenizer_registry_add);
 *   2. the auto-discovery directory (LOCAL_TOKENIZER_DIR), in the HF cache
 *      layout models--org--name/snapshots/<rev>/tokenizer.json or as plain
 *      nested folders org/name/tokenizer.json (both give "org/name");
 *   3. the HF cache directory (files downloaded earlier, same HF layout);
 *   4. a download from the hub endpoint (hub_download.c), into that cache.
 * The directory is scanned once at creation (so the daemon can list what it
 * knows) and looked up again on a miss (so files added later are found).
 *
 * Loading is lazy, on the first acquire, and happens outside the registry
 * lock: a load (300 ms for a large vocabulary, longer with a download) must
 * not stall threads that want other models. Threads that want the model being
 * loaded wait on a condition variable for the one loader's result.
 *
 * At most max_loaded tokenizers stay loaded: after each release the least
 * recently used ones with no holder are freed. A tokenizer in use is never
 * freed (the bound may be exceeded while every loaded one is held), which is
 * what makes the pointer from acquire valid until its release.
 *
 * Model names are checked (characters, length, no "." or ".." segments)
 * before any path is built from them: they come from HTTP requests.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/log.h"
#include "kvidx.h"
#include "kvidx/tokenizer_registry.h"
#include "tokenizer/hub_download.h"

#define REG_DEFAULT_MAX_LOADED 8
/* Directories visited per discovery scan level (bounds a hostile tree). */
#define REG_MAX_DIR_ENTRIES 100000

typedef enum { ENT_UNLOADED, ENT_LOADING, ENT_LOADED, ENT_FAILED } entry_state;

typedef struct {
  char *model;
  char *path; /* tokenizer.json, or NULL until resolved */
  int is_explicit;
  entry_state state;
  int load_err;   /* of the last failed load (state ENT_FAILED) */
  uint64_t gen;   /* load attempts, so waiters know which result is theirs */
  size_t refs;    /* acquires not yet released */
  size_t waiters; /* threads waiting for a load of this entry */
  uint64_t last_use;
  kvidx_tokenizer *tok;
} reg_entry;

struct kvidx_tokenizer_registry {
  pthread_mutex_t mu;
  pthread_cond_t loaded_cv;
  char *discovery_dir;
  char *hf_cache_dir;
  kvidx__hub_opts hub; /* endpoint NULL: no download */
  size_t max_loaded;
  kvidx_tokenizer_opts tok_opts;
  reg_entry **entries;
  size_t n, cap;
  uint64_t clock;
  kvidx_tokenizer_registry_stats stats;
};

/* ---- small helpers ---------------------------------------------------------
 */

static char *dup_or_null(const char *s) {
  return s ? strdup(s) : NULL;
}

static int is_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* printf into a fresh string; NULL on overflow or allocation failure. */
static char *path_join(const char *fmt, const char *a, const char *b,
                       const char *c) {
  char buf[4096];
  int n = snprintf(buf, sizeof(buf), fmt, a, b ? b : "", c ? c : "");
  if (n < 0 || (size_t)n >= sizeof(buf))
    return NULL;
  return strdup(buf);
}

static int model_name_ok(const char *model) {
  size_t len, seg = 0;
  if (!model)
    return 0;
  len = strlen(model);
  if (len == 0 || len > KVIDX_TOKENIZER_MODEL_NAME_MAX)
    return 0;
  for (size_t i = 0; i <= len; i++) {
    char ch = model[i];
    if (ch == '/' || ch == '\0') {
      /* Empty, "." and ".." segments would escape or alias directories. */
      if (seg == 0 || (seg == 1 && model[i - 1] == '.') ||
          (seg == 2 && model[i - 1] == '.' && model[i - 2] == '.'))
        return 0;
      seg = 0;
      continue;
    }
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
          (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.'))
      return 0;
    seg++;
  }
  return 1;
}

/* ---- HF cache layout -------------------------------------------------------
 */

/* "org/name" -> "models--org--name" (every '/' becomes "--"). */
static int hf_repo_dir_name(const char *model, char *out, size_t cap) {
  size_t o = 0;
  const char *prefix = "models--";
  for (const char *p = prefix; *p; p++)
    out[o++] = *p;
  for (const char *p = model; *p; p++) {
    if (o + 3 >= cap)
      return -1;
    if (*p == '/') {
      out[o++] = '-';
      out[o++] = '-';
    } else {
      out[o++] = *p;
    }
  }
  out[o] = '\0';
  return 0;
}

/* Reads refs/main of a repo dir: the snapshot the hub's "main" points to. */
static int read_ref_main(const char *repo_dir, char *rev, size_t cap) {
  char path[4096];
  FILE *f;
  size_t n;
  if ((size_t)snprintf(path, sizeof(path), "%s/refs/main", repo_dir) >=
      sizeof(path))
    return -1;
  if (!(f = fopen(path, "r")))
    return -1;
  n = fread(rev, 1, cap - 1, f);
  fclose(f);
  while (n > 0 &&
         (rev[n - 1] == '\n' || rev[n - 1] == '\r' || rev[n - 1] == ' '))
    n--;
  rev[n] = '\0';
  return n > 0 && strchr(rev, '/') == NULL && strcmp(rev, "..") != 0 ? 0 : -1;
}

/*
 * tokenizer.json of a repo dir in the HF cache layout: the snapshot named by
 * refs/main when it has one, else the most recently modified snapshot that
 * has a tokenizer.json. Returns a fresh string or NULL.
 */
static char *hf_snapshot_tokenizer(const char *repo_dir) {
  char rev[256], snaps[4096];
  char *best = NULL;
  time_t best_mtime = 0;
  DIR *d;
  struct dirent *de;
  size_t seen = 0;
  if (read_ref_main(repo_dir, rev, sizeof(rev)) == 0) {
    char *p = path_join("%s/snapshots/%s/tokenizer.json", repo_dir, rev, NULL);
    if (p && is_file(p))
      return p;
    free(p);
  }
  if ((size_t)snprintf(snaps, sizeof(snaps), "%s/snapshots", repo_dir) >=
      sizeof(snaps))
    return NULL;
  if (!(d = opendir(snaps)))
    return NULL;
  while ((de = readdir(d)) && seen++ < REG_MAX_DIR_ENTRIES) {
    struct stat st;
    char *p;
    if (de->d_name[0] == '.')
      continue;
    p = path_join("%s/%s/tokenizer.json", snaps, de->d_name, NULL);
    if (p && stat(p, &st) == 0 && S_ISREG(st.st_mode) &&
        (!best || st.st_mtime > best_mtime)) {
      free(best);
      best = p;
      best_mtime = st.st_mtime;
    } else {
      free(p);
    }
  }
  closedir(d);
  return best;
}

/* tokenizer.json of model under root, in either layout, or NULL. */
static char *find_under(const char *root, const char *model) {
  char repo[512];
  char *p;
  if (!root)
    return NULL;
  if (hf_repo_dir_name(model, repo, sizeof(repo)) == 0) {
    char *dir = path_join("%s/%s", root, repo, NULL);
    if (dir && is_dir(dir)) {
      p = hf_snapshot_tokenizer(dir);
      free(dir);
      if (p)
        return p;
    } else {
      free(dir);
    }
  }
  p = path_join("%s/%s/tokenizer.json", root, model, NULL);
  if (p && is_file(p))
    return p;
  free(p);
  return NULL;
}

/* ---- entries (callers hold r->mu) -----------------------------------------
 */

static reg_entry *entry_find(kvidx_tokenizer_registry *r, const char *model) {
  for (size_t i = 0; i < r->n; i++)
    if (strcmp(r->entries[i]->model, model) == 0)
      return r->entries[i];
  return NULL;
}

static reg_entry *entry_new(kvidx_tokenizer_registry *r, const char *model) {
  reg_entry *e;
  if (r->n == r->cap) {
    size_t cap = r->cap ? r->cap * 2 : 16;
    reg_entry **ne = realloc(r->entries, cap * sizeof(*ne));
    if (!ne)
      return NULL;
    r->entries = ne;
    r->cap = cap;
  }
  if (!(e = calloc(1, sizeof(*e))) || !(e->model = strdup(model))) {
    free(e);
    return NULL;
  }
  r->entries[r->n++] = e;
  return e;
}

static void entry_free(reg_entry *e) {
  if (e->tok)
    kvidx_tokenizer_free(e->tok);
  free(e->model);
  free(e->path);
  free(e);
}

static void entry_remove(kvidx_tokenizer_registry *r, reg_entry *e) {
  for (size_t i = 0; i < r->n; i++) {
    if (r->entries[i] == e) {
      r->entries[i] = r->entries[--r->n];
      break;
    }
  }
  entry_free(e);
}

/* Frees least recently used idle tokenizers down to max_loaded. */
static void evict(kvidx_tokenizer_registry *r) {
  for (;;) {
    size_t loaded = 0;
    reg_entry *victim = NULL;
    for (size_t i = 0; i < r->n; i++) {
      reg_entry *e = r->entries[i];
      if (e->state != ENT_LOADED)
        continue;
      loaded++;
      if (e->refs == 0 && (!victim || e->last_use < victim->last_use))
        victim = e;
    }
    if (loaded <= r->max_loaded || !victim)
      return;
    kvidx_tokenizer_free(victim->tok);
    victim->tok = NULL;
    victim->state = ENT_UNLOADED;
    r->stats.evictions++;
    kvidx_log_info("tokenizer", "registry: unloaded model=%s (LRU bound %zu)",
                   victim->model, r->max_loaded);
  }
}

/* ---- lifetime ---------------------------------------------------------------
 */

void kvidx_tokenizer_registry_opts_init(kvidx_tokenizer_registry_opts *opts) {
  if (!opts)
    return;
  memset(opts, 0, sizeof(*opts));
  opts->max_loaded = REG_DEFAULT_MAX_LOADED;
  kvidx_tokenizer_opts_init(&opts->tokenizer_opts);
}

void kvidx_tokenizer_registry_opts_from_env(
    kvidx_tokenizer_registry_opts *opts) {
  const char *v;
  if (!opts)
    return;
  if ((v = getenv("LOCAL_TOKENIZER_DIR")) && *v)
    opts->auto_discovery_dir = v;
  if ((v = getenv("HF_ENDPOINT")) && *v)
    opts->hf_endpoint = v;
  if ((v = getenv("HF_TOKEN")) && *v)
    opts->hf_token = v;
  /* hf_cache_dir stays NULL: kvidx_tokenizer_registry_new derives it from
   * HF_HOME. */
}

/* $HF_HOME/hub, else $HOME/.cache/huggingface/hub. */
static char *default_hf_cache(void) {
  const char *hf_home = getenv("HF_HOME"), *home = getenv("HOME");
  if (hf_home && *hf_home)
    return path_join("%s/hub", hf_home, NULL, NULL);
  if (home && *home)
    return path_join("%s/.cache/huggingface/hub", home, NULL, NULL);
  return NULL;
}

static void scan_discovery_dir(kvidx_tokenizer_registry *r);

int kvidx_tokenizer_registry_new(const kvidx_tokenizer_registry_opts *opts,
                                 kvidx_tokenizer_registry **out) {
  kvidx_tokenizer_registry_opts def;
  kvidx_tokenizer_registry *r;
  if (!out)
    return KVIDX_EINVAL;
  *out = NULL;
  if (!opts) {
    kvidx_tokenizer_registry_opts_init(&def);
    opts = &def;
  }
  if (!(r = calloc(1, sizeof(*r))))
    return KVIDX_ENOMEM;
  r->max_loaded = opts->max_loaded ? opts->max_loaded : REG_DEFAULT_MAX_LOADED;
  r->tok_opts = opts->tokenizer_opts;
  r->discovery_dir = dup_or_null(opts->auto_discovery_dir);
  r->hf_cache_dir =
      opts->hf_cache_dir ? strdup(opts->hf_cache_dir) : default_hf_cache();
  r->hub.endpoint = dup_or_null(opts->hf_endpoint);
  r->hub.token = dup_or_null(opts->hf_token);
  if ((opts->auto_discovery_dir && !r->discovery_dir) ||
      (opts->hf_endpoint && !r->hub.endpoint) ||
      (opts->hf_token && !r->hub.token)) {
    kvidx_tokenizer_registry_free(r);
    return KVIDX_ENOMEM;
  }
  if (r->hub.endpoint && kvidx__hub_global_init() != 0) {
    kvidx_tokenizer_registry_free(r);
    return KVIDX_EUNAVAIL;
  }
  pthread_mutex_init(&r->mu, NULL);
  pthread_cond_init(&r->loaded_cv, NULL);
  scan_discovery_dir(r);
  *out = r;
  return 0;
}

void kvidx_tokenizer_registry_free(kvidx_tokenizer_registry *r) {
  if (!r)
    return;
  for (size_t i = 0; i < r->n; i++)
    entry_free(r->entries[i]);
  free(r->entries);
  free(r->discovery_dir);
  free(r->hf_cache_dir);
  free((char *)r->hub.endpoint);
  free((char *)r->hub.token);
  pthread_mutex_destroy(&r->mu);
  pthread_cond_destroy(&r->loaded_cv);
  free(r);
}

/* ---- discovery scan
 * ---------------------------------------------------------- */

/* Registers model -> path unless the model is known already. */
static void discovered(kvidx_tokenizer_registry *r, const char *model,
                       char *path) {
  reg_entry *e;
  if (!path)
    return;
  if (!model_name_ok(model) || entry_find(r, model) ||
      !(e = entry_new(r, model))) {
    free(path);
    return;
  }
  e->path = path;
  r->stats.discovered++;
}

/* "models--org--name" -> "org/name"; 0 on success. */
static int hf_dir_to_model(const char *dir, char *model, size_t cap) {
  const char *p = dir + strlen("models--");
  size_t o = 0;
  while (*p) {
    if (o + 1 >= cap)
      return -1;
    if (p[0] == '-' && p[1] == '-') {
      model[o++] = '/';
      p += 2;
    } else {
      model[o++] = *p++;
    }
  }
  model[o] = '\0';
  return o ? 0 : -1;
}

/* Plain layout: root/org/name/tokenizer.json (and root/name/tokenizer.json). */
static void scan_plain(kvidx_tokenizer_registry *r, const char *org) {
  char *dir = path_join("%s/%s", r->discovery_dir, org, NULL);
  DIR *d = dir ? opendir(dir) : NULL;
  struct dirent *de;
  size_t seen = 0;
  char model[KVIDX_TOKENIZER_MODEL_NAME_MAX + 2];
  if (d) {
    while ((de = readdir(d)) && seen++ < REG_MAX_DIR_ENTRIES) {
      char *p;
      if (de->d_name[0] == '.')
        continue;
      if ((size_t)snprintf(model, sizeof(model), "%s/%s", org, de->d_name) >=
          sizeof(model))
        continue;
      p = path_join("%s/%s/tokenizer.json", dir, de->d_name, NULL);
      if (p && is_file(p))
        discovered(r, model, p);
      else
        free(p);
    }
    closedir(d);
  }
  free(dir);
}

static void scan_discovery_dir(kvidx_tokenizer_registry *r) {
  DIR *d;
  struct dirent *de;
  size_t seen = 0;
  char model[KVIDX_TOKENIZER_MODEL_NAME_MAX + 2];
  if (!r->discovery_dir)
    return;
  if (!(d = opendir(r->discovery_dir))) {
    kvidx_log_warn("tokenizer", "registry: cannot open discovery dir %s: %s",
                   r->discovery_dir, strerror(errno));
    return;
  }
  while ((de = readdir(d)) && seen++ < REG_MAX_DIR_ENTRIES) {
    if (de->d_name[0] == '.')
      continue;
    if (strncmp(de->d_name, "models--", 8) == 0) {
      char *repo = path_join("%s/%s", r->discovery_dir, de->d_name, NULL);
      if (repo && hf_dir_to_model(de->d_name, model, sizeof(model)) == 0)
        discovered(r, model, hf_snapshot_tokenizer(repo));
      free(repo);
      continue;
    }
    char *p =
        path_join("%s/%s/tokenizer.json", r->discovery_dir, de->d_name, NULL);
    if (p && is_file(p))
      discovered(r, de->d_name, p);
    else
      free(p);
    scan_plain(r, de->d_name);
  }
  closedir(d);
}

/* ---- explicit map
 * ------------------------------------------------------------ */

int kvidx_tokenizer_registry_add(kvidx_tokenizer_registry *r, const char *model,
                                 const char *path) {
  reg_entry *e;
  char *p;
  int rc = 0;
  if (!r || !model || !path || !*model ||
      strlen(model) > KVIDX_TOKENIZER_MODEL_NAME_MAX)
    return KVIDX_EINVAL;
  if (!(p = strdup(path)))
    return KVIDX_ENOMEM;
  pthread_mutex_lock(&r->mu);
  e = entry_find(r, model);
  if (e && (e->state == ENT_LOADING || e->refs > 0 ||
            (e->state == ENT_LOADED && strcmp(e->path, path) != 0))) {
    /* Re-pointing a model in use would free a tokenizer under its holders. */
    rc =
        e->state == ENT_LOADED && strcmp(e->path, path) == 0 ? 0 : KVIDX_ESTATE;
    free(p);
  } else if (e || (e = entry_new(r, model))) {
    free(e->path);
    e->path = p;
    e->is_explicit = 1;
  } else {
    free(p);
    rc = KVIDX_ENOMEM;
  }
  pthread_mutex_unlock(&r->mu);
  return rc;
}

/* ---- acquire / release
 * ------------------------------------------------------- */

/*
 * Finds (or downloads) the tokenizer.json of a model that is not in the
 * explicit map. Runs without the registry lock. Returns 0 and a fresh path,
 * KVIDX_ENOTFOUND, or a download error.
 */
static int resolve(kvidx_tokenizer_registry *r, const char *model,
                   char **path) {
  int rc;
  if ((*path = find_under(r->discovery_dir, model)) != NULL)
    return 0;
  if ((*path = find_under(r->hf_cache_dir, model)) != NULL)
    return 0;
  if (!r->hub.endpoint || !r->hf_cache_dir)
    return KVIDX_ENOTFOUND;
  rc = kvidx__hub_download(&r->hub, r->hf_cache_dir, model);
  if (rc == 0 && !(*path = find_under(r->hf_cache_dir, model)))
    rc = KVIDX_EIO;
  if (rc == 0) {
    pthread_mutex_lock(&r->mu);
    r->stats.downloads++;
    pthread_mutex_unlock(&r->mu);
  }
  return rc;
}

/* Loads e's tokenizer (resolving its path first); called with r->mu held,
 * drops it meanwhile. */
static int load_entry(kvidx_tokenizer_registry *r, reg_entry *e) {
  char err[256] = "";
  char *path = e->path ? strdup(e->path) : NULL;
  char *model = strdup(e->model);
  int had_path = e->path != NULL, rc = 0;
  kvidx_tokenizer *tok = NULL;
  struct timespec t0, t1;
  if ((had_path && !path) || !model) {
    free(path);
    free(model);
    return KVIDX_ENOMEM;
  }
  e->state = ENT_LOADING;
  e->gen++;
  pthread_mutex_unlock(&r->mu);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  if (!path)
    rc = resolve(r, model, &path);
  if (rc == 0)
    rc = kvidx_tokenizer_load(path, &r->tok_opts, &tok, err, sizeof(err));
  clock_gettime(CLOCK_MONOTONIC, &t1);
  if (rc == 0)
    kvidx_log_info("tokenizer", "registry: loaded model=%s path=%s in %.0f ms",
                   model, path,
                   (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
                       (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
  else if (rc != KVIDX_ENOTFOUND)
    kvidx_log_warn("tokenizer",
                   "registry: cannot load model=%s path=%s: %s (%s)", model,
                   path ? path : "-", err[0] ? err : kvidx_strerror(rc),
                   kvidx_err_name(rc));
  pthread_mutex_lock(&r->mu);
  if (rc == 0) {
    e->tok = tok;
    e->state = ENT_LOADED;
    if (!had_path && !e->path) {
      e->path = path;
      path = NULL;
    }
    r->stats.loads++;
  } else {
    e->state = ENT_FAILED;
    e->load_err = rc;
    r->stats.load_errors++;
  }
  free(path);
  free(model);
  pthread_cond_broadcast(&r->loaded_cv);
  return rc;
}

int kvidx_tokenizer_registry_acquire(kvidx_tokenizer_registry *r,
                                     const char *model,
                                     const kvidx_tokenizer **out) {
  reg_entry *e;
  int rc = 0;
  if (out)
    *out = NULL;
  if (!r || !model || !out)
    return KVIDX_EINVAL;
  pthread_mutex_lock(&r->mu);
  e = entry_find(r, model);
  if (!e && !model_name_ok(model)) {
    pthread_mutex_unlock(&r->mu);
    kvidx_log_warn("tokenizer", "registry: rejected model name '%.80s'", model);
    return KVIDX_EINVAL;
  }
  if (!e && !(e = entry_new(r, model))) {
    pthread_mutex_unlock(&r->mu);
    return KVIDX_ENOMEM;
  }
  while (e->state == ENT_LOADING) {
    uint64_t gen = e->gen;
    e->waiters++;
    while (e->state == ENT_LOADING && e->gen == gen)
      pthread_cond_wait(&r->loaded_cv, &r->mu);
    e->waiters--;
    if (e->state == ENT_FAILED && e->gen == gen) {
      rc = e->load_err;
      break;
    }
  }
  if (rc == 0 && e->state != ENT_LOADED)
    rc = load_entry(r, e);
  if (rc == 0) {
    e->refs++;
    e->last_use = ++r->clock;
    *out = e->tok;
    r->stats.acquires++;
  } else if (rc == KVIDX_ENOTFOUND && !e->is_explicit && e->waiters == 0 &&
             e->refs == 0) {
    /* Unknown names leave nothing behind: they come from requests. */
    entry_remove(r, e);
  }
  evict(r);
  pthread_mutex_unlock(&r->mu);
  return rc;
}

void kvidx_tokenizer_registry_release(kvidx_tokenizer_registry *r,
                                      const kvidx_tokenizer *tok) {
  if (!r || !tok)
    return;
  pthread_mutex_lock(&r->mu);
  for (size_t i = 0; i < r->n; i++) {
    reg_entry *e = r->entries[i];
    if (e->tok == tok && e->refs > 0) {
      e->refs--;
      e->last_use = ++r->clock;
      evict(r);
      pthread_mutex_unlock(&r->mu);
      return;
    }
  }
  pthread_mutex_unlock(&r->mu);
  kvidx_log_error("tokenizer", "registry: release of a tokenizer not acquired");
}

/* ---- introspection
 * ------------------------------------------------------------- */

void kvidx_tokenizer_registry_get_stats(kvidx_tokenizer_registry *r,
                                        kvidx_tokenizer_registry_stats *st) {
  if (!r || !st)
    return;
  pthread_mutex_lock(&r->mu);
  *st = r->stats;
  st->models = r->n;
  st->loaded = 0;
  for (size_t i = 0; i < r->n; i++)
    if (r->entries[i]->state == ENT_LOADED)
      st->loaded++;
  pthread_mutex_unlock(&r->mu);
}

int kvidx_tokenizer_registry_list(kvidx_tokenizer_registry *r,
                                  kvidx_tokenizer_registry_list_fn fn,
                                  void *userdata) {
  if (!r || !fn)
    return KVIDX_EINVAL;
  pthread_mutex_lock(&r->mu);
  for (size_t i = 0; i < r->n; i++) {
    reg_entry *e = r->entries[i];
    fn(userdata, e->model, e->path, e->state == ENT_LOADED);
  }
  pthread_mutex_unlock(&r->mu);
  return 0;
}

/*
 * hub_download.c: GET <endpoint>/<org>/<name>/resolve/main/<file> with
 * libcurl, into the HuggingFace cache layout
 *   <cache>/models--org--name/snapshots/<rev>/<file>
 *   <cache>/models--org--name/refs/main        (contains <rev>)
 * which is what huggingface_hub writes (it keeps the bytes in blobs/ and
 * symlinks them from snapshots/; plain files are also accepted by its
 * readers, and keep this code simple). <rev> is the commit the hub reports in
 * the X-Repo-Commit header, or "main" when it sends none.
 *
 * This is the registry's only network I/O. Limits: connect and total
 * timeouts, a bounded number of redirects (the hub redirects to a CDN), HTTP
 * and HTTPS only, a maximum file size.
 */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "kvidx.h"
#include "tokenizer/hub_download.h"

#define HUB_REV_MAX 96

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_rc;

static void do_global_init(void) {
  init_rc =
      curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : KVIDX_EUNAVAIL;
}

int kvidx__hub_global_init(void) {
  pthread_once(&init_once, do_global_init);
  return init_rc;
}

typedef struct {
  FILE *f;
  size_t bytes;
  int too_big;
  char rev[HUB_REV_MAX + 1];
} fetch_state;

static size_t on_body(char *data, size_t size, size_t n, void *p) {
  fetch_state *st = p;
  size_t len = size * n;
  if (st->bytes + len > KVIDX_HUB_MAX_FILE_BYTES) {
    st->too_big = 1;
    return 0; /* aborts the transfer */
  }
  st->bytes += len;
  return fwrite(data, 1, len, st->f);
}

/* Picks X-Repo-Commit (hex or [A-Za-z0-9._-], no path characters). */
static size_t on_header(char *data, size_t size, size_t n, void *p) {
  fetch_state *st = p;
  size_t len = size * n, name = strlen("x-repo-commit:"), o = 0;
  if (len <= name || strncasecmp(data, "x-repo-commit:", name) != 0)
    return len;
  for (size_t i = name; i < len && o < HUB_REV_MAX; i++) {
    char c = data[i];
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
        (c >= 'A' && c <= 'Z') || c == '-' || c == '_')
      st->rev[o++] = c;
    else if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
      return len; /* unexpected character: ignore the header */
  }
  st->rev[o] = '\0';
  return len;
}

static int mkdir_p(const char *path) {
  char buf[4096];
  size_t len = strlen(path);
  if (len >= sizeof(buf))
    return -1;
  memcpy(buf, path, len + 1);
  for (size_t i = 1; i <= len; i++) {
    if (buf[i] == '/' || buf[i] == '\0') {
      char c = buf[i];
      buf[i] = '\0';
      if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return -1;
      buf[i] = c;
    }
  }
  return 0;
}

/*
 * GETs url into tmp_path. Returns 0, KVIDX_ENOTFOUND on 404, KVIDX_ETOOBIG,
 * KVIDX_EIO otherwise; st->rev gets the commit header.
 */
static int http_get(const kvidx__hub_opts *hub, const char *url,
                    const char *tmp_path, fetch_state *st) {
  CURL *c = curl_easy_init();
  struct curl_slist *hdrs = NULL;
  char auth[1024];
  long status = 0;
  CURLcode cc;
  int rc;
  if (!c)
    return KVIDX_ENOMEM;
  if (!(st->f = fopen(tmp_path, "wb"))) {
    kvidx_log_warn("tokenizer", "hub: cannot write %s: %s", tmp_path,
                   strerror(errno));
    curl_easy_cleanup(c);
    return KVIDX_EIO;
  }
  if (hub->token && *hub->token) {
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", hub->token);
    hdrs = curl_slist_append(hdrs, auth);
  }
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, KVIDX_HUB_MAX_REDIRECTS);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, KVIDX_HUB_CONNECT_TIMEOUT_S);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, KVIDX_HUB_TOTAL_TIMEOUT_S);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "kvidx");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, st);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, st);
  cc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (fclose(st->f) != 0 && cc == CURLE_OK)
    cc = CURLE_WRITE_ERROR;
  st->f = NULL;
  if (st->too_big)
    rc = KVIDX_ETOOBIG;
  else if (cc == CURLE_OK && status == 200)
    rc = 0;
  else if (cc == CURLE_OK && status == 404)
    rc = KVIDX_ENOTFOUND;
  else
    rc = KVIDX_EIO;
  if (rc != 0 && rc != KVIDX_ENOTFOUND)
    kvidx_log_warn("tokenizer", "hub: GET %s failed: %s, HTTP %ld%s", url,
                   curl_easy_strerror(cc), status,
                   status == 401 || status == 403 ? " (check HF_TOKEN)" : "");
  curl_slist_free_all(hdrs);
  curl_easy_cleanup(c);
  if (rc != 0)
    unlink(tmp_path);
  return rc;
}

/* Writes text to path via a temporary file and rename. */
static int write_file(const char *path, const char *text) {
  char tmp[4096];
  FILE *f;
  int ok;
  if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp%ld", path, (long)getpid()) >=
      sizeof(tmp))
    return KVIDX_EIO;
  if (!(f = fopen(tmp, "wb")))
    return KVIDX_EIO;
  ok = fputs(text, f) >= 0;
  ok = fclose(f) == 0 && ok;
  if (!ok || rename(tmp, path) != 0) {
    unlink(tmp);
    return KVIDX_EIO;
  }
  return 0;
}

/* Downloads one file into <repo>/snapshots/<rev>/<file>; *rev is taken from
 * the first file and reused for the second. */
static int fetch_file(const kvidx__hub_opts *hub, const char *repo,
                      const char *model, const char *file, char *rev) {
  char url[4096], tmp[4096], dst[4096];
  const char *ep = hub->endpoint;
  size_t eplen = strlen(ep);
  fetch_state st;
  int rc;
  while (eplen > 0 && ep[eplen - 1] == '/')
    eplen--;
  memset(&st, 0, sizeof(st));
  if ((size_t)snprintf(url, sizeof(url), "%.*s/%s/resolve/main/%s", (int)eplen,
                       ep, model, file) >= sizeof(url) ||
      (size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.%ld.incomplete", repo, file,
                       (long)getpid()) >= sizeof(tmp))
    return KVIDX_EINVAL;
  if ((rc = http_get(hub, url, tmp, &st)) != 0)
    return rc;
  if (!rev[0])
    snprintf(rev, HUB_REV_MAX + 1, "%s", st.rev[0] ? st.rev : "main");
  if ((size_t)snprintf(dst, sizeof(dst), "%s/snapshots/%s", repo, rev) >=
          sizeof(dst) ||
      mkdir_p(dst) != 0) {
    unlink(tmp);
    return KVIDX_EIO;
  }
  snprintf(dst + strlen(dst), sizeof(dst) - strlen(dst), "/%s", file);
  if (rename(tmp, dst) != 0) {
    kvidx_log_warn("tokenizer", "hub: rename to %s: %s", dst, strerror(errno));
    unlink(tmp);
    return KVIDX_EIO;
  }
  return 0;
}

int kvidx__hub_download(const kvidx__hub_opts *hub, const char *cache_dir,
                        const char *model) {
  char repo[4096], refs[4096], rev[HUB_REV_MAX + 1] = "";
  size_t o;
  int rc;
  if (!hub || !hub->endpoint || !cache_dir || !model)
    return KVIDX_EINVAL;
  o = (size_t)snprintf(repo, sizeof(repo), "%s/models--", cache_dir);
  for (const char *p = model; *p && o + 3 < sizeof(repo); p++) {
    if (*p == '/') {
      repo[o++] = '-';
      repo[o++] = '-';
    } else {
      repo[o++] = *p;
    }
  }
  repo[o] = '\0';
  if (o + 3 >= sizeof(repo) || mkdir_p(repo) != 0) {
    kvidx_log_warn("tokenizer", "hub: cannot create %s: %s", repo,
                   strerror(errno));
    return KVIDX_EIO;
  }
  if ((rc = fetch_file(hub, repo, model, "tokenizer.json", rev)) != 0)
    return rc;
  rc = fetch_file(hub, repo, model, "tokenizer_config.json", rev);
  if (rc != 0 && rc != KVIDX_ENOTFOUND)
    return rc;
  if ((size_t)snprintf(refs, sizeof(refs), "%s/refs", repo) + 6 >=
          sizeof(refs) ||
      mkdir_p(refs) != 0)
    return KVIDX_EIO;
  snprintf(refs + strlen(refs), sizeof(refs) - strlen(refs), "/main");
  if ((rc = write_file(refs, rev)) != 0)
    return rc;
  kvidx_log_info("tokenizer", "hub: downloaded %s (revision %s) into %s", model,
                 rev, repo);
  return 0;
}

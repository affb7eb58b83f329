/*
 * model_tokenizers.c: the indexer's model name -> tokenizer map, for the
 * explicit modelTokenizerMap / --model-tokenizer entries.
 *
 * Interim: this stands in for kvidx_tokenizer_registry (auto-discovery, hub
 * download, LRU) until it lands; it loads each mapped tokenizer.json lazily
 * on first use and keeps it for the indexer's lifetime.
 */
#include "indexer/model_tokenizers.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

typedef struct {
  char *model, *path;
  kvidx_tokenizer *tok; /* NULL until first use */
} entry;

struct kvidx__model_tokenizers {
  pthread_mutex_t lock;
  entry *v;
  size_t n;
};

int kvidx__model_tokenizers_new(const char *const *models,
                                const char *const *paths, size_t n,
                                kvidx__model_tokenizers **out) {
  kvidx__model_tokenizers *m = calloc(1, sizeof *m);
  if (m == NULL || (n && (m->v = calloc(n, sizeof *m->v)) == NULL)) {
    free(m);
    return KVIDX_ENOMEM;
  }
  pthread_mutex_init(&m->lock, NULL);
  for (size_t i = 0; i < n; i++) {
    m->v[i].model = strdup(models[i]);
    m->v[i].path = strdup(paths[i]);
    m->n++;
    if (m->v[i].model == NULL || m->v[i].path == NULL) {
      kvidx__model_tokenizers_free(m);
      return KVIDX_ENOMEM;
    }
  }
  *out = m;
  return 0;
}

void kvidx__model_tokenizers_free(kvidx__model_tokenizers *m) {
  if (m == NULL)
    return;
  for (size_t i = 0; i < m->n; i++) {
    free(m->v[i].model);
    free(m->v[i].path);
    if (m->v[i].tok)
      kvidx_tokenizer_free(m->v[i].tok);
  }
  free(m->v);
  pthread_mutex_destroy(&m->lock);
  free(m);
}

int kvidx__model_tokenizers_get(kvidx__model_tokenizers *m, const char *model,
                                const kvidx_tokenizer **out) {
  int rc = KVIDX_ENOTFOUND;
  pthread_mutex_lock(&m->lock);
  for (size_t i = 0; i < m->n; i++) {
    entry *e = &m->v[i];
    if (strcmp(e->model, model) != 0)
      continue;
    rc = 0;
    if (e->tok == NULL) {
      char err[256] = "";
      rc = kvidx_tokenizer_load(e->path, NULL, &e->tok, err, sizeof err);
      if (rc)
        kvidx_log_error("indexer",
                        "cannot load tokenizer model=%s path=%s "
                        "error=\"%s\"",
                        model, e->path, err);
      else
        kvidx_log_info("indexer", "tokenizer loaded model=%s path=%s", model,
                       e->path);
    }
    *out = e->tok;
    break;
  }
  pthread_mutex_unlock(&m->lock);
  return rc;
}

/*
 * hub_download.h: fetching a model's tokenizer files from a HuggingFace hub
 * endpoint into the HF cache layout (internal to the tokenizer registry).
 */
#ifndef KVIDX_TOKENIZER_HUB_DOWNLOAD_H
#define KVIDX_TOKENIZER_HUB_DOWNLOAD_H

#include <stddef.h>

/* Largest file accepted from the hub (Gemma-3's tokenizer.json is 33 MB). */
#define KVIDX_HUB_MAX_FILE_BYTES (512u * 1024u * 1024u)
#define KVIDX_HUB_CONNECT_TIMEOUT_S 10L
#define KVIDX_HUB_TOTAL_TIMEOUT_S 600L
#define KVIDX_HUB_MAX_REDIRECTS 5L

typedef struct {
  const char
      *endpoint;     /* e.g. "https://huggingface.co"; no trailing '/' needed */
  const char *token; /* sent as "Authorization: Bearer <token>"; may be NULL */
} kvidx__hub_opts;

/* curl_global_init, once per process. 0 or KVIDX_EUNAVAIL. Thread-safe. */
int kvidx__hub_global_init(void);

/*
 * Downloads <endpoint>/<model>/resolve/main/{tokenizer.json,
 * tokenizer_config.json} into <cache_dir>/models--org--name/snapshots/<rev>/
 * (rev: the X-Repo-Commit response header, else "main"), then writes
 * refs/main. Files are written to a temporary name and renamed, so a reader
 * never sees half a file. tokenizer_config.json may be missing (404).
 * Returns 0, KVIDX_ENOTFOUND (404 for tokenizer.json), KVIDX_EIO (HTTP or
 * file error: 401/403, 5xx, connection refused ... logged), KVIDX_ETOOBIG.
 * Thread-safe (one curl easy handle per call).
 */
int kvidx__hub_download(const kvidx__hub_opts *hub, const char *cache_dir,
                        const char *model);

#endif

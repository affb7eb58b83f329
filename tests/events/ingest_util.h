/*
 * ingest_util.h: helpers for the ingestion tests — an in-process vLLM-like
 * publisher (PUB socket + optional replay ROUTER served by a thread, with
 * full control over seq numbers), a fixture that owns an index, hasher,
 * applier and ingestor, and polling helpers (conditions are polled with a
 * bounded timeout, never asserted after a fixed sleep).
 */
#ifndef KVIDX_TESTS_INGEST_UTIL_H
#define KVIDX_TESTS_INGEST_UTIL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "kvidx.h"

#define TP_RING 1024

typedef struct {
  void *ctx, *pub, *router;
  char topic[256];
  int replay_frames; /* 3 or 4 */
  pthread_t thread;
  int running;
  pthread_mutex_t mu;
  uint64_t seqs[TP_RING];
  uint8_t *data[TP_RING];
  size_t len[TP_RING];
  size_t n; /* batches recorded (ring keeps the last TP_RING) */
  size_t replay_drop_before; /* replay serves only seq >= this */
  int replays;
} tpub;

/* Opens a PUB that binds (bind=1) or connects to endpoint; replay_ep NULL =
 * no ROUTER. */
void tpub_open(tpub *p, const char *endpoint, int bind, const char *topic,
               const char *replay_ep);
void tpub_close(tpub *p);
/* Records batch seq (for replay) and sends it unless skip. */
void tpub_send(tpub *p, uint64_t seq, const uint8_t *payload, size_t len,
               int skip);
/* Sends raw frames (for malformed-message tests). */
void tpub_send_raw(tpub *p, const void *const *frames, const size_t *lens,
                   int n);

/* Encodes one batch with a single BlockStored/BlockRemoved of keys. */
size_t tb_stored(uint8_t *out, size_t cap, kvidx_event_layout layout,
                 unsigned hash_bytes, const uint64_t *keys, size_t n,
                 int64_t dp_rank);
size_t tb_removed(uint8_t *out, size_t cap, kvidx_event_layout layout,
                  const uint64_t *keys, size_t n, int64_t dp_rank);
size_t tb_cleared(uint8_t *out, size_t cap);

typedef struct {
  kvidx_index *idx;
  kvidx_hasher *hasher;
  kvidx_applier *applier;
  kvidx_ingestor *ing;
  char bind_ep[64]; /* "" when not binding */
} tfix;

/* Creates index + hasher + applier + ingestor (not started). bind: bind a
 * SUB on a free loopback port (written to f->bind_ep). */
void tfix_open(tfix *f, int bind, kvidx_ingestor_opts *opts_or_null);
void tfix_close(tfix *f);

/* Number of leading keys that pod holds for model (0 if unknown). */
int prefix_len(kvidx_index *idx, const char *model, const char *pod,
               const uint64_t *keys, size_t n);
/* Polls cond(arg) every 2 ms for up to ms; returns 1 when it held. */
int wait_for(int (*cond)(void *), void *arg, int ms);
/* Waits until the ingestor has seen at least n messages. */
int wait_messages(kvidx_ingestor *ing, uint64_t n, int ms);
/* Sends probe batches on a separate pod until the ingestor receives one
 * (ZeroMQ's slow joiner), so later sends are not lost. */
void tpub_sync(tpub *p, kvidx_ingestor *ing);
/* 1 when the ingestor has a publisher state for pod. */
int ingestor_knows_pod(kvidx_ingestor *ing, const char *pod);
typedef struct {
  kvidx_ingestor *ing;
  size_t offset;
  uint64_t at_least;
} stat_arg;
/* Waits until the kvidx_ingestor_stats field at offset is >= at_least. */
int wait_stat(kvidx_ingestor *ing, size_t offset, uint64_t at_least, int ms);
#define WAIT_STAT(ing, field, n, ms)                                           \
  wait_stat((ing), offsetof(kvidx_ingestor_stats, field), (n), (ms))
/* Waits until prefix_len == want. */
int wait_prefix(kvidx_index *idx, const char *model, const char *pod,
                const uint64_t *keys, size_t n, int want, int ms);

#endif

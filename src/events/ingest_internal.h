/*
 * ingest_internal.h: the ingestor's internal structures, shared by
 * ingest.c (ZeroMQ receiver, pod registry, public API), ingest_worker.c
 * (ordered per-pod processing, seq tracking, replay) and shard_queue.c.
 *
 * Threads: one receiver thread owns every SUB socket; N worker threads each
 * own one shard (a bounded queue and the publisher states of the pods hashed
 * to it). A pod always maps to the same shard, so its batches are applied in
 * arrival order by one thread.
 */
#ifndef KVIDX_EVENTS_INGEST_INTERNAL_H
#define KVIDX_EVENTS_INGEST_INTERNAL_H

#include <pthread.h>
#include <stdint.h>
#include <zmq.h>

#include "events/topic.h"
#include "kvidx.h"

/* The end-of-replay marker: seq -1 as 8 bytes. */
#define KVIDX_REPLAY_END_SEQ UINT64_MAX
/* Messages drained from one socket before the receiver polls again (so one
 * busy pod cannot starve the others). */
#define KVIDX_INGEST_RECV_BURST 256
/* Poll timeout of the receiver: bounds how long add/remove/stop wait. */
#define KVIDX_INGEST_POLL_MS 20
/* Publisher-state hash buckets per shard. */
#define KVIDX_INGEST_PUB_BUCKETS 256

typedef enum { ITEM_BATCH = 0, ITEM_CLEAR_POD = 1 } ingest_item_kind;

/* One queued message. topic holds "kv@pod@model" (synthesised for a
 * connect-mode pod with a configured identity); pod and model are given as
 * offsets into it, because a small zmq message keeps its bytes inside the
 * zmq_msg_t and they move with it. Ownership of both zmq messages moves with
 * the item. */
typedef struct {
  ingest_item_kind kind;
  zmq_msg_t topic;
  zmq_msg_t payload;
  uint64_t seq;
  uint32_t pod_off, pod_len, model_off, model_len;
} ingest_item;

typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t not_empty, not_full;
  ingest_item *ring;
  size_t cap, head, count;
  int closed;
} shard_queue;

int kvidx__shard_queue_init(shard_queue *q, size_t cap);
void kvidx__shard_queue_destroy(shard_queue *q);
/* Moves *item into the queue. block: wait while full (returns KVIDX_ESTATE
 * once closed); otherwise KVIDX_EFULL when full. */
int kvidx__shard_queue_push(shard_queue *q, ingest_item *item, int block);
/* Waits for an item; returns 0 with *item filled, or KVIDX_ESTATE when the
 * queue is closed and empty. */
int kvidx__shard_queue_pop(shard_queue *q, ingest_item *item);
void kvidx__shard_queue_close(shard_queue *q);

typedef enum { PUB_LIVE = 0, PUB_RESYNC = 1, PUB_CLEARED = 2 } pub_state_kind;

/* Sequence state of one publisher (pod, dp rank). */
typedef struct pub_state {
  struct pub_state *next;
  char *pod;
  char *model;
  int64_t dp_rank;
  uint64_t last_seq;      /* highest seq applied */
  uint64_t last_live_seq; /* seq of the previous live (not replayed) msg */
  int64_t last_event_ms;
  uint64_t gaps, replays_ok, replays_failed, clears;
  pub_state_kind state;
} pub_state;

struct kvidx_ingestor;

typedef struct {
  struct kvidx_ingestor *ing;
  unsigned index;
  shard_queue queue;
  pthread_t thread;
  int started;
  /* Publisher states; written by the worker, read by kvidx_ingestor_pods. */
  pthread_mutex_t pubs_mu;
  pub_state *pubs[KVIDX_INGEST_PUB_BUCKETS];
} ingest_shard;

/* A connect-mode pod. Sockets are created and closed by the receiver. */
typedef struct pod_conn {
  struct pod_conn *next;
  char *endpoint;
  char *pod;             /* NULL: identity from the topic */
  char *model;           /* NULL: from the topic */
  char *replay_endpoint; /* NULL: template or none */
  void *sock;
  int removed;
  char *clear_name; /* set by remove_pod: the pod to clear once closed */
} pod_conn;

typedef struct {
  _Atomic uint64_t messages, bad_messages, batches, queue_drops;
  _Atomic uint64_t gaps, replays_ok, replays_failed, restarts, pods_cleared;
  _Atomic uint64_t duplicates;
} ingest_counters;

struct kvidx_ingestor {
  kvidx_ingestor_opts opts; /* strings below are owned copies */
  char *bind_endpoint, *topic_filter, *replay_template;
  kvidx_applier *applier;
  void *zctx;
  void *bind_sock; /* created by start, then owned by the receiver */
  ingest_shard *shards;
  unsigned n_shards;
  pthread_t receiver;
  _Atomic int running;
  int started, stopped;
  /* connect-mode pods */
  pthread_mutex_t pods_mu;
  pod_conn *pods;
  _Atomic int pods_dirty;
  /* add/remove wait until the receiver has applied their change */
  pthread_cond_t pods_cv;
  uint64_t pods_gen, pods_applied; /* under pods_mu */
  ingest_counters c;
};

/* Worker thread body (ingest_worker.c). */
void *kvidx__ingest_worker_main(void *arg);
/* FNV-1a of a pod id: which shard owns it. */
uint32_t kvidx__pod_shard_hash(const char *pod, size_t len);
/* Replay endpoint for a pod (per-pod setting, else the template with
 * "{pod}" substituted), written to buf; 0 when none. dp_rank > 0 offsets a
 * tcp port as vLLM does. Thread-safe. */
int kvidx__ingest_replay_endpoint(struct kvidx_ingestor *ing, const char *pod,
                                  int64_t dp_rank, char *buf, size_t cap);
/* Rate-limited warning about a dropped input (first 20, then every 1000th). */
int kvidx__ingest_should_log(uint64_t count);

#endif

/*
 * ingest_worker.c: the ingestor's worker threads. Each owns one shard: it
 * pops batches in arrival order, tracks the sequence number of every
 * publisher (pod, dp rank) of its shard, and applies the batches through the
 * applier.
 *
 * Sequence rules (vLLM numbers batches 0, 1, 2... per publisher process):
 *  - seq == last + 1: in order, applied.
 *  - seq >  last + 1: a gap. Replay [last + 1, ...] from the pod's replay
 *    endpoint over a DEALER socket; replayed batches are applied in order and
 *    duplicates dropped. When replay cannot cover the gap (no endpoint,
 *    timeout, the publisher's buffer no longer holds the first missing seq,
 *    a hole in the reply) the pod is cleared, because the index can no longer
 *    tell which of its blocks are still held.
 *  - seq <= last: when it is newer than the previous live message, the batch
 *    was already applied from a replay: a duplicate, dropped. Otherwise the
 *    live stream went backwards: the engine restarted (its seq restarts at
 *    0), its old blocks are gone, and the pod is cleared.
 * A replay blocks this worker (and so the other pods of its shard) for at
 * most replay_timeout_ms.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "events/decode_internal.h"
#include "events/ingest_internal.h"

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Context of the batch being processed. */
typedef struct {
  ingest_shard *s;
  kvidx_ingestor *ing;
  char pod[KVIDX_EVENTS_MAX_NAME + 1];
  char model[KVIDX_EVENTS_MAX_NAME + 1];
} work_ctx;

static pub_state *find_pub(ingest_shard *s, const char *pod, int64_t dp,
                           uint32_t h) {
  for (pub_state *p = s->pubs[h % KVIDX_INGEST_PUB_BUCKETS]; p; p = p->next)
    if (p->dp_rank == dp && strcmp(p->pod, pod) == 0)
      return p;
  return NULL;
}

/* Registers a publisher whose first batch, seq, has been applied: it
 * becomes visible (GET /v1/pods) only with that seq, so a client waiting
 * for "seq applied" never sees it before the blocks are in the index. */
static pub_state *new_pub(ingest_shard *s, const work_ctx *w, int64_t dp,
                          uint32_t h, uint64_t seq) {
  pub_state *p = calloc(1, sizeof *p);
  if (p == NULL)
    return NULL;
  p->pod = strdup(w->pod);
  p->model = strdup(w->model);
  if (p->pod == NULL || p->model == NULL) {
    free(p->pod);
    free(p->model);
    free(p);
    return NULL;
  }
  p->dp_rank = dp;
  p->last_seq = p->last_live_seq = seq;
  p->last_event_ms = now_ms();
  p->state = PUB_LIVE;
  pthread_mutex_lock(&s->pubs_mu);
  p->next = s->pubs[h % KVIDX_INGEST_PUB_BUCKETS];
  s->pubs[h % KVIDX_INGEST_PUB_BUCKETS] = p;
  pthread_mutex_unlock(&s->pubs_mu);
  return p;
}

static void apply(work_ctx *w, const uint8_t *payload, size_t len) {
  atomic_fetch_add(&w->ing->c.batches, 1);
  /* A malformed batch is counted and logged by the applier; the seq still
   * advances (it was received, and replaying it would not make it valid). */
  (void)kvidx_applier_apply_batch(w->ing->applier, w->pod, w->model, payload,
                                  len);
}

static void set_seq(ingest_shard *s, pub_state *p, uint64_t last, uint64_t live,
                    pub_state_kind st) {
  pthread_mutex_lock(&s->pubs_mu);
  p->last_seq = last;
  p->last_live_seq = live;
  p->last_event_ms = now_ms();
  p->state = st;
  pthread_mutex_unlock(&s->pubs_mu);
}

/* Clears the pod in the index and counts it on every publisher of the pod
 * in this shard (all dp ranks of a pod share its index entries). */
static void clear_pod(work_ctx *w, pub_state *cause, const char *why) {
  kvidx_applier_clear_pod(w->ing->applier, w->pod);
  atomic_fetch_add(&w->ing->c.pods_cleared, 1);
  pthread_mutex_lock(&w->s->pubs_mu);
  if (cause) {
    cause->clears++;
    cause->state = PUB_CLEARED;
  }
  pthread_mutex_unlock(&w->s->pubs_mu);
  kvidx_log_warn("events", "pod cleared: %s pod=%s", why, w->pod);
}

/* ---- replay ------------------------------------------------------------- */

typedef struct {
  uint64_t first_seq; /* first seq received, UINT64_MAX when none */
  int ended;          /* end marker seen */
} replay_result;

/* Receives one replay reply ([""(, topic), seq, payload]); returns 1 for a
 * batch, 0 for the end marker, negative on timeout/error. */
static int recv_reply(void *sock, int64_t deadline, zmq_msg_t *payload,
                      uint64_t *seq) {
  zmq_msg_t parts[5];
  int n = 0, more = 1;
  size_t sz = sizeof more;
  int64_t left = deadline - mono_ms();
  if (left <= 0)
    return KVIDX_ETIMEDOUT;
  zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
  if (zmq_poll(&it, 1, (long)left) <= 0)
    return KVIDX_ETIMEDOUT;
  while (more) {
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, sock, 0) < 0) {
      zmq_msg_close(&m);
      break;
    }
    zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &sz);
    if (n < 5)
      zmq_msg_init(&parts[n]), zmq_msg_move(&parts[n], &m);
    n++;
    zmq_msg_close(&m);
  }
  int rc = KVIDX_EPROTO;
  if (n == 3 || n == 4) { /* vLLM <= 0.25: no topic frame; >= 0.26: topic */
    zmq_msg_t *sq = &parts[n - 2];
    if (zmq_msg_size(&parts[0]) == 0 && zmq_msg_size(sq) == 8) {
      const uint8_t *b = zmq_msg_data(sq);
      *seq = 0;
      for (int i = 0; i < 8; i++)
        *seq = (*seq << 8) | b[i];
      zmq_msg_move(payload, &parts[n - 1]);
      rc = *seq == KVIDX_REPLAY_END_SEQ ? 0 : 1;
    }
  }
  for (int i = 0; i < n && i < 5; i++)
    zmq_msg_close(&parts[i]);
  return rc;
}

/*
 * Requests replay from p->last_seq + 1 and applies what comes back in
 * order. Returns 0 when every seq up to need_upto was applied.
 */
static int replay(work_ctx *w, pub_state *p, const char *endpoint,
                  uint64_t need_upto) {
  uint64_t from = p->last_seq + 1;
  void *sock = zmq_socket(w->ing->zctx, ZMQ_DEALER);
  if (sock == NULL)
    return KVIDX_ESYS;
  int zero = 0;
  zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero);
  int rc = KVIDX_EIO;
  if (zmq_connect(sock, endpoint) != 0) {
    zmq_close(sock);
    return KVIDX_ECONFIG;
  }
  uint8_t req[8];
  for (int i = 0; i < 8; i++)
    req[i] = (uint8_t)(from >> (56 - 8 * i));
  zmq_send(sock, "", 0, ZMQ_SNDMORE);
  zmq_send(sock, req, 8, 0);
  int64_t deadline = mono_ms() + w->ing->opts.replay_timeout_ms;
  int first = 1;
  for (;;) {
    zmq_msg_t payload;
    zmq_msg_init(&payload);
    uint64_t seq = 0;
    int r = recv_reply(sock, deadline, &payload, &seq);
    if (r <= 0) {
      zmq_msg_close(&payload);
      rc = r == 0 ? (p->last_seq >= need_upto ? 0 : KVIDX_ENOTFOUND) : r;
      break;
    }
    if (first && seq > from) {
      /* the publisher's buffer no longer holds the first missing batch */
      zmq_msg_close(&payload);
      rc = KVIDX_ENOTFOUND;
      break;
    }
    first = 0;
    if (seq <= p->last_seq) {
      atomic_fetch_add(&w->ing->c.duplicates, 1);
    } else if (seq == p->last_seq + 1) {
      apply(w, zmq_msg_data(&payload), zmq_msg_size(&payload));
      set_seq(w->s, p, seq, p->last_live_seq, PUB_RESYNC);
    } else {
      zmq_msg_close(&payload);
      rc = KVIDX_EPROTO; /* a hole inside the replay */
      break;
    }
    zmq_msg_close(&payload);
  }
  zmq_close(sock);
  return rc;
}

/* A gap before seq: replay or clear. Returns with p->last_seq >= seq - 1 or
 * the pod cleared. */
static void handle_gap(work_ctx *w, pub_state *p, uint64_t seq) {
  atomic_fetch_add(&w->ing->c.gaps, 1);
  pthread_mutex_lock(&w->s->pubs_mu);
  p->gaps++;
  p->state = PUB_RESYNC;
  pthread_mutex_unlock(&w->s->pubs_mu);
  char ep[512];
  uint64_t missing_from = p->last_seq + 1;
  if (kvidx__ingest_replay_endpoint(w->ing, w->pod, p->dp_rank, ep,
                                    sizeof ep)) {
    int rc = replay(w, p, ep, seq - 1);
    if (rc == 0) {
      atomic_fetch_add(&w->ing->c.replays_ok, 1);
      pthread_mutex_lock(&w->s->pubs_mu);
      p->replays_ok++;
      pthread_mutex_unlock(&w->s->pubs_mu);
      kvidx_log_info("events",
                     "gap repaired by replay pod=%s dp=%lld "
                     "from=%llu to=%llu",
                     w->pod, (long long)p->dp_rank,
                     (unsigned long long)missing_from,
                     (unsigned long long)(seq - 1));
      return;
    }
    atomic_fetch_add(&w->ing->c.replays_failed, 1);
    pthread_mutex_lock(&w->s->pubs_mu);
    p->replays_failed++;
    pthread_mutex_unlock(&w->s->pubs_mu);
    kvidx_log_warn("events",
                   "replay failed pod=%s endpoint=%s from=%llu "
                   "err=%s",
                   w->pod, ep, (unsigned long long)missing_from,
                   kvidx_err_name(rc));
  }
  char why[96];
  snprintf(why, sizeof why, "seq gap %llu..%llu not replayable",
           (unsigned long long)missing_from, (unsigned long long)(seq - 1));
  clear_pod(w, p, why);
}

/* ---- one batch ---------------------------------------------------------- */

/* When the dp rank of a malformed batch cannot be read: the pod's only
 * known dp rank, so that its seq still advances (the batch was received; a
 * replay would not make it valid). Returns 0 when there is not exactly one. */
static int sole_dp_rank(work_ctx *w, int64_t *dp) {
  int n = 0;
  for (size_t b = 0; b < KVIDX_INGEST_PUB_BUCKETS; b++)
    for (pub_state *p = w->s->pubs[b]; p; p = p->next)
      if (strcmp(p->pod, w->pod) == 0) {
        *dp = p->dp_rank;
        n++;
      }
  return n == 1;
}

static void process_batch(work_ctx *w, ingest_item *it) {
  const uint8_t *payload = zmq_msg_data(&it->payload);
  size_t len = zmq_msg_size(&it->payload);
  int64_t dp = -1;
  if (kvidx__batch_peek(payload, len, &dp) != 0 && !sole_dp_rank(w, &dp)) {
    /* not even the batch header is readable and the pod has several dp
     * ranks: the applier counts and logs the decode error; the seq cannot
     * be attributed */
    apply(w, payload, len);
    return;
  }
  /* No dp rank (vLLM before data parallelism) is rank 0's publisher. */
  if (dp < 0)
    dp = 0;
  uint32_t h = kvidx__pod_shard_hash(w->pod, strlen(w->pod)) ^ (uint32_t)dp;
  pub_state *p = find_pub(w->s, w->pod, dp, h);
  uint64_t seq = it->seq;
  if (p == NULL) {
    /* Apply first, then publish the publisher with its seq (see new_pub);
     * a failed allocation only loses the tracking, not the batch. */
    apply(w, payload, len);
    (void)new_pub(w->s, w, dp, h, seq);
    return;
  }
  if (seq == p->last_seq + 1) {
    apply(w, payload, len);
    set_seq(w->s, p, seq, seq, PUB_LIVE);
    return;
  }
  if (seq > p->last_seq + 1) {
    handle_gap(w, p, seq);
    if (seq <= p->last_seq) { /* the replay already delivered it */
      atomic_fetch_add(&w->ing->c.duplicates, 1);
      set_seq(w->s, p, p->last_seq, seq, PUB_LIVE);
      return;
    }
    pub_state_kind st = p->state == PUB_CLEARED ? PUB_CLEARED : PUB_LIVE;
    apply(w, payload, len);
    set_seq(w->s, p, seq, seq, st);
    return;
  }
  if (seq > p->last_live_seq) { /* applied from a replay already */
    atomic_fetch_add(&w->ing->c.duplicates, 1);
    set_seq(w->s, p, p->last_seq, seq, p->state);
    return;
  }
  atomic_fetch_add(&w->ing->c.restarts, 1);
  char why[96];
  snprintf(why, sizeof why, "engine restart (seq %llu after %llu)",
           (unsigned long long)seq, (unsigned long long)p->last_seq);
  clear_pod(w, p, why);
  apply(w, payload, len);
  set_seq(w->s, p, seq, seq, PUB_CLEARED);
}

/* A removed pod: clear its blocks and forget its publishers. */
static void process_clear(work_ctx *w) {
  kvidx_applier_clear_pod(w->ing->applier, w->pod);
  atomic_fetch_add(&w->ing->c.pods_cleared, 1);
  pthread_mutex_lock(&w->s->pubs_mu);
  for (size_t b = 0; b < KVIDX_INGEST_PUB_BUCKETS; b++) {
    pub_state **pp = &w->s->pubs[b];
    while (*pp) {
      pub_state *p = *pp;
      if (strcmp(p->pod, w->pod) == 0) {
        *pp = p->next;
        free(p->pod);
        free(p->model);
        free(p);
      } else {
        pp = &p->next;
      }
    }
  }
  pthread_mutex_unlock(&w->s->pubs_mu);
}

void *kvidx__ingest_worker_main(void *arg) {
  ingest_shard *s = arg;
  work_ctx w;
  memset(&w, 0, sizeof w);
  w.s = s;
  w.ing = s->ing;
  ingest_item it;
  while (kvidx__shard_queue_pop(&s->queue, &it) == 0) {
    const char *t = zmq_msg_data(&it.topic);
    memcpy(w.pod, t + it.pod_off, it.pod_len);
    w.pod[it.pod_len] = '\0';
    memcpy(w.model, t + it.model_off, it.model_len);
    w.model[it.model_len] = '\0';
    if (it.kind == ITEM_CLEAR_POD)
      process_clear(&w);
    else
      process_batch(&w, &it);
    zmq_msg_close(&it.topic);
    zmq_msg_close(&it.payload);
  }
  return NULL;
}

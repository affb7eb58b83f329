/*
 * ingest.c: kvidx_ingestor — ZeroMQ SUB sockets in, sharded ordered workers
 * out. This file holds the public API, the pod registry of connect mode and
 * the receiver thread; the per-pod sequence logic and replay live in
 * ingest_worker.c.
 *
 * The receiver owns every socket (ZeroMQ sockets are not thread-safe): the
 * bound SUB socket of bind mode and one SUB socket per connect-mode pod (one
 * per pod so that a pod with vLLM's default empty topic can be given its
 * identity). kvidx_ingestor_add_pod/remove_pod only edit the registry under a
 * mutex and raise a flag; the receiver picks the change up within one poll
 * interval. It reads the 3 frames [topic, seq, payload], validates them (bad
 * ones are counted, logged and dropped) and moves the zmq messages, without
 * copying the payload, into the queue of the pod's shard.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "events/ingest_internal.h"

void kvidx_ingestor_opts_init(kvidx_ingestor_opts *o) {
  memset(o, 0, sizeof *o);
  o->bind_endpoint = NULL;
  o->topic_filter = "kv@";
  o->n_workers = 4;
  o->queue_capacity = 4096;
  o->queue_policy = KVIDX_QUEUE_BLOCK;
  o->rcvhwm = 100000;
  o->max_msg_size = 64 << 20;
  o->reconnect_ivl_ms = 100;
  o->reconnect_ivl_max_ms = 5000;
  o->tcp_keepalive = 1;
  o->replay_template = NULL;
  o->replay_timeout_ms = 2000;
}

static char *dup_or_null(const char *s) {
  return s ? strdup(s) : NULL;
}

uint32_t kvidx__pod_shard_hash(const char *pod, size_t len) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < len; i++)
    h = (h ^ (uint8_t)pod[i]) * 16777619u;
  return h;
}

int kvidx__ingest_should_log(uint64_t count) {
  return count <= 20 || count % 1000 == 0;
}

static void free_pod_conn(pod_conn *p) {
  free(p->clear_name);
  free(p->endpoint);
  free(p->pod);
  free(p->model);
  free(p->replay_endpoint);
  free(p);
}

void kvidx_ingestor_free(kvidx_ingestor *ing) {
  if (ing == NULL)
    return;
  kvidx_ingestor_stop(ing);
  for (unsigned i = 0; i < ing->n_shards; i++) {
    ingest_shard *s = &ing->shards[i];
    kvidx__shard_queue_destroy(&s->queue);
    for (size_t b = 0; b < KVIDX_INGEST_PUB_BUCKETS; b++) {
      pub_state *p = s->pubs[b];
      while (p) {
        pub_state *n = p->next;
        free(p->pod);
        free(p->model);
        free(p);
        p = n;
      }
    }
    pthread_mutex_destroy(&s->pubs_mu);
  }
  free(ing->shards);
  for (pod_conn *p = ing->pods, *n; p; p = n) {
    n = p->next;
    if (p->sock)
      zmq_close(p->sock);
    free_pod_conn(p);
  }
  pthread_mutex_destroy(&ing->pods_mu);
  pthread_cond_destroy(&ing->pods_cv);
  if (ing->zctx)
    zmq_ctx_term(ing->zctx);
  free(ing->bind_endpoint);
  free(ing->topic_filter);
  free(ing->replay_template);
  free(ing);
}

int kvidx_ingestor_new(const kvidx_ingestor_opts *opts, kvidx_applier *applier,
                       kvidx_ingestor **out) {
  if (opts == NULL || applier == NULL || out == NULL || opts->n_workers == 0 ||
      opts->n_workers > 256 || opts->queue_capacity == 0 ||
      opts->topic_filter == NULL || opts->replay_timeout_ms < 0)
    return KVIDX_EINVAL;
  kvidx_ingestor *ing = calloc(1, sizeof *ing);
  if (ing == NULL)
    return KVIDX_ENOMEM;
  ing->opts = *opts;
  ing->applier = applier;
  pthread_mutex_init(&ing->pods_mu, NULL);
  pthread_cond_init(&ing->pods_cv, NULL);
  ing->bind_endpoint = dup_or_null(opts->bind_endpoint);
  ing->topic_filter = strdup(opts->topic_filter);
  ing->replay_template = dup_or_null(opts->replay_template);
  ing->zctx = zmq_ctx_new();
  ing->shards = calloc(opts->n_workers, sizeof *ing->shards);
  if (ing->topic_filter == NULL || ing->zctx == NULL || ing->shards == NULL ||
      (opts->bind_endpoint && !ing->bind_endpoint) ||
      (opts->replay_template && !ing->replay_template)) {
    kvidx_ingestor_free(ing);
    return KVIDX_ENOMEM;
  }
  for (unsigned i = 0; i < opts->n_workers; i++) {
    ingest_shard *s = &ing->shards[i];
    s->ing = ing;
    s->index = i;
    pthread_mutex_init(&s->pubs_mu, NULL);
    ing->n_shards = i + 1;
    if (kvidx__shard_queue_init(&s->queue, opts->queue_capacity) != 0) {
      kvidx_ingestor_free(ing);
      return KVIDX_ENOMEM;
    }
  }
  *out = ing;
  return 0;
}

/* ---- sockets ------------------------------------------------------------ */

/* A SUB socket with the production options of kvidx_ingestor_opts. */
static void *make_sub(kvidx_ingestor *ing, const char *subscribe) {
  void *s = zmq_socket(ing->zctx, ZMQ_SUB);
  if (s == NULL)
    return NULL;
  const kvidx_ingestor_opts *o = &ing->opts;
  int zero = 0;
  zmq_setsockopt(s, ZMQ_RCVHWM, &o->rcvhwm, sizeof o->rcvhwm);
  /* Frames up to twice the limit reach recv_one, which drops and counts
   * them; larger ones make libzmq drop the connection (the publisher
   * reconnects, the lost batches show as a seq gap): memory stays bounded
   * either way. */
  int64_t hard = o->max_msg_size > 0 ? 2 * o->max_msg_size : -1;
  zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &hard, sizeof hard);
  zmq_setsockopt(s, ZMQ_RECONNECT_IVL, &o->reconnect_ivl_ms,
                 sizeof o->reconnect_ivl_ms);
  zmq_setsockopt(s, ZMQ_RECONNECT_IVL_MAX, &o->reconnect_ivl_max_ms,
                 sizeof o->reconnect_ivl_max_ms);
  zmq_setsockopt(s, ZMQ_TCP_KEEPALIVE, &o->tcp_keepalive,
                 sizeof o->tcp_keepalive);
  zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
  zmq_setsockopt(s, ZMQ_SUBSCRIBE, subscribe, strlen(subscribe));
  return s;
}

static void queue_clear(kvidx_ingestor *ing, const char *pod);

/* Opens sockets of new pods and closes those of removed ones, then wakes
 * the add/remove calls waiting for it. Receiver thread only. A removed pod is
 * cleared after its socket is closed, so that no batch of it can be applied
 * after the clear. */
static void sync_pods(kvidx_ingestor *ing) {
  char *to_clear[64];
  int n_clear = 0;
  pthread_mutex_lock(&ing->pods_mu);
  atomic_store(&ing->pods_dirty, 0);
  uint64_t gen = ing->pods_gen;
  pod_conn **pp = &ing->pods;
  while (*pp) {
    pod_conn *p = *pp;
    if (p->removed) {
      if (p->sock)
        zmq_close(p->sock);
      if (p->clear_name && n_clear < 64) {
        to_clear[n_clear++] = p->clear_name;
        p->clear_name = NULL;
      }
      *pp = p->next;
      free_pod_conn(p);
      continue;
    }
    if (p->sock == NULL) {
      /* A pod with a configured identity takes every topic: vLLM's default
       * topic is "" and would not pass the "kv@" filter. */
      p->sock = make_sub(ing, p->pod ? "" : ing->topic_filter);
      if (p->sock && zmq_connect(p->sock, p->endpoint) != 0) {
        kvidx_log_warn("events", "cannot connect to pod endpoint=%s err=%s",
                       p->endpoint, zmq_strerror(zmq_errno()));
        zmq_close(p->sock);
        p->sock = NULL;
        p->removed = 1;
        continue;
      }
      kvidx_log_info("events", "connected to pod endpoint=%s pod=%s",
                     p->endpoint, p->pod ? p->pod : "(from topic)");
    }
    pp = &p->next;
  }
  ing->pods_applied = gen;
  pthread_cond_broadcast(&ing->pods_cv);
  pthread_mutex_unlock(&ing->pods_mu);
  /* outside the lock: a full queue may block, and workers take pods_mu */
  for (int i = 0; i < n_clear; i++) {
    queue_clear(ing, to_clear[i]);
    free(to_clear[i]);
  }
}

/* Called with pods_mu held after a registry change: marks it for the
 * receiver and, while it runs, waits until it has been applied. */
static void pods_changed_locked(kvidx_ingestor *ing) {
  uint64_t gen = ++ing->pods_gen;
  atomic_store(&ing->pods_dirty, 1);
  while (ing->pods_applied < gen && atomic_load(&ing->running)) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 100 * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&ing->pods_cv, &ing->pods_mu, &ts);
  }
}

/* ---- receiving ---------------------------------------------------------- */

static void drop_bad(kvidx_ingestor *ing, const char *why, const char *src) {
  uint64_t n = atomic_fetch_add(&ing->c.bad_messages, 1) + 1;
  if (kvidx__ingest_should_log(n))
    kvidx_log_warn("events", "dropped message: %s source=%s bad_messages=%llu",
                   why, src, (unsigned long long)n);
}

/* Receives the rest of a multi-part message that has too many frames. */
static int drain_frames(void *sock) {
  int more = 1, n = 0;
  size_t sz = sizeof more;
  while (more) {
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, sock, ZMQ_DONTWAIT) < 0) {
      zmq_msg_close(&m);
      break;
    }
    n++;
    zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &sz);
    zmq_msg_close(&m);
  }
  return n;
}

/* Fills the pod/model offsets of it from its topic, or replaces an empty or
 * identity-less topic with the connection's configured identity. */
static int resolve_names(const pod_conn *pc, ingest_item *it,
                         const char **why) {
  const char *t = zmq_msg_data(&it->topic);
  size_t tl = zmq_msg_size(&it->topic);
  kvidx__topic names;
  int rc = kvidx__topic_parse(t, tl, &names, why);
  if (rc != 0 && pc != NULL && pc->pod != NULL) {
    /* configured identity: synthesise "kv@pod@model" */
    char buf[2 * KVIDX_EVENTS_MAX_NAME + 8];
    int n = snprintf(buf, sizeof buf, "kv@%s@%s", pc->pod,
                     pc->model ? pc->model : "default");
    zmq_msg_close(&it->topic);
    zmq_msg_init_size(&it->topic, (size_t)n);
    memcpy(zmq_msg_data(&it->topic), buf, (size_t)n);
    t = zmq_msg_data(&it->topic);
    rc = kvidx__topic_parse(t, (size_t)n, &names, why);
  }
  if (rc != 0)
    return rc;
  it->pod_off = (uint32_t)(names.pod - t);
  it->pod_len = (uint32_t)names.pod_len;
  it->model_off = (uint32_t)(names.model - t);
  it->model_len = (uint32_t)names.model_len;
  return 0;
}

static void enqueue(kvidx_ingestor *ing, ingest_item *it) {
  const char *t = zmq_msg_data(&it->topic);
  uint32_t h = kvidx__pod_shard_hash(t + it->pod_off, it->pod_len);
  ingest_shard *s = &ing->shards[h % ing->n_shards];
  int block =
      ing->opts.queue_policy == KVIDX_QUEUE_BLOCK || it->kind == ITEM_CLEAR_POD;
  int rc = kvidx__shard_queue_push(&s->queue, it, block);
  if (rc != 0) {
    /* Dropped: the pod's next batch shows a seq gap, which the worker
     * repairs by replay or by clearing the pod. */
    uint64_t n = atomic_fetch_add(&ing->c.queue_drops, 1) + 1;
    if (kvidx__ingest_should_log(n))
      kvidx_log_warn("events",
                     "shard queue full, batch dropped pod=%.*s "
                     "seq=%llu queue_drops=%llu",
                     (int)it->pod_len, t + it->pod_off,
                     (unsigned long long)it->seq, (unsigned long long)n);
    zmq_msg_close(&it->topic);
    zmq_msg_close(&it->payload);
  }
}

/* Reads one [topic, seq, payload] message; returns 0 when the socket had
 * nothing more to read. */
static int recv_one(kvidx_ingestor *ing, void *sock, const pod_conn *pc) {
  const char *src = pc ? pc->endpoint : ing->bind_endpoint;
  ingest_item it;
  memset(&it, 0, sizeof it);
  zmq_msg_t seq;
  zmq_msg_init(&it.topic);
  zmq_msg_init(&seq);
  zmq_msg_init(&it.payload);
  int more = 0;
  size_t sz = sizeof more;
  int frames = 0;
  const char *why = NULL;
  if (zmq_msg_recv(&it.topic, sock, ZMQ_DONTWAIT) < 0)
    goto none;
  atomic_fetch_add(&ing->c.messages, 1);
  frames = 1;
  zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &sz);
  if (more && zmq_msg_recv(&seq, sock, ZMQ_DONTWAIT) >= 0) {
    frames++;
    zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &sz);
    if (more && zmq_msg_recv(&it.payload, sock, ZMQ_DONTWAIT) >= 0) {
      frames++;
      zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &sz);
    }
  }
  if (more)
    frames += drain_frames(sock);
  if (frames != 3)
    why = "wrong frame count (expected 3: topic, seq, payload)";
  else if (zmq_msg_size(&seq) != 8)
    why = "seq frame is not 8 bytes";
  else if (ing->opts.max_msg_size > 0 &&
           (int64_t)zmq_msg_size(&it.payload) > ing->opts.max_msg_size)
    why = "payload larger than max_msg_size";
  else if (resolve_names(pc, &it, &why) == 0)
    why = NULL; /* a configured identity replaced an unusable topic */
  if (why != NULL) {
    drop_bad(ing, why, src);
    goto done;
  }
  const uint8_t *sb = zmq_msg_data(&seq);
  for (int i = 0; i < 8; i++)
    it.seq = (it.seq << 8) | sb[i];
  it.kind = ITEM_BATCH;
  enqueue(ing, &it);
done:
  zmq_msg_close(&it.topic);
  zmq_msg_close(&seq);
  zmq_msg_close(&it.payload);
  return 1;
none:
  zmq_msg_close(&it.topic);
  zmq_msg_close(&seq);
  zmq_msg_close(&it.payload);
  return 0;
}

typedef struct {
  zmq_pollitem_t *items;
  pod_conn **owners; /* NULL for the bound socket */
  size_t n, cap;
} poll_set;

/* Rebuilds the receiver's poll set from the pod registry. The registry is
 * read under pods_mu (add_pod links new entries from other threads); the
 * entries it lists stay valid until the receiver itself frees them in
 * sync_pods, and their sockets are only touched by the receiver. */
static int build_poll_set(kvidx_ingestor *ing, void *bind_sock, poll_set *ps) {
  pthread_mutex_lock(&ing->pods_mu);
  size_t need = 1;
  for (pod_conn *p = ing->pods; p; p = p->next)
    need++;
  if (need > ps->cap) {
    free(ps->items);
    free(ps->owners);
    ps->cap = need * 2;
    ps->items = calloc(ps->cap, sizeof *ps->items);
    ps->owners = calloc(ps->cap, sizeof *ps->owners);
    if (ps->items == NULL || ps->owners == NULL) {
      pthread_mutex_unlock(&ing->pods_mu);
      ps->n = ps->cap = 0;
      return KVIDX_ENOMEM;
    }
  }
  ps->n = 0;
  if (bind_sock) {
    ps->items[ps->n] = (zmq_pollitem_t){bind_sock, 0, ZMQ_POLLIN, 0};
    ps->owners[ps->n++] = NULL;
  }
  for (pod_conn *p = ing->pods; p; p = p->next) {
    if (p->sock == NULL)
      continue;
    ps->items[ps->n] = (zmq_pollitem_t){p->sock, 0, ZMQ_POLLIN, 0};
    ps->owners[ps->n++] = p;
  }
  pthread_mutex_unlock(&ing->pods_mu);
  return 0;
}

/* Receiver thread: polls the bound socket and every pod socket. The bound
 * socket was created and bound by kvidx_ingestor_start (so a bind error is
 * reported there) and handed over: thread creation is the memory barrier
 * ZeroMQ asks for when a socket changes threads. */
static void *receiver_main(void *arg) {
  kvidx_ingestor *ing = arg;
  void *bind_sock = ing->bind_sock;
  poll_set ps = {NULL, NULL, 0, 0};
  int rebuild = 1;
  while (atomic_load(&ing->running)) {
    if (atomic_load(&ing->pods_dirty)) {
      sync_pods(ing);
      rebuild = 1;
    }
    if (rebuild) {
      if (build_poll_set(ing, bind_sock, &ps) != 0) {
        kvidx_log_error("events", "out of memory in the receiver");
        break;
      }
      rebuild = 0;
    }
    int rc = zmq_poll(ps.items, (int)ps.n, KVIDX_INGEST_POLL_MS);
    if (rc <= 0)
      continue;
    for (size_t i = 0; i < ps.n; i++) {
      if (!(ps.items[i].revents & ZMQ_POLLIN))
        continue;
      for (int k = 0; k < KVIDX_INGEST_RECV_BURST; k++)
        if (!recv_one(ing, ps.items[i].socket, ps.owners[i]))
          break;
    }
  }
  free(ps.items);
  free(ps.owners);
  if (bind_sock)
    zmq_close(bind_sock);
  return NULL;
}

/* ---- lifecycle ---------------------------------------------------------- */

/* Creates and binds the bind-mode socket. */
static int open_bind(kvidx_ingestor *ing) {
  void *s = make_sub(ing, ing->topic_filter);
  if (s == NULL)
    return KVIDX_ESYS;
  if (zmq_bind(s, ing->bind_endpoint) != 0) {
    int err = zmq_errno();
    kvidx_log_error("events", "cannot bind endpoint=%s err=%s",
                    ing->bind_endpoint, zmq_strerror(err));
    zmq_close(s);
    return err == EADDRINUSE ? KVIDX_EEXIST : KVIDX_ECONFIG;
  }
  ing->bind_sock = s;
  return 0;
}

int kvidx_ingestor_start(kvidx_ingestor *ing) {
  if (ing == NULL)
    return KVIDX_EINVAL;
  if (ing->started)
    return KVIDX_ESTATE;
  if (ing->bind_endpoint) {
    int rc = open_bind(ing);
    if (rc != 0)
      return rc;
  }
  ing->started = 1;
  atomic_store(&ing->running, 1);
  atomic_store(&ing->pods_dirty, 1);
  for (unsigned i = 0; i < ing->n_shards; i++) {
    if (pthread_create(&ing->shards[i].thread, NULL, kvidx__ingest_worker_main,
                       &ing->shards[i]) == 0)
      ing->shards[i].started = 1;
  }
  if (pthread_create(&ing->receiver, NULL, receiver_main, ing) != 0) {
    atomic_store(&ing->running, 0);
    if (ing->bind_sock)
      zmq_close(ing->bind_sock);
    kvidx_ingestor_stop(ing);
    return KVIDX_ESYS;
  }
  kvidx_log_info(
      "events", "ingestor started bind=%s workers=%u policy=%s",
      ing->bind_endpoint ? ing->bind_endpoint : "(none)", ing->n_shards,
      ing->opts.queue_policy == KVIDX_QUEUE_BLOCK ? "block" : "drop-resync");
  return 0;
}

void kvidx_ingestor_stop(kvidx_ingestor *ing) {
  if (ing == NULL || !ing->started || ing->stopped)
    return;
  ing->stopped = 1;
  int was_running = atomic_exchange(&ing->running, 0);
  if (was_running)
    pthread_join(ing->receiver, NULL);
  /* Workers drain what was queued, then exit. */
  for (unsigned i = 0; i < ing->n_shards; i++)
    kvidx__shard_queue_close(&ing->shards[i].queue);
  for (unsigned i = 0; i < ing->n_shards; i++)
    if (ing->shards[i].started)
      pthread_join(ing->shards[i].thread, NULL);
}

/* ---- connect-mode pods -------------------------------------------------- */

/* Checks an endpoint's syntax by connecting a throwaway socket. */
static int check_endpoint(kvidx_ingestor *ing, const char *endpoint) {
  void *s = zmq_socket(ing->zctx, ZMQ_SUB);
  if (s == NULL)
    return KVIDX_ESYS;
  int zero = 0;
  zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
  int rc = zmq_connect(s, endpoint);
  zmq_close(s);
  return rc == 0 ? 0 : KVIDX_ECONFIG;
}

int kvidx_ingestor_add_pod(kvidx_ingestor *ing, const kvidx_pod_endpoint *pod) {
  if (ing == NULL || pod == NULL || pod->endpoint == NULL ||
      (pod->pod &&
       (strlen(pod->pod) == 0 || strlen(pod->pod) > KVIDX_EVENTS_MAX_NAME ||
        strchr(pod->pod, '@'))) ||
      (pod->model && strlen(pod->model) > KVIDX_EVENTS_MAX_NAME))
    return KVIDX_EINVAL;
  int rc = check_endpoint(ing, pod->endpoint);
  if (rc != 0)
    return rc;
  pod_conn *p = calloc(1, sizeof *p);
  if (p == NULL)
    return KVIDX_ENOMEM;
  p->endpoint = strdup(pod->endpoint);
  p->pod = dup_or_null(pod->pod);
  p->model = dup_or_null(pod->model);
  p->replay_endpoint = dup_or_null(pod->replay_endpoint);
  if (!p->endpoint || (pod->pod && !p->pod) || (pod->model && !p->model) ||
      (pod->replay_endpoint && !p->replay_endpoint)) {
    free_pod_conn(p);
    return KVIDX_ENOMEM;
  }
  pthread_mutex_lock(&ing->pods_mu);
  for (pod_conn *q = ing->pods; q; q = q->next) {
    if (!q->removed && (strcmp(q->endpoint, p->endpoint) == 0 ||
                        (p->pod && q->pod && strcmp(q->pod, p->pod) == 0))) {
      pthread_mutex_unlock(&ing->pods_mu);
      free_pod_conn(p);
      return KVIDX_EEXIST;
    }
  }
  p->next = ing->pods;
  ing->pods = p;
  pods_changed_locked(ing);
  pthread_mutex_unlock(&ing->pods_mu);
  return 0;
}

/* Queues a "clear this pod" item on the pod's shard, so that the clear is
 * ordered after the batches of the pod already queued. */
static void queue_clear(kvidx_ingestor *ing, const char *pod) {
  ingest_item it;
  memset(&it, 0, sizeof it);
  it.kind = ITEM_CLEAR_POD;
  size_t n = strlen(pod);
  zmq_msg_init_size(&it.topic, n + 5);
  char *t = zmq_msg_data(&it.topic);
  memcpy(t, "kv@", 3);
  memcpy(t + 3, pod, n);
  memcpy(t + 3 + n, "@-", 2);
  zmq_msg_init(&it.payload);
  it.pod_off = 3;
  it.pod_len = (uint32_t)n;
  it.model_off = (uint32_t)(n + 4);
  it.model_len = 1;
  enqueue(ing, &it);
}

int kvidx_ingestor_remove_pod(kvidx_ingestor *ing, const char *pod) {
  if (ing == NULL || pod == NULL)
    return KVIDX_EINVAL;
  int found = 0, running = 0;
  char *ident = NULL;
  pthread_mutex_lock(&ing->pods_mu);
  running = atomic_load(&ing->running);
  for (pod_conn *q = ing->pods; q; q = q->next) {
    if (!q->removed && ((q->pod && strcmp(q->pod, pod) == 0) ||
                        strcmp(q->endpoint, pod) == 0)) {
      q->removed = 1;
      /* A pod we no longer listen to cannot be kept up to date: its blocks
       * are cleared, by the receiver once the socket is closed. */
      if (!found && running)
        q->clear_name = strdup(q->pod ? q->pod : pod);
      if (q->pod && ident == NULL)
        ident = strdup(q->pod);
      found = 1;
    }
  }
  if (found)
    pods_changed_locked(ing);
  pthread_mutex_unlock(&ing->pods_mu);
  if (found && !running)
    kvidx_applier_clear_pod(ing->applier, ident ? ident : pod);
  free(ident);
  return found ? 0 : KVIDX_ENOTFOUND;
}

/* ---- introspection ------------------------------------------------------ */

void kvidx_ingestor_get_stats(kvidx_ingestor *ing, kvidx_ingestor_stats *o) {
  memset(o, 0, sizeof *o);
  if (ing == NULL)
    return;
  o->messages = atomic_load(&ing->c.messages);
  o->bad_messages = atomic_load(&ing->c.bad_messages);
  o->batches = atomic_load(&ing->c.batches);
  o->queue_drops = atomic_load(&ing->c.queue_drops);
  o->gaps = atomic_load(&ing->c.gaps);
  o->replays_ok = atomic_load(&ing->c.replays_ok);
  o->replays_failed = atomic_load(&ing->c.replays_failed);
  o->restarts = atomic_load(&ing->c.restarts);
  o->pods_cleared = atomic_load(&ing->c.pods_cleared);
  o->duplicates = atomic_load(&ing->c.duplicates);
}

void kvidx_ingestor_pods(kvidx_ingestor *ing, kvidx_pod_info_fn cb,
                         void *userdata) {
  static const char *const states[] = {"live", "resync", "cleared"};
  if (ing == NULL || cb == NULL)
    return;
  for (unsigned i = 0; i < ing->n_shards; i++) {
    ingest_shard *s = &ing->shards[i];
    pthread_mutex_lock(&s->pubs_mu);
    for (size_t b = 0; b < KVIDX_INGEST_PUB_BUCKETS; b++) {
      for (pub_state *p = s->pubs[b]; p; p = p->next) {
        kvidx_pod_info info = {p->pod,          p->model,          p->dp_rank,
                               p->last_seq,     p->last_event_ms,  p->gaps,
                               p->replays_ok,   p->replays_failed, p->clears,
                               states[p->state]};
        cb(userdata, &info);
      }
    }
    pthread_mutex_unlock(&s->pubs_mu);
  }
}

int kvidx__ingest_replay_endpoint(kvidx_ingestor *ing, const char *pod,
                                  int64_t dp_rank, char *buf, size_t cap) {
  buf[0] = '\0';
  pthread_mutex_lock(&ing->pods_mu);
  for (pod_conn *q = ing->pods; q; q = q->next) {
    if (!q->removed && q->pod && q->replay_endpoint &&
        strcmp(q->pod, pod) == 0) {
      snprintf(buf, cap, "%s", q->replay_endpoint);
      break;
    }
  }
  pthread_mutex_unlock(&ing->pods_mu);
  if (buf[0] == '\0' && ing->replay_template) {
    /* substitute every "{pod}" */
    size_t o = 0;
    for (const char *t = ing->replay_template; *t && o + 1 < cap;) {
      if (strncmp(t, "{pod}", 5) == 0) {
        o += (size_t)snprintf(buf + o, cap - o, "%s", pod);
        t += 5;
      } else {
        buf[o++] = *t++;
      }
    }
    buf[o < cap ? o : cap - 1] = '\0';
  }
  if (buf[0] == '\0')
    return 0;
  /* vLLM binds rank r's replay socket on port + r */
  if (dp_rank > 0 && strncmp(buf, "tcp://", 6) == 0) {
    char *colon = strrchr(buf, ':');
    if (colon && colon > buf + 5) {
      long port = strtol(colon + 1, NULL, 10);
      snprintf(colon + 1, cap - (size_t)(colon + 1 - buf), "%ld",
               port + dp_rank);
    }
  }
  return 1;
}

/*
 * ingest_util.c: see ingest_util.h.
 */
#include "ingest_util.h"

#include <time.h>
#include <zmq.h>

#include "test.h"

static void be64(uint64_t v, uint8_t out[8]) {
  for (int i = 0; i < 8; i++)
    out[i] = (uint8_t)(v >> (56 - 8 * i));
}

static void serve_one(tpub *p) {
  zmq_msg_t parts[4];
  int n = 0, more = 1;
  size_t sz = sizeof more;
  while (more) {
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, p->router, 0) < 0) {
      zmq_msg_close(&m);
      break;
    }
    zmq_getsockopt(p->router, ZMQ_RCVMORE, &more, &sz);
    if (n < 4)
      zmq_msg_init(&parts[n]), zmq_msg_move(&parts[n], &m);
    n++;
    zmq_msg_close(&m);
  }
  if (n == 3 && zmq_msg_size(&parts[2]) == 8) {
    const uint8_t *b = zmq_msg_data(&parts[2]);
    uint64_t start = 0;
    for (int i = 0; i < 8; i++)
      start = (start << 8) | b[i];
    pthread_mutex_lock(&p->mu);
    size_t first = p->n > TP_RING ? p->n - TP_RING : 0;
    uint8_t sq[8];
    for (size_t k = first; k < p->n; k++) {
      size_t i = k % TP_RING;
      if (p->seqs[i] < start || p->seqs[i] < p->replay_drop_before)
        continue;
      be64(p->seqs[i], sq);
      zmq_send(p->router, zmq_msg_data(&parts[0]), zmq_msg_size(&parts[0]),
               ZMQ_SNDMORE);
      zmq_send(p->router, "", 0, ZMQ_SNDMORE);
      if (p->replay_frames == 4)
        zmq_send(p->router, p->topic, strlen(p->topic), ZMQ_SNDMORE);
      zmq_send(p->router, sq, 8, ZMQ_SNDMORE);
      zmq_send(p->router, p->data[i], p->len[i], 0);
    }
    p->replays++;
    pthread_mutex_unlock(&p->mu);
    be64(UINT64_MAX, sq);
    zmq_send(p->router, zmq_msg_data(&parts[0]), zmq_msg_size(&parts[0]),
             ZMQ_SNDMORE);
    zmq_send(p->router, "", 0, ZMQ_SNDMORE);
    if (p->replay_frames == 4)
      zmq_send(p->router, p->topic, strlen(p->topic), ZMQ_SNDMORE);
    zmq_send(p->router, sq, 8, ZMQ_SNDMORE);
    zmq_send(p->router, "", 0, 0);
  }
  for (int i = 0; i < n && i < 4; i++)
    zmq_msg_close(&parts[i]);
}

static void *router_main(void *arg) {
  tpub *p = arg;
  while (__atomic_load_n(&p->running, __ATOMIC_ACQUIRE)) {
    zmq_pollitem_t it = {p->router, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, 10) > 0)
      serve_one(p);
  }
  return NULL;
}

void tpub_open(tpub *p, const char *endpoint, int bind, const char *topic,
               const char *replay_ep) {
  memset(p, 0, sizeof *p);
  p->replay_frames = 3;
  pthread_mutex_init(&p->mu, NULL);
  snprintf(p->topic, sizeof p->topic, "%s", topic);
  p->ctx = zmq_ctx_new();
  p->pub = zmq_socket(p->ctx, ZMQ_PUB);
  int zero = 0;
  zmq_setsockopt(p->pub, ZMQ_LINGER, &zero, sizeof zero);
  int rc = bind ? zmq_bind(p->pub, endpoint) : zmq_connect(p->pub, endpoint);
  if (rc != 0)
    FAILF("publisher %s %s: %s", bind ? "bind" : "connect", endpoint,
          zmq_strerror(zmq_errno()));
  if (replay_ep) {
    p->router = zmq_socket(p->ctx, ZMQ_ROUTER);
    zmq_setsockopt(p->router, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_bind(p->router, replay_ep) != 0)
      FAILF("router bind %s: %s", replay_ep, zmq_strerror(zmq_errno()));
    p->running = 1;
    pthread_create(&p->thread, NULL, router_main, p);
  }
}

void tpub_close(tpub *p) {
  if (p->router) {
    __atomic_store_n(&p->running, 0, __ATOMIC_RELEASE);
    pthread_join(p->thread, NULL);
    zmq_close(p->router);
  }
  zmq_close(p->pub);
  zmq_ctx_term(p->ctx);
  for (size_t i = 0; i < TP_RING; i++)
    free(p->data[i]);
  pthread_mutex_destroy(&p->mu);
}

void tpub_send(tpub *p, uint64_t seq, const uint8_t *payload, size_t len,
               int skip) {
  pthread_mutex_lock(&p->mu);
  size_t i = p->n % TP_RING;
  free(p->data[i]);
  p->data[i] = malloc(len ? len : 1);
  memcpy(p->data[i], payload, len);
  p->len[i] = len;
  p->seqs[i] = seq;
  p->n++;
  pthread_mutex_unlock(&p->mu);
  if (skip)
    return;
  uint8_t sq[8];
  be64(seq, sq);
  zmq_send(p->pub, p->topic, strlen(p->topic), ZMQ_SNDMORE);
  zmq_send(p->pub, sq, 8, ZMQ_SNDMORE);
  zmq_send(p->pub, payload, len, 0);
}

void tpub_send_raw(tpub *p, const void *const *frames, const size_t *lens,
                   int n) {
  for (int i = 0; i < n; i++)
    zmq_send(p->pub, frames[i], lens[i], i + 1 < n ? ZMQ_SNDMORE : 0);
}

static size_t finish(kvidx_batch_writer *w, uint8_t *out, size_t cap) {
  const uint8_t *p;
  size_t n;
  CHECK_OK(kvidx_batch_writer_finish(w, &p, &n));
  if (n > cap)
    FAILF("batch of %zu bytes > %zu", n, cap);
  memcpy(out, p, n);
  kvidx_batch_writer_free(w);
  return n;
}

static size_t one_event(uint8_t *out, size_t cap, kvidx_event_layout layout,
                        unsigned hb, kvidx_event_type t, const uint64_t *keys,
                        size_t n, int64_t dp) {
  kvidx_batch_writer *w;
  CHECK_OK(kvidx_batch_writer_new(layout, hb, &w));
  kvidx_batch_writer_begin(w, 1.0, dp);
  kvidx_event ev;
  memset(&ev, 0, sizeof ev);
  ev.type = t;
  ev.block_hashes = keys;
  ev.n_block_hashes = n;
  ev.group_idx = -1;
  ev.block_size = 16;
  CHECK_OK(kvidx_batch_writer_add(w, &ev));
  return finish(w, out, cap);
}

size_t tb_stored(uint8_t *out, size_t cap, kvidx_event_layout layout,
                 unsigned hash_bytes, const uint64_t *keys, size_t n,
                 int64_t dp_rank) {
  return one_event(out, cap, layout, hash_bytes, KVIDX_EVENT_BLOCK_STORED, keys,
                   n, dp_rank);
}

size_t tb_removed(uint8_t *out, size_t cap, kvidx_event_layout layout,
                  const uint64_t *keys, size_t n, int64_t dp_rank) {
  return one_event(out, cap, layout, 0, KVIDX_EVENT_BLOCK_REMOVED, keys, n,
                   dp_rank);
}

size_t tb_cleared(uint8_t *out, size_t cap) {
  return one_event(out, cap, KVIDX_LAYOUT_ARRAY, 0,
                   KVIDX_EVENT_ALL_BLOCKS_CLEARED, NULL, 0, -1);
}

void tfix_open(tfix *f, int bind, kvidx_ingestor_opts *opts_or_null) {
  memset(f, 0, sizeof *f);
  kvidx_index_opts io;
  kvidx_index_opts_init(&io);
  CHECK_OK(kvidx_index_new_memory(&io, &f->idx));
  kvidx_hasher_opts ho;
  kvidx_hasher_opts_init(&ho);
  CHECK_OK(kvidx_hasher_new(&ho, &f->hasher));
  kvidx_applier_opts ao;
  kvidx_applier_opts_init(&ao);
  ao.index = f->idx;
  ao.hasher = f->hasher;
  CHECK_OK(kvidx_applier_new(&ao, &f->applier));
  kvidx_ingestor_opts o;
  if (opts_or_null)
    o = *opts_or_null;
  else
    kvidx_ingestor_opts_init(&o);
  if (bind) {
    snprintf(f->bind_ep, sizeof f->bind_ep, "tcp://127.0.0.1:%d",
             kvidx_test_free_port());
    o.bind_endpoint = f->bind_ep;
  }
  o.replay_timeout_ms = o.replay_timeout_ms ? o.replay_timeout_ms : 2000;
  CHECK_OK(kvidx_ingestor_new(&o, f->applier, &f->ing));
}

void tfix_close(tfix *f) {
  kvidx_ingestor_free(f->ing);
  kvidx_applier_free(f->applier);
  kvidx_hasher_free(f->hasher);
  kvidx_index_free(f->idx);
}

static int count_cb(void *ud, size_t i, const kvidx_holder *h, size_t n) {
  (void)ud;
  (void)i;
  (void)h;
  (void)n;
  return 0;
}

int prefix_len(kvidx_index *idx, const char *model, const char *pod,
               const uint64_t *keys, size_t n) {
  uint32_t m, p;
  if (kvidx_index_find_model(idx, model, &m) != 0 ||
      kvidx_index_find_pod(idx, pod, &p) != 0)
    return 0;
  int rc = kvidx_index_lookup(idx, m, keys, n, &p, 1, count_cb, NULL);
  return rc < 0 ? 0 : rc;
}

static void nap_ms(int ms) {
  struct timespec ts = {0, ms * 1000000L};
  nanosleep(&ts, NULL);
}

int wait_for(int (*cond)(void *), void *arg, int ms) {
  for (int t = 0; t <= ms; t += 2) {
    if (cond(arg))
      return 1;
    nap_ms(2);
  }
  return cond(arg);
}

int wait_messages(kvidx_ingestor *ing, uint64_t n, int ms) {
  for (int t = 0; t <= ms; t += 2) {
    kvidx_ingestor_stats s;
    kvidx_ingestor_get_stats(ing, &s);
    if (s.messages >= n)
      return 1;
    nap_ms(2);
  }
  return 0;
}

typedef struct {
  const char *pod;
  int found;
} find_pod_arg;

static void find_pod_cb(void *ud, const kvidx_pod_info *info) {
  find_pod_arg *a = ud;
  if (strcmp(info->pod, a->pod) == 0)
    a->found = 1;
}

int ingestor_knows_pod(kvidx_ingestor *ing, const char *pod) {
  find_pod_arg a = {pod, 0};
  kvidx_ingestor_pods(ing, find_pod_cb, &a);
  return a.found;
}

void tpub_sync(tpub *p, kvidx_ingestor *ing) {
  /* Probes go to a pod of their own, unique per call, so that they do not
   * disturb the real seq state and so that only this publisher's own probe
   * (not another publisher's traffic) proves its connection is up. */
  static int calls;
  char probe_pod[64], probe[300];
  snprintf(probe_pod, sizeof probe_pod, "probe-%p-%d", (void *)p, ++calls);
  const char *at = strrchr(p->topic, '@');
  snprintf(probe, sizeof probe, "kv@%s@%s", probe_pod, at ? at + 1 : "probe");
  uint8_t b[256];
  size_t n = tb_cleared(b, sizeof b);
  for (int i = 0; i < 2500; i++) {
    uint8_t sq[8] = {0};
    sq[7] = (uint8_t)i;
    sq[6] = (uint8_t)(i >> 8);
    zmq_send(p->pub, probe, strlen(probe), ZMQ_SNDMORE);
    zmq_send(p->pub, sq, 8, ZMQ_SNDMORE);
    zmq_send(p->pub, b, n, 0);
    for (int t = 0; t < 2; t++) {
      if (ingestor_knows_pod(ing, probe_pod))
        return;
      nap_ms(2);
    }
  }
  FAILF("the ingestor never received a probe from %s", p->topic);
}

static int stat_cond(void *arg) {
  stat_arg *a = arg;
  kvidx_ingestor_stats s;
  kvidx_ingestor_get_stats(a->ing, &s);
  uint64_t v;
  memcpy(&v, (const char *)&s + a->offset, sizeof v);
  return v >= a->at_least;
}

int wait_stat(kvidx_ingestor *ing, size_t offset, uint64_t at_least, int ms) {
  stat_arg a = {ing, offset, at_least};
  return wait_for(stat_cond, &a, ms);
}

typedef struct {
  kvidx_index *idx;
  const char *model, *pod;
  const uint64_t *keys;
  size_t n;
  int want;
} prefix_arg;

static int prefix_cond(void *arg) {
  prefix_arg *a = arg;
  return prefix_len(a->idx, a->model, a->pod, a->keys, a->n) == a->want;
}

int wait_prefix(kvidx_index *idx, const char *model, const char *pod,
                const uint64_t *keys, size_t n, int want, int ms) {
  prefix_arg a = {idx, model, pod, keys, n, want};
  return wait_for(prefix_cond, &a, ms);
}

/* libzmq is not built with TSan: its lock-free queues between the caller's
 * and its I/O threads look like races to TSan (reported inside libzmq's own
 * memcpy). Suppress reports from that library only; kvidx's code stays
 * fully checked. Used by TSan builds alone. */
const char *__tsan_default_suppressions(void);
const char *__tsan_default_suppressions(void) {
  return "called_from_lib:libzmq.so\nrace:libzmq.so\n";
}

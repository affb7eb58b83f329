/*
 * fleet.c: a simulated vLLM pod that publishes KV events over ZeroMQ the way
 * vLLM's ZmqEventPublisher does (vllm/distributed/kv_events.py). Each
 * message has three frames: the topic ("kv@<pod>@<model>"), the sequence
 * number (8 bytes, big-endian, starting at 0) and one msgpack EventBatch
 * [ts, [events...], data_parallel_rank].
 *
 * The socket is an XPUB rather than a PUB. On the wire the two are the same;
 * the difference is that an XPUB also receives the subscriber's
 * subscription. Waiting for that message fixes ZeroMQ's "slow joiner"
 * problem: a PUB drops whatever it sends before the subscription has
 * arrived. A real vLLM pod has the same problem for the first milliseconds
 * after it connects, which is one reason kvidx supports replay.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "kv_events.h"

struct sim_pod {
  void *sock;
  char topic[256];
  uint64_t next_seq;
  kvidx_batch_writer *writer;
};

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Waits for the first subscription message ("\x01" + prefix). */
static int wait_subscription(void *sock, int timeout_ms) {
  zmq_pollitem_t item = {sock, 0, ZMQ_POLLIN, 0};
  if (zmq_poll(&item, 1, timeout_ms) <= 0)
    return -1;
  char buf[256];
  int n = zmq_recv(sock, buf, sizeof buf, 0);
  return n >= 1 && buf[0] == 1 ? 0 : -1;
}

sim_pod *sim_pod_connect(void *zmq_ctx, const char *endpoint, const char *pod,
                         const char *model, int timeout_ms) {
  sim_pod *p = calloc(1, sizeof *p);
  if (p == NULL)
    return NULL;
  snprintf(p->topic, sizeof p->topic, "kv@%s@%s", pod, model);
  int linger = 1000;
  p->sock = zmq_socket(zmq_ctx, ZMQ_XPUB);
  if (p->sock == NULL ||
      zmq_setsockopt(p->sock, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
      zmq_connect(p->sock, endpoint) != 0) {
    fprintf(stderr, "example_kv-events: %s: connect %s: %s\n", pod, endpoint,
            zmq_strerror(zmq_errno()));
    sim_pod_close(p);
    return NULL;
  }
  if (wait_subscription(p->sock, timeout_ms) != 0) {
    fprintf(stderr,
            "example_kv-events: %s: no subscriber at %s after %d ms "
            "(is kvidxd running with --zmq-bind there?)\n",
            pod, endpoint, timeout_ms);
    sim_pod_close(p);
    return NULL;
  }
  if (kvidx_batch_writer_new(KVIDX_LAYOUT_ARRAY, 0, &p->writer) != 0) {
    sim_pod_close(p);
    return NULL;
  }
  return p;
}

int64_t sim_pod_publish(sim_pod *p, const kvidx_event *ev) {
  const uint8_t *payload;
  size_t len;
  kvidx_batch_writer_begin(p->writer, now_seconds(), 0);
  if (kvidx_batch_writer_add(p->writer, ev) != 0 ||
      kvidx_batch_writer_finish(p->writer, &payload, &len) != 0)
    return -1;
  uint64_t seq = p->next_seq;
  uint8_t seq_be[8];
  for (int i = 0; i < 8; i++)
    seq_be[i] = (uint8_t)(seq >> (56 - 8 * i));
  if (zmq_send(p->sock, p->topic, strlen(p->topic), ZMQ_SNDMORE) < 0 ||
      zmq_send(p->sock, seq_be, sizeof seq_be, ZMQ_SNDMORE) < 0 ||
      zmq_send(p->sock, payload, len, 0) < 0) {
    fprintf(stderr, "example_kv-events: send: %s\n", zmq_strerror(zmq_errno()));
    return -1;
  }
  p->next_seq++;
  return (int64_t)seq;
}

void sim_pod_close(sim_pod *p) {
  if (p == NULL)
    return;
  if (p->sock != NULL)
    zmq_close(p->sock);
  kvidx_batch_writer_free(p->writer);
  free(p);
}

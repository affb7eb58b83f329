/*
 * kv_events.h: the two halves of the kv-events example. fleet.c plays a few
 * vLLM pods that publish KV events over ZeroMQ, byte for byte as vLLM's
 * ZmqEventPublisher does. client.c asks kvidxd over HTTP what it now
 * believes.
 */
#ifndef EXAMPLE_KV_EVENTS_H
#define EXAMPLE_KV_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "kvidx.h"

/* ---- fleet.c: simulated vLLM pods ---- */

typedef struct sim_pod sim_pod;

/* Opens the pod's PUB socket and connects it to kvidxd's bound SUB endpoint,
 * as vLLM does for an endpoint without "*". Waits (at most timeout_ms) until
 * kvidxd's subscription has arrived, so no event is published into the void.
 * Returns NULL and prints why on failure. */
sim_pod *sim_pod_connect(void *zmq_ctx, const char *endpoint, const char *pod,
                         const char *model, int timeout_ms);
/* Publishes one batch holding ev as [topic, seq, payload]; returns the seq
 * used (0, 1, 2, ... per pod), or -1 on failure. */
int64_t sim_pod_publish(sim_pod *p, const kvidx_event *ev);
void sim_pod_close(sim_pod *p);

/* ---- client.c: kvidxd's HTTP API ---- */

typedef struct kvidxd_client kvidxd_client;

kvidxd_client *kvidxd_client_new(const char *base_url);
void kvidxd_client_free(kvidxd_client *c);
/* POST /v1/score for text; score[i] receives pods[i]'s score (0 when kvidxd
 * omits the pod). Returns 0 or -1 (and prints why). */
int kvidxd_score(kvidxd_client *c, const char *model, const char *text,
                 const char *const *pods, size_t n_pods, double *score);
/* DELETE /v1/pods/{pod}: kvidxd drops everything the pod held. 404 (an
 * unknown pod) counts as success. Returns 0 or -1. */
int kvidxd_forget_pod(kvidxd_client *c, const char *pod);
/* Polls GET /v1/pods until kvidxd reports last_seq == seq for pod, i.e. it
 * has applied the batch the pod published with seq (equality, not >=, so a
 * stale last_seq left by an earlier run of the same pod names does not
 * count). Returns 0, or -1 after timeout_ms. */
int kvidxd_wait_applied(kvidxd_client *c, const char *pod, uint64_t seq,
                        int timeout_ms);

#endif

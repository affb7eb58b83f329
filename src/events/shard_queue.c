/*
 * shard_queue.c: the bounded FIFO between the ingestor's receiver thread and
 * one worker. A fixed ring of ingest_items allocated once: memory is bounded
 * by queue_capacity items (plus the zmq messages they own) whatever the input
 * rate; what happens when it is full is the caller's policy (block or drop).
 */
#include <stdlib.h>
#include <string.h>

#include "events/ingest_internal.h"

int kvidx__shard_queue_init(shard_queue *q, size_t cap) {
  memset(q, 0, sizeof *q);
  q->ring = calloc(cap, sizeof *q->ring);
  if (q->ring == NULL)
    return KVIDX_ENOMEM;
  q->cap = cap;
  pthread_mutex_init(&q->mu, NULL);
  pthread_cond_init(&q->not_empty, NULL);
  pthread_cond_init(&q->not_full, NULL);
  return 0;
}

void kvidx__shard_queue_destroy(shard_queue *q) {
  if (q->ring == NULL)
    return;
  /* Items left behind (stop without a worker) still own zmq messages. */
  while (q->count > 0) {
    ingest_item *it = &q->ring[q->head];
    zmq_msg_close(&it->topic);
    zmq_msg_close(&it->payload);
    q->head = (q->head + 1) % q->cap;
    q->count--;
  }
  free(q->ring);
  q->ring = NULL;
  pthread_mutex_destroy(&q->mu);
  pthread_cond_destroy(&q->not_empty);
  pthread_cond_destroy(&q->not_full);
}

int kvidx__shard_queue_push(shard_queue *q, ingest_item *item, int block) {
  pthread_mutex_lock(&q->mu);
  while (q->count == q->cap && !q->closed) {
    if (!block) {
      pthread_mutex_unlock(&q->mu);
      return KVIDX_EFULL;
    }
    pthread_cond_wait(&q->not_full, &q->mu);
  }
  if (q->closed) {
    pthread_mutex_unlock(&q->mu);
    return KVIDX_ESTATE;
  }
  ingest_item *slot = &q->ring[(q->head + q->count) % q->cap];
  *slot = *item;
  /* zmq_msg_t may not be copied bitwise in general: move properly. */
  zmq_msg_init(&slot->topic);
  zmq_msg_init(&slot->payload);
  zmq_msg_move(&slot->topic, &item->topic);
  zmq_msg_move(&slot->payload, &item->payload);
  q->count++;
  pthread_cond_signal(&q->not_empty);
  pthread_mutex_unlock(&q->mu);
  return 0;
}

int kvidx__shard_queue_pop(shard_queue *q, ingest_item *item) {
  pthread_mutex_lock(&q->mu);
  while (q->count == 0 && !q->closed)
    pthread_cond_wait(&q->not_empty, &q->mu);
  if (q->count == 0) {
    pthread_mutex_unlock(&q->mu);
    return KVIDX_ESTATE;
  }
  ingest_item *slot = &q->ring[q->head];
  *item = *slot;
  zmq_msg_init(&item->topic);
  zmq_msg_init(&item->payload);
  zmq_msg_move(&item->topic, &slot->topic);
  zmq_msg_move(&item->payload, &slot->payload);
  q->head = (q->head + 1) % q->cap;
  q->count--;
  pthread_cond_signal(&q->not_full);
  pthread_mutex_unlock(&q->mu);
  return 0;
}

void kvidx__shard_queue_close(shard_queue *q) {
  pthread_mutex_lock(&q->mu);
  q->closed = 1;
  pthread_cond_broadcast(&q->not_empty);
  pthread_cond_broadcast(&q->not_full);
  pthread_mutex_unlock(&q->mu);
}

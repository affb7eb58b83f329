/*
 * test_ingest.c: the ingestor over real ZeroMQ sockets on loopback — bind
 * mode and connect mode with several pods and every layout, gap -> replay ->
 * recovered, gap without replay -> pod cleared, engine restart -> pod
 * cleared, AllBlocksCleared, duplicates, dp ranks, malformed messages.
 */
#include <zmq.h>

#include "ingest_util.h"
#include "test.h"

#define WAIT_MS 5000

static uint8_t b[65536];

static void keys_for(uint64_t base, uint64_t *k, size_t n) {
  for (size_t i = 0; i < n; i++)
    k[i] = base * 1000003ULL + i * 0x9e3779b97f4a7c15ULL + 1;
}

static void ep(char *buf, size_t cap) {
  snprintf(buf, cap, "tcp://127.0.0.1:%d", kvidx_test_free_port());
}

/* Bind mode: four pods connect to the indexer, one per layout and hash form;
 * each ends up with exactly its own blocks; removes take them away. */
TEST(bind_mode_several_pods_every_layout) {
  tfix f;
  tfix_open(&f, 1, NULL);
  CHECK_OK(kvidx_ingestor_start(f.ing));
  tpub pubs[4];
  uint64_t keys[4][8];
  char topic[64], pod[16];
  for (int i = 0; i < 4; i++) {
    snprintf(topic, sizeof topic, "kv@pod-%d@llama", i);
    tpub_open(&pubs[i], f.bind_ep, 0, topic, NULL);
    tpub_sync(&pubs[i], f.ing);
    keys_for((uint64_t)i + 1, keys[i], 8);
    size_t n = tb_stored(b, sizeof b, (kvidx_event_layout)i, i % 2 ? 32 : 0,
                         keys[i], 8, i == 0 ? -1 : 0);
    tpub_send(&pubs[i], 0, b, n, 0);
  }
  for (int i = 0; i < 4; i++) {
    snprintf(pod, sizeof pod, "pod-%d", i);
    if (!wait_prefix(f.idx, "llama", pod, keys[i], 8, 8, WAIT_MS))
      FAILF("pod %d: prefix %d, want 8", i,
            prefix_len(f.idx, "llama", pod, keys[i], 8));
    /* another pod's keys are not this pod's */
    CHECK_EQ_INT(prefix_len(f.idx, "llama", pod, keys[(i + 1) % 4], 8), 0);
  }
  /* remove the last 3 blocks of pod-2: its prefix shrinks to 5 */
  size_t n = tb_removed(b, sizeof b, KVIDX_LAYOUT_MAP, keys[2] + 5, 3, 0);
  tpub_send(&pubs[2], 1, b, n, 0);
  CHECK(wait_prefix(f.idx, "llama", "pod-2", keys[2], 8, 5, WAIT_MS));
  kvidx_ingestor_stats s;
  kvidx_ingestor_get_stats(f.ing, &s);
  CHECK_EQ_U64(s.gaps, 0);
  CHECK_EQ_U64(s.bad_messages, 0);
  for (int i = 0; i < 4; i++)
    tpub_close(&pubs[i]);
  tfix_close(&f);
}

/* Connect mode: pods bind their PUB; one has vLLM's default empty topic and
 * a configured identity; pods are added and removed at run time while a
 * bind-mode pod keeps publishing too. */
TEST(connect_mode_add_remove_at_run_time_with_bind) {
  tfix f;
  tfix_open(&f, 1, NULL);
  CHECK_OK(kvidx_ingestor_start(f.ing));
  char e1[64], e2[64];
  ep(e1, sizeof e1);
  ep(e2, sizeof e2);
  tpub p1, p2, pb;
  tpub_open(&p1, e1, 1, "", NULL); /* vLLM default topic */
  tpub_open(&p2, e2, 1, "kv@pod-b@llama", NULL);
  tpub_open(&pb, f.bind_ep, 0, "kv@pod-c@llama", NULL);
  kvidx_pod_endpoint pa = {e1, "pod-a", "llama", NULL};
  kvidx_pod_endpoint pbe = {e2, NULL, NULL, NULL};
  CHECK_OK(kvidx_ingestor_add_pod(f.ing, &pa));
  CHECK_OK(kvidx_ingestor_add_pod(f.ing, &pbe));
  CHECK_EQ_INT(kvidx_ingestor_add_pod(f.ing, &pa), KVIDX_EEXIST);
  kvidx_pod_endpoint bad = {"nonsense://x", "pod-z", NULL, NULL};
  CHECK(kvidx_ingestor_add_pod(f.ing, &bad) != 0);
  tpub_sync(&p1, f.ing);
  tpub_sync(&p2, f.ing);
  tpub_sync(&pb, f.ing);
  uint64_t ka[4], kb[4], kc[4];
  keys_for(11, ka, 4);
  keys_for(12, kb, 4);
  keys_for(13, kc, 4);
  tpub_send(&p1, 0, b,
            tb_stored(b, sizeof b, KVIDX_LAYOUT_ARRAY_V0, 0, ka, 4, -1), 0);
  tpub_send(&p2, 0, b,
            tb_stored(b, sizeof b, KVIDX_LAYOUT_MAP_BATCH, 16, kb, 4, 0), 0);
  tpub_send(&pb, 0, b, tb_stored(b, sizeof b, KVIDX_LAYOUT_ARRAY, 0, kc, 4, 0),
            0);
  CHECK(wait_prefix(f.idx, "llama", "pod-a", ka, 4, 4, WAIT_MS));
  CHECK(wait_prefix(f.idx, "llama", "pod-b", kb, 4, 4, WAIT_MS));
  CHECK(wait_prefix(f.idx, "llama", "pod-c", kc, 4, 4, WAIT_MS));
  /* removing pod-a forgets its blocks and stops listening to it */
  CHECK_OK(kvidx_ingestor_remove_pod(f.ing, "pod-a"));
  CHECK_EQ_INT(kvidx_ingestor_remove_pod(f.ing, "pod-a"), KVIDX_ENOTFOUND);
  CHECK(wait_prefix(f.idx, "llama", "pod-a", ka, 4, 0, WAIT_MS));
  /* pod-b (identity from its topic) is removed by endpoint */
  CHECK_OK(kvidx_ingestor_remove_pod(f.ing, e2));
  /* the bind-mode pod is unaffected */
  CHECK_EQ_INT(prefix_len(f.idx, "llama", "pod-c", kc, 4), 4);
  /* add pod-a back: it is ingested again */
  CHECK_OK(kvidx_ingestor_add_pod(f.ing, &pa));
  tpub_sync(&p1, f.ing);
  tpub_send(&p1, 1, b, tb_stored(b, sizeof b, KVIDX_LAYOUT_ARRAY, 0, ka, 2, -1),
            0);
  CHECK(wait_prefix(f.idx, "llama", "pod-a", ka, 4, 2, WAIT_MS));
  tpub_close(&p1);
  tpub_close(&p2);
  tpub_close(&pb);
  tfix_close(&f);
}

static int one_duplicate(void *arg) {
  kvidx_ingestor_stats s;
  kvidx_ingestor_get_stats(arg, &s);
  return s.duplicates >= 1;
}

/* Batches 3..5 are lost; batch 6 reveals the gap; replay from 3 repairs the
 * state; the live copies that arrive afterwards are duplicates. Both replay
 * reply layouts. */
static void gap_replay(int frames) {
  char rep[64];
  ep(rep, sizeof rep);
  kvidx_ingestor_opts o;
  kvidx_ingestor_opts_init(&o);
  o.replay_template = rep; /* no {pod}: the same endpoint for every pod */
  tfix f;
  tfix_open(&f, 1, &o);
  CHECK_OK(kvidx_ingestor_start(f.ing));
  tpub p;
  tpub_open(&p, f.bind_ep, 0, "kv@pod-r@llama", rep);
  p.replay_frames = frames;
  tpub_sync(&p, f.ing);
  kvidx_ingestor_stats s0;
  kvidx_ingestor_get_stats(f.ing, &s0);
  uint64_t k[10];
  keys_for(21, k, 10);
  for (uint64_t s = 0; s < 10; s++) {
    size_t n = tb_stored(b, sizeof b, KVIDX_LAYOUT_ARRAY, 0, k + s, 1, 0);
    tpub_send(&p, s, b, n, s >= 3 && s <= 5);
  }
  CHECK(wait_prefix(f.idx, "llama", "pod-r", k, 10, 10, WAIT_MS));
  CHECK(WAIT_STAT(f.ing, replays_ok, 1, WAIT_MS));
  kvidx_ingestor_stats s;
  kvidx_ingestor_get_stats(f.ing, &s);
  CHECK_EQ_U64(s.gaps, 1);
  CHECK_EQ_U64(s.replays_ok, 1);
  CHECK_EQ_U64(s.replays_failed, 0);
  CHECK_EQ_U64(s.pods_cleared, 0);
  /* The replay returned 3..6 at least (up to 9, depending on how far the
   * publisher had got): live copies of replayed batches are duplicates.
   * Whatever the interleaving, each block is applied exactly once. */
  CHECK(wait_messages(f.ing, s0.messages + 7, WAIT_MS));
  CHECK(wait_for(one_duplicate, f.ing, WAIT_MS));
  kvidx_applier_stats as;
  kvidx_applier_get_stats(f.applier, &as);
  CHECK_EQ_U64(as.blocks_added, 10);
  kvidx_ingestor_get_stats(f.ing, &s);
  CHECK(s.duplicates >= 1 && s.duplicates <= 4);
  tpub_close(&p);
  tfix_close(&f);
}

TEST(gap_replay_recovers_3_frame_replies) {
  gap_replay(3);
}

TEST(gap_replay_recovers_4_frame_replies) {
  gap_replay(4);
}

static int cleared_once(void *arg) {
  kvidx_ingestor_stats s;
  kvidx_ingestor_get_stats(arg, &s);
  return s.pods_cleared >= 1;
}

/* No replay endpoint: the gap clears the pod (its old blocks may be gone);
 * blocks stored after the gap are kept. Another pod is untouched. */
TEST(gap_without_replay_clears_pod) {
  tfix f;
  tfix_open(&f, 1, NULL);
  CHECK_OK(kvidx_ingestor_start(f.ing));
  tpub p, q;
  tpub_open(&p, f.bind_ep, 0, "kv@pod-g@llama", NULL);
  tpub_open(&q, f.bind_ep, 0, "kv@pod-h@llama", NULL);
  tpub_sync(&p, f.ing);
  tpub_sync(&q, f.ing);
  uint64_t k[4], other[2];
  keys_for(31, k, 4);
  keys_for(32, other, 2);
  tpub_send(&q, 0, b,
            tb_stored(b, sizeof b, KVIDX_LAYOUT_ARRAY, 0, other, 2, 0), 0);
  tpub_send(&p, 0, b, tb_stored(b, sizeof b, KVIDX_LAYOUT_ARRAY, 0, k, 2, 0),
            0);
  CHECK(wait_prefix(f.idx, "llama", "pod-g", k, 4, 2, WAIT_MS));
  tpub_send(&p, 5, b,
            tb_stored(b, sizeof b, KVIDX_LAYOUT_ARRAY, 0, k + 2, 2, 0), 0);
  CHECK(wait_for(cleared_once, f.ing, WAIT_MS));
  /* k[0..1] were cleared; k[2..3] (after the gap) are held */
  CHECK(wait_prefix(f.idx, "llama", "pod-g", k + 2, 2, 2, WAIT_MS));
  CHECK_EQ_INT(prefix_len(f.idx, "llama", "pod-g", k, 2), 0);
  CHECK_EQ_INT(prefix_len(f.idx, "llama", "pod-h", other, 2), 2);
  kvidx_ingestor_stats s;
  kvidx_ingestor_get_stats(f.ing, &s);
  CHECK_EQ_U64(s.gaps, 1);
  CHECK_EQ_U64(s.replays_ok, 0);
  tpub_close(&p);
  tpub_close(&q);
  tfix_close(&f);
}

/* The replay buffer no longer holds the first missing batch: the pod is
 * cleared and the failed replay counted. */
TEST(gap_replay_too_short_clears_pod) {
  char rep[64];
  ep(rep, sizeof rep);
  kvidx_ingestor_opts o;
  kvidx_ingestor_opts_init(&o);
  o.replay_template = rep;
  tfix f;
  tfix_open(&f, 1, &o);
  CHECK_OK(kvidx_ingestor_start(f.ing));
  tpub p;
  tpub_open(&p, f.bind_ep, 0, "kv@pod-s@llama", rep);
  p.replay_drop_before = 4; /* batches 1..3 fell out of the buffer */
  tpub_sync(&p, f.ing);
  uint64_t k[6];
  keys_for(41, k, 6);
  for (uint64_t s = 0; s < 6; s++)
    tpub_send(&p, s, b,
              tb_stored(b, sizeof b, KVIDX_LAYOUT_ARRAY, 0, k + s, 1, 0),
              s >= 1 && s <= 4);
  CHECK(wait_for(cleared_once, f.ing, WAIT_MS));
  CHECK(WAIT_STAT(f.ing, replays_failed, 1, WAIT_MS));
  kvidx_ingestor_stats s;
  kvidx_ingestor_get_stats(f.ing, &s);
  CHECK_EQ_U64(s.replays_failed, 1);
  CHECK_EQ_U64(s.replays_ok, 0);
  CHECK(wait_prefix(f.idx, "llama", "pod-s", k + 5, 1, 1, WAIT_MS));
  CHECK_EQ_INT(prefix_len(f.idx, "llama", "pod-s", k, 1), 0);
  tpub_close(&p);
  tfix_close(&f);
}

static int restarted(void *arg) {
  kvidx_ingestor_stats s;
  kvidx_ingestor_get_stats(arg, &s);
  return s.restarts >= 1;
}

/* seq back to 0: the engine restarted; old blocks are cleared, new kept. */
TEST(restart_clears_pod) {
  tfix f;
  tfix_open(&f, 1, NULL);
  CHECK_OK(kvidx_ingestor_start(f.ing));
  tpub p;
  tpub_open(&p, f.bind_ep, 0, "kv@pod-x@llama", NULL);
  tpub_sync(&p, f.ing);
  uint64_t k[8];
  keys_for(51, k, 8);
  for (uint64_t s = 0; s < 4; s++)
    tpub_send(&p, s, b,
              tb_stored(b, sizeof b, KVIDX_LAYOUT_ARRAY, 0, k + s, 1, 0), 0);
  CHECK(wait_prefix(f.idx, "llama", "pod-x", k, 4, 4, WAIT_MS));
  tpub_send(&p, 0, b,
            tb_stored(b, sizeof b, KVIDX_LAYOUT_ARRAY, 0, k + 4, 2, 0), 0);
  CHECK(wait_for(restarted, f.ing, WAIT_MS));
  CHECK(wait_prefix(f.idx, "llama", "pod-x", k + 4, 2, 2, WAIT_MS));
  CHECK_EQ_INT(prefix_len(f.idx, "llama", "pod-x", k, 4), 0);
  tpub_send(&p, 1, b,
            tb_stored(b, sizeof b, KVIDX_LAYOUT_ARRAY, 0, k + 6, 2, 0), 0);
  CHECK(wait_prefix(f.idx, "llama", "pod-x", k + 4, 4, 4, WAIT_MS));
  kvidx_ingestor_stats s;
  kvidx_ingestor_get_stats(f.ing, &s);
  CHECK_EQ_U64(s.restarts, 1);
  CHECK_EQ_U64(s.gaps, 0);
  tpub_close(&p);
  tfix_close(&f);
}

TEST(all_blocks_cleared_clears_pod) {
  tfix f;
  tfix_open(&f, 1, NULL);
  CHECK_OK(kvidx_ingestor_start(f.ing));
  tpub p;
  tpub_open(&p, f.bind_ep, 0, "kv@pod-c@llama", NULL);
  tpub_sync(&p, f.ing);
  uint64_t k[3];
  keys_for(61, k, 3);
  tpub_send(&p, 0, b, tb_stored(b, sizeof b, KVIDX_LAYOUT_MAP, 0, k, 3, 0), 0);
  CHECK(wait_prefix(f.idx, "llama", "pod-c", k, 3, 3, WAIT_MS));
  tpub_send(&p, 1, b, tb_cleared(b, sizeof b), 0);
  CHECK(wait_prefix(f.idx, "llama", "pod-c", k, 3, 0, WAIT_MS));
  kvidx_applier_stats as;
  kvidx_applier_get_stats(f.applier, &as);
  CHECK(as.events_cleared >= 1);
  tpub_close(&p);
  tfix_close(&f);
}

/* Two dp ranks of one pod number their batches independently: no gap. */
TEST(dp_ranks_have_their_own_seq) {
  tfix f;
  tfix_open(&f, 1, NULL);
  CHECK_OK(kvidx_ingestor_start(f.ing));
  tpub p;
  tpub_open(&p, f.bind_ep, 0, "kv@pod-d@llama", NULL);
  tpub_sync(&p, f.ing);
  uint64_t k[8];
  keys_for(71, k, 8);
  for (uint64_t s = 0; s < 4; s++) {
    tpub_send(&p, s, b,
              tb_stored(b, sizeof b, KVIDX_LAYOUT_ARRAY, 0, k + s, 1, 0), 0);
    tpub_send(&p, s, b,
              tb_stored(b, sizeof b, KVIDX_LAYOUT_ARRAY, 0, k + 4 + s, 1, 1),
              0);
  }
  CHECK(wait_prefix(f.idx, "llama", "pod-d", k, 8, 8, WAIT_MS));
  kvidx_ingestor_stats s;
  kvidx_ingestor_get_stats(f.ing, &s);
  CHECK_EQ_U64(s.gaps, 0);
  CHECK_EQ_U64(s.restarts, 0);
  int seen = 0;
  (void)seen;
  tpub_close(&p);
  tfix_close(&f);
}

static int bad_count(void *arg) {
  kvidx_ingestor_stats s;
  kvidx_ingestor_get_stats(arg, &s);
  return s.bad_messages >= 6;
}

/* Malformed messages are dropped and counted; the good pod's data is intact
 * and later good batches still apply. */
TEST(malformed_messages_dropped_and_counted) {
  kvidx_ingestor_opts o;
  kvidx_ingestor_opts_init(&o);
  o.max_msg_size = 4096;
  tfix f;
  tfix_open(&f, 1, &o);
  CHECK_OK(kvidx_ingestor_start(f.ing));
  tpub p;
  tpub_open(&p, f.bind_ep, 0, "kv@pod-m@llama", NULL);
  tpub_sync(&p, f.ing);
  uint64_t k[4];
  keys_for(81, k, 4);
  tpub_send(&p, 0, b, tb_stored(b, sizeof b, KVIDX_LAYOUT_ARRAY, 0, k, 2, 0),
            0);
  CHECK(wait_prefix(f.idx, "llama", "pod-m", k, 4, 2, WAIT_MS));
  uint8_t seq7[7] = {0}, seq8[8] = {0};
  const void *f2[] = {"kv@pod-m@llama", seq8};
  size_t l2[] = {14, 8};
  tpub_send_raw(&p, f2, l2, 2); /* 2 frames */
  const void *f4[] = {"kv@pod-m@llama", seq8, "x", "y"};
  size_t l4[] = {14, 8, 1, 1};
  tpub_send_raw(&p, f4, l4, 4); /* 4 frames */
  const void *f3a[] = {"kv@pod-m@llama", seq7, b};
  size_t l3a[] = {14, 7, 3};
  tpub_send_raw(&p, f3a, l3a, 3); /* 7-byte seq */
  const void *f3b[] = {"kv@nopod", seq8, b};
  size_t l3b[] = {8, 8, 3};
  tpub_send_raw(&p, f3b, l3b, 3); /* topic with one '@' */
  const void *f3c[] = {"kv@p\xff\xfe@m", seq8, b};
  size_t l3c[] = {8, 8, 3};
  tpub_send_raw(&p, f3c, l3c, 3); /* not UTF-8 */
  static uint8_t big[6000];
  const void *f3e[] = {"kv@pod-m@llama", seq8, big};
  size_t l3e[] = {14, 8, sizeof big};
  tpub_send_raw(&p, f3e, l3e, 3); /* larger than max_msg_size */
  CHECK(wait_for(bad_count, f.ing, WAIT_MS));
  /* a well-framed batch with a garbage payload: a decode error */
  seq8[7] = 1;
  const void *f3d[] = {"kv@pod-m@llama", seq8, "\xdd\xff\xff\xff\xff"};
  size_t l3d[] = {14, 8, 5};
  tpub_send_raw(&p, f3d, l3d, 3);
  tpub_send(&p, 2, b,
            tb_stored(b, sizeof b, KVIDX_LAYOUT_ARRAY, 0, k + 2, 2, 0), 0);
  CHECK(wait_prefix(f.idx, "llama", "pod-m", k, 4, 4, WAIT_MS));
  kvidx_ingestor_stats s;
  kvidx_ingestor_get_stats(f.ing, &s);
  CHECK_EQ_U64(s.bad_messages, 6);
  CHECK_EQ_U64(s.gaps, 0);
  kvidx_applier_stats as;
  kvidx_applier_get_stats(f.applier, &as);
  CHECK_EQ_U64(as.decode_errors, 1);
  tpub_close(&p);
  tfix_close(&f);
}

typedef struct {
  int n;
  int saw_live;
} pods_seen;

static void pod_cb(void *ud, const kvidx_pod_info *info) {
  pods_seen *s = ud;
  if (strcmp(info->pod, "pod-i") == 0) {
    s->n++;
    s->saw_live = strcmp(info->state, "live") == 0 && info->last_seq == 2 &&
                  strcmp(info->model, "llama") == 0 && info->dp_rank == 0;
  }
}

TEST(pod_listing_and_bind_errors) {
  tfix f;
  tfix_open(&f, 1, NULL);
  CHECK_OK(kvidx_ingestor_start(f.ing));
  CHECK_EQ_INT(kvidx_ingestor_start(f.ing), KVIDX_ESTATE);
  tpub p;
  tpub_open(&p, f.bind_ep, 0, "kv@pod-i@llama", NULL);
  tpub_sync(&p, f.ing);
  uint64_t k[3];
  keys_for(91, k, 3);
  for (uint64_t s = 0; s < 3; s++)
    tpub_send(&p, s, b,
              tb_stored(b, sizeof b, KVIDX_LAYOUT_ARRAY, 0, k + s, 1, 0), 0);
  CHECK(wait_prefix(f.idx, "llama", "pod-i", k, 3, 3, WAIT_MS));
  pods_seen seen = {0, 0};
  kvidx_ingestor_pods(f.ing, pod_cb, &seen);
  CHECK_EQ_INT(seen.n, 1);
  CHECK(seen.saw_live);
  /* a second ingestor cannot bind the same endpoint */
  kvidx_ingestor_opts o;
  kvidx_ingestor_opts_init(&o);
  o.bind_endpoint = f.bind_ep;
  kvidx_ingestor *other;
  CHECK_OK(kvidx_ingestor_new(&o, f.applier, &other));
  CHECK(kvidx_ingestor_start(other) != 0);
  kvidx_ingestor_free(other);
  tpub_close(&p);
  kvidx_ingestor_stop(f.ing);
  kvidx_ingestor_stop(f.ing); /* idempotent */
  tfix_close(&f);
}

static int dropped_some(void *arg) {
  kvidx_ingestor_stats s;
  kvidx_ingestor_get_stats(arg, &s);
  return s.queue_drops >= 5;
}

static int cleared_twice(void *arg) {
  kvidx_ingestor_stats s;
  kvidx_ingestor_get_stats(arg, &s);
  return s.pods_cleared >= 2;
}

/* DROP_RESYNC: a worker stuck in a replay (a ROUTER that never answers)
 * fills its one-slot queue; later batches are dropped and counted, and the
 * pod's next batch shows the gap, which (replay failing again) clears the
 * pod: the index never keeps blocks whose removal may have been dropped. */
TEST(queue_drop_policy_resyncs_pod) {
  char rep[64];
  ep(rep, sizeof rep);
  void *zctx = zmq_ctx_new();
  void *mute = zmq_socket(zctx, ZMQ_ROUTER); /* never answers */
  int zero = 0;
  zmq_setsockopt(mute, ZMQ_LINGER, &zero, sizeof zero);
  CHECK(zmq_bind(mute, rep) == 0);
  kvidx_ingestor_opts o;
  kvidx_ingestor_opts_init(&o);
  o.n_workers = 1;
  o.queue_capacity = 1;
  o.queue_policy = KVIDX_QUEUE_DROP_RESYNC;
  o.replay_template = rep;
  o.replay_timeout_ms = 500;
  tfix f;
  tfix_open(&f, 1, &o);
  CHECK_OK(kvidx_ingestor_start(f.ing));
  tpub p;
  tpub_open(&p, f.bind_ep, 0, "kv@pod-q@llama", NULL);
  tpub_sync(&p, f.ing);
  uint64_t k[20];
  keys_for(101, k, 20);
  tpub_send(&p, 0, b, tb_stored(b, sizeof b, KVIDX_LAYOUT_ARRAY, 0, k, 1, 0),
            0);
  CHECK(wait_prefix(f.idx, "llama", "pod-q", k, 1, 1, WAIT_MS));
  /* seq 2 after 0: a gap; the worker waits for the mute replay */
  for (uint64_t s = 2; s < 12; s++)
    tpub_send(&p, s, b,
              tb_stored(b, sizeof b, KVIDX_LAYOUT_ARRAY, 0, k + s, 1, 0), 0);
  CHECK(wait_for(dropped_some, f.ing, WAIT_MS));
  CHECK(wait_for(cleared_once, f.ing, WAIT_MS));
  /* the next batch reveals the drops: replay fails again, pod cleared */
  tpub_send(&p, 15, b,
            tb_stored(b, sizeof b, KVIDX_LAYOUT_ARRAY, 0, k + 15, 1, 0), 0);
  CHECK(wait_for(cleared_twice, f.ing, WAIT_MS));
  CHECK(wait_prefix(f.idx, "llama", "pod-q", k + 15, 1, 1, WAIT_MS));
  CHECK_EQ_INT(prefix_len(f.idx, "llama", "pod-q", k, 1), 0);
  kvidx_ingestor_stats s;
  kvidx_ingestor_get_stats(f.ing, &s);
  CHECK(s.gaps >= 2);
  CHECK(s.replays_failed >= 2);
  tpub_close(&p);
  tfix_close(&f);
  zmq_close(mute);
  zmq_ctx_term(zctx);
}

TEST_MAIN(TEST_CASE(bind_mode_several_pods_every_layout),
          TEST_CASE(queue_drop_policy_resyncs_pod),
          TEST_CASE(connect_mode_add_remove_at_run_time_with_bind),
          TEST_CASE(gap_replay_recovers_3_frame_replies),
          TEST_CASE(gap_replay_recovers_4_frame_replies),
          TEST_CASE(gap_without_replay_clears_pod),
          TEST_CASE(gap_replay_too_short_clears_pod),
          TEST_CASE(restart_clears_pod),
          TEST_CASE(all_blocks_cleared_clears_pod),
          TEST_CASE(dp_ranks_have_their_own_seq),
          TEST_CASE(malformed_messages_dropped_and_counted),
          TEST_CASE(pod_listing_and_bind_errors))

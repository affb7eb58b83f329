/*
 * test_applier.c: kvidx_applier on a real in-memory index — engine hashes as
 * keys, copy counts, tiers from medium and CPU-offload events, kvidx's own
 * keys chained from the parent when the engine hashes differently, hybrid
 * models' groups, AllBlocksCleared, malformed batches, and the bounded shard
 * queue of the ingestor.
 */
#include "events/ingest_internal.h"
#include "ingest_util.h"
#include "test.h"

typedef struct {
  kvidx_index *idx;
  kvidx_hasher *hasher;
  kvidx_applier *a;
} afix;

static void afix_open(afix *f, int match) {
  kvidx_index_opts io;
  kvidx_index_opts_init(&io);
  CHECK_OK(kvidx_index_new_memory(&io, &f->idx));
  kvidx_hasher_opts ho;
  kvidx_hasher_opts_init(&ho);
  ho.seed = "0";
  CHECK_OK(kvidx_hasher_new(&ho, &f->hasher));
  kvidx_applier_opts ao;
  kvidx_applier_opts_init(&ao);
  ao.index = f->idx;
  ao.hasher = f->hasher;
  ao.engine_hashes_match = match;
  CHECK_OK(kvidx_applier_new(&ao, &f->a));
}

static void afix_close(afix *f) {
  kvidx_applier_free(f->a);
  kvidx_hasher_free(f->hasher);
  kvidx_index_free(f->idx);
}

/* One batch with one event built from ev. */
static void apply_event(afix *f, const char *pod, const kvidx_event *ev) {
  kvidx_batch_writer *w;
  CHECK_OK(kvidx_batch_writer_new(KVIDX_LAYOUT_ARRAY, 0, &w));
  kvidx_batch_writer_begin(w, 1.0, 0);
  CHECK_OK(kvidx_batch_writer_add(w, ev));
  const uint8_t *p;
  size_t n;
  CHECK_OK(kvidx_batch_writer_finish(w, &p, &n));
  CHECK_OK(kvidx_applier_apply_batch(f->a, pod, "m", p, n));
  kvidx_batch_writer_free(w);
}

static kvidx_event mk(kvidx_event_type t, const uint64_t *h, size_t n) {
  kvidx_event ev;
  memset(&ev, 0, sizeof ev);
  ev.type = t;
  ev.block_hashes = h;
  ev.n_block_hashes = n;
  ev.group_idx = -1;
  ev.block_size = 16;
  return ev;
}

typedef struct {
  uint32_t pod;
  uint8_t tiers;
} tier_probe;

static int tier_cb(void *ud, size_t i, const kvidx_holder *h, size_t n) {
  tier_probe *t = ud;
  (void)i;
  for (size_t k = 0; k < n; k++)
    if (h[k].pod == t->pod)
      t->tiers = h[k].tiers;
  return 0;
}

static uint8_t tiers_of(afix *f, const char *pod, uint64_t key) {
  uint32_t m, p;
  if (kvidx_index_find_model(f->idx, "m", &m) != 0 ||
      kvidx_index_find_pod(f->idx, pod, &p) != 0)
    return 0;
  tier_probe t = {p, 0};
  kvidx_index_lookup(f->idx, m, &key, 1, &p, 1, tier_cb, &t);
  return t.tiers;
}

TEST(engine_keys_copies_and_tiers) {
  afix f;
  afix_open(&f, 1);
  uint64_t h[3] = {1, 2, 0xffffffffffffffffULL};
  kvidx_event ev = mk(KVIDX_EVENT_BLOCK_STORED, h, 3);
  apply_event(&f, "p", &ev);
  apply_event(&f, "p", &ev); /* a second physical copy of the same hashes */
  CHECK_EQ_INT(prefix_len(f.idx, "m", "p", h, 3), 3);
  /* one remove leaves the other copy */
  kvidx_event rm = mk(KVIDX_EVENT_BLOCK_REMOVED, h + 2, 1);
  apply_event(&f, "p", &rm);
  CHECK_EQ_INT(prefix_len(f.idx, "m", "p", h, 3), 3);
  apply_event(&f, "p", &rm);
  CHECK_EQ_INT(prefix_len(f.idx, "m", "p", h, 3), 2);
  /* CPU offload (no token_ids) adds a tier to a known block */
  kvidx_event cpu = mk(KVIDX_EVENT_BLOCK_STORED, h, 1);
  cpu.tier = KVIDX_TIER_CPU;
  cpu.block_size = 0;
  apply_event(&f, "p", &cpu);
  CHECK_EQ_INT(tiers_of(&f, "p", 1),
               (1 << KVIDX_TIER_GPU) | (1 << KVIDX_TIER_CPU));
  CHECK_EQ_INT(tiers_of(&f, "p", 2), 1 << KVIDX_TIER_GPU);
  /* removing the GPU copies leaves the CPU tier */
  kvidx_event rg = mk(KVIDX_EVENT_BLOCK_REMOVED, h, 1);
  apply_event(&f, "p", &rg);
  apply_event(&f, "p", &rg);
  CHECK_EQ_INT(tiers_of(&f, "p", 1), 1 << KVIDX_TIER_CPU);
  /* another pod is separate */
  CHECK_EQ_INT(prefix_len(f.idx, "m", "q", h, 3), 0);
  kvidx_applier_stats s;
  kvidx_applier_get_stats(f.a, &s);
  CHECK_EQ_U64(s.batches, 7);
  CHECK_EQ_U64(s.events_stored, 3);
  CHECK_EQ_U64(s.events_removed, 4);
  CHECK_EQ_U64(s.blocks_added, 7);
  CHECK_EQ_U64(s.blocks_removed, 4);
  afix_close(&f);
}

TEST(all_blocks_cleared_and_clear_pod) {
  afix f;
  afix_open(&f, 1);
  uint64_t h[2] = {10, 11};
  kvidx_event ev = mk(KVIDX_EVENT_BLOCK_STORED, h, 2);
  apply_event(&f, "p", &ev);
  apply_event(&f, "q", &ev);
  kvidx_event c = mk(KVIDX_EVENT_ALL_BLOCKS_CLEARED, NULL, 0);
  apply_event(&f, "p", &c);
  CHECK_EQ_INT(prefix_len(f.idx, "m", "p", h, 2), 0);
  CHECK_EQ_INT(prefix_len(f.idx, "m", "q", h, 2), 2);
  CHECK_OK(kvidx_applier_clear_pod(f.a, "q"));
  CHECK_EQ_INT(prefix_len(f.idx, "m", "q", h, 2), 0);
  CHECK_EQ_INT(kvidx_applier_clear_pod(f.a, "never-seen"), KVIDX_ENOTFOUND);
  afix_close(&f);
}

/* Engine hashes differ from kvidx's: keys come from token_ids, chained from
 * the parent's digest; removes and offload events translate through the map. */
TEST(own_keys_chained_from_parent) {
  afix f;
  afix_open(&f, 0);
  uint32_t tok[48];
  for (uint32_t i = 0; i < 48; i++)
    tok[i] = i + 1;
  uint64_t want[3];
  CHECK_EQ_INT(
      kvidx_hash_blocks(f.hasher, NULL, 0, tok, 48, NULL, NULL, want, 3), 3);
  uint64_t eng[3] = {0xe1, 0xe2, 0xe3}; /* the engine's (unreproducible) */
  kvidx_event ev = mk(KVIDX_EVENT_BLOCK_STORED, eng, 2);
  ev.token_ids = tok;
  ev.n_token_ids = 32;
  apply_event(&f, "p", &ev);
  CHECK_EQ_INT(prefix_len(f.idx, "m", "p", want, 3), 2);
  /* the third block arrives alone, with the engine's parent hash */
  kvidx_event ev3 = mk(KVIDX_EVENT_BLOCK_STORED, eng + 2, 1);
  ev3.has_parent = 1;
  ev3.parent_block_hash = 0xe2;
  ev3.token_ids = tok + 32;
  ev3.n_token_ids = 16;
  apply_event(&f, "p", &ev3);
  CHECK_EQ_INT(prefix_len(f.idx, "m", "p", want, 3), 3);
  uint64_t rk;
  uint32_t m;
  CHECK_OK(kvidx_index_find_model(f.idx, "m", &m));
  CHECK_OK(kvidx_index_resolve_engine_key(f.idx, m, 0xe3, &rk));
  CHECK_EQ_U64(rk, want[2]);
  /* an unknown parent cannot be chained: skipped and counted */
  uint64_t e4 = 0xe4;
  kvidx_event orphan = mk(KVIDX_EVENT_BLOCK_STORED, &e4, 1);
  orphan.has_parent = 1;
  orphan.parent_block_hash = 0x999;
  orphan.token_ids = tok;
  orphan.n_token_ids = 16;
  apply_event(&f, "p", &orphan);
  /* a token count that is not blocks x block size is an apply error */
  kvidx_event bad = mk(KVIDX_EVENT_BLOCK_STORED, &e4, 1);
  bad.token_ids = tok;
  bad.n_token_ids = 15;
  apply_event(&f, "p", &bad);
  /* CPU offload of the first block, by engine hash */
  kvidx_event cpu = mk(KVIDX_EVENT_BLOCK_STORED, eng, 1);
  cpu.tier = KVIDX_TIER_CPU;
  apply_event(&f, "p", &cpu);
  CHECK_EQ_INT(tiers_of(&f, "p", want[0]),
               (1 << KVIDX_TIER_GPU) | (1 << KVIDX_TIER_CPU));
  /* remove by engine hash */
  kvidx_event rm = mk(KVIDX_EVENT_BLOCK_REMOVED, eng + 1, 1);
  apply_event(&f, "p", &rm);
  CHECK_EQ_INT(prefix_len(f.idx, "m", "p", want, 3), 1);
  kvidx_applier_stats s;
  kvidx_applier_get_stats(f.a, &s);
  CHECK_EQ_U64(s.unresolved_parents, 1);
  CHECK_EQ_U64(s.apply_errors, 1);
  afix_close(&f);
}

/* With a LoRA adapter, kvidx's keys include the adapter name. */
TEST(own_keys_with_lora_name) {
  afix f;
  afix_open(&f, 0);
  uint32_t tok[16];
  for (uint32_t i = 0; i < 16; i++)
    tok[i] = i + 1;
  uint64_t plain, lora;
  kvidx_hash_extra ex;
  memset(&ex, 0, sizeof ex);
  ex.lora_name = "my-lora";
  CHECK_EQ_INT(
      kvidx_hash_blocks(f.hasher, NULL, 0, tok, 16, NULL, NULL, &plain, 1), 1);
  CHECK_EQ_INT(
      kvidx_hash_blocks(f.hasher, NULL, 0, tok, 16, &ex, NULL, &lora, 1), 1);
  CHECK(plain != lora);
  uint64_t e = 0x77;
  kvidx_event ev = mk(KVIDX_EVENT_BLOCK_STORED, &e, 1);
  ev.token_ids = tok;
  ev.n_token_ids = 16;
  ev.lora_name = "my-lora";
  ev.lora_name_len = 7;
  apply_event(&f, "p", &ev);
  CHECK_EQ_INT(prefix_len(f.idx, "m", "p", &lora, 1), 1);
  CHECK_EQ_INT(prefix_len(f.idx, "m", "p", &plain, 1), 0);
  afix_close(&f);
}

/* Hybrid model: only the full-attention group decides presence. */
TEST(hybrid_groups) {
  afix f;
  afix_open(&f, 1);
  uint64_t a = 100, c = 300;
  /* no spec kind: group 0 counts, group 1 does not */
  kvidx_event s0 = mk(KVIDX_EVENT_BLOCK_STORED, &a, 1);
  s0.group_idx = 0;
  kvidx_event s1 = s0;
  s1.group_idx = 1;
  apply_event(&f, "p", &s1);
  CHECK_EQ_INT(prefix_len(f.idx, "m", "p", &a, 1), 0);
  apply_event(&f, "p", &s0);
  CHECK_EQ_INT(prefix_len(f.idx, "m", "p", &a, 1), 1);
  /* the sliding-window group evicting its copy does not remove the block */
  kvidx_event r1 = mk(KVIDX_EVENT_BLOCK_REMOVED, &a, 1);
  r1.group_idx = 1;
  apply_event(&f, "p", &r1);
  CHECK_EQ_INT(prefix_len(f.idx, "m", "p", &a, 1), 1);
  kvidx_event r0 = r1;
  r0.group_idx = 0;
  apply_event(&f, "p", &r0);
  CHECK_EQ_INT(prefix_len(f.idx, "m", "p", &a, 1), 0);
  /* another pod whose group 0 is mamba and group 1 full attention */
  kvidx_event m0 = mk(KVIDX_EVENT_BLOCK_STORED, &c, 1);
  m0.group_idx = 0;
  m0.spec_kind = "mamba";
  m0.spec_kind_len = 5;
  apply_event(&f, "q", &m0);
  CHECK_EQ_INT(prefix_len(f.idx, "m", "q", &c, 1), 0);
  kvidx_event f1 = m0;
  f1.group_idx = 1;
  f1.spec_kind = "full_attention";
  f1.spec_kind_len = 14;
  apply_event(&f, "q", &f1);
  CHECK_EQ_INT(prefix_len(f.idx, "m", "q", &c, 1), 1);
  kvidx_event rq0 = mk(KVIDX_EVENT_BLOCK_REMOVED, &c, 1);
  rq0.group_idx = 0;
  apply_event(&f, "q", &rq0); /* mamba group: ignored */
  CHECK_EQ_INT(prefix_len(f.idx, "m", "q", &c, 1), 1);
  kvidx_applier_stats s;
  kvidx_applier_get_stats(f.a, &s);
  CHECK_EQ_U64(s.events_ignored_group, 4);
  afix_close(&f);
}

TEST(malformed_batch_counted) {
  afix f;
  afix_open(&f, 1);
  const uint8_t junk[] = {0x93, 0xcb, 0x3f};
  CHECK_EQ_INT(kvidx_applier_apply_batch(f.a, "p", "m", junk, sizeof junk),
               KVIDX_ETRUNC);
  const uint8_t unknown[] = {0x92, 0x00, 0x91, 0x91, 0xa1, 'X'};
  CHECK_OK(kvidx_applier_apply_batch(f.a, "p", "m", unknown, sizeof unknown));
  CHECK_EQ_INT(kvidx_applier_apply_batch(f.a, NULL, "m", junk, 3),
               KVIDX_EINVAL);
  kvidx_applier_stats s;
  kvidx_applier_get_stats(f.a, &s);
  CHECK_EQ_U64(s.decode_errors, 1);
  CHECK_EQ_U64(s.events_unknown, 1);
  afix_close(&f);
}

/* The shard queue is bounded: non-blocking pushes fail when full; items come
 * out in order and own their messages. */
TEST(shard_queue_bounded_fifo) {
  shard_queue q;
  CHECK_OK(kvidx__shard_queue_init(&q, 3));
  for (int i = 0; i < 4; i++) {
    ingest_item it;
    memset(&it, 0, sizeof it);
    zmq_msg_init_size(&it.topic, 40); /* larger than zmq's inline size */
    memset(zmq_msg_data(&it.topic), 'a' + i, 40);
    zmq_msg_init_size(&it.payload, 1);
    it.seq = (uint64_t)i;
    int rc = kvidx__shard_queue_push(&q, &it, 0);
    CHECK_EQ_INT(rc, i < 3 ? 0 : KVIDX_EFULL);
    zmq_msg_close(&it.topic);
    zmq_msg_close(&it.payload);
  }
  for (int i = 0; i < 2; i++) {
    ingest_item it;
    CHECK_OK(kvidx__shard_queue_pop(&q, &it));
    CHECK_EQ_U64(it.seq, (uint64_t)i);
    CHECK_EQ_INT(((char *)zmq_msg_data(&it.topic))[39], 'a' + i);
    zmq_msg_close(&it.topic);
    zmq_msg_close(&it.payload);
  }
  kvidx__shard_queue_close(&q);
  ingest_item it;
  CHECK_OK(kvidx__shard_queue_pop(&q, &it)); /* drains after close */
  zmq_msg_close(&it.topic);
  zmq_msg_close(&it.payload);
  CHECK_EQ_INT(kvidx__shard_queue_pop(&q, &it), KVIDX_ESTATE);
  kvidx__shard_queue_destroy(&q);
}

TEST_MAIN(TEST_CASE(engine_keys_copies_and_tiers),
          TEST_CASE(all_blocks_cleared_and_clear_pod),
          TEST_CASE(own_keys_chained_from_parent),
          TEST_CASE(own_keys_with_lora_name), TEST_CASE(hybrid_groups),
          TEST_CASE(malformed_batch_counted),
          TEST_CASE(shard_queue_bounded_fifo))

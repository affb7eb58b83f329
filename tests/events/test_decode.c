/*
 * test_decode.c: kvidx_batch_decode() against vLLM's reference encodings,
 * every layout and integer/bytes form, and many malformed inputs (each must be
 * an error code, never a crash or an over-read: inputs sit against a guard
 * page).
 */
#include <msgpack.h>

#include "events/decode_internal.h"
#include "events_util.h"
#include "test.h"

static uint8_t buf[4096];

static void check_ref_stored(const eu_event *e) {
  CHECK_EQ_INT(e->type, KVIDX_EVENT_BLOCK_STORED);
  CHECK_EQ_INT(e->n_hashes, 1);
  CHECK_EQ_U64(e->hashes[0], 0x0123456789abcdefULL);
  CHECK_EQ_INT(e->has_parent, 0);
  CHECK_EQ_INT(e->n_tokens, 4);
  for (uint32_t i = 0; i < 4; i++)
    CHECK_EQ_INT(e->tokens[i], i + 1);
  CHECK_EQ_INT(e->block_size, 4);
  CHECK_EQ_INT(e->has_lora_id, 0);
  CHECK_EQ_INT(e->tier, KVIDX_TIER_GPU);
}

TEST(ref_oldest) {
  size_t n = eu_unhex(eu_ref_oldest, buf, sizeof buf);
  eu_events out = {0};
  kvidx_batch_info info;
  CHECK_OK(eu_decode(buf, n, &out, &info));
  CHECK_EQ_INT(out.n, 1);
  check_ref_stored(&out.ev[0]);
  CHECK_EQ_INT(out.ev[0].group_idx, -1);
  CHECK_EQ_DBL(info.ts, 1.5, 1e-12);
  CHECK_EQ_INT(info.dp_rank, -1);
  CHECK_EQ_INT(info.n_events, 1);
}

TEST(ref_dp_rank_and_medium) {
  size_t n = eu_unhex(eu_ref_dp_medium, buf, sizeof buf);
  eu_events out = {0};
  kvidx_batch_info info;
  CHECK_OK(eu_decode(buf, n, &out, &info));
  CHECK_EQ_INT(out.n, 1);
  check_ref_stored(&out.ev[0]);
  CHECK_EQ_INT(info.dp_rank, 0);
}

TEST(ref_removed_and_cleared) {
  size_t n = eu_unhex(eu_ref_removed_cleared, buf, sizeof buf);
  eu_events out = {0};
  kvidx_batch_info info;
  CHECK_OK(eu_decode(buf, n, &out, &info));
  CHECK_EQ_INT(out.n, 2);
  CHECK_EQ_INT(out.ev[0].type, KVIDX_EVENT_BLOCK_REMOVED);
  CHECK_EQ_U64(out.ev[0].hashes[0], 0x0123456789abcdefULL);
  CHECK_EQ_INT(out.ev[0].tier, KVIDX_TIER_GPU);
  CHECK_EQ_INT(out.ev[1].type, KVIDX_EVENT_ALL_BLOCKS_CLEARED);
  CHECK_EQ_INT(info.dp_rank, 0);
}

TEST(ref_map_form) {
  size_t n = eu_unhex(eu_ref_map, buf, sizeof buf);
  eu_events out = {0};
  kvidx_batch_info info;
  CHECK_OK(eu_decode(buf, n, &out, &info));
  CHECK_EQ_INT(out.n, 1);
  check_ref_stored(&out.ev[0]);
  CHECK_EQ_INT(out.ev[0].group_idx, 0);
  CHECK_EQ_STR(out.ev[0].spec_kind, "full_attention");
  CHECK_EQ_INT(out.ev[0].extra_keys_len, 2); /* [nil] */
  CHECK_EQ_INT(info.dp_rank, 0);
}

/* ---- payloads built with msgpack-c ------------------------------------- */

typedef struct {
  msgpack_sbuffer sb;
  msgpack_packer pk;
} packer;

static void pk_init(packer *p) {
  msgpack_sbuffer_init(&p->sb);
  msgpack_packer_init(&p->pk, &p->sb, msgpack_sbuffer_write);
}

static void pk_str(packer *p, const char *s) {
  msgpack_pack_str(&p->pk, strlen(s));
  msgpack_pack_str_body(&p->pk, s, strlen(s));
}

/* [1.0, [["BlockRemoved", [<raw hash bytes>]]]] with the hash raw-packed. */
static int decode_removed_raw_hash(const uint8_t *hash_enc, size_t hn,
                                   uint64_t *out) {
  uint8_t p[256];
  size_t n = 0;
  const uint8_t head[] = {0x92, 0xcb, 0x3f, 0xf0, 0,   0,   0,   0,   0,
                          0,    0x91, 0x92, 0xac, 'B', 'l', 'o', 'c', 'k',
                          'R',  'e',  'm',  'o',  'v', 'e', 'd', 0x91};
  memcpy(p, head, sizeof head);
  n = sizeof head;
  memcpy(p + n, hash_enc, hn);
  n += hn;
  eu_events ev = {0};
  int rc = eu_decode(p, n, &ev, NULL);
  if (rc == 0 && ev.n == 1)
    *out = ev.ev[0].hashes[0];
  return rc;
}

TEST(int_hash_every_width) {
  struct {
    uint8_t enc[9];
    size_t n;
    uint64_t want;
  } cases[] = {
      {{0x05}, 1, 5},
      {{0x7f}, 1, 127},
      {{0xcc, 0xff}, 2, 255},
      {{0xcd, 0x12, 0x34}, 3, 0x1234},
      {{0xce, 0xde, 0xad, 0xbe, 0xef}, 5, 0xdeadbeef},
      {{0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe},
       9,
       0xfffffffffffffffeULL},
      {{0xcf, 0x80, 0, 0, 0, 0, 0, 0, 1}, 9, 0x8000000000000001ULL},
      {{0xd0, 0x05}, 2, 5},
      {{0xd1, 0x01, 0x00}, 3, 256},
      {{0xd2, 0x00, 0x01, 0x00, 0x00}, 5, 65536},
      {{0xd3, 0, 0, 0, 1, 0, 0, 0, 0}, 9, 0x100000000ULL},
      /* negative ints: their two's complement bits, as llm-d does */
      {{0xff}, 1, 0xffffffffffffffffULL},
      {{0xd0, 0x80}, 2, (uint64_t)(int64_t)-128},
      {{0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0}, 9, 0x8000000000000000ULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint64_t got = 0;
    CHECK_OK(decode_removed_raw_hash(cases[i].enc, cases[i].n, &got));
    CHECK_EQ_U64(got, cases[i].want);
  }
}

TEST(bytes_hash_last_8_bytes_big_endian) {
  uint8_t h[34];
  for (int i = 0; i < 32; i++)
    h[2 + i] = (uint8_t)(0x10 + i);
  uint64_t got;
  /* bin8 of 32 bytes (sha256): last 8 = 0x28..0x2f */
  h[0] = 0xc4;
  h[1] = 32;
  CHECK_OK(decode_removed_raw_hash(h, 34, &got));
  CHECK_EQ_U64(got, 0x28292a2b2c2d2e2fULL);
  /* 16 bytes (xxhash) */
  h[1] = 16;
  CHECK_OK(decode_removed_raw_hash(h, 18, &got));
  CHECK_EQ_U64(got, 0x18191a1b1c1d1e1fULL);
  /* exactly 8 */
  h[1] = 8;
  CHECK_OK(decode_removed_raw_hash(h, 10, &got));
  CHECK_EQ_U64(got, 0x1011121314151617ULL);
  /* shorter: zero-padded on the left */
  h[1] = 3;
  CHECK_OK(decode_removed_raw_hash(h, 5, &got));
  CHECK_EQ_U64(got, 0x101112ULL);
  /* bin16 header */
  uint8_t h16[3 + 32] = {0xc5, 0x00, 32};
  memcpy(h16 + 3, h + 2, 32);
  CHECK_OK(decode_removed_raw_hash(h16, sizeof h16, &got));
  CHECK_EQ_U64(got, 0x28292a2b2c2d2e2fULL);
  /* empty bytes: an error */
  h[1] = 0;
  CHECK_EQ_INT(decode_removed_raw_hash(h, 2, &got), KVIDX_EPROTO);
  /* a string is not a hash */
  uint8_t s[] = {0xa3, 'a', 'b', 'c'};
  CHECK_EQ_INT(decode_removed_raw_hash(s, sizeof s, &got), KVIDX_EPROTO);
  uint8_t f[] = {0xc3};
  CHECK_EQ_INT(decode_removed_raw_hash(f, sizeof f, &got), KVIDX_EPROTO);
}

/* BlockStored arrays of every length from the first version (6) to the
 * latest (12) and beyond (unknown trailing fields are skipped). */
TEST(stored_array_every_length) {
  for (unsigned len = 6; len <= 14; len++) {
    packer p;
    pk_init(&p);
    msgpack_pack_array(&p.pk, 3);
    msgpack_pack_double(&p.pk, 2.0);
    msgpack_pack_array(&p.pk, 1);
    msgpack_pack_array(&p.pk, len);
    pk_str(&p, "BlockStored");
    msgpack_pack_array(&p.pk, 2);
    msgpack_pack_uint64(&p.pk, 11);
    msgpack_pack_uint64(&p.pk, 0xffffffffffffffffULL);
    msgpack_pack_uint64(&p.pk, 7); /* parent */
    msgpack_pack_array(&p.pk, 4);
    for (int t = 0; t < 4; t++)
      msgpack_pack_uint32(&p.pk, (uint32_t)(70000 * t));
    msgpack_pack_uint32(&p.pk, 2);
    msgpack_pack_int(&p.pk, -3); /* lora_id */
    if (len > 6)
      pk_str(&p, "cpu");
    if (len > 7)
      pk_str(&p, "my-lora");
    if (len > 8) {
      msgpack_pack_array(&p.pk, 2);
      msgpack_pack_nil(&p.pk);
      msgpack_pack_nil(&p.pk);
    }
    if (len > 9)
      msgpack_pack_int(&p.pk, 1);
    if (len > 10)
      pk_str(&p, "sliding_window");
    if (len > 11)
      msgpack_pack_int(&p.pk, 4096);
    for (unsigned k = 12; k < len; k++) {
      msgpack_pack_map(&p.pk, 1); /* a future field */
      pk_str(&p, "x");
      msgpack_pack_array(&p.pk, 1);
      msgpack_pack_nil(&p.pk);
    }
    msgpack_pack_int(&p.pk, 3); /* dp rank */
    eu_events out = {0};
    kvidx_batch_info info;
    int rc = eu_decode((const uint8_t *)p.sb.data, p.sb.size, &out, &info);
    if (rc != 0)
      FAILF("len %u: rc %d (%s)", len, rc, info.error);
    CHECK_EQ_INT(out.n, 1);
    const eu_event *e = &out.ev[0];
    CHECK_EQ_INT(e->n_hashes, 2);
    CHECK_EQ_U64(e->hashes[1], 0xffffffffffffffffULL);
    CHECK_EQ_INT(e->has_parent, 1);
    CHECK_EQ_U64(e->parent, 7);
    CHECK_EQ_INT(e->tokens[3], 210000);
    CHECK_EQ_INT(e->block_size, 2);
    CHECK_EQ_INT(e->lora_id, -3);
    CHECK_EQ_INT(e->tier, len > 6 ? KVIDX_TIER_CPU : KVIDX_TIER_GPU);
    CHECK_EQ_INT(e->has_lora_name, len > 7);
    CHECK_EQ_INT(e->group_idx, len > 9 ? 1 : -1);
    if (len > 10)
      CHECK_EQ_STR(e->spec_kind, "sliding_window");
    CHECK_EQ_INT(info.dp_rank, 3);
    msgpack_sbuffer_destroy(&p.sb);
  }
}

TEST(removed_array_every_length) {
  for (unsigned len = 2; len <= 6; len++) {
    packer p;
    pk_init(&p);
    msgpack_pack_array(&p.pk, 2);
    msgpack_pack_double(&p.pk, 2.0);
    msgpack_pack_array(&p.pk, 1);
    msgpack_pack_array(&p.pk, len);
    pk_str(&p, "BlockRemoved");
    msgpack_pack_array(&p.pk, 1);
    msgpack_pack_uint64(&p.pk, 99);
    if (len > 2)
      pk_str(&p, "Storage");
    if (len > 3)
      msgpack_pack_int(&p.pk, 2);
    for (unsigned k = 4; k < len; k++)
      msgpack_pack_nil(&p.pk);
    eu_events out = {0};
    CHECK_OK(eu_decode((const uint8_t *)p.sb.data, p.sb.size, &out, NULL));
    CHECK_EQ_INT(out.n, 1);
    CHECK_EQ_INT(out.ev[0].type, KVIDX_EVENT_BLOCK_REMOVED);
    CHECK_EQ_U64(out.ev[0].hashes[0], 99);
    CHECK_EQ_INT(out.ev[0].tier, len > 2 ? KVIDX_TIER_STORAGE : KVIDX_TIER_GPU);
    CHECK_EQ_INT(out.ev[0].group_idx, len > 3 ? 2 : -1);
    msgpack_sbuffer_destroy(&p.sb);
  }
}

/* Medium names are compared case-insensitively; nil is GPU; an unknown
 * medium skips the event (counted in n_skipped) without failing the batch. */
TEST(medium_names) {
  const char *names[] = {"GPU", "gpu", "CPU",     "cpu", "Cpu",
                         "FS",  "obj", "STORAGE", "DISK"};
  kvidx_tier want[] = {KVIDX_TIER_GPU, KVIDX_TIER_GPU,     KVIDX_TIER_CPU,
                       KVIDX_TIER_CPU, KVIDX_TIER_CPU,     KVIDX_TIER_FS,
                       KVIDX_TIER_OBJ, KVIDX_TIER_STORAGE, 0};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    packer p;
    pk_init(&p);
    msgpack_pack_array(&p.pk, 2);
    msgpack_pack_double(&p.pk, 2.0);
    msgpack_pack_array(&p.pk, 1);
    msgpack_pack_array(&p.pk, 3);
    pk_str(&p, "BlockRemoved");
    msgpack_pack_array(&p.pk, 0);
    pk_str(&p, names[i]);
    eu_events out = {0};
    kvidx_batch_info info;
    CHECK_OK(eu_decode((const uint8_t *)p.sb.data, p.sb.size, &out, &info));
    if (strcmp(names[i], "DISK") == 0) {
      CHECK_EQ_INT(out.n, 0);
      CHECK_EQ_INT(info.n_skipped, 1);
    } else {
      CHECK_EQ_INT(out.n, 1);
      CHECK_EQ_INT(out.ev[0].tier, want[i]);
    }
    msgpack_sbuffer_destroy(&p.sb);
  }
}

/* Unknown tags and unknown map keys are skipped; non-string keys too. */
TEST(unknown_tags_and_keys_skipped) {
  packer p;
  pk_init(&p);
  msgpack_pack_map(&p.pk, 4);
  pk_str(&p, "future_batch_field");
  msgpack_pack_array(&p.pk, 2);
  msgpack_pack_nil(&p.pk);
  msgpack_pack_true(&p.pk);
  pk_str(&p, "ts");
  msgpack_pack_double(&p.pk, 3.25);
  pk_str(&p, "events");
  msgpack_pack_array(&p.pk, 4);
  msgpack_pack_array(&p.pk, 3); /* unknown tag */
  pk_str(&p, "BlockMoved");
  msgpack_pack_array(&p.pk, 1);
  msgpack_pack_uint64(&p.pk, 1);
  msgpack_pack_nil(&p.pk);
  msgpack_pack_map(&p.pk, 2); /* unknown map tag */
  pk_str(&p, "type");
  pk_str(&p, "Snapshot");
  pk_str(&p, "block_hashes");
  msgpack_pack_array(&p.pk, 0);
  msgpack_pack_map(&p.pk, 6); /* map event with unknown keys */
  pk_str(&p, "locality");
  pk_str(&p, "local");
  msgpack_pack_int(&p.pk, 5); /* a non-string key */
  msgpack_pack_int(&p.pk, 6);
  pk_str(&p, "block_hashes");
  msgpack_pack_array(&p.pk, 1);
  msgpack_pack_uint64(&p.pk, 42);
  pk_str(&p, "type");
  pk_str(&p, "BlockRemoved");
  pk_str(&p, "medium");
  msgpack_pack_nil(&p.pk);
  pk_str(&p, "remaining_copy_counts");
  msgpack_pack_map(&p.pk, 1);
  msgpack_pack_int(&p.pk, 1);
  msgpack_pack_double(&p.pk, 0.5);
  msgpack_pack_map(&p.pk, 1);
  pk_str(&p, "type");
  pk_str(&p, "AllBlocksCleared");
  pk_str(&p, "data_parallel_rank");
  msgpack_pack_int(&p.pk, 7);
  eu_events out = {0};
  kvidx_batch_info info;
  int rc = eu_decode((const uint8_t *)p.sb.data, p.sb.size, &out, &info);
  if (rc != 0)
    FAILF("rc %d: %s", rc, info.error);
  CHECK_EQ_INT(out.n, 2);
  CHECK_EQ_INT(out.ev[0].type, KVIDX_EVENT_BLOCK_REMOVED);
  CHECK_EQ_U64(out.ev[0].hashes[0], 42);
  CHECK_EQ_INT(out.ev[1].type, KVIDX_EVENT_ALL_BLOCKS_CLEARED);
  CHECK_EQ_INT(info.n_events, 4);
  CHECK_EQ_INT(info.n_skipped, 2);
  CHECK_EQ_DBL(info.ts, 3.25, 0);
  CHECK_EQ_INT(info.dp_rank, 7);
  msgpack_sbuffer_destroy(&p.sb);
}

/* The writer's output in each layout decodes back to the same events. */
TEST(writer_round_trip_every_layout) {
  uint64_t hashes[3] = {1, 0x8000000000000000ULL, 0xfedcba9876543210ULL};
  uint32_t tokens[6] = {1, 2, 3, 4, 5, 100000};
  for (int layout = 0; layout <= KVIDX_LAYOUT_MAP_BATCH; layout++) {
    for (unsigned hb = 0; hb <= 32; hb += 16) {
      kvidx_batch_writer *w;
      CHECK_OK(kvidx_batch_writer_new((kvidx_event_layout)layout, hb, &w));
      kvidx_batch_writer_begin(w, 9.5, 2);
      kvidx_event ev;
      memset(&ev, 0, sizeof ev);
      ev.type = KVIDX_EVENT_BLOCK_STORED;
      ev.block_hashes = hashes;
      ev.n_block_hashes = 3;
      ev.has_parent = 1;
      ev.parent_block_hash = 77;
      ev.token_ids = tokens;
      ev.n_token_ids = 6;
      ev.block_size = 2;
      ev.tier = KVIDX_TIER_CPU;
      ev.group_idx = 1;
      ev.lora_name = "lora";
      ev.lora_name_len = 4;
      CHECK_OK(kvidx_batch_writer_add(w, &ev));
      ev.type = KVIDX_EVENT_BLOCK_REMOVED;
      CHECK_OK(kvidx_batch_writer_add(w, &ev));
      ev.type = KVIDX_EVENT_ALL_BLOCKS_CLEARED;
      CHECK_OK(kvidx_batch_writer_add(w, &ev));
      const uint8_t *p;
      size_t n;
      CHECK_OK(kvidx_batch_writer_finish(w, &p, &n));
      eu_events out = {0};
      kvidx_batch_info info;
      int rc = eu_decode(p, n, &out, &info);
      if (rc != 0)
        FAILF("layout %d: rc %d %s", layout, rc, info.error);
      CHECK_EQ_INT(out.n, 3);
      int v0 = layout == KVIDX_LAYOUT_ARRAY_V0;
      CHECK_EQ_INT(info.dp_rank, v0 ? -1 : 2);
      CHECK_EQ_DBL(info.ts, 9.5, 0);
      for (int k = 0; k < 2; k++) {
        CHECK_EQ_INT(out.ev[k].n_hashes, 3);
        for (int j = 0; j < 3; j++)
          CHECK_EQ_U64(out.ev[k].hashes[j], hashes[j]);
        CHECK_EQ_INT(out.ev[k].tier, v0 ? KVIDX_TIER_GPU : KVIDX_TIER_CPU);
        CHECK_EQ_INT(out.ev[k].group_idx, v0 ? -1 : 1);
      }
      CHECK_EQ_INT(out.ev[0].n_tokens, 6);
      CHECK_EQ_INT(out.ev[0].tokens[5], 100000);
      CHECK_EQ_U64(out.ev[0].parent, 77);
      CHECK_EQ_INT(out.ev[0].has_lora_name, !v0);
      CHECK_EQ_INT(out.ev[2].type, KVIDX_EVENT_ALL_BLOCKS_CLEARED);
      int64_t dp;
      CHECK_OK(kvidx__batch_peek(p, n, &dp));
      CHECK_EQ_INT(dp, v0 ? -1 : 2);
      kvidx_batch_writer_free(w);
    }
  }
}

/* An event with many blocks grows the scratch arrays; a second decode with
 * the same decoder reuses them. */
TEST(large_event_and_reuse) {
  enum { N = 5000 };
  static uint64_t hashes[N];
  static uint32_t tokens[N * 16];
  for (size_t i = 0; i < N; i++)
    hashes[i] = i * 0x9e3779b97f4a7c15ULL;
  for (size_t i = 0; i < N * 16; i++)
    tokens[i] = (uint32_t)(i * 7);
  kvidx_batch_writer *w;
  CHECK_OK(kvidx_batch_writer_new(KVIDX_LAYOUT_ARRAY, 0, &w));
  kvidx_batch_writer_begin(w, 1, 0);
  kvidx_event ev;
  memset(&ev, 0, sizeof ev);
  ev.type = KVIDX_EVENT_BLOCK_STORED;
  ev.block_hashes = hashes;
  ev.n_block_hashes = N;
  ev.token_ids = tokens;
  ev.n_token_ids = N * 16;
  ev.block_size = 16;
  ev.group_idx = -1;
  CHECK_OK(kvidx_batch_writer_add(w, &ev));
  const uint8_t *p;
  size_t n;
  CHECK_OK(kvidx_batch_writer_finish(w, &p, &n));
  kvidx_decoder *d;
  CHECK_OK(kvidx_decoder_new(&d));
  for (int round = 0; round < 2; round++) {
    eu_events out = {0};
    CHECK_OK(kvidx_batch_decode(d, p, n, eu_collect, &out, NULL));
    CHECK_EQ_INT(out.ev[0].n_hashes, N);
    CHECK_EQ_INT(out.ev[0].n_tokens, N * 16);
    CHECK_EQ_U64(out.ev[0].hashes[255], 255 * 0x9e3779b97f4a7c15ULL);
  }
  kvidx_decoder_free(d);
  kvidx_batch_writer_free(w);
}

TEST(callback_stops_decoding) {
  size_t n = eu_unhex(eu_ref_removed_cleared, buf, sizeof buf);
  eu_events out = {0};
  out.stop_after = 1;
  out.stop_rc = KVIDX_EIO;
  CHECK_EQ_INT(eu_decode(buf, n, &out, NULL), KVIDX_EIO);
  CHECK_EQ_INT(out.n, 1);
  memset(&out, 0, sizeof out);
  out.stop_after = 1;
  out.stop_rc = 1;
  CHECK_EQ_INT(eu_decode(buf, n, &out, NULL), 0);
  CHECK_EQ_INT(out.n, 1);
}

/* ---- malformed input ---------------------------------------------------- */

static int decode_guarded(const uint8_t *p, size_t len,
                          kvidx_batch_info *info) {
  uint8_t *g = eu_guard_copy(p, len);
  eu_events out = {0};
  int rc = eu_decode(g, len, &out, info);
  eu_guard_free(g, len);
  return rc;
}

/* Every strict prefix of every reference encoding is an error (truncated),
 * read against a guard page. */
TEST(every_truncation_is_an_error) {
  const char *refs[] = {eu_ref_oldest, eu_ref_dp_medium, eu_ref_removed_cleared,
                        eu_ref_map};
  for (size_t r = 0; r < 4; r++) {
    size_t n = eu_unhex(refs[r], buf, sizeof buf);
    for (size_t cut = 0; cut < n; cut++) {
      kvidx_batch_info info;
      int rc = decode_guarded(buf, cut, &info);
      if (rc != KVIDX_ETRUNC && rc != KVIDX_EPROTO)
        FAILF("ref %zu cut %zu: rc %d", r, cut, rc);
      CHECK(info.error != NULL);
    }
  }
}

static void expect_error(const char *hex, int want, const char *why) {
  uint8_t b[512];
  size_t n = eu_unhex(hex, b, sizeof b);
  kvidx_batch_info info;
  int rc = decode_guarded(b, n, &info);
  if (rc != want)
    FAILF("%s: rc %d (%s) want %d", why, rc, info.error ? info.error : "",
          want);
  if (info.error == NULL)
    FAILF("%s: no error text", why);
}

TEST(malformed_inputs) {
  expect_error("", KVIDX_ETRUNC, "empty payload");
  expect_error("c0", KVIDX_EPROTO, "nil batch");
  expect_error("c1", KVIDX_EPROTO, "reserved byte");
  expect_error("91cb3ff8000000000000", KVIDX_EPROTO, "batch of 1");
  expect_error("81a27473cb3ff0000000000000", KVIDX_EPROTO,
               "batch map without events");
  expect_error("92cb3ff8000000000000c0", KVIDX_EPROTO, "nil events");
  expect_error("92a361626390", KVIDX_EPROTO, "string ts");
  expect_error("93cb3ff800000000000090a130", KVIDX_EPROTO, "string dp rank");
  expect_error("92cb3ff800000000000090c0", KVIDX_EPROTO, "trailing nil");
}

TEST(huge_lengths_are_errors_not_allocations) {
  /* array32 claiming 2^32-1 elements in a tiny message */
  expect_error("ddffffffffc0c0", KVIDX_ETRUNC, "huge batch array");
  /* events array of 2^32-1 */
  expect_error("92cb3ff8000000000000ddffffffff", KVIDX_ETRUNC,
               "huge events array");
  /* block_hashes of 2^32-1 */
  expect_error("92cb3ff800000000000091"
               "92ac426c6f636b52656d6f766564ddffffffff01",
               KVIDX_ETRUNC, "huge hashes array");
  /* str32 tag claiming 4 GiB */
  expect_error("92cb3ff800000000000091"
               "91dbffffffff41",
               KVIDX_ETRUNC, "huge tag string");
  /* bin32 hash claiming 4 GiB */
  expect_error("92cb3ff800000000000091"
               "92ac426c6f636b52656d6f76656491c6ffffffff00",
               KVIDX_ETRUNC, "huge bytes hash");
  /* map32 of 2^32-1 pairs */
  expect_error("92cb3ff800000000000091dfffffffff", KVIDX_ETRUNC,
               "huge event map");
}

TEST(wrong_types_in_fields) {
  /* BlockStored prefix: 92 ts 91 96 "BlockStored" */
  const char *pre = "92cb3ff80000000000009196ab426c6f636b53746f726564";
  struct {
    const char *tail;
    int want;
    const char *why;
  } cases[] = {
      {"c0c0940102030404c0", KVIDX_EPROTO, "nil block_hashes"},
      {"a161c0940102030404c0", KVIDX_EPROTO, "string block_hashes"},
      {"9101a3616263940102030404c0", KVIDX_EPROTO, "string parent"},
      {"9101c0a40102030404c0", KVIDX_EPROTO, "string token_ids"},
      {"9101c094010203ff04c0", KVIDX_EPROTO, "negative token id"},
      {"9101c094010203cf000000010000000004c0", KVIDX_EPROTO,
       "token id above uint32"},
      {"9101c0940102030404", KVIDX_ETRUNC, "lora_id missing"},
      {"9101c0940102030404a0", KVIDX_EPROTO, "empty string lora_id"},
      {"9101c09401020304f0c0", KVIDX_EPROTO, "negative block_size"},
      {"9101c0940102030404c0c0", KVIDX_EPROTO, "trailing bytes"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char hex[512];
    snprintf(hex, sizeof hex, "%s%s", pre, cases[i].tail);
    expect_error(hex, cases[i].want, cases[i].why);
  }
  /* tag not a string; empty event array; event neither array nor map */
  expect_error("92cb3ff80000000000009191c0", KVIDX_EPROTO, "nil tag");
  expect_error("92cb3ff8000000000000919001", KVIDX_EPROTO, "empty event");
  expect_error("92cb3ff80000000000009101", KVIDX_EPROTO, "int event");
  expect_error("92cb3ff80000000000009181a474797065ab426c6f636b53746f726564",
               KVIDX_EPROTO, "map BlockStored without block_hashes");
}

/* Random byte flips of valid payloads never crash or over-read. */
TEST(random_mutations_never_crash) {
  const char *refs[] = {eu_ref_oldest, eu_ref_dp_medium, eu_ref_removed_cleared,
                        eu_ref_map};
  uint64_t rng = 0x12345678;
  kvidx_decoder *d;
  CHECK_OK(kvidx_decoder_new(&d));
  for (int iter = 0; iter < 20000; iter++) {
    size_t n = eu_unhex(refs[iter % 4], buf, sizeof buf);
    int flips = 1 + iter % 4;
    for (int f = 0; f < flips; f++) {
      rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
      buf[(rng >> 33) % n] = (uint8_t)(rng >> 13);
    }
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    size_t len = n - (size_t)((rng >> 40) % 3);
    uint8_t *g = eu_guard_copy(buf, len);
    eu_events out = {0};
    int rc = kvidx_batch_decode(d, g, len, eu_collect, &out, NULL);
    if (rc != 0 && rc != KVIDX_EPROTO && rc != KVIDX_ETRUNC &&
        rc != KVIDX_ELIMIT)
      FAILF("iter %d: unexpected rc %d", iter, rc);
    eu_guard_free(g, len);
  }
  kvidx_decoder_free(d);
}

TEST(bad_arguments) {
  kvidx_decoder *d;
  CHECK_OK(kvidx_decoder_new(&d));
  CHECK_EQ_INT(kvidx_batch_decode(NULL, buf, 1, NULL, NULL, NULL),
               KVIDX_EINVAL);
  CHECK_EQ_INT(kvidx_batch_decode(d, NULL, 5, NULL, NULL, NULL), KVIDX_EINVAL);
  kvidx_decoder_free(d);
  CHECK_EQ_INT(kvidx_decoder_new(NULL), KVIDX_EINVAL);
}

TEST_MAIN(TEST_CASE(ref_oldest), TEST_CASE(ref_dp_rank_and_medium),
          TEST_CASE(ref_removed_and_cleared), TEST_CASE(ref_map_form),
          TEST_CASE(int_hash_every_width),
          TEST_CASE(bytes_hash_last_8_bytes_big_endian),
          TEST_CASE(stored_array_every_length),
          TEST_CASE(removed_array_every_length), TEST_CASE(medium_names),
          TEST_CASE(unknown_tags_and_keys_skipped),
          TEST_CASE(writer_round_trip_every_layout),
          TEST_CASE(large_event_and_reuse), TEST_CASE(callback_stops_decoding),
          TEST_CASE(every_truncation_is_an_error), TEST_CASE(malformed_inputs),
          TEST_CASE(huge_lengths_are_errors_not_allocations),
          TEST_CASE(wrong_types_in_fields),
          TEST_CASE(random_mutations_never_crash), TEST_CASE(bad_arguments))

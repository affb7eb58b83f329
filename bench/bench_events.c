/*
 * bench_events.c: event ingestion throughput.
 *
 *  1. decode only: kvidx_batch_decode (zero-copy cursor) vs msgpack-c's
 *     msgpack_unpack_next into a reused zone (the library the issue suggests
 *     first), on the same payloads: the reason the decoder is a cursor.
 *  2. decode + apply in-process into the memory index, one thread, events of
 *     16 blocks (target >= 3M blocks/s).
 *  3. end to end over ZeroMQ loopback: `kvidx publish` in a separate process
 *     -> bound SUB -> sharded workers -> index (target >= 1M blocks/s), with
 *     the CPU time this (indexer) process used.
 * Environment: KVIDX_BENCH_SECONDS (default 1.5) per in-process measurement.
 */
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "kvidx.h"

#define BLOCKS_PER_EVENT 16
#define N_BATCHES 4096

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double thread_cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

typedef struct {
  uint8_t *data[N_BATCHES];
  size_t len[N_BATCHES];
} batch_set;

/* N_BATCHES batches of one event of 16 blocks (with 256 token ids when
 * stored), distinct keys. */
static void make_batches(batch_set *bs, kvidx_event_type type,
                         kvidx_event_layout layout) {
  kvidx_batch_writer *w;
  if (kvidx_batch_writer_new(layout, 0, &w) != 0)
    exit(1);
  uint64_t keys[BLOCKS_PER_EVENT];
  uint32_t tokens[BLOCKS_PER_EVENT * 16];
  for (size_t i = 0; i < BLOCKS_PER_EVENT * 16; i++)
    tokens[i] = (uint32_t)(i * 7919 % 151000);
  for (size_t b = 0; b < N_BATCHES; b++) {
    for (size_t i = 0; i < BLOCKS_PER_EVENT; i++)
      keys[i] = (b * BLOCKS_PER_EVENT + i + 1) * 0x9e3779b97f4a7c15ULL;
    kvidx_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = type;
    ev.block_hashes = keys;
    ev.n_block_hashes = BLOCKS_PER_EVENT;
    ev.has_parent = b > 0;
    ev.parent_block_hash = keys[0] - 1;
    if (type == KVIDX_EVENT_BLOCK_STORED) {
      ev.token_ids = tokens;
      ev.n_token_ids = BLOCKS_PER_EVENT * 16;
    }
    ev.block_size = 16;
    ev.group_idx = -1;
    kvidx_batch_writer_begin(w, 1.0, 0);
    kvidx_batch_writer_add(w, &ev);
    const uint8_t *p;
    size_t n;
    kvidx_batch_writer_finish(w, &p, &n);
    bs->data[b] = malloc(n);
    memcpy(bs->data[b], p, n);
    bs->len[b] = n;
  }
  kvidx_batch_writer_free(w);
}

static void free_batches(batch_set *bs) {
  for (size_t b = 0; b < N_BATCHES; b++)
    free(bs->data[b]);
}

static int count_blocks(void *ud, const kvidx_event *ev) {
  *(uint64_t *)ud += ev->n_block_hashes;
  return 0;
}

static double bench_seconds(void) {
  const char *s = getenv("KVIDX_BENCH_SECONDS");
  double v = s ? atof(s) : 1.5;
  return v > 0 ? v : 1.5;
}

static double bench_decode(const batch_set *bs, double *per_cpu) {
  kvidx_decoder *d;
  kvidx_decoder_new(&d);
  uint64_t blocks = 0;
  double t0 = now_s(), c0 = thread_cpu_s(), limit = bench_seconds(), t;
  do {
    for (size_t b = 0; b < N_BATCHES; b++)
      kvidx_batch_decode(d, bs->data[b], bs->len[b], count_blocks, &blocks,
                         NULL);
  } while ((t = now_s() - t0) < limit);
  *per_cpu = (double)blocks / (thread_cpu_s() - c0);
  kvidx_decoder_free(d);
  return (double)blocks / t;
}

/* msgpack-c: unpack each payload into an object tree (zone reused), then
 * walk the block hashes, which is the least a decoder must do. */
static double bench_msgpack_c(const batch_set *bs, double *per_cpu) {
  msgpack_zone zone;
  msgpack_zone_init(&zone, 4096);
  uint64_t blocks = 0;
  double t0 = now_s(), c0 = thread_cpu_s(), limit = bench_seconds(), t;
  do {
    for (size_t b = 0; b < N_BATCHES; b++) {
      msgpack_object obj;
      msgpack_zone_clear(&zone);
      if (msgpack_unpack((const char *)bs->data[b], bs->len[b], NULL, &zone,
                         &obj) != MSGPACK_UNPACK_SUCCESS)
        continue;
      msgpack_object_array *evs = &obj.via.array.ptr[1].via.array;
      for (uint32_t e = 0; e < evs->size; e++) {
        msgpack_object_array *h = &evs->ptr[e].via.array.ptr[1].via.array;
        for (uint32_t i = 0; i < h->size; i++)
          blocks += h->ptr[i].via.u64 != 0;
      }
    }
  } while ((t = now_s() - t0) < limit);
  *per_cpu = (double)blocks / (thread_cpu_s() - c0);
  msgpack_zone_destroy(&zone);
  return (double)blocks / t;
}

/* Stored then removed, over and over: the index stays bounded. */
static double bench_apply(const batch_set *st, const batch_set *rm,
                          double *cpu_per_block_ns) {
  kvidx_index_opts io;
  kvidx_index_opts_init(&io);
  kvidx_index *idx;
  kvidx_index_new_memory(&io, &idx);
  kvidx_hasher_opts ho;
  kvidx_hasher_opts_init(&ho);
  kvidx_hasher *h;
  kvidx_hasher_new(&ho, &h);
  kvidx_applier_opts ao;
  kvidx_applier_opts_init(&ao);
  ao.index = idx;
  ao.hasher = h;
  kvidx_applier *a;
  kvidx_applier_new(&ao, &a);
  double t0 = now_s(), c0 = thread_cpu_s(), limit = bench_seconds(), t;
  do {
    for (size_t b = 0; b < N_BATCHES; b++)
      kvidx_applier_apply_batch(a, "pod-0", "model", st->data[b], st->len[b]);
    for (size_t b = 0; b < N_BATCHES; b++)
      kvidx_applier_apply_batch(a, "pod-0", "model", rm->data[b], rm->len[b]);
  } while ((t = now_s() - t0) < limit);
  double cpu = thread_cpu_s() - c0;
  kvidx_applier_stats s;
  kvidx_applier_get_stats(a, &s);
  uint64_t blocks = s.blocks_added + s.blocks_removed;
  *cpu_per_block_ns = cpu / (double)blocks * 1e9;
  kvidx_applier_free(a);
  kvidx_hasher_free(h);
  kvidx_index_free(idx);
  return (double)blocks / t;
}

/* ---- end to end ---------------------------------------------------------- */

static int free_port(void) {
  /* the ingestor binds: let the kernel pick by trying a few ports */
  return 20000 + (int)(getpid() % 20000);
}

typedef struct {
  double rate, seconds, cpu, cpu_pct;
  uint64_t blocks, expected, gaps, drops;
} e2e_result;

static int bench_e2e(e2e_result *r) {
  kvidx_index_opts io;
  kvidx_index_opts_init(&io);
  kvidx_index *idx;
  kvidx_index_new_memory(&io, &idx);
  kvidx_hasher_opts ho;
  kvidx_hasher_opts_init(&ho);
  kvidx_hasher *h;
  kvidx_hasher_new(&ho, &h);
  kvidx_applier_opts ao;
  kvidx_applier_opts_init(&ao);
  ao.index = idx;
  ao.hasher = h;
  kvidx_applier *a;
  kvidx_applier_new(&ao, &a);
  kvidx_ingestor_opts o;
  kvidx_ingestor_opts_init(&o);
  char ep[64];
  kvidx_ingestor *ing = NULL;
  for (int port = free_port(), tries = 0; tries < 50; tries++, port++) {
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", port);
    o.bind_endpoint = ep;
    kvidx_ingestor_new(&o, a, &ing);
    if (kvidx_ingestor_start(ing) == 0)
      break;
    kvidx_ingestor_free(ing);
    ing = NULL;
  }
  if (ing == NULL)
    return -1;
  const int prompts = 8192, blocks_per_prompt = 16, repeat = 8;
  r->expected = (uint64_t)prompts * blocks_per_prompt * 2 * repeat;
  char cmd[1024];
  snprintf(cmd, sizeof cmd,
           "%s/kvidx publish --endpoint %s --connect --pod pod-0 --model m "
           "--generate %d --prompt-blocks %d --blocks-per-event 16 --remove "
           "--repeat %d --hwm 0 --wait-ms 500 --quiet &",
           KVIDX_BINARY_DIR, ep, prompts, blocks_per_prompt, repeat);
  if (system(cmd) != 0)
    return -1;
  /* the clock starts at the first block applied */
  kvidx_applier_stats s;
  double deadline = now_s() + 120, t0 = 0, c0 = 0, t_last = 0;
  uint64_t last = 0;
  for (;;) {
    kvidx_applier_get_stats(a, &s);
    uint64_t done = s.blocks_added + s.blocks_removed;
    double t = now_s();
    if (done > 0 && t0 == 0) {
      t0 = t;
      c0 = cpu_s();
    }
    if (done != last) {
      last = done;
      t_last = t;
    }
    if (done >= r->expected || t > deadline || (t0 > 0 && t - t_last > 3.0))
      break;
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
  r->cpu = cpu_s() - c0;
  r->blocks = last;
  r->seconds = t_last - t0;
  r->rate = r->seconds > 0 ? (double)last / r->seconds : 0;
  r->cpu_pct = r->seconds > 0 ? 100.0 * r->cpu / r->seconds : 0;
  kvidx_ingestor_stats is;
  kvidx_ingestor_get_stats(ing, &is);
  r->gaps = is.gaps;
  r->drops = is.queue_drops;
  kvidx_ingestor_free(ing);
  kvidx_applier_free(a);
  kvidx_hasher_free(h);
  kvidx_index_free(idx);
  return 0;
}

int main(void) {
  kvidx_log_set_level(KVIDX_LOG_WARN);
  batch_set st, rm, st_map;
  make_batches(&st, KVIDX_EVENT_BLOCK_STORED, KVIDX_LAYOUT_ARRAY);
  make_batches(&rm, KVIDX_EVENT_BLOCK_REMOVED, KVIDX_LAYOUT_ARRAY);
  make_batches(&st_map, KVIDX_EVENT_BLOCK_STORED, KVIDX_LAYOUT_MAP);
  printf("Wall-clock rates suffer when the machine is shared; \"per CPU-s\" "
         "divides by the thread's own CPU time (what one dedicated core "
         "would do).\n\n");
  printf("| measurement (events of 16 blocks, 256 token ids) | result | "
         "target |\n|---|---|---|\n");
  double pc;
  double dec = bench_decode(&st, &pc);
  printf("| decode only, kvidx cursor, array layout | %.2fM blocks/s wall, "
         "%.2fM per CPU-s | - |\n",
         dec / 1e6, pc / 1e6);
  double decm = bench_decode(&st_map, &pc);
  printf("| decode only, kvidx cursor, map layout | %.2fM blocks/s wall, "
         "%.2fM per CPU-s | - |\n",
         decm / 1e6, pc / 1e6);
  double mc = bench_msgpack_c(&st, &pc);
  printf("| decode only, msgpack-c unpack into a zone | %.2fM blocks/s wall, "
         "%.2fM per CPU-s | - |\n",
         mc / 1e6, pc / 1e6);
  double cpu_ns;
  double ap = bench_apply(&st, &rm, &cpu_ns);
  double ap_cpu = 1e9 / cpu_ns;
  printf("| decode + apply in-process, 1 thread (stored+removed) | %.2fM "
         "blocks/s wall, %.2fM per CPU-s (%.0f ns/block) | >= 3M blocks/s on "
         "one core %s |\n",
         ap / 1e6, ap_cpu / 1e6, cpu_ns, ap_cpu >= 3e6 ? "(met)" : "(NOT met)");
  fflush(stdout);
  e2e_result r;
  memset(&r, 0, sizeof r);
  if (bench_e2e(&r) != 0) {
    printf("| end to end over ZeroMQ | failed to run | >= 1M blocks/s |\n");
  } else {
    printf("| end to end, kvidx publish -> ZeroMQ tcp loopback -> index | "
           "%.2fM blocks/s (%llu of %llu blocks in %.2f s) | >= 1M blocks/s "
           "%s |\n",
           r.rate / 1e6, (unsigned long long)r.blocks,
           (unsigned long long)r.expected, r.seconds,
           r.rate >= 1e6 ? "(met)" : "(NOT met)");
    printf("| indexer process CPU during end to end | %.2f s = %.0f%% of one "
           "core (%.0f ns/block); gaps %llu, queue drops %llu | - |\n",
           r.cpu, r.cpu_pct, r.blocks ? r.cpu / (double)r.blocks * 1e9 : 0,
           (unsigned long long)r.gaps, (unsigned long long)r.drops);
  }
  free_batches(&st);
  free_batches(&rm);
  free_batches(&st_map);
  return 0;
}

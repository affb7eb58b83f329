/*
 * test_ingest_concurrent.c: lookups, pod listings and stats read while the
 * ingestor applies events from several publishers on several workers, and
 * connect-mode pods are added and removed. Run under TSan by `make check`
 * (the file name contains "concurrent"). The final state must be exact.
 */
#include <zmq.h>

#include "ingest_util.h"
#include "test.h"

#define N_PODS 3
#define N_BATCHES 200
#define WAIT_MS 10000

typedef struct {
  tfix *f;
  int stop;
  uint64_t lookups;
} reader_arg;

static void count_pods(void *ud, const kvidx_pod_info *info) {
  int *n = ud;
  if (info->pod && info->state)
    (*n)++;
}

static void *reader(void *arg) {
  reader_arg *r = arg;
  uint64_t keys[16];
  for (int i = 0; i < 16; i++)
    keys[i] = (uint64_t)i + 1;
  while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
    (void)prefix_len(r->f->idx, "llama", "pod-0", keys, 16);
    int n = 0;
    kvidx_ingestor_pods(r->f->ing, count_pods, &n);
    kvidx_ingestor_stats s;
    kvidx_ingestor_get_stats(r->f->ing, &s);
    kvidx_applier_stats as;
    kvidx_applier_get_stats(r->f->applier, &as);
    __atomic_fetch_add(&r->lookups, 1, __ATOMIC_RELAXED);
  }
  return NULL;
}

static uint64_t key_of(int pod, int batch, int i) {
  return ((uint64_t)(pod + 1) << 40) | ((uint64_t)batch << 8) | (uint64_t)i;
}

TEST(lookups_during_ingestion) {
  tfix f;
  kvidx_ingestor_opts o;
  kvidx_ingestor_opts_init(&o);
  o.n_workers = 3;
  o.queue_capacity = 16; /* small: the receiver blocks now and then */
  tfix_open(&f, 1, &o);
  CHECK_OK(kvidx_ingestor_start(f.ing));
  tpub pubs[N_PODS];
  char topic[64];
  for (int p = 0; p < N_PODS; p++) {
    snprintf(topic, sizeof topic, "kv@pod-%d@llama", p);
    tpub_open(&pubs[p], f.bind_ep, 0, topic, NULL);
    tpub_sync(&pubs[p], f.ing);
  }
  reader_arg ra = {&f, 0, 0};
  pthread_t readers[2];
  for (int i = 0; i < 2; i++)
    pthread_create(&readers[i], NULL, reader, &ra);
  /* a connect-mode pod comes and goes while the others publish */
  char cep[64];
  snprintf(cep, sizeof cep, "tcp://127.0.0.1:%d", kvidx_test_free_port());
  tpub cp;
  tpub_open(&cp, cep, 1, "", NULL);
  kvidx_pod_endpoint pe = {cep, "pod-c", "llama", NULL};
  static uint8_t b[4096];
  for (int batch = 0; batch < N_BATCHES; batch++) {
    if (batch == 10)
      CHECK_OK(kvidx_ingestor_add_pod(f.ing, &pe));
    if (batch == N_BATCHES - 10)
      CHECK_OK(kvidx_ingestor_remove_pod(f.ing, "pod-c"));
    for (int p = 0; p < N_PODS; p++) {
      uint64_t k[4];
      for (int i = 0; i < 4; i++)
        k[i] = key_of(p, batch, i);
      size_t n =
          tb_stored(b, sizeof b, (kvidx_event_layout)(batch % 4), 0, k, 4, 0);
      tpub_send(&pubs[p], (uint64_t)batch, b, n, 0);
    }
    uint64_t ck = key_of(9, batch, 0);
    tpub_send(&cp, (uint64_t)batch, b,
              tb_stored(b, sizeof b, KVIDX_LAYOUT_ARRAY, 0, &ck, 1, 0), 0);
  }
  for (int p = 0; p < N_PODS; p++) {
    char pod[16];
    snprintf(pod, sizeof pod, "pod-%d", p);
    uint64_t last[4];
    for (int i = 0; i < 4; i++)
      last[i] = key_of(p, N_BATCHES - 1, i);
    CHECK(wait_prefix(f.idx, "llama", pod, last, 4, 4, WAIT_MS));
    for (int batch = 0; batch < N_BATCHES; batch++) {
      uint64_t k[4];
      for (int i = 0; i < 4; i++)
        k[i] = key_of(p, batch, i);
      CHECK_EQ_INT(prefix_len(f.idx, "llama", pod, k, 4), 4);
    }
  }
  __atomic_store_n(&ra.stop, 1, __ATOMIC_RELEASE);
  for (int i = 0; i < 2; i++)
    pthread_join(readers[i], NULL);
  CHECK(ra.lookups > 0);
  kvidx_ingestor_stats s;
  kvidx_ingestor_get_stats(f.ing, &s);
  CHECK_EQ_U64(s.gaps, 0);
  CHECK_EQ_U64(s.bad_messages, 0);
  tpub_close(&cp);
  for (int p = 0; p < N_PODS; p++)
    tpub_close(&pubs[p]);
  tfix_close(&f);
}

TEST_MAIN(TEST_CASE(lookups_during_ingestion))

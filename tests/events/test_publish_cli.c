/*
 * test_publish_cli.c: `kvidx publish` (the real binary) feeding a real
 * ingestor over ZeroMQ: hashes printed by the publisher are the keys the
 * index holds; seqs skipped by --skip-seqs are recovered through the
 * publisher's replay ROUTER; --remove and --clear empty the pod.
 */
#include "ingest_util.h"
#include "test.h"

/* Runs kvidx publish with args; reads the printed keys (one line per
 * prompt) into keys; returns the number of prompts. *out receives the
 * stream, to pclose after the checks. */
static int run_publish(const char *args, uint64_t keys[][8], int max,
                       FILE **out) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "%s/kvidx publish --print-keys --quiet %s",
           KVIDX_BINARY_DIR, args);
  FILE *p = popen(cmd, "r");
  CHECK(p != NULL);
  char line[2048];
  int n = 0;
  while (n < max && fgets(line, sizeof line, p)) {
    char *s = line;
    for (int i = 0; i < 8; i++) {
      char *end;
      keys[n][i] = strtoull(s, &end, 10);
      CHECK(end != s);
      s = end;
    }
    n++;
  }
  *out = p;
  return n;
}

TEST(publish_gap_recovered_by_replay) {
  char rep[64];
  snprintf(rep, sizeof rep, "tcp://127.0.0.1:%d", kvidx_test_free_port());
  kvidx_ingestor_opts o;
  kvidx_ingestor_opts_init(&o);
  o.replay_template = rep;
  tfix f;
  tfix_open(&f, 1, &o);
  CHECK_OK(kvidx_ingestor_start(f.ing));
  char args[1024];
  snprintf(args, sizeof args,
           "--endpoint %s --connect --pod pp --model mm --generate 3 "
           "--prompt-blocks 8 --shared-prefix-blocks 2 --blocks-per-event 4 "
           "--replay-endpoint %s --skip-seqs 1-2 --wait-ms 1000 "
           "--linger-ms 1500",
           f.bind_ep, rep);
  uint64_t keys[3][8];
  FILE *p;
  CHECK_EQ_INT(run_publish(args, keys, 3, &p), 3);
  for (int i = 0; i < 3; i++)
    if (!wait_prefix(f.idx, "mm", "pp", keys[i], 8, 8, 5000))
      FAILF("prompt %d: %d of 8 blocks", i,
            prefix_len(f.idx, "mm", "pp", keys[i], 8));
  CHECK(WAIT_STAT(f.ing, replays_ok, 1, 5000));
  kvidx_ingestor_stats s;
  kvidx_ingestor_get_stats(f.ing, &s);
  CHECK_EQ_U64(s.gaps, 1);
  CHECK_EQ_U64(s.replays_ok, 1);
  CHECK_EQ_U64(s.pods_cleared, 0);
  /* shared prefix: 8 + 6 + 6 blocks stored once each */
  kvidx_applier_stats as;
  kvidx_applier_get_stats(f.applier, &as);
  CHECK_EQ_U64(as.blocks_added, 20);
  pclose(p);
  tfix_close(&f);
}

TEST(publish_map_bytes_remove_clear) {
  tfix f;
  tfix_open(&f, 1, NULL);
  CHECK_OK(kvidx_ingestor_start(f.ing));
  char args[1024];
  snprintf(args, sizeof args,
           "--endpoint %s --connect --pod pq --model mm --generate 2 "
           "--prompt-blocks 8 --layout map --hash-format bytes --remove "
           "--clear --dp-rank 0 --wait-ms 1000",
           f.bind_ep);
  uint64_t keys[2][8];
  FILE *p;
  CHECK_EQ_INT(run_publish(args, keys, 2, &p), 2);
  CHECK_EQ_INT(pclose(p), 0);
  kvidx_applier_stats as;
  for (int t = 0; t < 2500; t++) {
    kvidx_applier_get_stats(f.applier, &as);
    if (as.events_cleared >= 1)
      break;
    wait_messages(f.ing, UINT64_MAX, 2);
  }
  CHECK_EQ_U64(as.events_cleared, 1);
  CHECK_EQ_U64(as.blocks_added, 16);
  CHECK_EQ_U64(as.blocks_removed, 16);
  CHECK_EQ_INT(prefix_len(f.idx, "mm", "pq", keys[0], 8), 0);
  tfix_close(&f);
}

/* The keys `kvidx publish` puts on the wire are vLLM's (the reference
 * vectors: tokens 1..32, PYTHONHASHSEED=0, block size 16). */
TEST(publish_keys_are_vllm_reference_vectors) {
  static const struct {
    const char *algo;
    uint64_t k1, k2;
  } v[] = {{"sha256", 7536218907325174565ULL, 9048537298590080561ULL},
           {"sha256_cbor", 3236607068019569386ULL, 2758186210834249151ULL},
           {"xxhash", 11844795890135418255ULL, 14253768906014549686ULL},
           {"xxhash_cbor", 882618318818381833ULL, 12890060145260523405ULL}};
  char path[512];
  snprintf(path, sizeof path, "%s/tokens.txt", kvidx_test_tmpdir());
  FILE *t = fopen(path, "w");
  CHECK(t != NULL);
  for (int i = 1; i <= 32; i++)
    fprintf(t, i < 32 ? "%d " : "%d\n", i);
  fclose(t);
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "%s/kvidx publish --endpoint tcp://127.0.0.1:%d --bind "
             "--tokens %s --seed 0 --algo %s --print-keys --quiet "
             "--wait-ms 0",
             KVIDX_BINARY_DIR, kvidx_test_free_port(), path, v[i].algo);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL);
    unsigned long long k1 = 0, k2 = 0;
    int got = fscanf(p, "%llu %llu", &k1, &k2);
    CHECK_EQ_INT(pclose(p), 0);
    CHECK_EQ_INT(got, 2);
    CHECK_EQ_U64(k1, v[i].k1);
    CHECK_EQ_U64(k2, v[i].k2);
  }
}

TEST(publish_rejects_bad_flags) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, "%s/kvidx publish --layout nope >/dev/null 2>&1",
           KVIDX_BINARY_DIR);
  int rc = system(cmd);
  CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 2);
  snprintf(cmd, sizeof cmd, "%s/kvidx publish --help >/dev/null",
           KVIDX_BINARY_DIR);
  rc = system(cmd);
  CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 0);
}

TEST_MAIN(TEST_CASE(publish_gap_recovered_by_replay),
          TEST_CASE(publish_map_bytes_remove_clear),
          TEST_CASE(publish_keys_are_vllm_reference_vectors),
          TEST_CASE(publish_rejects_bad_flags))

/*
 * test_python_publisher.c: a second opinion on the decoder and ingestor.
 * tests/events/py_publisher.py, written independently with msgpack-python
 * and pyzmq (Debian's /usr/bin/python3), publishes every layout to a real
 * ingestor over ZeroMQ and prints which keys each pod must hold; this test
 * checks the index.
 */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ingest_util.h"
#include "test.h"

TEST(python_publisher_every_layout) {
  if (access("/usr/bin/python3", X_OK) != 0)
    kvidx_test_skip("no /usr/bin/python3");
  tfix f;
  tfix_open(&f, 1, NULL);
  CHECK_OK(kvidx_ingestor_start(f.ing));
  int to_py[2], from_py[2];
  CHECK(pipe(to_py) == 0 && pipe(from_py) == 0);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    dup2(to_py[0], 0);
    dup2(from_py[1], 1);
    close(to_py[1]);
    close(from_py[0]);
    execl("/usr/bin/python3", "python3",
          KVIDX_SOURCE_DIR "/tests/events/py_publisher.py", f.bind_ep,
          (char *)NULL);
    _exit(127);
  }
  close(to_py[0]);
  close(from_py[1]);
  if (!wait_messages(f.ing, 1, 10000)) {
    kill(pid, SIGKILL);
    FAILF("no probe from the python publisher");
  }
  CHECK(write(to_py[1], "go\n", 3) == 3);
  FILE *in = fdopen(from_py[0], "r");
  char line[4096];
  int pods = 0;
  while (fgets(line, sizeof line, in)) {
    if (strncmp(line, "done", 4) == 0)
      break;
    char pod[64];
    int held, used;
    CHECK(sscanf(line, "%63s %d%n", pod, &held, &used) == 2);
    uint64_t keys[16];
    size_t n = 0;
    char *p = line + used;
    while (n < 16) {
      char *end;
      unsigned long long v = strtoull(p, &end, 10);
      if (end == p)
        break;
      keys[n++] = v;
      p = end;
    }
    if (!wait_prefix(f.idx, "py-model", pod, keys, n, held, 5000))
      FAILF("%s: holds %d of its keys, want %d", pod,
            prefix_len(f.idx, "py-model", pod, keys, n), held);
    pods++;
  }
  fclose(in);
  close(to_py[1]);
  int status;
  waitpid(pid, &status, 0);
  CHECK_EQ_INT(pods, 5);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  kvidx_ingestor_stats s;
  kvidx_ingestor_get_stats(f.ing, &s);
  CHECK_EQ_U64(s.bad_messages, 0);
  CHECK_EQ_U64(s.gaps, 0);
  kvidx_applier_stats as;
  kvidx_applier_get_stats(f.applier, &as);
  CHECK_EQ_U64(as.decode_errors, 0);
  CHECK_EQ_U64(as.events_unknown, 1);
  tfix_close(&f);
}

TEST_MAIN(TEST_CASE(python_publisher_every_layout))

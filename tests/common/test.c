/*
 * test.c: the runner behind TEST_MAIN: forks one child per case, enforces a
 * timeout, and prints PASS/FAIL/SKIP lines. See test.h.
 */
#include "test.h"

#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SKIP_EXIT_CODE 77

static const char *current_file;
static const char *current_case;
static char tmpdir[256];

static const char *base_name(const char *path) {
  const char *s = strrchr(path, '/');
  return s ? s + 1 : path;
}

void kvidx_test_fail(const char *file, int line, const char *fmt, ...) {
  char msg[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stdout, "FAIL %s/%s: %s:%d: %s\n", base_name(current_file),
          current_case, base_name(file), line, msg);
  fflush(stdout);
  _exit(1);
}

void kvidx_test_skip(const char *why) {
  fprintf(stdout, "SKIP %s/%s: %s\n", base_name(current_file), current_case,
          why);
  fflush(stdout);
  _exit(SKIP_EXIT_CODE);
}

const char *kvidx_test_tmpdir(void) {
  if (tmpdir[0] == '\0') {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/kvidx-test-XXXXXX");
    if (mkdtemp(tmpdir) == NULL) {
      FAILF("mkdtemp: %s", strerror(errno));
    }
  }
  return tmpdir;
}

int kvidx_test_free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    FAILF("socket: %s", strerror(errno));
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0)
    FAILF("bind: %s", strerror(errno));
  socklen_t len = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &len);
  close(fd);
  return ntohs(a.sin_port);
}

static void remove_tmpdir(void) {
  if (tmpdir[0] != '\0') {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) {
      /* best effort */
    }
  }
}

static int run_forked(const kvidx_test_case *c, int timeout_s) {
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) {
    printf("FAIL %s/%s: fork: %s\n", base_name(current_file), c->name,
           strerror(errno));
    return 1;
  }
  if (pid == 0) {
    setpgid(0, 0);
    c->fn();
    remove_tmpdir();
    printf("PASS %s/%s\n", base_name(current_file), c->name);
    fflush(stdout);
    _exit(0);
  }
  time_t deadline = time(NULL) + timeout_s;
  int status = 0;
  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid)
      break;
    if (time(NULL) > deadline) {
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      printf("FAIL %s/%s: timed out after %d s\n", base_name(current_file),
             c->name, timeout_s);
      return 1;
    }
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  /* The case's own process group may have left helpers behind. */
  kill(-pid, SIGKILL);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
    return 0;
  if (WIFEXITED(status) && WEXITSTATUS(status) == SKIP_EXIT_CODE)
    return 0;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 1)
    return 1; /* FAIL line already printed */
  if (WIFSIGNALED(status))
    printf("FAIL %s/%s: killed by signal %d\n", base_name(current_file),
           c->name, WTERMSIG(status));
  else
    printf("FAIL %s/%s: exit status %d\n", base_name(current_file), c->name,
           WEXITSTATUS(status));
  return 1;
}

int kvidx_test_main(const char *file, const kvidx_test_case *cases, size_t n,
                    int argc, char **argv) {
  (void)argc;
  (void)argv;
  current_file = file;
  const char *filter = getenv("KVIDX_TEST_FILTER");
  int nofork = getenv("KVIDX_TEST_NOFORK") != NULL;
  int timeout_s =
      getenv("KVIDX_TEST_TIMEOUT") ? atoi(getenv("KVIDX_TEST_TIMEOUT")) : 120;
  signal(SIGPIPE, SIG_IGN);
  int failed = 0;
  for (size_t i = 0; i < n; i++) {
    if (filter != NULL && strstr(cases[i].name, filter) == NULL)
      continue;
    current_case = cases[i].name;
    tmpdir[0] = '\0';
    if (nofork) {
      cases[i].fn();
      remove_tmpdir();
      printf("PASS %s/%s\n", base_name(file), cases[i].name);
    } else {
      failed += run_forked(&cases[i], timeout_s);
    }
  }
  fflush(stdout);
  return failed ? 1 : 0;
}

/*
 * redis_server.c: a real redis-server per test case (see redis_server.h).
 *
 * The readiness probe speaks raw RESP over a socket rather than going through
 * hiredis or the code under test, so a broken client cannot make the helper
 * believe the server is up (or down).
 */
#include "redis_server.h"

#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

#define REDIS_START_TIMEOUT_MS 5000
#define REDIS_START_ATTEMPTS 5
#define REDIS_MAX_ARGS 64

const char *kvidx_test_redis_binary(void) {
  static const char *const candidates[] = {"/usr/bin/redis-server",
                                           "/usr/local/bin/redis-server",
                                           "/usr/bin/valkey-server"};
  const char *env = getenv("KVIDX_REDIS_SERVER");
  if (env != NULL && access(env, X_OK) == 0)
    return env;
  for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++)
    if (access(candidates[i], X_OK) == 0)
      return candidates[i];
  return NULL;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/*
 * A free port below the kernel's ephemeral range (32768+ by default), as
 * tests/server/kvidxd_harness.py does. The kill/restart tests leave a port
 * without a listener while clients keep connecting to it; in the ephemeral
 * range such a connect() can be handed the same port as its source and
 * "succeed" against itself, and any outgoing connection could take the port
 * before the server binds it again.
 */
int kvidx_test_redis_free_port(void) {
  unsigned seed = (unsigned)getpid() ^ (unsigned)time(NULL);
  for (int attempt = 0; attempt < 1000; attempt++) {
    int port = 20000 + (int)(rand_r(&seed) % 12000);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
      break;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    if (ok)
      return port;
  }
  return kvidx_test_free_port();
}

/* 1 when 127.0.0.1:port answers PING with +PONG. */
static int answers_ping(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return 0;
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  struct timeval tv = {1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  int ok = 0;
  char buf[64];
  if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
      write(fd, "PING\r\n", 6) == 6) {
    ssize_t n = read(fd, buf, sizeof buf - 1);
    /* "-NOAUTH" also proves a live server (one started with a password). */
    ok = n > 0 && (buf[0] == '+' || strncmp(buf, "-NOAUTH", 7) == 0);
  }
  close(fd);
  return ok;
}

static void exec_server(const kvidx_test_redis *r, const char *bin) {
  char port[16];
  snprintf(port, sizeof port, "%d", r->port);
  const char *argv[REDIS_MAX_ARGS];
  size_t n = 0;
  const char *base[] = {
      bin,    "--port",       port, "--bind",      "127.0.0.1", "--save",
      "",     "--appendonly", "no", "--daemonize", "no",        "--dir",
      r->dir, "--logfile",    "",   "--loglevel",  "warning"};
  for (size_t i = 0; i < sizeof base / sizeof base[0]; i++)
    argv[n++] = base[i];
  if (r->opts.unix_socket) {
    argv[n++] = "--unixsocket";
    argv[n++] = r->sock_path;
    argv[n++] = "--unixsocketperm";
    argv[n++] = "700";
  }
  for (size_t i = 0; r->opts.extra_args && r->opts.extra_args[i]; i++)
    if (n + 1 < REDIS_MAX_ARGS)
      argv[n++] = r->opts.extra_args[i];
  argv[n] = NULL;
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  /* Quiet: the server's own log lines would interleave with PASS/FAIL. */
  if (freopen("/dev/null", "w", stdout) == NULL) {
    /* keep the inherited stdout */
  }
  execv(bin, (char *const *)argv);
  _exit(127);
}

/* Forks the server on r->port; 0 once it answers, -1 when it exited. */
static int spawn_and_wait(kvidx_test_redis *r, const char *bin) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0)
    FAILF("fork: %s", strerror(errno));
  if (pid == 0)
    exec_server(r, bin);
  r->pid = pid;
  for (int waited = 0; waited < REDIS_START_TIMEOUT_MS; waited += 10) {
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      r->pid = 0;
      return -1; /* exited: most likely the port was taken meanwhile */
    }
    if (answers_ping(r->port))
      return 0;
    sleep_ms(10);
  }
  kvidx_test_redis_kill(r);
  FAILF("redis-server on port %d did not answer within %d ms", r->port,
        REDIS_START_TIMEOUT_MS);
}

void kvidx_test_redis_start(kvidx_test_redis *r,
                            const kvidx_test_redis_opts *opts) {
  memset(r, 0, sizeof *r);
  if (opts != NULL)
    r->opts = *opts;
  const char *bin = kvidx_test_redis_binary();
  if (bin == NULL)
    kvidx_test_skip("redis-server not installed");
  static int seq;
  snprintf(r->dir, sizeof r->dir, "%s/redis-%d", kvidx_test_tmpdir(), seq++);
  if (mkdir(r->dir, 0700) != 0 && errno != EEXIST)
    FAILF("mkdir %s: %s", r->dir, strerror(errno));
  snprintf(r->sock_path, sizeof r->sock_path, "%s/redis.sock", r->dir);
  snprintf(r->unix_url, sizeof r->unix_url, "unix://%s", r->sock_path);
  for (int attempt = 0; attempt < REDIS_START_ATTEMPTS; attempt++) {
    r->port = r->opts.port > 0 ? r->opts.port : kvidx_test_redis_free_port();
    snprintf(r->url, sizeof r->url, "redis://127.0.0.1:%d", r->port);
    if (spawn_and_wait(r, bin) == 0)
      return;
  }
  FAILF("redis-server did not start after %d attempts", REDIS_START_ATTEMPTS);
}

void kvidx_test_redis_kill(kvidx_test_redis *r) {
  if (r->pid <= 0)
    return;
  kill(r->pid, SIGKILL);
  waitpid(r->pid, NULL, 0);
  r->pid = 0;
}

void kvidx_test_redis_restart(kvidx_test_redis *r) {
  const char *bin = kvidx_test_redis_binary();
  if (r->pid > 0)
    kvidx_test_redis_stop(r);
  /* The old socket may linger in TIME_WAIT; redis sets SO_REUSEADDR, so a
   * failure here means someone else took the port. Retry briefly. */
  for (int attempt = 0; attempt < REDIS_START_ATTEMPTS; attempt++) {
    if (spawn_and_wait(r, bin) == 0)
      return;
    sleep_ms(100);
  }
  FAILF("redis-server did not restart on port %d", r->port);
}

void kvidx_test_redis_stop(kvidx_test_redis *r) {
  if (r->pid <= 0)
    return;
  kill(r->pid, SIGTERM);
  for (int waited = 0; waited < 2000; waited += 10) {
    if (waitpid(r->pid, NULL, WNOHANG) == r->pid) {
      r->pid = 0;
      return;
    }
    sleep_ms(10);
  }
  kvidx_test_redis_kill(r);
}

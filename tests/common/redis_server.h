/*
 * redis_server.h: starts and stops a real redis-server for tests.
 *
 * The server listens on 127.0.0.1 on a free port (and optionally a unix
 * socket in the case's temporary directory), with persistence off, as a child
 * of the test process: it dies with the case's process group (the runner
 * kills it) and with the test process (PR_SET_PDEATHSIG), so a failing test
 * never leaves a server behind. When redis-server is not installed the start
 * call skips the case.
 *
 * Usage:
 *   kvidx_test_redis r;
 *   kvidx_test_redis_start(&r, NULL);   // FAILs the case on error
 *   ... use r.url ("redis://127.0.0.1:PORT") ...
 *   kvidx_test_redis_stop(&r);
 */
#ifndef KVIDX_TEST_REDIS_SERVER_H
#define KVIDX_TEST_REDIS_SERVER_H

#include <sys/types.h>

typedef struct {
  /* Extra redis-server arguments, NULL-terminated (e.g. "--requirepass",
   * "pw"); NULL for none. Must outlive the server (restart reuses them). */
  const char *const *extra_args;
  int unix_socket; /* also listen on a unix socket (path in sock_path) */
  int port;        /* listen on this port; 0 = pick a free one */
} kvidx_test_redis_opts;

typedef struct {
  pid_t pid; /* 0 when not running */
  int port;
  char url[64];        /* redis://127.0.0.1:PORT */
  char sock_path[256]; /* unix socket path when opts.unix_socket */
  char unix_url[300];  /* unix://<sock_path> */
  char dir[256];       /* working directory of the server */
  kvidx_test_redis_opts opts;
} kvidx_test_redis;

/* Starts a server on a free port and waits until it answers PING (5 s
 * bound). opts may be NULL. Skips the case when redis-server is missing;
 * fails it when the server does not come up. */
void kvidx_test_redis_start(kvidx_test_redis *r,
                            const kvidx_test_redis_opts *opts);
/* SIGKILLs the server (an abrupt crash) and reaps it. */
void kvidx_test_redis_kill(kvidx_test_redis *r);
/* Starts the server again on the same port (after kill/stop), empty. */
void kvidx_test_redis_restart(kvidx_test_redis *r);
/* SIGTERM, then SIGKILL after 2 s; reaps it. Safe when not running. */
void kvidx_test_redis_stop(kvidx_test_redis *r);

/* A free 127.0.0.1 port below the ephemeral range (see redis_server.c);
 * use it for a server that will be started later on a known port. */
int kvidx_test_redis_free_port(void);

/* Path of the redis-server binary, or NULL when not installed. */
const char *kvidx_test_redis_binary(void);

#endif

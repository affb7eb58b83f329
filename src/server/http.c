/*
 * http.c: the HTTP/JSON API of kvidxd on libmicrohttpd (docs/http-api.md).
 *
 * One acceptor thread takes connections off kvidxd's own listening socket
 * and hands each (MHD_add_connection) to the one of N single-threaded MHD
 * daemons (epoll, one per CPU by default) that has the fewest open
 * connections. MHD's own thread pool left the balance to whichever worker
 * woke first: in bench_http all 16 keep-alive connections of wrk landed on
 * one of the two workers, which halved the throughput. Each
 * connection stays on one thread and each request is answered synchronously
 * within the handler call that delivers the end of its body. So per-thread
 * scratch (request parser, score result, output buffer) can be reused across
 * requests without locks: the read path allocates only the request body and
 * MHD's response copy.
 *
 * Limits: a Content-Length over httpConfig.maxBodyBytes is refused with 413
 * before the body is read; a chunked body that grows past it is drained and
 * refused. Idle connections are closed after connectionTimeoutSeconds (slow
 * clients), and at most maxConnections are open at once.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "server/buf.h"
#include "server/config.h"
#include "server/metrics.h"
#include "server/metrics_redis.h"
#include "server/request.h"

typedef struct kvidx_server kvidx_server_;

/* One MHD daemon with its polling thread, and its open connections. */
typedef struct {
  kvidx_server_ *s;
  struct MHD_Daemon *daemon;
  atomic_int conns;
} http_worker;

struct kvidx_server {
  http_worker *workers;
  unsigned n_workers;
  int listen_fd;
  pthread_t acceptor;
  int acceptor_started;
  unsigned max_connections;
  kvidx_indexer *ix;
  kvidx__metrics metrics;
  size_t max_body, max_tokens, max_pods;
  int port;
  int shutdown_timeout_ms;
  atomic_int stopping;
};

/* Per request, from its first handler call to MHD's completion callback.
 * Lives in its connection's conn_ctx (one request at a time per
 * connection), so a keep-alive client's requests reuse one body buffer:
 * allocating and freeing a fresh ~60 KB buffer per request cost page faults
 * on every request (3.6% of kvidxd's CPU time in bench_http). */
typedef struct {
  kvidx__handler handler;
  const char *pod; /* DELETE /v1/pods/{pod}: points into the URL */
  char *body;
  size_t len, cap;
  int too_large;
  int status; /* of the queued response, 0 until then */
  uint64_t t0;
} request_ctx;

/* Per connection (MHD_OPTION_NOTIFY_CONNECTION). */
typedef struct {
  request_ctx rc;
} conn_ctx;

/* A body buffer larger than this is not kept for the connection's next
 * request (a client that once sent a huge body does not pin its memory). */
#define KVIDX_HTTP_KEEP_BODY (1u << 20)

/* Per polling thread, reused by every request the thread serves. */
typedef struct {
  kvidx__request req;
  kvidx_score_result res;
  kvidx_encoding enc;
  kvidx__buf out;
} scratch;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *p) {
  scratch *s = p;
  kvidx__request_free(&s->req);
  kvidx_score_result_free(&s->res);
  kvidx_encoding_free(&s->enc);
  kvidx__buf_free(&s->out);
  free(s);
}

static void scratch_key_make(void) {
  (void)pthread_key_create(&scratch_key, scratch_free);
}

static scratch *thread_scratch(void) {
  pthread_once(&scratch_once, scratch_key_make);
  scratch *s = pthread_getspecific(scratch_key);
  if (s == NULL) {
    s = calloc(1, sizeof *s);
    if (s == NULL)
      return NULL;
    kvidx__request_init(&s->req);
    kvidx_score_result_init(&s->res);
    kvidx_encoding_init(&s->enc);
    kvidx__buf_init(&s->out);
    if (pthread_setspecific(scratch_key, s) != 0) {
      scratch_free(s);
      return NULL;
    }
  }
  kvidx__buf_reset(&s->out);
  return s;
}

/* ------------------------------------------------------------------------ */
/* Responses                                                                */
/* ------------------------------------------------------------------------ */

static enum MHD_Result send_body(struct MHD_Connection *conn, int status,
                                 const char *type, const char *data, size_t len,
                                 const char *allow) {
  struct MHD_Response *resp =
      MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
  if (resp == NULL)
    return MHD_NO;
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
  if (allow != NULL)
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
  enum MHD_Result r = MHD_queue_response(conn, (unsigned)status, resp);
  MHD_destroy_response(resp);
  return r;
}

static enum MHD_Result send_json(struct MHD_Connection *conn, int status,
                                 kvidx__buf *b) {
  if (b->failed) {
    static const char oom[] = "{\"error\":\"out of memory\"}";
    return send_body(conn, 500, "application/json", oom, sizeof oom - 1, NULL);
  }
  return send_body(conn, status, "application/json", b->data, b->len, NULL);
}

/* {"error": msg} with status. */
static enum MHD_Result send_error(struct MHD_Connection *conn, int status,
                                  const char *msg, const char *allow) {
  kvidx__buf b;
  kvidx__buf_init(&b);
  kvidx__buf_puts(&b, "{\"error\":");
  kvidx__buf_json_str(&b, msg, strlen(msg));
  kvidx__buf_puts(&b, "}");
  enum MHD_Result r = b.failed ? send_body(conn, status, "application/json",
                                           "{\"error\":\"?\"}", 13, allow)
                               : send_body(conn, status, "application/json",
                                           b.data, b.len, allow);
  kvidx__buf_free(&b);
  return r;
}

/* The HTTP status of a library error on the read path. */
static int status_of(int err) {
  switch (err) {
  case KVIDX_ENOTFOUND:
    return 404;
  case KVIDX_EINVAL:
  case KVIDX_EUTF8:
  case KVIDX_EPARSE:
    return 400;
  case KVIDX_ELIMIT:
  case KVIDX_ETOOBIG:
    return 413;
  case KVIDX_EUNAVAIL:
  case KVIDX_ETIMEDOUT:
  case KVIDX_EIO:
    return 503;
  default:
    return 500;
  }
}

/* ------------------------------------------------------------------------ */
/* Handlers                                                                 */
/* ------------------------------------------------------------------------ */

static int request_error(kvidx__request *req, int st) {
  (void)req;
  switch (st) {
  case KVIDX_REQ_TOO_MANY:
    return 413;
  case KVIDX_REQ_NOMEM:
    return 500;
  default:
    return 400;
  }
}

static void write_scores(kvidx__buf *o, const char *model,
                         const kvidx_score_result *r) {
  kvidx__buf_puts(o, "{\"model\":");
  kvidx__buf_json_str(o, model, strlen(model));
  kvidx__buf_puts(o, ",\"tokens\":");
  kvidx__buf_u64(o, r->tokens);
  kvidx__buf_puts(o, ",\"blocks\":");
  kvidx__buf_u64(o, r->blocks);
  kvidx__buf_puts(o, ",\"scores\":{");
  for (size_t i = 0; i < r->n_scores; i++) {
    if (i)
      kvidx__buf_append(o, ",", 1);
    kvidx__buf_json_str(o, r->scores[i].pod, strlen(r->scores[i].pod));
    kvidx__buf_append(o, ":", 1);
    kvidx__buf_double(o, r->scores[i].score);
  }
  kvidx__buf_puts(o, "}}");
}

static void observe_stages(kvidx_server *s, const kvidx_score_result *r,
                           const char *model, int prompt) {
  kvidx__histogram_observe(&s->metrics.hash_latency, r->hash_ns);
  kvidx__histogram_observe(&s->metrics.lookup_latency, r->lookup_ns);
  uint32_t best = 0;
  for (size_t i = 0; i < r->n_scores; i++)
    best = r->scores[i].blocks > best ? r->scores[i].blocks : best;
  atomic_fetch_add_explicit(&s->metrics.max_pod_hits, best,
                            memory_order_relaxed);
  if (prompt && !r->prefix_store_hit) {
    kvidx__model_metrics *mm = kvidx__metrics_model(&s->metrics, model);
    kvidx__histogram_observe(&mm->latency, r->tokenize_ns);
    atomic_fetch_add_explicit(&mm->tokens, r->tokens, memory_order_relaxed);
  }
}

static int handle_score(kvidx_server *s, scratch *sc, const request_ctx *rc,
                        const char **err) {
  kvidx__request *req = &sc->req;
  int st = kvidx__request_parse(req, rc->body ? rc->body : "", rc->len,
                                s->max_tokens, s->max_pods);
  if (st != KVIDX_REQ_OK) {
    *err = req->error;
    return request_error(req, st);
  }
  if (req->model == NULL) {
    *err = "model: required (a string)";
    return 400;
  }
  if ((req->prompt != NULL) == (req->has_token_ids != 0)) {
    *err = "give exactly one of prompt (a string) or token_ids (an array)";
    return 400;
  }
  kvidx_score_request sr = {req->model, req->pods, req->n_pods, req->lora_name};
  int rc2 = req->prompt != NULL
                ? kvidx_indexer_score_prompt(s->ix, &sr, req->prompt,
                                             req->prompt_len, &sc->res)
                : kvidx_indexer_score_tokens(s->ix, &sr, req->token_ids,
                                             req->n_tokens, &sc->res);
  if (rc2 != 0) {
    if (rc2 == KVIDX_ENOTFOUND)
      snprintf(req->error, sizeof req->error, "model has no tokenizer: %.100s",
               req->model);
    else if (rc2 == KVIDX_EUNAVAIL)
      snprintf(req->error, sizeof req->error, "index backend unavailable");
    else
      snprintf(req->error, sizeof req->error, "%s", kvidx_strerror(rc2));
    *err = req->error;
    return status_of(rc2);
  }
  observe_stages(s, &sc->res, req->model, req->prompt != NULL);
  write_scores(&sc->out, req->model, &sc->res);
  return 200;
}

static int handle_tokenize(kvidx_server *s, scratch *sc, const request_ctx *rc,
                           const char **err) {
  kvidx__request *req = &sc->req;
  int st = kvidx__request_parse(req, rc->body ? rc->body : "", rc->len,
                                s->max_tokens, s->max_pods);
  if (st != KVIDX_REQ_OK) {
    *err = req->error;
    return request_error(req, st);
  }
  if (req->model == NULL || req->prompt == NULL) {
    *err = "model and prompt: required (strings)";
    return 400;
  }
  uint64_t t0 = kvidx__now_ns();
  int rc2 = kvidx_indexer_tokenize(s->ix, req->model, req->prompt,
                                   req->prompt_len, &sc->enc);
  if (rc2 != 0) {
    if (rc2 == KVIDX_ENOTFOUND)
      snprintf(req->error, sizeof req->error, "model has no tokenizer: %.100s",
               req->model);
    else
      snprintf(req->error, sizeof req->error, "%s", kvidx_strerror(rc2));
    *err = req->error;
    return status_of(rc2);
  }
  kvidx__model_metrics *mm = kvidx__metrics_model(&s->metrics, req->model);
  kvidx__histogram_observe(&mm->latency, kvidx__now_ns() - t0);
  atomic_fetch_add_explicit(&mm->tokens, sc->enc.n, memory_order_relaxed);
  kvidx__buf *o = &sc->out;
  kvidx__buf_puts(o, "{\"model\":");
  kvidx__buf_json_str(o, req->model, strlen(req->model));
  kvidx__buf_puts(o, ",\"token_ids\":[");
  for (size_t i = 0; i < sc->enc.n; i++) {
    if (i)
      kvidx__buf_append(o, ",", 1);
    kvidx__buf_u64(o, sc->enc.ids[i]);
  }
  kvidx__buf_puts(o, "]}");
  return 200;
}

static void write_pod(void *ud, const kvidx_indexer_pod *p) {
  kvidx__buf *o = ud;
  if (o->data != NULL && o->len > 0 && o->data[o->len - 1] == '}')
    kvidx__buf_append(o, ",", 1);
  kvidx__buf_puts(o, "{\"pod\":");
  kvidx__buf_json_str(o, p->pod, strlen(p->pod));
  kvidx__buf_puts(o, ",\"models\":[");
  if (p->model != NULL)
    kvidx__buf_json_str(o, p->model, strlen(p->model));
  kvidx__buf_puts(o, "],\"blocks\":{");
  for (int t = 0; t < KVIDX_TIER_COUNT; t++) {
    static const char *const names[] = {"gpu", "cpu", "fs", "obj", "storage"};
    kvidx__buf_printf(o, "%s\"%s\":", t ? "," : "", names[t]);
    kvidx__buf_u64(o, p->blocks[t]);
  }
  kvidx__buf_printf(o, "},\"state\":\"%s\"", p->state ? p->state : "");
  if (p->has_events) {
    kvidx__buf_printf(
        o,
        ",\"dp_rank\":%lld,\"last_seq\":%llu,"
        "\"last_event_unix_ms\":%lld,\"gaps\":%llu,"
        "\"replays_ok\":%llu,\"replays_failed\":%llu,"
        "\"clears\":%llu",
        (long long)p->dp_rank, (unsigned long long)p->last_seq,
        (long long)p->last_event_unix_ms, (unsigned long long)p->gaps,
        (unsigned long long)p->replays_ok,
        (unsigned long long)p->replays_failed, (unsigned long long)p->clears);
  }
  kvidx__buf_puts(o, "}");
}

static int handle_pods(kvidx_server *s, scratch *sc, const char **err) {
  kvidx__buf_puts(&sc->out, "{\"pods\":[");
  int rc = kvidx_indexer_pods(s->ix, write_pod, &sc->out);
  if (rc) {
    *err = kvidx_strerror(rc);
    return status_of(rc);
  }
  kvidx__buf_puts(&sc->out, "]}");
  return 200;
}

static int handle_delete(kvidx_server *s, scratch *sc, const request_ctx *rc,
                         const char **err) {
  int r = kvidx_indexer_delete_pod(s->ix, rc->pod);
  if (r == KVIDX_ENOTFOUND) {
    *err = "unknown pod";
    return 404;
  }
  if (r) {
    *err = kvidx_strerror(r);
    return status_of(r);
  }
  kvidx__buf_puts(&sc->out, "{\"deleted\":");
  kvidx__buf_json_str(&sc->out, rc->pod, strlen(rc->pod));
  kvidx__buf_puts(&sc->out, "}");
  return 200;
}

static int handle_readyz(kvidx_server *s, scratch *sc, const char **err) {
  if (atomic_load(&s->stopping)) {
    *err = "shutting down";
    return 503;
  }
  if (kvidx_indexer_ready(s->ix) != 0) {
    *err = "index backend unavailable";
    return 503;
  }
  kvidx__buf_puts(&sc->out, "{\"status\":\"ready\"}");
  return 200;
}

static enum MHD_Result handle_metrics(kvidx_server *s, scratch *sc,
                                      struct MHD_Connection *conn,
                                      int *status) {
  kvidx_indexer_stats st;
  int rc = kvidx_indexer_get_stats(s->ix, &st);
  /* Redis down: everything but the index's key counts is still filled, and
   * the backend error counter matters most right then. */
  kvidx__metrics_render(&s->metrics,
                        rc == 0 || rc == KVIDX_EUNAVAIL ? &st : NULL, &sc->out);
  kvidx__metrics_render_redis(kvidx_indexer_index(s->ix), &sc->out);
  if (sc->out.failed) {
    *status = 500;
    return send_error(conn, 500, "out of memory", NULL);
  }
  *status = 200;
  return send_body(conn, 200, "text/plain; version=0.0.4; charset=utf-8",
                   sc->out.data, sc->out.len, NULL);
}

/* Runs the handler of a complete request and queues its response. */
static enum MHD_Result dispatch(kvidx_server *s, struct MHD_Connection *conn,
                                request_ctx *rc, int *status) {
  scratch *sc = thread_scratch();
  if (sc == NULL) {
    *status = 500;
    return send_error(conn, 500, "out of memory", NULL);
  }
  const char *err = "internal error";
  switch (rc->handler) {
  case KVIDX_H_SCORE:
    *status = handle_score(s, sc, rc, &err);
    break;
  case KVIDX_H_TOKENIZE:
    *status = handle_tokenize(s, sc, rc, &err);
    break;
  case KVIDX_H_PODS:
    *status = handle_pods(s, sc, &err);
    break;
  case KVIDX_H_POD_DELETE:
    *status = handle_delete(s, sc, rc, &err);
    break;
  case KVIDX_H_METRICS:
    return handle_metrics(s, sc, conn, status);
  case KVIDX_H_HEALTHZ:
    kvidx__buf_puts(&sc->out, "{\"status\":\"ok\"}");
    *status = 200;
    break;
  case KVIDX_H_READYZ:
    *status = handle_readyz(s, sc, &err);
    break;
  default:
    *status = 404;
    err = "not found";
  }
  if (*status != 200) {
    if (*status >= 500 && *status != 503)
      kvidx_log_warn("http", "request failed status=%d error=\"%s\"", *status,
                     err);
    return send_error(conn, *status, err, NULL);
  }
  return send_json(conn, 200, &sc->out);
}

/* ------------------------------------------------------------------------ */
/* Routing and body accumulation                                            */
/* ------------------------------------------------------------------------ */

/* Maps (method, url) to a handler; *allow is set for a known path with the
 * wrong method (405). */
static kvidx__handler route(const char *method, const char *url,
                            const char **allow, const char **pod) {
  static const struct {
    const char *path, *method;
    kvidx__handler h;
  } routes[] = {{"/v1/score", "POST", KVIDX_H_SCORE},
                {"/v1/tokenize", "POST", KVIDX_H_TOKENIZE},
                {"/v1/pods", "GET", KVIDX_H_PODS},
                {"/metrics", "GET", KVIDX_H_METRICS},
                {"/healthz", "GET", KVIDX_H_HEALTHZ},
                {"/readyz", "GET", KVIDX_H_READYZ}};
  *allow = NULL;
  *pod = NULL;
  int is_head = strcmp(method, "HEAD") == 0;
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
    if (strcmp(url, routes[i].path) != 0)
      continue;
    if (strcmp(method, routes[i].method) == 0 ||
        (is_head && strcmp(routes[i].method, "GET") == 0))
      return routes[i].h;
    *allow = routes[i].method;
    return KVIDX_H_OTHER;
  }
  static const char prefix[] = "/v1/pods/";
  if (strncmp(url, prefix, sizeof prefix - 1) == 0 &&
      url[sizeof prefix - 1] != '\0') {
    if (strcmp(method, "DELETE") == 0) {
      *pod = url + sizeof prefix - 1;
      return KVIDX_H_POD_DELETE;
    }
    *allow = "DELETE";
  }
  return KVIDX_H_OTHER;
}

static int append_body(kvidx_server *s, request_ctx *rc, const char *data,
                       size_t n) {
  if (rc->too_large || rc->len + n > s->max_body) {
    rc->too_large = 1;
    return 0;
  }
  if (rc->len + n > rc->cap) {
    size_t cap = rc->cap ? rc->cap : 4096;
    while (cap < rc->len + n)
      cap *= 2;
    if (cap > s->max_body)
      cap = s->max_body;
    char *b = realloc(rc->body, cap);
    if (b == NULL)
      return -1;
    rc->body = b;
    rc->cap = cap;
  }
  memcpy(rc->body + rc->len, data, n);
  rc->len += n;
  return 0;
}

static request_ctx *begin_request(kvidx_server *s, struct MHD_Connection *conn,
                                  const char *method, const char *url,
                                  const char **allow) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  conn_ctx *cc = ci ? ci->socket_context : NULL;
  if (cc == NULL)
    return NULL;
  request_ctx *rc = &cc->rc;
  char *body = rc->body;
  size_t cap = rc->cap;
  memset(rc, 0, sizeof *rc);
  rc->body = body;
  rc->cap = cap;
  rc->t0 = kvidx__now_ns();
  rc->handler = route(method, url, allow, &rc->pod);
  atomic_fetch_add(&s->metrics.in_flight, 1);
  const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                               MHD_HTTP_HEADER_CONTENT_LENGTH);
  if (cl != NULL) {
    unsigned long long v = strtoull(cl, NULL, 10);
    if (v > s->max_body) {
      rc->too_large = 1;
    } else if (v > rc->cap) { /* one allocation of the announced size */
      char *b = realloc(rc->body, (size_t)v);
      if (b != NULL) {
        rc->body = b;
        rc->cap = (size_t)v;
      }
    }
  }
  return rc;
}

/* Drops a request's body buffer unless it is small enough to keep. */
static void release_body(request_ctx *rc) {
  if (rc->cap > KVIDX_HTTP_KEEP_BODY) {
    free(rc->body);
    rc->body = NULL;
    rc->cap = 0;
  }
  rc->len = 0;
}

static void on_connection(void *cls, struct MHD_Connection *conn,
                          void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
  http_worker *w = cls;
  (void)conn;
  if (code == MHD_CONNECTION_NOTIFY_STARTED) {
    *socket_context = calloc(1, sizeof(conn_ctx)); /* NULL: requests fail */
  } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
    conn_ctx *cc = *socket_context;
    if (cc != NULL)
      free(cc->rc.body);
    free(cc);
    *socket_context = NULL;
    atomic_fetch_sub(&w->conns, 1);
    atomic_fetch_sub(&w->s->metrics.conns_open, 1);
  }
}

/* Counts a request whose response is queued. Counted here rather than in
 * the completion callback, which MHD may run after the client already has
 * the answer: a client reading /metrics right after a request must see it. */
static void answered(kvidx_server *s, request_ctx *rc, int status) {
  rc->status = status;
  kvidx__metrics_request(&s->metrics, rc->handler, status,
                         kvidx__now_ns() - rc->t0);
}

static enum MHD_Result refuse(kvidx_server *s, request_ctx *rc,
                              struct MHD_Connection *conn, int status,
                              const char *msg, const char *allow) {
  answered(s, rc, status);
  return send_error(conn, status, msg, allow);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
  kvidx_server *s = cls;
  (void)version;
  request_ctx *rc = *con_cls;
  if (rc == NULL) {
    const char *allow;
    rc = begin_request(s, conn, method, url, &allow);
    if (rc == NULL)
      return MHD_NO;
    *con_cls = rc;
    /* Refusals go out before the body is read (MHD then closes the
     * connection instead of reading an unwanted body). */
    if (allow != NULL)
      return refuse(s, rc, conn, 405, "method not allowed", allow);
    if (rc->handler == KVIDX_H_OTHER)
      return refuse(s, rc, conn, 404, "not found", NULL);
    if (rc->too_large) {
      atomic_fetch_add(&s->metrics.bodies_too_large, 1);
      return refuse(s, rc, conn, 413, "request body too large", NULL);
    }
    return MHD_YES;
  }
  if (*upload_data_size != 0) {
    if (append_body(s, rc, upload_data, *upload_data_size))
      return MHD_NO;
    *upload_data_size = 0;
    return MHD_YES;
  }
  if (rc->too_large) {
    atomic_fetch_add(&s->metrics.bodies_too_large, 1);
    return refuse(s, rc, conn, 413, "request body too large", NULL);
  }
  int status = 500;
  enum MHD_Result r = dispatch(s, conn, rc, &status);
  answered(s, rc, status);
  release_body(rc); /* no longer needed once the response is built */
  return r;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  kvidx_server *s = cls;
  request_ctx *rc = *con_cls;
  (void)conn;
  if (rc == NULL)
    return;
  (void)toe; /* counted when answered; an abandoned request is not */
  atomic_fetch_sub(&s->metrics.in_flight, 1);
  release_body(rc);
  *con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
  (void)cls;
  char msg[512];
  vsnprintf(msg, sizeof msg, fmt, ap);
  size_t n = strlen(msg);
  while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
    msg[--n] = '\0';
  kvidx_log_debug("http", "microhttpd: %s", msg);
}

/* ------------------------------------------------------------------------ */
/* Start and stop                                                           */
/* ------------------------------------------------------------------------ */

static int resolve_addr(const char *host, int port,
                        struct sockaddr_storage *ss) {
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  char port_s[8];
  snprintf(port_s, sizeof port_s, "%d", port);
  if (getaddrinfo(host[0] ? host : NULL, port_s, &hints, &res) != 0 ||
      res == NULL)
    return KVIDX_ECONFIG;
  memset(ss, 0, sizeof *ss);
  memcpy(ss, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  return 0;
}

/* The listening socket (kvidxd's, not MHD's: see the top of the file). */
static int open_listener(const struct sockaddr_storage *ss) {
  int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  int on = 1;
  socklen_t len = ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                            : sizeof(struct sockaddr_in);
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
      bind(fd, (const struct sockaddr *)ss, len) != 0 ||
      listen(fd, 1024) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static int bound_port(int fd) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
    return -1;
  if (ss.ss_family == AF_INET6)
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* Accepts until the listening socket is shut down; each connection goes to
 * the worker with the fewest open connections. Over maxConnections, a new
 * connection is closed at once. */
static void *acceptor_main(void *arg) {
  kvidx_server *s = arg;
  for (;;) {
    struct sockaddr_storage peer;
    socklen_t len = sizeof peer;
    int fd = accept4(s->listen_fd, (struct sockaddr *)&peer, &len,
                     SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      if (atomic_load(&s->stopping))
        break;
      if (errno == EINTR || errno == ECONNABORTED)
        continue;
      /* EMFILE and the like: back off rather than spin */
      kvidx_log_warn("http", "accept failed errno=%d", errno);
      usleep(10000);
      continue;
    }
    if (atomic_load(&s->stopping)) {
      close(fd);
      break;
    }
    if (atomic_load(&s->metrics.conns_open) >= (int64_t)s->max_connections) {
      atomic_fetch_add(&s->metrics.conns_refused, 1);
      close(fd);
      continue;
    }
    http_worker *w = &s->workers[0];
    for (unsigned i = 1; i < s->n_workers; i++)
      if (atomic_load(&s->workers[i].conns) < atomic_load(&w->conns))
        w = &s->workers[i];
    atomic_fetch_add(&w->conns, 1);
    atomic_fetch_add(&s->metrics.conns_open, 1);
    if (MHD_add_connection(w->daemon, fd, (const struct sockaddr *)&peer,
                           len) != MHD_YES) {
      /* MHD closed the socket; no close notification follows */
      atomic_fetch_sub(&w->conns, 1);
      atomic_fetch_sub(&s->metrics.conns_open, 1);
    }
  }
  return NULL;
}

static void stop_workers(kvidx_server *s) {
  for (unsigned i = 0; i < s->n_workers; i++)
    if (s->workers[i].daemon != NULL)
      MHD_stop_daemon(s->workers[i].daemon);
  free(s->workers);
  s->workers = NULL;
}

int kvidx_server_start(const kvidx_config *c, kvidx_indexer *ix,
                       kvidx_server **out) {
  char host[256];
  int port;
  struct sockaddr_storage ss;
  if (kvidx__parse_host_port(c->http_address, host, sizeof host, &port) ||
      resolve_addr(host, port, &ss)) {
    kvidx_log_error("http", "bad HTTP address addr=%s", c->http_address);
    return KVIDX_ECONFIG;
  }
  kvidx_server *s = calloc(1, sizeof *s);
  if (s == NULL)
    return KVIDX_ENOMEM;
  s->ix = ix;
  s->max_body = (size_t)c->http_max_body;
  s->max_tokens = (size_t)c->max_tokens;
  s->max_pods = c->max_pods;
  s->shutdown_timeout_ms = c->shutdown_timeout_ms;
  s->max_connections = (unsigned)c->max_connections;
  kvidx__metrics_init(&s->metrics);
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  unsigned threads =
      c->http_threads ? c->http_threads : (unsigned)(ncpu > 0 ? ncpu : 1);
  s->listen_fd = open_listener(&ss);
  s->workers = calloc(threads, sizeof *s->workers);
  if (s->listen_fd < 0 || s->workers == NULL) {
    kvidx_log_error("http", "cannot listen addr=%s errno=%d", c->http_address,
                    errno);
    goto fail;
  }
  s->n_workers = threads;
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                   MHD_USE_ITC | MHD_USE_TURBO | MHD_USE_ERROR_LOG |
                   MHD_USE_NO_LISTEN_SOCKET;
  for (unsigned i = 0; i < threads; i++) {
    http_worker *w = &s->workers[i];
    w->s = s;
    w->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)c->conn_timeout_s, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)c->max_connections, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)(64 * 1024), MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, w,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_END);
    if (w->daemon == NULL) {
      kvidx_log_error("http", "cannot start HTTP worker %u", i);
      goto fail;
    }
  }
  s->port = bound_port(s->listen_fd);
  if (pthread_create(&s->acceptor, NULL, acceptor_main, s) != 0) {
    kvidx_log_error("http", "cannot start the acceptor thread");
    goto fail;
  }
  s->acceptor_started = 1;
  kvidx_log_info("http", "listening addr=%s port=%d threads=%u", host, s->port,
                 threads);
  *out = s;
  return 0;
fail:
  stop_workers(s);
  if (s->listen_fd >= 0)
    close(s->listen_fd);
  kvidx__metrics_destroy(&s->metrics);
  free(s);
  return KVIDX_EIO;
}

int kvidx_server_port(const kvidx_server *s) {
  return s->port;
}

int kvidx_server_shutdown_timeout_ms(const kvidx_server *s) {
  return s->shutdown_timeout_ms;
}

void kvidx_server_logf(kvidx_log_level level, const char *component,
                       const char *fmt, ...) {
  if (!kvidx__log_enabled(level))
    return;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  kvidx__log(level, component, "%s", msg);
}

int kvidx_server_stop(kvidx_server *s, int timeout_ms) {
  if (s == NULL)
    return 0;
  if (timeout_ms < 0)
    timeout_ms = s->shutdown_timeout_ms;
  atomic_store(&s->stopping, 1);
  /* Stop accepting (shutdown wakes the blocked accept); connections already
   * open finish their requests. */
  (void)shutdown(s->listen_fd, SHUT_RDWR);
  if (s->acceptor_started)
    pthread_join(s->acceptor, NULL);
  close(s->listen_fd);
  int rc = 0;
  for (int waited = 0; atomic_load(&s->metrics.in_flight) > 0; waited += 10) {
    if (waited >= timeout_ms) {
      kvidx_log_warn("http",
                     "shutdown timeout, dropping requests in_flight=%lld",
                     (long long)atomic_load(&s->metrics.in_flight));
      rc = KVIDX_ETIMEDOUT;
      break;
    }
    usleep(10000);
  }
  stop_workers(s);
  kvidx__metrics_destroy(&s->metrics);
  free(s);
  return rc;
}

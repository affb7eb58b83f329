/*
 * redis_scripts.h: the Lua scripts of the Redis index and how they are run.
 *
 * Each index operation that reads-then-writes (add with copy counts, remove
 * that deletes the last field, clearing a pod) is one Lua script, because
 * Redis runs a script atomically: two replicas removing the last copies of
 * the same block cannot both see "one copy left", and a reader never sees a
 * half-applied batch. The prefix lookup is a script too, so that it costs one
 * round trip and still stops at the first missing block on the server.
 *
 * Scripts are sent with EVALSHA (the SHA-1 is computed locally once); a
 * NOSCRIPT reply (a restarted server, SCRIPT FLUSH) is answered by resending
 * the same call with EVAL, which also caches the script again.
 */
#ifndef KVIDX_INDEX_REDIS_SCRIPTS_H
#define KVIDX_INDEX_REDIS_SCRIPTS_H

#include <hiredis/hiredis.h>
#include <stddef.h>

typedef struct {
  const char *name; /* for logs */
  const char *source;
  char sha1[41]; /* lowercase hex, filled by kvidx__redis_scripts_init */
} kvidx__redis_script;

/* The scripts; see redis_scripts.c for their KEYS/ARGV contracts. */
extern kvidx__redis_script kvidx__redis_script_lookup;
extern kvidx__redis_script kvidx__redis_script_add;
extern kvidx__redis_script kvidx__redis_script_remove;
extern kvidx__redis_script kvidx__redis_script_clear;

/* Computes the SHA-1 of every script (idempotent, thread-safe). */
int kvidx__redis_scripts_init(void);

/*
 * One script call in a pipeline. argv[0] and argv[1] are reserved: the
 * runner fills them with "EVALSHA" and the SHA-1 (or "EVAL" and the source).
 * argv[2] is numkeys, then the keys, then the arguments. argvlen may be NULL
 * when every argument is NUL-terminated.
 */
typedef struct {
  int argc;
  const char **argv;
  size_t *argvlen;
} kvidx__redis_call;

/*
 * Runs calls[0..n) of script s pipelined on c (one round trip), resending
 * with EVAL the calls that got NOSCRIPT. replies[i] receives each reply
 * (possibly an error reply; the caller frees them with freeReplyObject).
 * Returns 0, or KVIDX_EUNAVAIL on an I/O or protocol error (c is then
 * unusable; replies are all NULL).
 */
int kvidx__redis_eval_many(redisContext *c, const kvidx__redis_script *s,
                           kvidx__redis_call *calls, size_t n,
                           redisReply **replies);

#endif

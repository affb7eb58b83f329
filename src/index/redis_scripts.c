/*
 * redis_scripts.c: the Lua side of the Redis index (see redis_scripts.h) and
 * the EVALSHA/EVAL runner.
 *
 * Key layout the scripts maintain (docs/redis.md has the full description):
 *   <model>@<hash>          hash, field "<pod>@<tier>" = copy count (llm-d's
 *                           layout; llm-d writes "" which counts as 1 copy)
 *   kvidx:pod:<pod>@<tier>  set of the block keys the pod holds in that tier
 *   kvidx:stats             hash {keys, entries}: distinct block keys and
 *                           (block, pod) entries written through kvidx
 *
 * Block keys are touched by the scripts without being listed in KEYS when a
 * pod is cleared (they come out of the pod's set). That is fine on a single
 * Redis/Valkey server, which is what this backend supports; Redis Cluster
 * would need hash tags and is out of scope.
 */
#include "index/redis_scripts.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvidx.h"

/* Most calls a single pipeline holds (the index chunks its batches). */
#define MAX_PIPELINE 4096

/*
 * KEYS: block keys in prefix order. ARGV: the eligible fields "<pod>@<tier>"
 * (every tier of every eligible pod; none: all pods). Returns, per key in
 * order, the fields of eligible pods, and stops before the first key with
 * none (missing key, wrong type, or only other pods). A key whose field set
 * equals the previous key's is returned as the integer 0 instead:
 * consecutive blocks of a prefix are mostly held by the same pods, so this
 * shrinks the reply (and the client's parsing) by an order of magnitude on
 * long prompts.
 */
kvidx__redis_script kvidx__redis_script_lookup = {
    "lookup",
    "local eligible = nil\n"
    "if #ARGV > 0 then\n"
    "  eligible = {}\n"
    "  for i = 1, #ARGV do eligible[ARGV[i]] = true end\n"
    "end\n"
    "local out = {}\n"
    "local prev, prev_n = nil, -1\n"
    "for i = 1, #KEYS do\n"
    "  local fields = redis.pcall('HKEYS', KEYS[i])\n"
    "  if type(fields) ~= 'table' or fields.err then break end\n"
    "  if eligible then\n"
    "    local kept = {}\n"
    "    for j = 1, #fields do\n"
    "      if eligible[fields[j]] then kept[#kept + 1] = fields[j] end\n"
    "    end\n"
    "    fields = kept\n"
    "  end\n"
    "  local n = #fields\n"
    "  if n == 0 then break end\n"
    "  local same = n == prev_n\n"
    "  if same then\n"
    "    for j = 1, n do\n"
    "      if not prev[fields[j]] then same = false break end\n"
    "    end\n"
    "  end\n"
    "  if same then\n"
    "    out[i] = 0\n"
    "  else\n"
    "    prev, prev_n = {}, n\n"
    "    for j = 1, n do prev[fields[j]] = true end\n"
    "    out[i] = fields\n"
    "  end\n"
    "end\n"
    "return out\n",
    {0}};

/* Shared by add/remove/clear: does the key still hold the pod in one of the
 * other tiers (ARGV[first..])? One HMGET rather than a HEXISTS per tier. */
#define HELD_ELSEWHERE_LUA                                                     \
  "local function held(k, first)\n"                                            \
  "  local v = redis.call('HMGET', k, unpack(ARGV, first))\n"                  \
  "  for t = 1, #v do\n"                                                       \
  "    if v[t] then return true end\n"                                         \
  "  end\n"                                                                    \
  "  return false\n"                                                           \
  "end\n"
#define STATS_LUA                                                              \
  "local function bump(dk, de)\n"                                              \
  "  if dk ~= 0 then redis.call('HINCRBY', KEYS[1], 'keys', dk) end\n"         \
  "  if de ~= 0 then redis.call('HINCRBY', KEYS[1], 'entries', de) end\n"      \
  "end\n"

/*
 * KEYS[1] kvidx:stats, KEYS[2] kvidx:pod:<pod>@<tier>, KEYS[3..] block keys.
 * ARGV[1] field "<pod>@<tier>", ARGV[2] TTL in seconds (0: none), ARGV[3..]
 * the pod's fields for the other tiers. Adds one copy per key. A block key
 * that exists with another type (someone else's data) is skipped, not an
 * error: failing the call would mark the pod for resync on every write.
 * Returns {new keys, new entries, skipped keys}.
 */
// clang-format off
kvidx__redis_script kvidx__redis_script_add = {
    "add",
    HELD_ELSEWHERE_LUA STATS_LUA
    "local field = ARGV[1]\n"
    "local ttl = tonumber(ARGV[2])\n"
    "local nk, ne, bad = 0, 0, 0\n"
    "for i = 3, #KEYS do\n"
    "  local k = KEYS[i]\n"
    "  local v = redis.pcall('HGET', k, field)\n"
    "  if type(v) == 'table' and v.err then\n"
    "    bad = bad + 1\n"
    "  else\n"
    "    if v then\n"
    "      redis.call('HSET', k, field, (tonumber(v) or 1) + 1)\n"
    "    else\n"
    "      if redis.call('EXISTS', k) == 0 then\n"
    "        nk, ne = nk + 1, ne + 1\n"
    "      elseif not held(k, 3) then\n"
    "        ne = ne + 1\n"
    "      end\n"
    "      redis.call('HSET', k, field, 1)\n"
    "    end\n"
    "    redis.call('SADD', KEYS[2], k)\n"
    "    if ttl > 0 then redis.call('EXPIRE', k, ttl) end\n"
    "  end\n"
    "end\n"
    "if ttl > 0 then redis.call('EXPIRE', KEYS[2], ttl) end\n"
    "bump(nk, ne)\n"
    "return {nk, ne, bad}\n",
    {0}};
// clang-format on

/*
 * KEYS and ARGV as for add, without the TTL: ARGV[1] field, ARGV[2..] other
 * tiers' fields. Removes one copy per key; the last copy deletes the field
 * (and Redis deletes a hash with no field left). Keys of another type are
 * skipped. Returns {copies removed, misses, skipped keys}.
 */
// clang-format off
kvidx__redis_script kvidx__redis_script_remove = {
    "remove",
    HELD_ELSEWHERE_LUA STATS_LUA
    "local field = ARGV[1]\n"
    "local removed, misses, bad, gk, ge = 0, 0, 0, 0, 0\n"
    "for i = 3, #KEYS do\n"
    "  local k = KEYS[i]\n"
    "  local v = redis.pcall('HGET', k, field)\n"
    "  if type(v) == 'table' and v.err then\n"
    "    bad = bad + 1\n"
    "  elseif not v then\n"
    "    misses = misses + 1\n"
    "  else\n"
    "    removed = removed + 1\n"
    "    local c = tonumber(v) or 1\n"
    "    if c > 1 then\n"
    "      redis.call('HSET', k, field, c - 1)\n"
    "    else\n"
    "      redis.call('HDEL', k, field)\n"
    "      redis.call('SREM', KEYS[2], k)\n"
    "      if redis.call('EXISTS', k) == 0 then\n"
    "        gk, ge = gk + 1, ge + 1\n"
    "      elseif not held(k, 2) then\n"
    "        ge = ge + 1\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "bump(-gk, -ge)\n"
    "return {removed, misses, bad}\n",
    {0}};
// clang-format on

/*
 * KEYS[1] kvidx:stats, KEYS[2] kvidx:pod:<pod>@<tier>. ARGV[1] field,
 * ARGV[2] batch size, ARGV[3..] other tiers' fields. Pops up to a batch of
 * the pod's keys in that tier and deletes the pod's field from each, so a
 * big pod is cleared in bounded steps that never block the server for long.
 * Returns {keys popped, keys left in the set}.
 */
kvidx__redis_script kvidx__redis_script_clear = {
    "clear",
    HELD_ELSEWHERE_LUA STATS_LUA
    "local field = ARGV[1]\n"
    "local ks = redis.call('SPOP', KEYS[2], tonumber(ARGV[2]))\n"
    "local gk, ge = 0, 0\n"
    "for _, k in ipairs(ks) do\n"
    "  local ok = redis.pcall('HDEL', k, field)\n"
    "  if ok == 1 then\n"
    "    if redis.call('EXISTS', k) == 0 then\n"
    "      gk = gk + 1\n"
    "      ge = ge + 1\n"
    "    elseif not held(k, 3) then\n"
    "      ge = ge + 1\n"
    "    end\n"
    "  end\n"
    "end\n"
    "bump(-gk, -ge)\n"
    "return {#ks, redis.call('SCARD', KEYS[2])}\n",
    {0}};

static kvidx__redis_script *const all_scripts[] = {
    &kvidx__redis_script_lookup, &kvidx__redis_script_add,
    &kvidx__redis_script_remove, &kvidx__redis_script_clear};

static pthread_once_t scripts_once = PTHREAD_ONCE_INIT;
static int scripts_rc;

static void compute_shas(void) {
  for (size_t i = 0; i < sizeof all_scripts / sizeof all_scripts[0]; i++) {
    kvidx__redis_script *s = all_scripts[i];
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(s->source, strlen(s->source), md, &len, EVP_sha1(), NULL) !=
            1 ||
        len != 20) {
      scripts_rc = KVIDX_ESYS;
      return;
    }
    for (unsigned int j = 0; j < len; j++)
      snprintf(s->sha1 + 2 * j, 3, "%02x", md[j]);
  }
}

int kvidx__redis_scripts_init(void) {
  pthread_once(&scripts_once, compute_shas);
  return scripts_rc;
}

static int is_noscript(const redisReply *r) {
  return r != NULL && r->type == REDIS_REPLY_ERROR &&
         strncmp(r->str, "NOSCRIPT", 8) == 0;
}

static int append_call(redisContext *c, kvidx__redis_call *call,
                       const char *verb, const char *body) {
  call->argv[0] = verb;
  call->argv[1] = body;
  if (call->argvlen != NULL) {
    call->argvlen[0] = strlen(verb);
    call->argvlen[1] = strlen(body);
  }
  return redisAppendCommandArgv(c, call->argc, call->argv, call->argvlen) ==
                 REDIS_OK
             ? 0
             : KVIDX_EUNAVAIL;
}

/* Reads n replies; on failure frees what was read. */
static int read_replies(redisContext *c, size_t n, redisReply **replies,
                        const size_t *which) {
  for (size_t i = 0; i < n; i++) {
    void *r = NULL;
    size_t at = which ? which[i] : i;
    if (redisGetReply(c, &r) != REDIS_OK || r == NULL)
      return KVIDX_EUNAVAIL;
    replies[at] = r;
  }
  return 0;
}

static void free_replies(redisReply **replies, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (replies[i] != NULL)
      freeReplyObject(replies[i]);
    replies[i] = NULL;
  }
}

int kvidx__redis_eval_many(redisContext *c, const kvidx__redis_script *s,
                           kvidx__redis_call *calls, size_t n,
                           redisReply **replies) {
  if (n > MAX_PIPELINE)
    return KVIDX_EINVAL;
  memset(replies, 0, n * sizeof *replies);
  for (size_t i = 0; i < n; i++)
    if (append_call(c, &calls[i], "EVALSHA", s->sha1) != 0)
      return KVIDX_EUNAVAIL;
  if (read_replies(c, n, replies, NULL) != 0) {
    free_replies(replies, n);
    return KVIDX_EUNAVAIL;
  }
  /* NOSCRIPT means the call did not run at all, so resending it is safe.
   * Calls of one batch commute (adds increment, removes decrement), so
   * running the resent ones after the others gives the same state. */
  size_t retry[MAX_PIPELINE];
  size_t n_retry = 0;
  for (size_t i = 0; i < n; i++) {
    if (is_noscript(replies[i])) {
      freeReplyObject(replies[i]);
      replies[i] = NULL;
      retry[n_retry++] = i;
    }
  }
  if (n_retry == 0)
    return 0;
  for (size_t i = 0; i < n_retry; i++)
    if (append_call(c, &calls[retry[i]], "EVAL", s->source) != 0) {
      free_replies(replies, n);
      return KVIDX_EUNAVAIL;
    }
  if (read_replies(c, n_retry, replies, retry) != 0) {
    free_replies(replies, n);
    return KVIDX_EUNAVAIL;
  }
  return 0;
}

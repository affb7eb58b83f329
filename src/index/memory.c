/*
 * memory.c: the in-memory block index backend.
 *
 * Layout (see docs/index.md for the numbers):
 *  - One table set per model (models are few; keeping them apart means a
 *    slot needs no model field). Each set has 64 shards selected by the top
 *    bits of a mixed 64-bit hash of the block key.
 *  - A shard is an open-addressing table (linear probing, backward-shift
 *    deletion: no tombstones) of 16-byte slots {key, a, b}. A block held by
 *    one pod keeps its holder inline (a = pod incarnation, b = packed copy
 *    counts); a block held by several pods points into the shard's holder
 *    arena (a = EXT | offset, b = count | size class), where a holder is 8
 *    bytes: incarnation id (32 bits) + 5 tiers x 6-bit copy counts.
 *  - No per-entry malloc: arenas grow by doubling and recycle freed arrays
 *    through per-size-class free lists.
 *
 * Concurrency: one sequence lock per shard (seqlock.h). Writers take its
 * mutex, one shard at a time, per key, after the pod's mutex (order: pod ->
 * shard; nothing takes a pod mutex under a shard lock). Lookups take no lock
 * (their only store is raising a slot's CLOCK age, see age_touch): they read
 * a key's slot and holders with atomic loads and re-read if a writer entered
 * the shard meanwhile. Tables and
 * arenas that a writer replaces are freed only once no lookup can be
 * reading them (epoch.h). No lock is global.
 *
 * Eviction: CLOCK per shard with 2-bit ages (the top bits of a slot's b):
 * an add sets age >= 1, a lookup hit sets 3 (only when lower, so hot
 * keys cost no writes); the hand decrements ages and evicts the first slot at
 * age 0. A block that is being looked up outlives blocks only stored.
 */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "index/index_impl.h"
#include "index/pod_registry.h"
#include "index/epoch.h"
#include "index/seqlock.h"
#include "index/table_alloc.h"

/* ---- constants -----------------------------------------------------------*/

#define SHARD_BITS 6
#define N_SHARDS (1u << SHARD_BITS)
#define INITIAL_SLOTS 16u
/* Grow (or evict) above 80% load: linear probing stays short. */
#define LOAD_NUM 4u
#define LOAD_DEN 5u
#define SLOT_EMPTY 0xFFFFFFFFu
#define SLOT_EXT 0x80000000u
#define EXT_COUNT_MASK 0x00FFFFFFu
#define EXT_CLASS_SHIFT 24
#define EXT_CLASS_MASK 0x1Fu
/* The top two bits of b hold the slot's CLOCK age in both forms. */
#define AGE_SHIFT 30
#define AGE_MASK (3u << AGE_SHIFT)
#define N_CLASSES 21 /* holder arrays of 2 .. 2^21 entries */
#define ARENA_MAX_OFFSET 0x7FFFFFFEu
/* Packed copy counts (30 bits): bits 0..4 say "tier t holds >= 1 copy" (so
 * the tier set of a holder is one AND), bits 5 + 5t .. 9 + 5t hold that
 * tier's count - 1. Counts saturate at COUNT_MAX. */
#define COUNT_BITS 5u
#define COUNT_FIELD ((1u << COUNT_BITS) - 1u)
#define COUNT_MAX (COUNT_FIELD + 1u)
#define PRESENCE_MASK ((1u << KVIDX_TIER_COUNT) - 1u)
/* Slots the sweeper visits per key written; reclaims cleared pods' holders. */
#define SWEEP_STEP 4u
/* Keys ahead of the current one whose slots are prefetched. */
#define PREFETCH_AHEAD 8u
/* Lookups prefetch further ahead: they do less work per key than writes. */
#define LOOKUP_SLOT_AHEAD 16u
#define HASH_RING 32u
#define ENGINE_STRIPES 16u

typedef struct {
  uint64_t key;
  uint32_t a;
  uint32_t b;
} slot;

/* Writers own the plain fields under the lock's mutex. Lookups read only
 * the r_* copies (published with release stores) and the table and arena
 * contents, all with atomic loads. Tables and arenas only grow, and a new
 * one is published pointer first, size second, so a reader that loads the
 * size first and the pointer second never indexes past the array it got. */
typedef struct {
  _Alignas(64) kvidx__seqlock lock;
  _Atomic(slot *) r_slots;
  _Atomic(size_t) r_mask;
  _Atomic(uint64_t *) r_arena;
  _Atomic(uint32_t) r_arena_cap;
  slot *slots;                   /* guarded by lock */
  size_t mask;                   /* capacity - 1 */
  size_t used;                   /* occupied slots */
  size_t hand;                   /* CLOCK hand */
  size_t sweep;                  /* sweeper cursor */
  uint64_t *arena;               /* holder arrays */
  uint32_t arena_len, arena_cap; /* in holders */
  uint32_t free_head[N_CLASSES];
  uint64_t arena_live; /* holders in arrays handed out */
} shard;

typedef struct {
  uint64_t key;
  uint64_t val;
} engine_slot;

typedef struct {
  pthread_rwlock_t lock;
  engine_slot *slots;
  uint8_t *used;
  size_t mask, n;
} engine_stripe;

typedef struct {
  shard shards[N_SHARDS];
  engine_stripe engine[ENGINE_STRIPES];
} model_table;

typedef struct {
  kvidx_index base; /* must stay first */
  kvidx_index_opts opts;
  kvidx__pod_registry reg;
  kvidx__table_pool tables; /* slot arrays, on huge pages */
  kvidx__epoch epoch;       /* frees replaced tables and arenas */
  pthread_mutex_t model_lock;
  _Atomic(model_table *) models[KVIDX_INDEX_MAX_MODELS];
  _Atomic int64_t keys;
  _Atomic int64_t bytes; /* allocated: tables + arena capacity */
  /* Tables + holder arrays in use: the quantity max_bytes bounds, kept only
   * when max_bytes is set (an atomic add per holder-array move on a line all
   * writers share cost ~8% of insert throughput). */
  _Atomic int64_t live_bytes;
  _Atomic uint64_t adds, removes, remove_misses, evictions, clears,
      pod_evictions;
} mem_index;

static inline void live_add(mem_index *m, int64_t delta) {
  if (m->opts.max_bytes != 0)
    atomic_fetch_add_explicit(&m->live_bytes, delta, memory_order_relaxed);
}

/* ---- hashing and packing -------------------------------------------------*/

static inline uint64_t mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return x;
}

static inline shard *shard_of(model_table *mt, uint64_t h) {
  return &mt->shards[h >> (64 - SHARD_BITS)];
}

static inline uint32_t tier_count(uint32_t counts, unsigned tier) {
  if (!((counts >> tier) & 1u))
    return 0;
  return 1u +
         ((counts >> (KVIDX_TIER_COUNT + tier * COUNT_BITS)) & COUNT_FIELD);
}

static inline uint32_t tier_set(uint32_t counts, unsigned tier, uint32_t c) {
  uint32_t shift = KVIDX_TIER_COUNT + tier * COUNT_BITS;
  counts &= ~((COUNT_FIELD << shift) | (1u << tier));
  if (c == 0)
    return counts;
  return counts | (1u << tier) | ((c - 1u) << shift);
}

static inline uint8_t tier_bits(uint32_t counts) {
  return (uint8_t)(counts & PRESENCE_MASK);
}

static inline uint64_t holder_pack(uint32_t inc, uint32_t counts) {
  return (uint64_t)inc | ((uint64_t)counts << 32);
}
static inline uint32_t holder_inc(uint64_t h) {
  return (uint32_t)h;
}
static inline uint32_t holder_counts(uint64_t h) {
  return (uint32_t)(h >> 32);
}

static inline size_t class_cap(unsigned cls) {
  return (size_t)2u << cls;
}

/* ---- slot and holder stores ----------------------------------------------*/
/* Lookups read slots and holder arrays while writers change them (seqlock),
 * so every store to them is an atomic store (a plain mov on x86) and so is
 * every load of b, which lookups also write (CLOCK age bits, atomic OR).
 * Writers read key, a and holders with plain loads: only writers store
 * them, under the shard mutex. Freshly allocated tables and arenas are
 * filled with plain stores before they are published (release). */

static inline uint32_t get_b(const slot *s) {
  return __atomic_load_n(&s->b, __ATOMIC_RELAXED);
}
static inline void put_a(slot *s, uint32_t v) {
  __atomic_store_n(&s->a, v, __ATOMIC_RELAXED);
}
static inline void put_b(slot *s, uint32_t v) {
  __atomic_store_n(&s->b, v, __ATOMIC_RELAXED);
}
static inline void put_slot(slot *s, uint64_t key, uint32_t a, uint32_t b) {
  __atomic_store_n(&s->key, key, __ATOMIC_RELAXED);
  put_a(s, a);
  put_b(s, b);
}
static inline void put_holder(uint64_t *p, uint64_t h) {
  __atomic_store_n(p, h, __ATOMIC_RELAXED);
}
/* memmove() with atomic stores. */
static void holders_move(uint64_t *dst, const uint64_t *src, size_t n) {
  if (dst < src) {
    for (size_t i = 0; i < n; i++)
      put_holder(&dst[i], src[i]);
  } else {
    for (size_t i = n; i-- > 0;)
      put_holder(&dst[i], src[i]);
  }
}

/* ---- shard tables --------------------------------------------------------*/

static size_t table_bytes(size_t cap) {
  return cap * sizeof(slot);
}

static void table_release(void *ctx, void *p, size_t bytes) {
  kvidx__table_free(ctx, p, bytes);
}

/* Publishes the writer's current table to lookups: pointer, then size. */
static void shard_publish_table(shard *sh) {
  atomic_store_explicit(&sh->r_slots, sh->slots, memory_order_release);
  atomic_store_explicit(&sh->r_mask, sh->mask, memory_order_release);
}

static slot *table_new(mem_index *m, size_t cap) {
  slot *slots = kvidx__table_alloc(&m->tables, table_bytes(cap));
  if (slots != NULL)
    memset(slots, 0xFF, table_bytes(cap)); /* a == SLOT_EMPTY */
  return slots;
}

static int shard_init(mem_index *m, shard *sh) {
  memset(sh, 0, sizeof *sh);
  kvidx__seq_init(&sh->lock);
  for (unsigned c = 0; c < N_CLASSES; c++)
    sh->free_head[c] = SLOT_EMPTY;
  sh->slots = table_new(m, INITIAL_SLOTS);
  if (sh->slots == NULL)
    return KVIDX_ENOMEM;
  sh->mask = INITIAL_SLOTS - 1;
  shard_publish_table(sh);
  atomic_fetch_add(&m->bytes, (int64_t)table_bytes(INITIAL_SLOTS));
  live_add(m, (int64_t)table_bytes(INITIAL_SLOTS));
  return 0;
}

static void shard_destroy(mem_index *m, shard *sh) {
  if (sh->slots != NULL)
    kvidx__table_free(&m->tables, sh->slots, table_bytes(sh->mask + 1));
  kvidx__table_free(&m->tables, sh->arena,
                    (size_t)sh->arena_cap * sizeof(uint64_t));
  kvidx__seq_destroy(&sh->lock);
}

/* CLOCK ages: the top 2 bits of each slot's b. A lookup hit sets 3, an add
 * at least 1; the hand decrements and evicts at 0. So a block that was looked
 * up survives three passes of the hand, a block only stored one. Lookups
 * raise ages with an atomic OR without any lock, so a writer's concurrent
 * update of b may undo one: the age is a hint, and the slot stays valid
 * (only the two age bits are ORed, in every form of b). */
#define AGE_ADD 1u
#define AGE_HIT 3u

static inline unsigned age_get(const slot *s) {
  return get_b(s) >> AGE_SHIFT;
}

/* Raises the age to at least v (skipped when already there, so hot keys
 * cause no cache-line writes). */
static inline void age_touch(slot *s, unsigned v) {
  if (age_get(s) < v)
    __atomic_fetch_or(&s->b, v << AGE_SHIFT, __ATOMIC_RELAXED);
}

/* Sets the age; writers only. */
static inline void age_set(slot *s, unsigned v) {
  put_b(s, (get_b(s) & ~AGE_MASK) | (v << AGE_SHIFT));
}

/* Position of key, or SIZE_MAX. Writers only (lookups: read_holders). */
static inline size_t shard_find(const shard *sh, uint64_t key, uint64_t h) {
  size_t mask = sh->mask;
  for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
    const slot *s = &sh->slots[i];
    if (s->a == SLOT_EMPTY)
      return SIZE_MAX;
    if (s->key == key)
      return i;
  }
}

static size_t home_of(const shard *sh, uint64_t key) {
  return (size_t)mix64(key) & sh->mask;
}

/* Removes the slot at pos by shifting later members of its probe cluster
 * back (no tombstones). Holders must already be released. */
static void slot_delete(mem_index *m, shard *sh, size_t pos) {
  size_t mask = sh->mask, i = pos, j = pos;
  for (;;) {
    j = (j + 1) & mask;
    if (sh->slots[j].a == SLOT_EMPTY)
      break;
    size_t k = home_of(sh, sh->slots[j].key);
    /* Move j into the hole at i unless its home lies cyclically in (i, j]. */
    int stays = (i <= j) ? (i < k && k <= j) : (i < k || k <= j);
    if (stays)
      continue;
    const slot *from = &sh->slots[j]; /* the age moves with the slot */
    put_slot(&sh->slots[i], from->key, from->a, get_b(from));
    i = j;
  }
  put_a(&sh->slots[i], SLOT_EMPTY);
  sh->used--;
  atomic_fetch_sub_explicit(&m->keys, 1, memory_order_relaxed);
}

/* Doubles the table. The old one is retired, not freed: lookups may still
 * be reading it. */
static int shard_grow(mem_index *m, shard *sh) {
  size_t old_cap = sh->mask + 1, cap = old_cap * 2, mask = cap - 1;
  kvidx__retired *node = kvidx__epoch_node_new();
  slot *old = sh->slots, *slots = node != NULL ? table_new(m, cap) : NULL;
  if (slots == NULL) {
    free(node);
    return KVIDX_ENOMEM;
  }
  for (size_t i = 0; i < old_cap; i++) {
    if (old[i].a == SLOT_EMPTY)
      continue;
    size_t j = (size_t)mix64(old[i].key) & mask;
    while (slots[j].a != SLOT_EMPTY)
      j = (j + 1) & mask;
    slots[j] = (slot){old[i].key, old[i].a, get_b(&old[i])};
  }
  sh->slots = slots;
  sh->mask = mask;
  shard_publish_table(sh);
  kvidx__epoch_retire(&m->epoch, node, old, table_bytes(old_cap), table_release,
                      &m->tables);
  int64_t delta = (int64_t)(table_bytes(cap) - table_bytes(old_cap));
  atomic_fetch_add_explicit(&m->bytes, delta, memory_order_relaxed);
  live_add(m, delta);
  return 0;
}

/* ---- holder arena --------------------------------------------------------*/

/* Grows the arena to at least `need` more holders. The new arena is filled
 * before it is published; the old one is retired (lookups may read it). */
static int arena_grow(mem_index *m, shard *sh, uint32_t need) {
  uint64_t cap = sh->arena_cap ? (uint64_t)sh->arena_cap * 2 : 64;
  while (cap < (uint64_t)sh->arena_len + need)
    cap *= 2;
  if (cap > ARENA_MAX_OFFSET)
    cap = ARENA_MAX_OFFSET;
  kvidx__retired *node = sh->arena != NULL ? kvidx__epoch_node_new() : NULL;
  uint64_t *arena = NULL;
  if (sh->arena == NULL || node != NULL)
    arena = kvidx__table_alloc(&m->tables, cap * sizeof *arena);
  if (arena == NULL) {
    free(node);
    return KVIDX_ENOMEM;
  }
  if (sh->arena_len != 0)
    memcpy(arena, sh->arena, sh->arena_len * sizeof *arena);
  atomic_fetch_add_explicit(&m->bytes,
                            (int64_t)((cap - sh->arena_cap) * sizeof *arena),
                            memory_order_relaxed);
  uint64_t *old = sh->arena;
  size_t old_cap = sh->arena_cap;
  sh->arena = arena;
  sh->arena_cap = (uint32_t)cap;
  atomic_store_explicit(&sh->r_arena, arena, memory_order_release);
  atomic_store_explicit(&sh->r_arena_cap, (uint32_t)cap, memory_order_release);
  if (old != NULL)
    kvidx__epoch_retire(&m->epoch, node, old, old_cap * sizeof *arena,
                        table_release, &m->tables);
  return 0;
}

static int arena_alloc(mem_index *m, shard *sh, unsigned cls, uint32_t *off) {
  uint32_t need = (uint32_t)class_cap(cls);
  if (sh->free_head[cls] != SLOT_EMPTY) {
    *off = sh->free_head[cls];
    sh->free_head[cls] = (uint32_t)sh->arena[*off];
  } else {
    if ((uint64_t)sh->arena_len + need > ARENA_MAX_OFFSET)
      return KVIDX_ELIMIT;
    if (sh->arena_len + need > sh->arena_cap) {
      int rc = arena_grow(m, sh, need);
      if (rc != 0)
        return rc;
    }
    *off = sh->arena_len;
    sh->arena_len += need;
  }
  sh->arena_live += need;
  live_add(m, (int64_t)(need * sizeof(uint64_t)));
  return 0;
}

static void arena_free(mem_index *m, shard *sh, unsigned cls, uint32_t off) {
  size_t cap = class_cap(cls);
  put_holder(&sh->arena[off], sh->free_head[cls]);
  sh->free_head[cls] = off;
  sh->arena_live -= cap;
  live_add(m, -(int64_t)(cap * sizeof(uint64_t)));
}

/* ---- holder lists of a slot (writers) ------------------------------------*/

static inline uint32_t h_count(const slot *s) {
  return (s->a & SLOT_EXT) ? (get_b(s) & EXT_COUNT_MASK) : 1u;
}

static inline unsigned h_class(const slot *s) {
  return (get_b(s) >> EXT_CLASS_SHIFT) & EXT_CLASS_MASK;
}

/* Holders of s (pointer into the arena, or to *tmp for an inline holder). */
static inline const uint64_t *h_view(const shard *sh, const slot *s,
                                     uint64_t *tmp) {
  if (s->a & SLOT_EXT)
    return &sh->arena[s->a & ~SLOT_EXT];
  *tmp = holder_pack(s->a, get_b(s) & ~AGE_MASK);
  return tmp;
}

static inline void h_set(shard *sh, slot *s, uint32_t i, uint64_t h) {
  if (s->a & SLOT_EXT) {
    put_holder(&sh->arena[(s->a & ~SLOT_EXT) + i], h);
  } else {
    put_a(s, holder_inc(h));
    put_b(s, holder_counts(h) | (get_b(s) & AGE_MASK));
  }
}

/* Moves the n holders of s to a fresh array of class cls. */
static int h_move(mem_index *m, shard *sh, slot *s, unsigned cls) {
  uint64_t tmp;
  uint32_t n = h_count(s), off;
  int rc = arena_alloc(m, sh, cls, &off);
  if (rc != 0)
    return rc;
  /* After arena_alloc: it may have moved the arena. */
  holders_move(&sh->arena[off], h_view(sh, s, &tmp), n);
  if (s->a & SLOT_EXT)
    arena_free(m, sh, h_class(s), s->a & ~SLOT_EXT);
  put_a(s, SLOT_EXT | off);
  put_b(s, n | ((uint32_t)cls << EXT_CLASS_SHIFT) | (get_b(s) & AGE_MASK));
  return 0;
}

static int h_append(mem_index *m, shard *sh, slot *s, uint64_t h) {
  uint32_t n = h_count(s);
  if (n >= EXT_COUNT_MASK)
    return KVIDX_ELIMIT;
  if (!(s->a & SLOT_EXT) || n == class_cap(h_class(s))) {
    unsigned cls = (s->a & SLOT_EXT) ? h_class(s) + 1 : 0;
    if (cls >= N_CLASSES)
      return KVIDX_ELIMIT;
    int rc = h_move(m, sh, s, cls);
    if (rc != 0)
      return rc;
  }
  put_holder(&sh->arena[(s->a & ~SLOT_EXT) + n], h);
  put_b(s, get_b(s) + 1);
  return 0;
}

/* Erases holder i keeping the order (oldest first). Returns the new count;
 * at 0 the caller deletes the slot. */
static uint32_t h_erase(mem_index *m, shard *sh, slot *s, uint32_t i) {
  if (!(s->a & SLOT_EXT))
    return 0;
  uint64_t *hs = &sh->arena[s->a & ~SLOT_EXT];
  uint32_t n = h_count(s);
  holders_move(&hs[i], &hs[i + 1], n - 1 - i);
  n--;
  put_b(s, get_b(s) - 1);
  if (n == 1) {
    uint64_t h = hs[0];
    arena_free(m, sh, h_class(s), s->a & ~SLOT_EXT);
    put_a(s, holder_inc(h));
    put_b(s, holder_counts(h) | (get_b(s) & AGE_MASK));
  } else if (h_class(s) > 0 && n <= class_cap(h_class(s)) / 4) {
    /* Shrink lazily (at a quarter) so add/remove near a boundary does not
     * move the array every time. A failed move just keeps the big array. */
    (void)h_move(m, sh, s, h_class(s) - 1);
  }
  return n;
}

/* ---- holder bookkeeping --------------------------------------------------*/

/* Drops a holder's contribution to its incarnation's counters and its
 * reference (the incarnation may be recycled after this). */
static void holder_release(mem_index *m, uint64_t h) {
  kvidx__incarnation *inc = kvidx__inc_get(&m->reg, holder_inc(h));
  uint32_t counts = holder_counts(h);
  if (counts != 0)
    atomic_fetch_sub_explicit(&inc->entries, 1, memory_order_relaxed);
  for (unsigned t = 0; t < KVIDX_TIER_COUNT; t++) {
    if (tier_count(counts, t) != 0)
      atomic_fetch_sub_explicit(&inc->blocks[t], 1, memory_order_relaxed);
  }
  kvidx__inc_unref(&m->reg, holder_inc(h));
}

/* Removes the holders of cleared pods from the slot at pos. Returns 1 when
 * that emptied (and deleted) the slot. */
static int slot_prune(mem_index *m, shard *sh, size_t pos) {
  if (!kvidx__pod_registry_has_dead(&m->reg))
    return 0;
  slot *s = &sh->slots[pos];
  uint64_t tmp;
  for (uint32_t i = h_count(s); i-- > 0;) {
    uint64_t h = h_view(sh, s, &tmp)[i];
    if (kvidx__inc_alive(kvidx__inc_get(&m->reg, holder_inc(h))))
      continue;
    kvidx__inc_unref(&m->reg, holder_inc(h));
    if (h_erase(m, sh, s, i) == 0) {
      slot_delete(m, sh, pos);
      return 1;
    }
  }
  return 0;
}

/* Evicts the whole slot at pos (capacity bound). */
static void slot_drop(mem_index *m, shard *sh, size_t pos) {
  slot *s = &sh->slots[pos];
  uint64_t tmp;
  const uint64_t *hs = h_view(sh, s, &tmp);
  uint32_t n = h_count(s);
  for (uint32_t i = 0; i < n; i++)
    holder_release(m, hs[i]);
  if (s->a & SLOT_EXT)
    arena_free(m, sh, h_class(s), s->a & ~SLOT_EXT);
  slot_delete(m, sh, pos);
}

/* Moves the CLOCK hand until it evicts one slot. Returns 0 when the shard
 * is empty. Bounded: four sweeps of the hand bring every age to 0. */
static int shard_evict_one(mem_index *m, shard *sh) {
  if (sh->used == 0)
    return 0;
  size_t cap = sh->mask + 1;
  for (size_t step = 0; step < 4 * cap + 1; step++) {
    size_t pos = sh->hand & sh->mask;
    slot *s = &sh->slots[pos];
    if (s->a == SLOT_EMPTY || age_get(s) > 0) {
      if (s->a != SLOT_EMPTY)
        age_set(s, age_get(s) - 1);
      sh->hand = pos + 1;
      continue;
    }
    slot_drop(m, sh, pos);
    atomic_fetch_add_explicit(&m->evictions, 1, memory_order_relaxed);
    return 1;
  }
  return 0;
}

/* Incremental sweeper: visits a few slots and drops cleared pods' holders,
 * so memory held by cleared pods is reclaimed without any full scan. */
static void shard_sweep(mem_index *m, shard *sh) {
  if (!kvidx__pod_registry_has_dead(&m->reg))
    return;
  for (unsigned k = 0; k < SWEEP_STEP && sh->used > 0; k++) {
    size_t pos = sh->sweep & sh->mask;
    if (sh->slots[pos].a != SLOT_EMPTY && slot_prune(m, sh, pos))
      continue; /* a later slot may have shifted into pos */
    sh->sweep = pos + 1;
  }
}

/* ---- add / remove in one shard (write lock held) -------------------------*/

/* Makes room for one more key: grows the table, or evicts when a bound
 * (max_keys, max_bytes) forbids growing. */
/* Counter updates of one add batch, applied once at its end (one atomic
 * per counter per batch instead of four per key). */
typedef struct {
  int64_t keys, entries, blocks;
  uint32_t refs;
} add_delta;

static int shard_make_room(mem_index *m, shard *sh, const add_delta *d) {
  const kvidx_index_opts *o = &m->opts;
  if (o->max_keys != 0 &&
      atomic_load_explicit(&m->keys, memory_order_relaxed) + d->keys >=
          (int64_t)o->max_keys)
    shard_evict_one(m, sh);
  size_t cap = sh->mask + 1;
  if ((sh->used + 1) * LOAD_DEN <= cap * LOAD_NUM)
    return 0;
  if (o->max_bytes != 0) {
    int64_t growth = (int64_t)(table_bytes(cap * 2) - table_bytes(cap));
    if (atomic_load_explicit(&m->live_bytes, memory_order_relaxed) + growth >
            (int64_t)o->max_bytes &&
        shard_evict_one(m, sh))
      return 0;
  }
  return shard_grow(m, sh);
}

static int shard_add(mem_index *m, shard *sh, uint64_t key, uint64_t h,
                     uint32_t inc_id, kvidx_tier tier, add_delta *d) {
  size_t pos = shard_find(sh, key, h);
  if (pos != SIZE_MAX && slot_prune(m, sh, pos))
    pos = SIZE_MAX;
  if (pos == SIZE_MAX) {
    int rc = shard_make_room(m, sh, d);
    if (rc != 0)
      return rc;
    pos = (size_t)h & sh->mask;
    while (sh->slots[pos].a != SLOT_EMPTY)
      pos = (pos + 1) & sh->mask;
    put_slot(&sh->slots[pos], key, inc_id,
             tier_set(0, tier, 1) | (AGE_ADD << AGE_SHIFT));
    sh->used++;
    /* With a key bound, other writers must see the count at once. */
    if (m->opts.max_keys != 0)
      atomic_fetch_add_explicit(&m->keys, 1, memory_order_relaxed);
    else
      d->keys++;
    d->refs++;
    d->entries++;
    d->blocks++;
    return 0;
  }
  slot *s = &sh->slots[pos];
  age_touch(s, AGE_ADD);
  uint64_t tmp;
  const uint64_t *hs = h_view(sh, s, &tmp);
  uint32_t n = h_count(s);
  for (uint32_t i = 0; i < n; i++) {
    if (holder_inc(hs[i]) != inc_id)
      continue;
    uint32_t counts = holder_counts(hs[i]), c = tier_count(counts, tier);
    d->blocks += c == 0;
    if (c < COUNT_MAX) /* saturates; see docs/index.md */
      h_set(sh, s, i, holder_pack(inc_id, tier_set(counts, tier, c + 1)));
    return 0;
  }
  uint64_t nh = holder_pack(inc_id, tier_set(0, tier, 1));
  if (m->opts.max_pods_per_key != 0 && n >= m->opts.max_pods_per_key) {
    /* llm-d's podCacheSize: the least recently added pod makes room. */
    holder_release(m, hs[0]);
    atomic_fetch_add_explicit(&m->pod_evictions, 1, memory_order_relaxed);
    if (n == 1) {
      h_set(sh, s, 0, nh);
    } else {
      uint64_t *w = &sh->arena[s->a & ~SLOT_EXT];
      holders_move(&w[0], &w[1], n - 1);
      put_holder(&w[n - 1], nh);
    }
  } else {
    int rc = h_append(m, sh, s, nh);
    if (rc != 0)
      return rc;
  }
  d->refs++;
  d->entries++;
  d->blocks++;
  return 0;
}

/* Returns 1 when a copy was removed, 0 for a miss. */
static int shard_remove(mem_index *m, shard *sh, uint64_t key, uint64_t h,
                        uint32_t inc_id, kvidx_tier tier) {
  size_t pos = shard_find(sh, key, h);
  if (pos == SIZE_MAX || slot_prune(m, sh, pos))
    return 0;
  slot *s = &sh->slots[pos];
  uint64_t tmp;
  const uint64_t *hs = h_view(sh, s, &tmp);
  uint32_t n = h_count(s);
  for (uint32_t i = 0; i < n; i++) {
    if (holder_inc(hs[i]) != inc_id)
      continue;
    uint32_t counts = holder_counts(hs[i]), c = tier_count(counts, tier);
    if (c == 0)
      return 0;
    counts = tier_set(counts, tier, c - 1);
    if (c > 1) {
      h_set(sh, s, i, holder_pack(inc_id, counts));
      return 1;
    }
    kvidx__incarnation *inc = kvidx__inc_get(&m->reg, inc_id);
    atomic_fetch_sub_explicit(&inc->blocks[tier], 1, memory_order_relaxed);
    if (counts != 0) {
      h_set(sh, s, i, holder_pack(inc_id, counts));
      return 1;
    }
    atomic_fetch_sub_explicit(&inc->entries, 1, memory_order_relaxed);
    kvidx__inc_unref(&m->reg, inc_id);
    if (h_erase(m, sh, s, i) == 0) {
      if (s->a & SLOT_EXT)
        arena_free(m, sh, h_class(s), s->a & ~SLOT_EXT);
      slot_delete(m, sh, pos);
    }
    return 1;
  }
  return 0;
}

/* ---- model tables --------------------------------------------------------*/

static void model_table_free(mem_index *m, model_table *mt) {
  for (unsigned i = 0; i < N_SHARDS; i++)
    shard_destroy(m, &mt->shards[i]);
  for (unsigned i = 0; i < ENGINE_STRIPES; i++) {
    free(mt->engine[i].slots);
    free(mt->engine[i].used);
    pthread_rwlock_destroy(&mt->engine[i].lock);
  }
  free(mt);
}

static model_table *model_get(mem_index *m, uint32_t model, int create) {
  model_table *mt =
      atomic_load_explicit(&m->models[model], memory_order_acquire);
  if (mt != NULL || !create)
    return mt;
  pthread_mutex_lock(&m->model_lock);
  mt = atomic_load_explicit(&m->models[model], memory_order_acquire);
  if (mt == NULL) {
    mt = aligned_alloc(64, (sizeof *mt + 63) / 64 * 64);
    if (mt != NULL) {
      memset(mt, 0, sizeof *mt);
      int rc = 0;
      unsigned i;
      for (i = 0; i < N_SHARDS && rc == 0; i++)
        rc = shard_init(m, &mt->shards[i]);
      for (unsigned e = 0; e < ENGINE_STRIPES; e++)
        pthread_rwlock_init(&mt->engine[e].lock, NULL);
      if (rc != 0) {
        /* shard i-1 failed and holds nothing; the others are complete. */
        for (unsigned j = i; j < N_SHARDS; j++)
          kvidx__seq_init(&mt->shards[j].lock);
        model_table_free(m, mt);
        mt = NULL;
      } else {
        atomic_store_explicit(&m->models[model], mt, memory_order_release);
      }
    }
  }
  pthread_mutex_unlock(&m->model_lock);
  return mt;
}

/* ---- writes --------------------------------------------------------------*/

/* Prefetches the slot of key (returns the key's hash). Reads the shard's
 * published table without the lock: after a resize it may be the old one,
 * which only makes the prefetch useless (a prefetch never faults). The size
 * is loaded before the pointer, so the address stays inside the table. */
static inline uint64_t prefetch_slot(model_table *mt, uint64_t key) {
  uint64_t h = mix64(key);
  shard *sh = shard_of(mt, h);
  size_t mask = atomic_load_explicit(&sh->r_mask, memory_order_acquire);
  slot *slots = atomic_load_explicit(&sh->r_slots, memory_order_acquire);
  __builtin_prefetch(&slots[(size_t)h & mask]);
  return h;
}

static void add_delta_apply(mem_index *m, uint32_t inc_id, kvidx_tier tier,
                            const add_delta *d) {
  kvidx__incarnation *inc = kvidx__inc_get(&m->reg, inc_id);
  atomic_fetch_add_explicit(&m->keys, d->keys, memory_order_relaxed);
  atomic_fetch_add_explicit(&inc->entries, d->entries, memory_order_relaxed);
  atomic_fetch_add_explicit(&inc->blocks[tier], d->blocks,
                            memory_order_relaxed);
  if (d->refs != 0)
    kvidx__inc_ref(inc, d->refs);
}

static int mem_add(kvidx_index *idx, uint32_t model, uint32_t pod,
                   kvidx_tier tier, const uint64_t *keys, size_t n) {
  mem_index *m = (mem_index *)idx;
  model_table *mt = model_get(m, model, 1);
  kvidx__pod_state *ps = kvidx__pod_state_get(&m->reg, pod, 1);
  if (mt == NULL || ps == NULL)
    return KVIDX_ENOMEM;
  pthread_mutex_lock(&ps->lock);
  uint32_t inc;
  int rc = kvidx__pod_incarnation(&m->reg, ps, pod, &inc);
  add_delta d = {0, 0, 0, 0};
  size_t done = 0;
  while (rc == 0 && done < n) {
    if (done + PREFETCH_AHEAD < n)
      (void)prefetch_slot(mt, keys[done + PREFETCH_AHEAD]);
    uint64_t h = mix64(keys[done]);
    shard *sh = shard_of(mt, h);
    kvidx__seq_write_begin(&sh->lock);
    rc = shard_add(m, sh, keys[done], h, inc, tier, &d);
    shard_sweep(m, sh);
    if (m->opts.max_bytes != 0) {
      while (atomic_load_explicit(&m->live_bytes, memory_order_relaxed) >
                 (int64_t)m->opts.max_bytes &&
             shard_evict_one(m, sh))
        ;
    }
    kvidx__seq_write_end(&sh->lock);
    done += rc == 0;
  }
  kvidx__epoch_collect(&m->epoch);
  if (rc == 0 || done > 0)
    add_delta_apply(m, inc, tier, &d);
  pthread_mutex_unlock(&ps->lock);
  if (rc != 0)
    kvidx_log_warn("index",
                   "add failed pod=%u model=%u added=%zu of %zu err=%s", pod,
                   model, done, n, kvidx_err_name(rc));
  atomic_fetch_add_explicit(&m->adds, done, memory_order_relaxed);
  return rc;
}

static int mem_remove(kvidx_index *idx, uint32_t model, uint32_t pod,
                      kvidx_tier tier, const uint64_t *keys, size_t n) {
  mem_index *m = (mem_index *)idx;
  model_table *mt = model_get(m, model, 0);
  kvidx__pod_state *ps = kvidx__pod_state_get(&m->reg, pod, 0);
  size_t removed = 0;
  if (mt != NULL && ps != NULL) {
    pthread_mutex_lock(&ps->lock);
    uint32_t inc = atomic_load_explicit(&ps->inc, memory_order_relaxed);
    for (size_t i = 0; inc != KVIDX__NO_INCARNATION && i < n; i++) {
      if (i + PREFETCH_AHEAD < n)
        (void)prefetch_slot(mt, keys[i + PREFETCH_AHEAD]);
      uint64_t h = mix64(keys[i]);
      shard *sh = shard_of(mt, h);
      kvidx__seq_write_begin(&sh->lock);
      removed += (size_t)shard_remove(m, sh, keys[i], h, inc, tier);
      shard_sweep(m, sh);
      kvidx__seq_write_end(&sh->lock);
    }
    pthread_mutex_unlock(&ps->lock);
    kvidx__epoch_collect(&m->epoch);
  }
  atomic_fetch_add_explicit(&m->removes, removed, memory_order_relaxed);
  atomic_fetch_add_explicit(&m->remove_misses, n - removed,
                            memory_order_relaxed);
  return 0;
}

static int mem_clear_pod(kvidx_index *idx, uint32_t pod) {
  mem_index *m = (mem_index *)idx;
  kvidx__pod_state *ps = kvidx__pod_state_get(&m->reg, pod, 0);
  if (ps != NULL) {
    pthread_mutex_lock(&ps->lock);
    kvidx__pod_retire(&m->reg, ps);
    pthread_mutex_unlock(&ps->lock);
  }
  atomic_fetch_add_explicit(&m->clears, 1, memory_order_relaxed);
  return 0;
}

/* ---- lookup --------------------------------------------------------------*/
/* Lookups take no lock (seqlock.h): each key is read optimistically and
 * re-read if a writer entered its shard meanwhile; the whole lookup runs in
 * one epoch section (epoch.h) so tables and arenas replaced meanwhile stay
 * readable. Reads use only the r_* fields and atomic loads. */

/* Eligible-pod filter: a bitmap over pod ids (1,000 pods = 128 B), sized
 * from the interner's count (index.c checked every id in pods[] against
 * it). With no pod list every pod passes: `limit` is then past any id. */
typedef struct {
  uint64_t *bits;
  uint32_t limit; /* ids >= limit fail */
  int all;
  uint64_t stack[64];
} pod_filter;

static int filter_init(pod_filter *f, uint32_t n_interned, const uint32_t *pods,
                       size_t n_pods) {
  f->bits = f->stack;
  f->all = n_pods == 0;
  f->limit = f->all ? KVIDX__TAG_ALIVE : n_interned;
  if (f->all)
    return 0;
  size_t words = (size_t)n_interned / 64 + 1;
  if (words > sizeof f->stack / sizeof f->stack[0] &&
      (f->bits = malloc(words * sizeof *f->bits)) == NULL)
    return KVIDX_ENOMEM;
  memset(f->bits, 0, words * sizeof *f->bits);
  for (size_t i = 0; i < n_pods; i++)
    f->bits[pods[i] / 64] |= 1ull << (pods[i] % 64);
  return 0;
}

/* Holder output buffer of one lookup (on the stack until it is too small). */
typedef struct {
  kvidx_holder *v;
  size_t cap;
  kvidx_holder stack[128];
} holder_buf;

static int buf_reserve(holder_buf *b, size_t n) {
  if (n <= b->cap)
    return 0;
  size_t cap = b->cap * 2 > n ? b->cap * 2 : n;
  kvidx_holder *v = malloc(cap * sizeof *v);
  if (v == NULL)
    return KVIDX_ENOMEM;
  if (b->v != b->stack)
    free(b->v);
  b->v = v;
  b->cap = cap;
  return 0;
}

/* Converts n holders to the live, eligible ones in out[] and returns their
 * number (out has room for n). The tag of a live incarnation is
 * pod | ALIVE, so tag ^ ALIVE is the pod id when alive and >= 2^31
 * (failing the limit) when not: one compare tests both. A pod interned
 * after the filter was built fails too (its id is past the bitmap), as a
 * pod added concurrently may. Runs for every holder of every key: the
 * filter is copied to locals (out[] could alias it for the compiler) and
 * each holder is written unconditionally, the count advancing only when it
 * passes. */
static inline int emit_holders(mem_index *m, const pod_filter *f,
                               kvidx_holder *out, const uint64_t *hs,
                               uint32_t n) {
  const uint64_t *bits = f->bits;
  uint32_t limit = f->limit;
  int all = f->all, k = 0;
  for (uint32_t j = 0; j < n; j++) {
    uint64_t hd = __atomic_load_n(&hs[j], __ATOMIC_RELAXED);
    uint32_t pod = kvidx__inc_tag(&m->reg, holder_inc(hd)) ^ KVIDX__TAG_ALIVE;
    int pass = pod < limit && (all || ((bits[pod / 64] >> (pod % 64)) & 1u));
    out[k].pod = pod;
    out[k].tiers = tier_bits(holder_counts(hd));
    k += pass;
  }
  return k;
}

/* Outcome of one optimistic read of a key. */
enum { READ_OK, READ_TORN, READ_NOMEM };

/* Puts the live, eligible holders of key into buf->v (*k of them; 0 when the
 * key is absent) and points *hit at its slot. Nothing here is trusted until
 * the caller validates the sequence: a writer may be halfway through, so
 * every index is bounds-checked, and a probe that meets no empty slot or an
 * offset past the arena is reported as READ_TORN. Incarnation tags are
 * atomics of their own, so reading them speculatively is harmless. */
static int read_holders(mem_index *m, shard *sh, uint64_t key, uint64_t h,
                        const pod_filter *f, holder_buf *buf, int *k,
                        slot **hit) {
  size_t mask = atomic_load_explicit(&sh->r_mask, memory_order_acquire);
  slot *slots = atomic_load_explicit(&sh->r_slots, memory_order_acquire);
  *k = 0;
  size_t i = (size_t)h & mask;
  for (size_t step = 0; step <= mask; step++, i = (i + 1) & mask) {
    slot *s = &slots[i];
    uint32_t a = __atomic_load_n(&s->a, __ATOMIC_RELAXED);
    if (a == SLOT_EMPTY)
      return READ_OK;
    if (__atomic_load_n(&s->key, __ATOMIC_RELAXED) != key)
      continue;
    uint32_t b = get_b(s);
    *hit = s;
    if (!(a & SLOT_EXT)) {
      uint64_t one = holder_pack(a, b & ~AGE_MASK);
      *k = emit_holders(m, f, buf->v, &one, 1);
      return READ_OK;
    }
    uint32_t off = a & ~SLOT_EXT, count = b & EXT_COUNT_MASK;
    uint32_t cap = atomic_load_explicit(&sh->r_arena_cap, memory_order_acquire);
    const uint64_t *arena =
        atomic_load_explicit(&sh->r_arena, memory_order_acquire);
    if ((uint64_t)off + count > cap)
      return READ_TORN;
    if (buf_reserve(buf, count) != 0)
      return READ_NOMEM;
    *k = emit_holders(m, f, buf->v, &arena[off], count);
    return READ_OK;
  }
  return READ_TORN;
}

/* Copies the live, eligible holders of key into buf->v. Returns their
 * number, 0 when the key is absent, or KVIDX_ENOMEM. */
static int lookup_key(mem_index *m, shard *sh, uint64_t key, uint64_t h,
                      const pod_filter *f, holder_buf *buf) {
  int k;
  slot *hit = NULL;
  for (;;) {
    uint32_t seq = kvidx__seq_read_begin(&sh->lock);
    int st = read_holders(m, sh, key, h, f, buf, &k, &hit);
    if (!kvidx__seq_read_valid(&sh->lock, seq))
      continue;
    if (st == READ_NOMEM)
      return KVIDX_ENOMEM;
    if (st == READ_OK)
      break;
  }
  /* The slot may have moved since the read; then this raises some other
   * slot's age, which only makes eviction a little less exact. */
  if (k > 0)
    age_touch(hit, AGE_HIT);
  return k;
}

static int lookup_keys(mem_index *m, model_table *mt, const uint64_t *keys,
                       size_t n, const pod_filter *f, holder_buf *buf,
                       kvidx_lookup_fn cb, void *userdata) {
  /* Hashes computed by the prefetch stage, reused LOOKUP_SLOT_AHEAD keys
   * later (ring of HASH_RING > LOOKUP_SLOT_AHEAD entries). */
  uint64_t ring[HASH_RING];
  for (size_t p = 0; p < LOOKUP_SLOT_AHEAD && p < n; p++)
    ring[p % HASH_RING] = prefetch_slot(mt, keys[p]);
  size_t i = 0;
  for (; i < n; i++) {
    if (i + LOOKUP_SLOT_AHEAD < n)
      ring[(i + LOOKUP_SLOT_AHEAD) % HASH_RING] =
          prefetch_slot(mt, keys[i + LOOKUP_SLOT_AHEAD]);
    uint64_t h = ring[i % HASH_RING];
    int k = lookup_key(m, shard_of(mt, h), keys[i], h, f, buf);
    if (k < 0)
      return k;
    if (k == 0)
      break;
    if (cb(userdata, i, buf->v, (size_t)k) != 0)
      return (int)i + 1; /* a key handed to cb counts as reported */
  }
  return (int)i;
}

static int mem_lookup(kvidx_index *idx, uint32_t model, const uint64_t *keys,
                      size_t n, const uint32_t *pods, size_t n_pods,
                      kvidx_lookup_fn cb, void *userdata) {
  mem_index *m = (mem_index *)idx;
  model_table *mt = model_get(m, model, 0);
  if (mt == NULL)
    return 0;
  pod_filter f;
  if (filter_init(&f, kvidx__intern_count(&idx->pods), pods, n_pods) != 0)
    return KVIDX_ENOMEM;
  holder_buf buf;
  buf.v = buf.stack;
  buf.cap = sizeof buf.stack / sizeof buf.stack[0];
  uint64_t token = kvidx__epoch_enter(&m->epoch);
  int rc = lookup_keys(m, mt, keys, n, &f, &buf, cb, userdata);
  kvidx__epoch_exit(&m->epoch, token);
  /* Also from lookups (one shared load when nothing is pending), so tables
   * replaced before a write-idle period do not wait for the next write. */
  kvidx__epoch_collect(&m->epoch);
  if (buf.v != buf.stack)
    free(buf.v);
  if (f.bits != f.stack)
    free(f.bits);
  return rc;
}

/* ---- engine keys -> request keys -----------------------------------------*/
/* Per model, 16 striped open-addressing maps with their own rwlocks. Kept
 * only when the engine's hashing cannot be reproduced; not on the hot path.*/

static engine_stripe *stripe_of(model_table *mt, uint64_t h) {
  return &mt->engine[h >> 60];
}

static size_t engine_find(const engine_stripe *st, uint64_t key, uint64_t h) {
  if (st->slots == NULL)
    return SIZE_MAX;
  for (size_t i = (size_t)h & st->mask;; i = (i + 1) & st->mask) {
    if (!st->used[i])
      return SIZE_MAX;
    if (st->slots[i].key == key)
      return i;
  }
}

static int engine_grow(mem_index *m, engine_stripe *st) {
  size_t old_cap = st->slots ? st->mask + 1 : 0;
  size_t cap = old_cap ? old_cap * 2 : 64;
  engine_slot *slots = malloc(cap * sizeof *slots);
  uint8_t *used = calloc(cap, 1);
  if (slots == NULL || used == NULL) {
    free(slots);
    free(used);
    return KVIDX_ENOMEM;
  }
  for (size_t i = 0; i < old_cap; i++) {
    if (!st->used[i])
      continue;
    size_t j = (size_t)mix64(st->slots[i].key) & (cap - 1);
    while (used[j])
      j = (j + 1) & (cap - 1);
    slots[j] = st->slots[i];
    used[j] = 1;
  }
  free(st->slots);
  free(st->used);
  st->slots = slots;
  st->used = used;
  st->mask = cap - 1;
  int64_t delta = (int64_t)((cap - old_cap) * (sizeof *slots + 1));
  atomic_fetch_add_explicit(&m->bytes, delta, memory_order_relaxed);
  live_add(m, delta);
  return 0;
}

static int engine_put(mem_index *m, engine_stripe *st, uint64_t key, uint64_t h,
                      uint64_t val) {
  size_t pos = engine_find(st, key, h);
  if (pos != SIZE_MAX) {
    st->slots[pos].val = val;
    return 0;
  }
  if (st->slots == NULL || (st->n + 1) * LOAD_DEN > (st->mask + 1) * LOAD_NUM) {
    int rc = engine_grow(m, st);
    if (rc != 0)
      return rc;
  }
  pos = (size_t)h & st->mask;
  while (st->used[pos])
    pos = (pos + 1) & st->mask;
  st->slots[pos] = (engine_slot){key, val};
  st->used[pos] = 1;
  st->n++;
  return 0;
}

static void engine_del(engine_stripe *st, size_t pos) {
  size_t i = pos, j = pos;
  for (;;) {
    j = (j + 1) & st->mask;
    if (!st->used[j])
      break;
    size_t k = (size_t)mix64(st->slots[j].key) & st->mask;
    int stays = (i <= j) ? (i < k && k <= j) : (i < k || k <= j);
    if (stays)
      continue;
    st->slots[i] = st->slots[j];
    i = j;
  }
  st->used[i] = 0;
  st->n--;
}

static int mem_map_engine_keys(kvidx_index *idx, uint32_t model,
                               const uint64_t *engine_keys,
                               const uint64_t *request_keys, size_t n) {
  mem_index *m = (mem_index *)idx;
  model_table *mt = model_get(m, model, 1);
  if (mt == NULL)
    return KVIDX_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    uint64_t h = mix64(engine_keys[i]);
    engine_stripe *st = stripe_of(mt, h);
    pthread_rwlock_wrlock(&st->lock);
    int rc = engine_put(m, st, engine_keys[i], h, request_keys[i]);
    pthread_rwlock_unlock(&st->lock);
    if (rc != 0)
      return rc;
  }
  return 0;
}

static int mem_resolve_engine_key(kvidx_index *idx, uint32_t model,
                                  uint64_t engine_key, uint64_t *request_key) {
  model_table *mt = model_get((mem_index *)idx, model, 0);
  if (mt == NULL)
    return KVIDX_ENOTFOUND;
  uint64_t h = mix64(engine_key);
  engine_stripe *st = stripe_of(mt, h);
  pthread_rwlock_rdlock(&st->lock);
  size_t pos = engine_find(st, engine_key, h);
  if (pos != SIZE_MAX)
    *request_key = st->slots[pos].val;
  pthread_rwlock_unlock(&st->lock);
  return pos != SIZE_MAX ? 0 : KVIDX_ENOTFOUND;
}

static int mem_unmap_engine_keys(kvidx_index *idx, uint32_t model,
                                 const uint64_t *engine_keys, size_t n) {
  model_table *mt = model_get((mem_index *)idx, model, 0);
  for (size_t i = 0; mt != NULL && i < n; i++) {
    uint64_t h = mix64(engine_keys[i]);
    engine_stripe *st = stripe_of(mt, h);
    pthread_rwlock_wrlock(&st->lock);
    size_t pos = engine_find(st, engine_keys[i], h);
    if (pos != SIZE_MAX)
      engine_del(st, pos);
    pthread_rwlock_unlock(&st->lock);
  }
  return 0;
}

/* ---- statistics ----------------------------------------------------------*/

static kvidx__incarnation *live_inc(mem_index *m, uint32_t pod) {
  kvidx__pod_state *ps = kvidx__pod_state_get(&m->reg, pod, 0);
  if (ps == NULL)
    return NULL;
  uint32_t id = atomic_load_explicit(&ps->inc, memory_order_acquire);
  return id == KVIDX__NO_INCARNATION ? NULL : kvidx__inc_get(&m->reg, id);
}

static int mem_get_stats(kvidx_index *idx, kvidx_index_stats *out) {
  mem_index *m = (mem_index *)idx;
  /* Entries are summed over the pods' live incarnations: O(pods), and a
   * cleared pod's not-yet-reclaimed holders are (correctly) not counted. */
  uint32_t n_pods = kvidx__intern_count(&idx->pods);
  for (uint32_t p = 0; p < n_pods; p++) {
    kvidx__incarnation *inc = live_inc(m, p);
    if (inc != NULL) {
      int64_t e = atomic_load_explicit(&inc->entries, memory_order_relaxed);
      out->entries += e > 0 ? (uint64_t)e : 0;
    }
  }
  int64_t keys = atomic_load_explicit(&m->keys, memory_order_relaxed);
  int64_t bytes = atomic_load_explicit(&m->bytes, memory_order_relaxed);
  out->keys = keys > 0 ? (uint64_t)keys : 0;
  out->bytes = (bytes > 0 ? (uint64_t)bytes : 0) + sizeof *m;
  out->adds = atomic_load_explicit(&m->adds, memory_order_relaxed);
  out->removes = atomic_load_explicit(&m->removes, memory_order_relaxed);
  out->remove_misses =
      atomic_load_explicit(&m->remove_misses, memory_order_relaxed);
  out->evictions = atomic_load_explicit(&m->evictions, memory_order_relaxed);
  out->clears = atomic_load_explicit(&m->clears, memory_order_relaxed);
  out->pod_evictions =
      atomic_load_explicit(&m->pod_evictions, memory_order_relaxed);
  return 0;
}

static int mem_pod_blocks(kvidx_index *idx, uint32_t pod,
                          uint64_t blocks[KVIDX_TIER_COUNT]) {
  kvidx__incarnation *inc = live_inc((mem_index *)idx, pod);
  for (unsigned t = 0; inc != NULL && t < KVIDX_TIER_COUNT; t++) {
    int64_t b = atomic_load_explicit(&inc->blocks[t], memory_order_relaxed);
    blocks[t] = b > 0 ? (uint64_t)b : 0;
  }
  return 0;
}

/* ---- life cycle ----------------------------------------------------------*/

static int mem_ready(kvidx_index *idx) {
  (void)idx;
  return 0;
}

static void mem_free(kvidx_index *idx) {
  mem_index *m = (mem_index *)idx;
  for (uint32_t i = 0; i < KVIDX_INDEX_MAX_MODELS; i++) {
    model_table *mt = atomic_load(&m->models[i]);
    if (mt != NULL)
      model_table_free(m, mt);
  }
  kvidx__epoch_destroy(&m->epoch); /* before the pool its tables go to */
  kvidx__table_pool_destroy(&m->tables);
  kvidx__pod_registry_destroy(&m->reg);
  pthread_mutex_destroy(&m->model_lock);
  kvidx__index_base_destroy(idx);
  free(m);
}

static const kvidx__index_ops memory_ops = {
    .name = "memory",
    .ready = mem_ready,
    .add = mem_add,
    .remove = mem_remove,
    .clear_pod = mem_clear_pod,
    .map_engine_keys = mem_map_engine_keys,
    .resolve_engine_key = mem_resolve_engine_key,
    .unmap_engine_keys = mem_unmap_engine_keys,
    .lookup = mem_lookup,
    .get_stats = mem_get_stats,
    .pod_blocks = mem_pod_blocks,
    .free = mem_free,
};

int kvidx_index_new_memory(const kvidx_index_opts *opts, kvidx_index **out) {
  if (out == NULL)
    return KVIDX_EINVAL;
  *out = NULL;
  mem_index *m = calloc(1, sizeof *m);
  if (m == NULL)
    return KVIDX_ENOMEM;
  if (opts != NULL)
    m->opts = *opts;
  int rc = kvidx__index_base_init(&m->base, &memory_ops);
  if (rc != 0) {
    free(m);
    return rc;
  }
  rc = kvidx__pod_registry_init(&m->reg, KVIDX_INDEX_MAX_PODS);
  if (rc != 0) {
    kvidx__index_base_destroy(&m->base);
    free(m);
    return rc;
  }
  pthread_mutex_init(&m->model_lock, NULL);
  kvidx__table_pool_init(&m->tables);
  kvidx__epoch_init(&m->epoch);
  *out = &m->base;
  return 0;
}

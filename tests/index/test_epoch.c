/*
 * test_epoch.c: deferred freeing for lock-free lookups (src/index/epoch.c):
 * nothing retired is freed while a reader that entered before the retire
 * is still inside, everything is freed once the readers have left, and
 * readers that keep entering do not hold memory back forever.
 */
#include "index/epoch.h"
#include "test.h"

static int freed[8];

static void count_free(void *ctx, void *p, size_t bytes) {
  (void)ctx;
  (void)bytes;
  freed[(int *)p - freed]++;
}

static void retire(kvidx__epoch *e, int i) {
  kvidx__retired *node = kvidx__epoch_node_new();
  CHECK(node != NULL);
  kvidx__epoch_retire(e, node, &freed[i], 0, count_free, NULL);
}

/* A new epoch domain, nothing freed yet. */
static void fresh(kvidx__epoch *e) {
  kvidx__epoch_init(e);
  memset(freed, 0, sizeof freed);
}

TEST(no_readers_frees_at_once) {
  kvidx__epoch e;
  fresh(&e);
  retire(&e, 0);
  CHECK_EQ_INT(freed[0], 1);
  CHECK_EQ_U64(atomic_load(&e.pending), 0);
  kvidx__epoch_destroy(&e);
}

TEST(reader_inside_keeps_it) {
  kvidx__epoch e;
  fresh(&e);
  uint64_t t = kvidx__epoch_enter(&e);
  retire(&e, 0);
  for (int i = 0; i < 5; i++)
    kvidx__epoch_collect(&e);
  CHECK_EQ_INT(freed[0], 0); /* the reader may still hold it */
  kvidx__epoch_exit(&e, t);
  kvidx__epoch_collect(&e);
  CHECK_EQ_INT(freed[0], 1);
  CHECK_EQ_U64(atomic_load(&e.pending), 0);
  kvidx__epoch_destroy(&e);
}

/* A reader that entered after the retire cannot have seen the object, so
 * it does not delay it; one that entered before does. */
TEST(later_reader_does_not_delay) {
  kvidx__epoch e;
  fresh(&e);
  uint64_t early = kvidx__epoch_enter(&e);
  retire(&e, 0);
  kvidx__epoch_exit(&e, early);
  uint64_t late = kvidx__epoch_enter(&e);
  kvidx__epoch_collect(&e);
  kvidx__epoch_collect(&e);
  CHECK_EQ_INT(freed[0], 1);
  kvidx__epoch_exit(&e, late);
  kvidx__epoch_destroy(&e);
}

/* Overlapping readers that never all leave at once (there is always one
 * inside) still let every retired object go after two rounds. */
TEST(overlapping_readers_make_progress) {
  kvidx__epoch e;
  fresh(&e);
  uint64_t prev = kvidx__epoch_enter(&e);
  for (int i = 0; i < 8; i++) {
    retire(&e, i);
    uint64_t next = kvidx__epoch_enter(&e);
    kvidx__epoch_exit(&e, prev);
    kvidx__epoch_collect(&e);
    prev = next;
  }
  kvidx__epoch_exit(&e, prev);
  kvidx__epoch_collect(&e);
  for (int i = 0; i < 8; i++)
    CHECK_EQ_INT(freed[i], 1);
  kvidx__epoch_destroy(&e);
}

TEST(destroy_frees_pending) {
  kvidx__epoch e;
  fresh(&e);
  uint64_t t = kvidx__epoch_enter(&e);
  retire(&e, 0);
  retire(&e, 1);
  CHECK_EQ_INT(freed[0] + freed[1], 0);
  kvidx__epoch_exit(&e, t);
  kvidx__epoch_destroy(&e); /* without a collect in between */
  CHECK_EQ_INT(freed[0], 1);
  CHECK_EQ_INT(freed[1], 1);
}

TEST_MAIN(TEST_CASE(no_readers_frees_at_once),
          TEST_CASE(reader_inside_keeps_it),
          TEST_CASE(later_reader_does_not_delay),
          TEST_CASE(overlapping_readers_make_progress),
          TEST_CASE(destroy_frees_pending))

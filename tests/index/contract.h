/*
 * contract.h: the behaviour every block index backend must show, as one
 * function per case taking a factory that returns a fresh, empty index (or
 * calls kvidx_test_skip() when the backend cannot run). test_index_memory.c
 * and test_index_redis.c wire these as TEST cases:
 *
 *   static kvidx_index *make(void) { ... }
 *   TEST(add_lookup) { contract_add_lookup(make); }
 *
 * Each case frees the index it made. Cases only use the public API.
 */
#ifndef KVIDX_TESTS_INDEX_CONTRACT_H
#define KVIDX_TESTS_INDEX_CONTRACT_H

#include "kvidx.h"

typedef kvidx_index *(*contract_factory)(void);

void contract_interning(contract_factory make);
void contract_add_lookup(contract_factory make);
void contract_copy_counts(contract_factory make);
void contract_tiers(contract_factory make);
void contract_remove_absent(contract_factory make);
void contract_clear_pod(contract_factory make);
void contract_pod_filter(contract_factory make);
void contract_early_stop(contract_factory make);
void contract_callback_stop(contract_factory make);
void contract_models_separate(contract_factory make);
void contract_engine_keys(contract_factory make);
void contract_stats(contract_factory make);
void contract_pod_blocks(contract_factory make);
void contract_many_holders(contract_factory make);
void contract_invalid_args(contract_factory make);
void contract_score(contract_factory make);

/* Every case above, in order (for a backend that wants them all in one). */
#define CONTRACT_CASES(X)                                                      \
  X(interning)                                                                 \
  X(add_lookup)                                                                \
  X(copy_counts)                                                               \
  X(tiers)                                                                     \
  X(remove_absent)                                                             \
  X(clear_pod)                                                                 \
  X(pod_filter)                                                                \
  X(early_stop)                                                                \
  X(callback_stop)                                                             \
  X(models_separate)                                                           \
  X(engine_keys)                                                               \
  X(stats)                                                                     \
  X(pod_blocks)                                                                \
  X(many_holders)                                                              \
  X(invalid_args)                                                              \
  X(score)

#endif

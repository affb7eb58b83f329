/* test_index_memory.c: the backend contract (contract.h) on the memory
 * backend, plus memory-specific behaviour (bounds, eviction, sweeping). */
#include "contract.h"
#include "test.h"

static kvidx_index *make(void) {
  kvidx_index *idx = NULL;
  CHECK_OK(kvidx_index_new_memory(NULL, &idx));
  CHECK_EQ_STR(kvidx_index_backend(idx), "memory");
  return idx;
}

#define WIRE_(name)                                                            \
  TEST(name) {                                                                 \
    contract_##name(make);                                                     \
  }
CONTRACT_CASES(WIRE_)
#undef WIRE_

#define CASE_(name) TEST_CASE(name),
TEST_MAIN(CONTRACT_CASES(CASE_))

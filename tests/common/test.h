/*
 * test.h: kvidx's unit-test harness.
 *
 * A test file defines cases with TEST(name) and lists them in TEST_MAIN(...).
 * Each case runs in its own forked process with a timeout (as libuv's runner
 * does), so a crash or hang fails that case only. Each case prints one line,
 * "PASS <file>/<case>" or "FAIL <file>/<case>: <why>", which tests/run.sh
 * counts. Checks print both values on failure.
 *
 * Environment: KVIDX_TEST_NOFORK=1 runs cases in-process (for gdb);
 * KVIDX_TEST_FILTER=substr runs only matching cases;
 * KVIDX_TEST_TIMEOUT=seconds (default 120).
 */
#ifndef KVIDX_TEST_H
#define KVIDX_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvidx.h"

typedef void (*kvidx_test_fn)(void);
typedef struct {
  const char *name;
  kvidx_test_fn fn;
} kvidx_test_case;

int kvidx_test_main(const char *file, const kvidx_test_case *cases, size_t n,
                    int argc, char **argv);
void kvidx_test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));
/* Skips the current case with a reason (counted as passed-with-skip). */
void kvidx_test_skip(const char *why) __attribute__((noreturn));

/* Path of a fresh temporary directory for this case (removed at exit). */
const char *kvidx_test_tmpdir(void);
/* A free TCP port on 127.0.0.1 (bound and released: best effort). */
int kvidx_test_free_port(void);

#define TEST(name) static void name(void)
#define TEST_CASE(name)                                                        \
  { #name, name }
#define TEST_MAIN(...)                                                         \
  int main(int argc, char **argv) {                                            \
    static const kvidx_test_case cases_[] = {__VA_ARGS__};                     \
    return kvidx_test_main(__FILE__, cases_, sizeof cases_ / sizeof cases_[0], \
                           argc, argv);                                        \
  }

#define FAILF(...) kvidx_test_fail(__FILE__, __LINE__, __VA_ARGS__)

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond))                                                               \
      FAILF("check failed: %s", #cond);                                        \
  } while (0)

#define CHECK_EQ_INT(a, b)                                                     \
  do {                                                                         \
    long long a_ = (long long)(a), b_ = (long long)(b);                        \
    if (a_ != b_)                                                              \
      FAILF("%s == %s: %lld != %lld", #a, #b, a_, b_);                         \
  } while (0)

#define CHECK_EQ_U64(a, b)                                                     \
  do {                                                                         \
    uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b);                           \
    if (a_ != b_)                                                              \
      FAILF("%s == %s: %" PRIu64 " != %" PRIu64, #a, #b, a_, b_);              \
  } while (0)

#define CHECK_EQ_DBL(a, b, eps)                                                \
  do {                                                                         \
    double a_ = (double)(a), b_ = (double)(b);                                 \
    if (a_ - b_ > (eps) || b_ - a_ > (eps))                                    \
      FAILF("%s == %s: %.9g != %.9g", #a, #b, a_, b_);                         \
  } while (0)

#define CHECK_EQ_STR(a, b)                                                     \
  do {                                                                         \
    const char *a_ = (a), *b_ = (b);                                           \
    if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0)                       \
      FAILF("%s == %s: \"%s\" != \"%s\"", #a, #b, a_ ? a_ : "(null)",          \
            b_ ? b_ : "(null)");                                               \
  } while (0)

/* Checks that a kvidx call returned 0, printing the error name otherwise. */
#define CHECK_OK(expr)                                                         \
  do {                                                                         \
    int rc_ = (expr);                                                          \
    if (rc_ != 0)                                                              \
      FAILF("%s returned %d (%s)", #expr, rc_, kvidx_err_name(rc_));           \
  } while (0)

#endif

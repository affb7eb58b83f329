/* test_errors.c: the error table and the logging level parser. */
#include "test.h"

TEST(strerror_known_codes) {
  CHECK_EQ_STR(kvidx_strerror(0), "success");
  CHECK_EQ_STR(kvidx_strerror(KVIDX_EINVAL), "invalid argument");
  CHECK_EQ_STR(kvidx_err_name(KVIDX_EPROTO), "KVIDX_EPROTO");
  CHECK_EQ_STR(kvidx_strerror(-9999), "unknown error");
}

TEST(error_codes_are_distinct_and_negative) {
  static const int codes[] = {
#define CODE_(name, value, msg) KVIDX_##name,
      KVIDX_ERRNO_MAP(CODE_)
#undef CODE_
  };
  size_t n = sizeof codes / sizeof codes[0];
  for (size_t i = 0; i < n; i++) {
    CHECK(codes[i] < 0);
    for (size_t j = i + 1; j < n; j++)
      CHECK(codes[i] != codes[j]);
  }
}

TEST(log_level_parse) {
  kvidx_log_level l;
  CHECK_OK(kvidx_log_level_parse("DEBUG", &l));
  CHECK_EQ_INT(l, KVIDX_LOG_DEBUG);
  CHECK_OK(kvidx_log_level_parse("warning", &l));
  CHECK_EQ_INT(l, KVIDX_LOG_WARN);
  CHECK_EQ_INT(kvidx_log_level_parse("loud", &l), KVIDX_EINVAL);
}

TEST_MAIN(TEST_CASE(strerror_known_codes),
          TEST_CASE(error_codes_are_distinct_and_negative),
          TEST_CASE(log_level_parse))

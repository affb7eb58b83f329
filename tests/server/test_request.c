/*
 * test_request.c: the /v1/score and /v1/tokenize body parser — fields,
 * escapes, limits, and every class of bad input (status and message).
 */
#include "server/request.h"
#include "test.h"

static kvidx__request R;

static int parse(const char *s) {
  return kvidx__request_parse(&R, s, strlen(s), 1000, 8);
}

TEST(score_with_tokens) {
  kvidx__request_init(&R);
  CHECK_EQ_INT(parse(" {\"model\": \"Qwen/Qwen3-0.6B\", \"token_ids\": [0, 1,"
                     "4294967295 ,42], \"pods\": [\"a\", \"b\\u00e9\"],"
                     " \"lora_name\": null, \"extra\": {\"x\": [1, {\"y\":"
                     " null}], \"z\": -1.5e3}} \n"),
               KVIDX_REQ_OK);
  CHECK_EQ_STR(R.model, "Qwen/Qwen3-0.6B");
  CHECK(R.has_token_ids);
  CHECK_EQ_INT(R.n_tokens, 4);
  CHECK_EQ_U64(R.token_ids[0], 0);
  CHECK_EQ_U64(R.token_ids[2], 4294967295u);
  CHECK_EQ_U64(R.token_ids[3], 42);
  CHECK_EQ_INT(R.n_pods, 2);
  CHECK_EQ_STR(R.pods[0], "a");
  CHECK_EQ_STR(R.pods[1], "b\xc3\xa9");
  CHECK(R.lora_name == NULL);
  CHECK(R.prompt == NULL);
  kvidx__request_free(&R);
}

TEST(prompt_escapes) {
  kvidx__request_init(&R);
  CHECK_EQ_INT(parse("{\"model\":\"m\",\"prompt\":\"a\\\"b\\\\c\\/d\\n\\t"
                     "\\ud83d\\ude00\\u0000z\",\"lora_name\":\"l\"}"),
               KVIDX_REQ_OK);
  static const char want[] = "a\"b\\c/d\n\t\xf0\x9f\x98\x80\0z";
  CHECK_EQ_INT(R.prompt_len, sizeof want - 1);
  CHECK(memcmp(R.prompt, want, sizeof want - 1) == 0);
  CHECK_EQ_STR(R.lora_name, "l");
  CHECK(!R.has_token_ids);
  /* Reuse: a second parse resets every field. */
  CHECK_EQ_INT(parse("{\"token_ids\":[]}"), KVIDX_REQ_OK);
  CHECK(R.model == NULL && R.prompt == NULL);
  CHECK(R.has_token_ids);
  CHECK_EQ_INT(R.n_tokens, 0);
  kvidx__request_free(&R);
}

TEST(bad_json) {
  static const char *const cases[] = {
      "",
      "   ",
      "[]",
      "{",
      "{\"model\"",
      "{\"model\":}",
      "{\"a\":1,}",
      "{\"a\":1}x",
      "{'a':1}",
      "{\"a\":tru}",
      "{\"a\":01}",
      "{\"a\":1.}",
      "{\"a\":\"\\x\"}",
      "{\"a\":\"\\ud800\"}",
      "{\"a\":\"\\udc00\"}",
      "{\"a\":\"\x01\"}",
      "{\"token_ids\":[1,,2]}",
      "{\"token_ids\":[1 2]}",
      "{\"token_ids\":[1",
      "{\"a\":\"unterminated}",
      "{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
      "[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
      "]]]]]]]]}",
  };
  kvidx__request_init(&R);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int st = parse(cases[i]);
    if (st != KVIDX_REQ_BAD_JSON)
      FAILF("case %zu (%s): status %d, want BAD_JSON", i, cases[i], st);
    CHECK(strstr(R.error, "at byte") != NULL);
  }
  kvidx__request_free(&R);
}

TEST(bad_fields) {
  static const struct {
    const char *json, *needle;
  } cases[] = {
      {"{\"model\": 3}", "model"},
      {"{\"model\": null}", "model"},
      {"{\"prompt\": [\"x\"]}", "prompt"},
      {"{\"token_ids\": \"1 2\"}", "token_ids"},
      {"{\"token_ids\": [1, -2]}", "negative"},
      {"{\"token_ids\": [4294967296]}", "token_ids"},
      {"{\"token_ids\": [99999999999999999999999]}", "token_ids"},
      {"{\"token_ids\": [1.5]}", "token_ids"},
      {"{\"token_ids\": [1e3]}", "token_ids"},
      {"{\"token_ids\": [\"7\"]}", "token_ids"},
      {"{\"token_ids\": [null]}", "token_ids"},
      {"{\"pods\": \"a\"}", "pods"},
      {"{\"pods\": [1]}", "pods"},
      {"{\"lora_name\": 1}", "lora_name"},
      {"{\"model\": \"a\\u0000b\"}", "NUL"},
  };
  kvidx__request_init(&R);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int st = parse(cases[i].json);
    if (st != KVIDX_REQ_BAD_FIELD || strstr(R.error, cases[i].needle) == NULL)
      FAILF("case %zu (%s): status %d error \"%s\", want BAD_FIELD naming %s",
            i, cases[i].json, st, R.error, cases[i].needle);
  }
  kvidx__request_free(&R);
}

TEST(limits) {
  kvidx__request_init(&R);
  /* 1001 tokens against a limit of 1000. */
  char body[8192];
  size_t n = (size_t)snprintf(body, sizeof body, "{\"token_ids\":[");
  for (int i = 0; i < 1001; i++)
    n += (size_t)snprintf(body + n, sizeof body - n, "%s%d", i ? "," : "",
                          i % 10);
  snprintf(body + n, sizeof body - n, "]}");
  CHECK_EQ_INT(parse(body), KVIDX_REQ_TOO_MANY);
  CHECK(strstr(R.error, "more than 1000") != NULL);
  CHECK_EQ_INT(parse("{\"pods\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\","
                     "\"8\",\"9\"]}"),
               KVIDX_REQ_TOO_MANY);
  /* Exactly at the limit is fine. */
  n = (size_t)snprintf(body, sizeof body, "{\"token_ids\":[");
  for (int i = 0; i < 1000; i++)
    n += (size_t)snprintf(body + n, sizeof body - n, "%s%d", i ? "," : "", i);
  snprintf(body + n, sizeof body - n, "]}");
  CHECK_EQ_INT(parse(body), KVIDX_REQ_OK);
  CHECK_EQ_INT(R.n_tokens, 1000);
  CHECK_EQ_U64(R.token_ids[999], 999);
  kvidx__request_free(&R);
}

/* Random ids of every length and separators of every kind round-trip, with
 * every fast path the CPU has (kvidx__request_simd levels): mixed
 * separators take the SWAR walk, "," and ", " alone the bit-mask path. */
static void round_trip(const char *const *seps, int n_seps, int max_digits) {
  enum { N = 5000 };
  static char body[N * 24 + 64];
  static uint32_t want[N];
  uint64_t x = 88172645463325252ull;
  size_t n = (size_t)snprintf(body, sizeof body, "{\"token_ids\":[");
  for (int i = 0; i < N; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    int digits = 1 + (int)(x % (uint64_t)max_digits);
    uint64_t v = (x >> 8) % 4294967296ull;
    for (int d = digits; d < 10; d++)
      v /= 10;
    want[i] = (uint32_t)v;
    n += (size_t)snprintf(body + n, sizeof body - n, "%s%u",
                          i ? seps[(x >> 40) % (uint64_t)n_seps] : "", want[i]);
  }
  snprintf(body + n, sizeof body - n, "]}");
  int best = kvidx__request_simd(99);
  for (int level = 0; level <= best; level++) {
    CHECK_EQ_INT(kvidx__request_simd(level), level);
    kvidx__request_init(&R);
    CHECK_EQ_INT(kvidx__request_parse(&R, body, strlen(body), N, 1),
                 KVIDX_REQ_OK);
    CHECK_EQ_INT(R.n_tokens, N);
    for (int i = 0; i < N; i++) {
      if (R.token_ids[i] != want[i])
        FAILF("level %d, id %d: %u != %u", level, i, R.token_ids[i], want[i]);
    }
    kvidx__request_free(&R);
  }
  kvidx__request_simd(best);
}

TEST(random_ids_round_trip) {
  static const char *const mixed[] = {",", ", ", " ,\n", "\t,\r\n  "};
  static const char *const comma[] = {","}, *const comma_space[] = {", "};
  static const char *const both[] = {",", ", "};
  round_trip(mixed, 4, 10);
  round_trip(comma, 1, 10);
  round_trip(comma_space, 1, 10);
  round_trip(both, 2, 7);  /* every id in the 8-at-a-time conversion */
  round_trip(comma, 1, 2); /* 1-2 digit ids: many ids per 64 bytes */
}

/* Long arrays take the two-way fast path; an anomaly anywhere in them must
 * still give the careful parser's verdict. */
TEST(long_arrays_with_anomalies) {
  static const struct {
    const char *bad;
    int status;
  } cases[] = {{"-5", KVIDX_REQ_BAD_FIELD},
               {"1.5", KVIDX_REQ_BAD_FIELD},
               {"1e3", KVIDX_REQ_BAD_FIELD},
               {"01", KVIDX_REQ_BAD_FIELD},
               {"\"7\"", KVIDX_REQ_BAD_FIELD},
               {"null", KVIDX_REQ_BAD_FIELD},
               {"4294967296", KVIDX_REQ_BAD_FIELD},
               {"", KVIDX_REQ_BAD_JSON},
               {"1 2", KVIDX_REQ_BAD_JSON},
               {"4294967295", KVIDX_REQ_OK},
               {" 7 ", KVIDX_REQ_OK}};
  static char body[16384];
  kvidx__request_init(&R);
  int best = kvidx__request_simd(99);
  for (int level = 0; level <= best; level++) {
    kvidx__request_simd(level);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
      for (int where = 0; where < 400; where += 133) {
        size_t n = (size_t)snprintf(body, sizeof body, "{\"token_ids\":[");
        for (int i = 0; i < 400; i++) {
          const char *item = i == where ? cases[k].bad : "123456";
          n += (size_t)snprintf(body + n, sizeof body - n, "%s%s", i ? "," : "",
                                item);
        }
        snprintf(body + n, sizeof body - n, "]}");
        int st = kvidx__request_parse(&R, body, strlen(body), 100000, 1);
        if (st != cases[k].status)
          FAILF("level %d, '%s' at %d: status %d, want %d (%s)", level,
                cases[k].bad, where, st, cases[k].status, R.error);
        if (st == KVIDX_REQ_OK) {
          CHECK_EQ_INT(R.n_tokens, 400);
          CHECK_EQ_U64(R.token_ids[where], strtoul(cases[k].bad, NULL, 10));
          CHECK_EQ_U64(R.token_ids[where ? 0 : 1], 123456);
        }
      }
    }
  }
  /* A trailing comma before ']' in a long array. */
  size_t n = (size_t)snprintf(body, sizeof body, "{\"token_ids\":[");
  for (int i = 0; i < 400; i++)
    n += (size_t)snprintf(body + n, sizeof body - n, "%d,", i);
  snprintf(body + n, sizeof body - n, "]}");
  CHECK_EQ_INT(kvidx__request_parse(&R, body, strlen(body), 100000, 1),
               KVIDX_REQ_BAD_JSON);
  kvidx__request_free(&R);
}

/* A body that is not NUL-terminated, right at the end of a buffer. */
TEST(no_read_past_the_end) {
  kvidx__request_init(&R);
  const char full[] = "{\"model\":\"m\",\"token_ids\":[12345]}";
  for (size_t cut = 0; cut < sizeof full - 1; cut++) {
    char *b = malloc(cut ? cut : 1);
    memcpy(b, full, cut);
    int st = kvidx__request_parse(&R, b, cut, 100, 100);
    CHECK(st == KVIDX_REQ_BAD_JSON);
    free(b);
  }
  char *b = malloc(sizeof full - 1);
  memcpy(b, full, sizeof full - 1);
  CHECK_EQ_INT(kvidx__request_parse(&R, b, sizeof full - 1, 100, 100),
               KVIDX_REQ_OK);
  free(b);
  kvidx__request_free(&R);
}

TEST_MAIN(TEST_CASE(score_with_tokens), TEST_CASE(prompt_escapes),
          TEST_CASE(bad_json), TEST_CASE(bad_fields), TEST_CASE(limits),
          TEST_CASE(random_ids_round_trip),
          TEST_CASE(long_arrays_with_anomalies),
          TEST_CASE(no_read_past_the_end))

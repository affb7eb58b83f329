/*
 * test_redis_url.c: the Redis index URL parser (pure, no server).
 */
#include "index/redis_url.h"
#include "test.h"

static kvidx__redis_url parse_ok(const char *s) {
  kvidx__redis_url u;
  int rc = kvidx__redis_url_parse(s, &u);
  if (rc != 0)
    FAILF("parse(\"%s\") returned %s", s, kvidx_err_name(rc));
  return u;
}

TEST(tcp_forms) {
  kvidx__redis_url u = parse_ok("redis://127.0.0.1:6380");
  CHECK_EQ_INT(u.is_unix, 0);
  CHECK_EQ_STR(u.host, "127.0.0.1");
  CHECK_EQ_INT(u.port, 6380);
  CHECK_EQ_INT(u.db, 0);
  CHECK_EQ_INT(u.has_pass, 0);

  u = parse_ok("redis://localhost");
  CHECK_EQ_STR(u.host, "localhost");
  CHECK_EQ_INT(u.port, 6379);

  u = parse_ok("valkey://cache.local:7000/3");
  CHECK_EQ_STR(u.host, "cache.local");
  CHECK_EQ_INT(u.port, 7000);
  CHECK_EQ_INT(u.db, 3);

  u = parse_ok("redis://h:1/");
  CHECK_EQ_INT(u.db, 0);

  /* Bare address, as llm-d's redisConfig.address allows. */
  u = parse_ok("10.0.0.5:6390");
  CHECK_EQ_STR(u.host, "10.0.0.5");
  CHECK_EQ_INT(u.port, 6390);

  u = parse_ok("redis://[::1]:6400/2");
  CHECK_EQ_STR(u.host, "::1");
  CHECK_EQ_INT(u.port, 6400);
  CHECK_EQ_INT(u.db, 2);
}

TEST(credentials) {
  kvidx__redis_url u = parse_ok("redis://:secret@127.0.0.1:6379/1");
  CHECK_EQ_STR(u.user, "");
  CHECK_EQ_STR(u.pass, "secret");
  CHECK_EQ_INT(u.has_pass, 1);
  CHECK_EQ_INT(u.db, 1);

  u = parse_ok("redis://alice:p%40ss%3Aw@h:2");
  CHECK_EQ_STR(u.user, "alice");
  CHECK_EQ_STR(u.pass, "p@ss:w");
  CHECK_EQ_STR(u.host, "h");
  CHECK_EQ_INT(u.port, 2);

  /* An unescaped '@' in the password: the last '@' ends the userinfo. */
  u = parse_ok("redis://bob:a@b@h:3");
  CHECK_EQ_STR(u.user, "bob");
  CHECK_EQ_STR(u.pass, "a@b");
  CHECK_EQ_STR(u.host, "h");

  u = parse_ok("redis://carol@h");
  CHECK_EQ_STR(u.user, "carol");
  CHECK_EQ_INT(u.has_pass, 0);
}

TEST(unix_forms) {
  kvidx__redis_url u = parse_ok("unix:///run/redis/redis.sock");
  CHECK_EQ_INT(u.is_unix, 1);
  CHECK_EQ_STR(u.path, "/run/redis/redis.sock");
  CHECK_EQ_INT(u.db, 0);

  u = parse_ok("unix://:pw@/tmp/r.sock?db=4");
  CHECK_EQ_STR(u.path, "/tmp/r.sock");
  CHECK_EQ_STR(u.pass, "pw");
  CHECK_EQ_INT(u.db, 4);
}

TEST(rejects) {
  kvidx__redis_url u;
  static const char *const bad[] = {
      "",
      "redis://",
      "redis://:6379",
      "redis://h:0",
      "redis://h:65536",
      "redis://h:12x",
      "redis://h:6379/x",
      "redis://h:6379/-1",
      "redis://h:6379/1/2",
      "redis://[::1",
      "redis://[::1]x",
      "redis://u:%4@h",
      "redis://u:%zz@h",
      "redis://u:%00@h",
      "unix://",
      "unix://relative.sock",
      "unix:///x.sock?database=1",
      "unix:///x.sock?db=",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int rc = kvidx__redis_url_parse(bad[i], &u);
    if (rc != KVIDX_EINVAL)
      FAILF("parse(\"%s\") returned %s, want KVIDX_EINVAL", bad[i],
            kvidx_err_name(rc));
  }
  CHECK_EQ_INT(kvidx__redis_url_parse(NULL, &u), KVIDX_EINVAL);
  CHECK_EQ_INT(kvidx__redis_url_parse("rediss://h:1", &u), KVIDX_EUNSUPPORTED);
  CHECK_EQ_INT(kvidx__redis_url_parse("valkeys://h:1", &u), KVIDX_EUNSUPPORTED);
  CHECK_EQ_INT(kvidx__redis_url_parse("http://h:1", &u), KVIDX_EUNSUPPORTED);
}

TEST(long_fields) {
  char url[2048];
  memset(url, 0, sizeof url);
  strcpy(url, "redis://");
  memset(url + 8, 'h', 300);
  kvidx__redis_url u;
  CHECK_EQ_INT(kvidx__redis_url_parse(url, &u), KVIDX_EINVAL);
  strcpy(url, "unix:///");
  memset(url + 8, 'p', 200);
  CHECK_EQ_INT(kvidx__redis_url_parse(url, &u), KVIDX_EINVAL);
}

TEST(describe_hides_password) {
  kvidx__redis_url u = parse_ok("redis://alice:topsecret@h:5/2");
  char buf[512];
  kvidx__redis_url_describe(&u, buf, sizeof buf);
  CHECK(strstr(buf, "topsecret") == NULL);
  CHECK_EQ_STR(buf, "redis://h:5/2 auth=user+pass");
}

TEST_MAIN(TEST_CASE(tcp_forms), TEST_CASE(credentials), TEST_CASE(unix_forms),
          TEST_CASE(rejects), TEST_CASE(long_fields),
          TEST_CASE(describe_hides_password))

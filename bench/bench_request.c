/*
 * bench_request.c: cost of parsing a /v1/score body with 8,192 token ids —
 * kvidx's single-pass parser (src/server/request.c) against jansson
 * (json_loadb + reading the array), the library used everywhere else. This
 * is the measurement behind not using jansson on the read path. Times are
 * thread CPU time, so a busy shared machine does not inflate them.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/request.h"

#define N_TOKENS 8192
#define ROUNDS 2000

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(void) {
  static char body[N_TOKENS * 12 + 128];
  size_t n = (size_t)snprintf(body, sizeof body,
                              "{\"model\": \"Qwen/Qwen3-0.6B\", "
                              "\"token_ids\": [");
  uint32_t x = 12345;
  for (int i = 0; i < N_TOKENS; i++) {
    x = x * 1103515245u + 12345u;
    n += (size_t)snprintf(body + n, sizeof body - n, "%s%u", i ? ", " : "",
                          (x >> 8) % 151000);
  }
  n += (size_t)snprintf(body + n, sizeof body - n, "]}");

  kvidx__request r;
  kvidx__request_init(&r);
  uint64_t sum = 0;
  double t0 = now_s();
  for (int i = 0; i < ROUNDS; i++) {
    if (kvidx__request_parse(&r, body, n, 1u << 20, 4096) != 0)
      return 1;
    sum += r.token_ids[i % N_TOKENS];
  }
  double kvidx_us = (now_s() - t0) / ROUNDS * 1e6;
  kvidx__request_free(&r);

  t0 = now_s();
  for (int i = 0; i < ROUNDS / 10; i++) {
    json_t *root = json_loadb(body, n, 0, NULL);
    json_t *arr = json_object_get(root, "token_ids");
    for (size_t k = 0; k < json_array_size(arr); k++)
      sum += (uint64_t)json_integer_value(json_array_get(arr, k));
    json_decref(root);
  }
  double jansson_us = (now_s() - t0) / (ROUNDS / 10) * 1e6;

  printf("| parse /v1/score body, %d token ids (%zu bytes) | us/request |\n",
         N_TOKENS, n);
  printf("|---|---:|\n");
  printf("| kvidx request parser | %.1f |\n", kvidx_us);
  printf("| jansson json_loadb + array walk | %.1f |\n", jansson_us);
  printf("| ratio | %.1fx |\n", jansson_us / kvidx_us);
  return sum == 42 ? 2 : 0; /* keep sum alive */
}

/*
 * replay_main.c: a main() for libFuzzer targets built without libFuzzer.
 *
 * replay_<target> FILE|DIR...: runs every file (directories are read one
 * level deep, in name order) through LLVMFuzzerTestOneInput() once and
 * prints how many inputs ran. A crash, a sanitizer report or a trap in the
 * target is the failure signal, as under libFuzzer. Used by
 * tests/fuzz/test_fuzz_corpus.sh to keep the seed corpora as regression
 * tests in ordinary and sanitizer builds.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Largest input replayed; libFuzzer corpora here are far smaller. */
#define REPLAY_MAX_INPUT (16u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    fprintf(stderr, "replay: cannot open %s\n", path);
    return -1;
  }
  uint8_t *buf = malloc(REPLAY_MAX_INPUT);
  size_t n = buf ? fread(buf, 1, REPLAY_MAX_INPUT, f) : 0;
  fclose(f);
  if (buf == NULL) {
    fprintf(stderr, "replay: out of memory\n");
    return -1;
  }
  /* A private copy of exactly n bytes, so ASan catches reads past the end. */
  uint8_t *input = malloc(n ? n : 1);
  if (input == NULL) {
    free(buf);
    return -1;
  }
  memcpy(input, buf, n);
  free(buf);
  LLVMFuzzerTestOneInput(input, n);
  free(input);
  return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b) {
  return strcmp((*a)->d_name, (*b)->d_name);
}

static int run_dir(const char *dir, size_t *count) {
  struct dirent **names;
  int n = scandir(dir, &names, NULL, by_name);
  if (n < 0) {
    fprintf(stderr, "replay: cannot read %s\n", dir);
    return -1;
  }
  int rc = 0;
  for (int i = 0; i < n; i++) {
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
    if (rc == 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
      rc = run_file(path);
      (*count)++;
    }
    free(names[i]);
  }
  free(names);
  return rc;
}

int main(int argc, char **argv) {
  if (LLVMFuzzerInitialize)
    LLVMFuzzerInitialize(&argc, &argv);
  size_t count = 0;
  for (int i = 1; i < argc; i++) {
    struct stat st;
    int rc;
    if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
      rc = run_dir(argv[i], &count);
    } else {
      rc = run_file(argv[i]);
      count++;
    }
    if (rc != 0)
      return 1;
  }
  printf("replayed %zu inputs\n", count);
  return 0;
}

/*
 * added.h: added-token matching (added.c).
 */
#ifndef KVIDX_TOKENIZER_ADDED_H
#define KVIDX_TOKENIZER_ADDED_H

#include "tokenizer/tokenizer_internal.h"

typedef struct {
  size_t start, end; /* span in the searched text, lstrip/rstrip included */
  uint32_t id;
} kvidx__added_match;

/* Finds the next added-token match in s[from..n) with trie t. Returns 1 and
 * fills m, or 0 when there is none. lstrip never reaches before from. */
int kvidx__added_find(const kvidx_tokenizer *tok, const kvidx__trie *t,
                      const uint8_t *s, size_t n, size_t from,
                      kvidx__added_match *m);

#endif

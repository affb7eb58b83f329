/*
 * gen-unicode-age.c: prints the ranges of code points assigned after Unicode
 * 9.0 or unassigned in this ICU (u_charAge, u_charType), pasted into
 * src/tokenizer/unicode_age.c. The reference's `unicode_categories` crate (used
 * by BertNormalizer, BertPreTokenizer, Punctuation and StripAccents) has
 * Unicode 9.0 tables: those code points are in no category there.
 *
 * build: cc gen-unicode-age.c $(pkg-config --cflags --libs icu-uc) && ./a.out
 */
#include <unicode/uchar.h>
#include <stdio.h>
int main(void) {
  int start = -1, n = 0;
  for (UChar32 c = 0; c <= 0x110000; c++) {
    int newer = 0;
    if (c < 0x110000) {
      UVersionInfo v;
      u_charAge(c, v);
      newer = v[0] > 9 || u_charType(c) == U_UNASSIGNED;
    }
    if (newer && start < 0)
      start = c;
    if (!newer && start >= 0) {
      printf("{0x%X, 0x%X},\n", start, c - 1);
      start = -1;
      n++;
    }
  }
  fprintf(stderr, "%d ranges\n", n);
}

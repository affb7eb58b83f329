/*
 * gen-nfc-post9.c: lists the code points that matter for Unicode
 * normalization and were assigned after Unicode 9.0 (non-zero combining
 * class or a decomposition), using ICU's u_charAge. The reference normalizes
 * with Unicode 9.0 tables, to which these are unassigned (inert), while
 * utf8proc knows them; src/tokenizer/normalizer.c copies them verbatim and
 * never lets them combine. Output pasted into normalizer.c as post9_ranges.
 *
 * build: cc gen-nfc-post9.c $(pkg-config --cflags --libs icu-uc) && ./a.out
 */
#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <stdio.h>
int main(void) {
  UErrorCode e = U_ZERO_ERROR;
  const UNormalizer2 *nfd = unorm2_getNFDInstance(&e);
  const UNormalizer2 *nfkd = unorm2_getNFKDInstance(&e);
  int start = -1, prev = -2;
  for (UChar32 c = 0; c < 0x110000; c++) {
    UVersionInfo v;
    u_charAge(c, v);
    int newer = (v[0] > 9); /* assigned after Unicode 9.0 */
    if (!newer)
      continue;
    UChar buf[64];
    UErrorCode e2 = U_ZERO_ERROR;
    int d = unorm2_getRawDecomposition(nfkd, c, buf, 64, &e2);
    int cc = u_getCombiningClass(c);
    if (cc != 0 || d > 0) {
      printf("%04X age=%d.%d ccc=%d decomp=%d\n", c, v[0], v[1], cc, d);
    }
  }
}

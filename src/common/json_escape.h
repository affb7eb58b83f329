/*
 * json_escape.h: the one-character JSON string escapes (RFC 8259 section 7),
 * shared by kvidx's two hand-written JSON scanners (the HTTP request parser
 * and the tokenizer.json vocabulary scanner). \u escapes, which need the
 * scanner's own cursor, stay in each scanner.
 */
#ifndef KVIDX_COMMON_JSON_ESCAPE_H
#define KVIDX_COMMON_JSON_ESCAPE_H

/* The byte that backslash + e stands for, or -1 when e is not a
 * one-character escape (including 'u'). */
static inline int kvidx__json_simple_escape(char e) {
  switch (e) {
  case '"':
    return '"';
  case '\\':
    return '\\';
  case '/':
    return '/';
  case 'b':
    return '\b';
  case 'f':
    return '\f';
  case 'n':
    return '\n';
  case 'r':
    return '\r';
  case 't':
    return '\t';
  default:
    return -1;
  }
}

#endif

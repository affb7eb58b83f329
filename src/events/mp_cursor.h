/*
 * mp_cursor.h: a zero-copy msgpack reader over one contiguous buffer.
 *
 * The event decoder reads vLLM's EventBatch payloads with this cursor instead
 * of msgpack-c's object unpacker: the unpacker builds a tree of
 * msgpack_object nodes in a zone (one node per block hash and per token id),
 * which bench_events measures at several times the cost of reading the same
 * bytes in place (see docs/events.md). The cursor allocates nothing, returns
 * strings and byte strings as views into the buffer, and never trusts a
 * length field: a container header must fit in the bytes that remain (every
 * element takes at least one byte), so a 100-byte message cannot claim 2^32
 * elements.
 *
 * Errors are sticky (as in mpack): once a read fails, c->err is set and every
 * later read returns a zero value without touching the buffer, so a caller can
 * read a whole structure and check c->err once.
 */
#ifndef KVIDX_EVENTS_MP_CURSOR_H
#define KVIDX_EVENTS_MP_CURSOR_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kvidx.h"

typedef struct {
  const uint8_t *p;
  const uint8_t *end;
  int err;          /* 0, KVIDX_EPROTO (wrong type/bad byte) or KVIDX_ETRUNC */
  const char *what; /* static text naming the first error, for the log */
} mp_cursor;

/* The msgpack type families the decoder dispatches on. */
typedef enum {
  MP_NIL,
  MP_BOOL,
  MP_UINT, /* positive fixint, uint8..uint64 */
  MP_INT,  /* negative fixint, int8..int64 */
  MP_FLOAT,
  MP_STR,
  MP_BIN,
  MP_ARRAY,
  MP_MAP,
  MP_EXT,
  MP_INVALID /* 0xc1, or end of input */
} mp_type;

static inline void mp_init(mp_cursor *c, const uint8_t *buf, size_t len) {
  c->p = buf;
  c->end = buf + len;
  c->err = 0;
  c->what = NULL;
}

static inline size_t mp_left(const mp_cursor *c) {
  return (size_t)(c->end - c->p);
}

static inline void mp_fail(mp_cursor *c, int err, const char *what) {
  if (c->err == 0) {
    c->err = err;
    c->what = what;
    c->p = c->end;
  }
}

static inline uint64_t mp_be(const uint8_t *p, unsigned n) {
  uint64_t v = 0;
  for (unsigned i = 0; i < n; i++)
    v = (v << 8) | p[i];
  return v;
}

/* Consumes n bytes and returns a pointer to them, or NULL (ETRUNC). */
static inline const uint8_t *mp_take(mp_cursor *c, size_t n, const char *what) {
  if (c->err)
    return NULL;
  if (mp_left(c) < n) {
    mp_fail(c, KVIDX_ETRUNC, what);
    return NULL;
  }
  const uint8_t *q = c->p;
  c->p += n;
  return q;
}

static inline mp_type mp_peek(const mp_cursor *c) {
  if (c->err || c->p >= c->end)
    return MP_INVALID;
  uint8_t b = *c->p;
  if (b <= 0x7f)
    return MP_UINT;
  if (b <= 0x8f)
    return MP_MAP;
  if (b <= 0x9f)
    return MP_ARRAY;
  if (b <= 0xbf)
    return MP_STR;
  if (b >= 0xe0)
    return MP_INT;
  switch (b) {
  case 0xc0:
    return MP_NIL;
  case 0xc2:
  case 0xc3:
    return MP_BOOL;
  case 0xc4:
  case 0xc5:
  case 0xc6:
    return MP_BIN;
  case 0xc7:
  case 0xc8:
  case 0xc9:
  case 0xd4:
  case 0xd5:
  case 0xd6:
  case 0xd7:
  case 0xd8:
    return MP_EXT;
  case 0xca:
  case 0xcb:
    return MP_FLOAT;
  case 0xcc:
  case 0xcd:
  case 0xce:
  case 0xcf:
    return MP_UINT;
  case 0xd0:
  case 0xd1:
  case 0xd2:
  case 0xd3:
    return MP_INT;
  case 0xd9:
  case 0xda:
  case 0xdb:
    return MP_STR;
  case 0xdc:
  case 0xdd:
    return MP_ARRAY;
  case 0xde:
  case 0xdf:
    return MP_MAP;
  default:
    return MP_INVALID;
  }
}

/* Consumes a nil when one is next; returns 1 if it did. */
static inline int mp_nil(mp_cursor *c) {
  if (!c->err && c->p < c->end && *c->p == 0xc0) {
    c->p++;
    return 1;
  }
  return 0;
}

/*
 * Reads any integer as its 64-bit two's complement bit pattern: uint64 values
 * >= 2^63 come back unchanged, negative ints as their int64 pattern. *neg is
 * set when the value was encoded as a negative integer.
 */
static inline uint64_t mp_int_bits(mp_cursor *c, int *neg, const char *what) {
  *neg = 0;
  if (c->err)
    return 0;
  if (c->p >= c->end) {
    mp_fail(c, KVIDX_ETRUNC, what);
    return 0;
  }
  uint8_t b = *c->p;
  if (b <= 0x7f) {
    c->p++;
    return b;
  }
  if (b >= 0xe0) {
    c->p++;
    *neg = 1;
    return (uint64_t)(int64_t)(int8_t)b;
  }
  unsigned n;
  int is_signed = 0;
  switch (b) {
  case 0xcc:
    n = 1;
    break;
  case 0xcd:
    n = 2;
    break;
  case 0xce:
    n = 4;
    break;
  case 0xcf:
    n = 8;
    break;
  case 0xd0:
    n = 1;
    is_signed = 1;
    break;
  case 0xd1:
    n = 2;
    is_signed = 1;
    break;
  case 0xd2:
    n = 4;
    is_signed = 1;
    break;
  case 0xd3:
    n = 8;
    is_signed = 1;
    break;
  default:
    mp_fail(c, KVIDX_EPROTO, what);
    return 0;
  }
  const uint8_t *q = mp_take(c, 1 + n, what);
  if (q == NULL)
    return 0;
  uint64_t v = mp_be(q + 1, n);
  if (is_signed && n < 8 && (v >> (8 * n - 1)) != 0)
    v |= ~(uint64_t)0 << (8 * n); /* sign-extend */
  if (is_signed && (v >> 63) != 0)
    *neg = 1;
  return v;
}

/* Reads a non-negative integer no larger than max; anything else is EPROTO. */
static inline uint64_t mp_uint_max(mp_cursor *c, uint64_t max,
                                   const char *what) {
  int neg;
  uint64_t v = mp_int_bits(c, &neg, what);
  if (!c->err && (neg || v > max)) {
    mp_fail(c, KVIDX_EPROTO, what);
    return 0;
  }
  return v;
}

/* Reads a signed integer that must fit int64. */
static inline int64_t mp_int64(mp_cursor *c, const char *what) {
  int neg;
  uint64_t v = mp_int_bits(c, &neg, what);
  if (!c->err && !neg && (v >> 63) != 0) {
    mp_fail(c, KVIDX_EPROTO, what);
    return 0;
  }
  return (int64_t)v;
}

/* Reads a float32/float64, or an integer (a timestamp may be one). */
static inline double mp_double(mp_cursor *c, const char *what) {
  mp_type t = mp_peek(c);
  if (t == MP_UINT || t == MP_INT) {
    int neg;
    uint64_t v = mp_int_bits(c, &neg, what);
    return neg ? (double)(int64_t)v : (double)v;
  }
  if (t != MP_FLOAT) {
    mp_fail(c, c->p >= c->end ? KVIDX_ETRUNC : KVIDX_EPROTO, what);
    return 0;
  }
  if (*c->p == 0xca) {
    const uint8_t *q = mp_take(c, 5, what);
    if (q == NULL)
      return 0;
    uint32_t u = (uint32_t)mp_be(q + 1, 4);
    float f;
    memcpy(&f, &u, sizeof f);
    return (double)f;
  }
  const uint8_t *q = mp_take(c, 9, what);
  if (q == NULL)
    return 0;
  uint64_t u = mp_be(q + 1, 8);
  double d;
  memcpy(&d, &u, sizeof d);
  return d;
}

/* Reads a container header of the given family; checks n against the bytes
 * left (each element needs >= 1 byte, a map pair >= 2). */
static inline size_t mp_container(mp_cursor *c, int map, const char *what) {
  if (c->err)
    return 0;
  if (c->p >= c->end) {
    mp_fail(c, KVIDX_ETRUNC, what);
    return 0;
  }
  uint8_t b = *c->p;
  uint64_t n;
  if (!map && b >= 0x90 && b <= 0x9f) {
    n = b & 0x0fu;
    c->p++;
  } else if (map && b >= 0x80 && b <= 0x8f) {
    n = b & 0x0fu;
    c->p++;
  } else if (b == (map ? 0xde : 0xdc)) {
    const uint8_t *q = mp_take(c, 3, what);
    n = q ? mp_be(q + 1, 2) : 0;
  } else if (b == (map ? 0xdf : 0xdd)) {
    const uint8_t *q = mp_take(c, 5, what);
    n = q ? mp_be(q + 1, 4) : 0;
  } else {
    mp_fail(c, KVIDX_EPROTO, what);
    return 0;
  }
  if (c->err)
    return 0;
  if (n * (map ? 2u : 1u) > mp_left(c)) {
    mp_fail(c, KVIDX_ETRUNC, what);
    return 0;
  }
  return (size_t)n;
}

static inline size_t mp_array(mp_cursor *c, const char *what) {
  return mp_container(c, 0, what);
}

static inline size_t mp_map(mp_cursor *c, const char *what) {
  return mp_container(c, 1, what);
}

/* Reads a str (bin when want_bin) and returns a view of its bytes. */
static inline const uint8_t *mp_bytes(mp_cursor *c, int want_bin, size_t *len,
                                      const char *what) {
  *len = 0;
  if (c->err)
    return NULL;
  if (c->p >= c->end) {
    mp_fail(c, KVIDX_ETRUNC, what);
    return NULL;
  }
  uint8_t b = *c->p;
  size_t hdr;
  uint64_t n;
  if (!want_bin && b >= 0xa0 && b <= 0xbf) {
    hdr = 1;
    n = b & 0x1fu;
  } else if (b == (want_bin ? 0xc4 : 0xd9)) {
    hdr = 2;
  } else if (b == (want_bin ? 0xc5 : 0xda)) {
    hdr = 3;
  } else if (b == (want_bin ? 0xc6 : 0xdb)) {
    hdr = 5;
  } else {
    mp_fail(c, KVIDX_EPROTO, what);
    return NULL;
  }
  if (hdr > 1) {
    if (mp_left(c) < hdr) {
      mp_fail(c, KVIDX_ETRUNC, what);
      return NULL;
    }
    n = mp_be(c->p + 1, (unsigned)(hdr - 1));
  }
  if (n > mp_left(c) - hdr) {
    mp_fail(c, KVIDX_ETRUNC, what);
    return NULL;
  }
  const uint8_t *q = c->p + hdr;
  c->p += hdr + n;
  *len = (size_t)n;
  return q;
}

static inline const char *mp_str(mp_cursor *c, size_t *len, const char *what) {
  return (const char *)mp_bytes(c, 0, len, what);
}

/*
 * Skips one complete value of any type. Iterative, not recursive: a counter
 * of values still to skip grows by a container's element count, so nesting
 * depth costs nothing and a hostile 100000-deep array cannot overflow the
 * stack.
 */
static inline void mp_skip(mp_cursor *c, const char *what) {
  uint64_t pending = 1;
  while (pending > 0 && !c->err) {
    pending--;
    if (c->p >= c->end) {
      mp_fail(c, KVIDX_ETRUNC, what);
      return;
    }
    uint8_t b = *c->p;
    size_t len;
    switch (mp_peek(c)) {
    case MP_NIL:
    case MP_BOOL:
      c->p++;
      break;
    case MP_UINT:
    case MP_INT: {
      int neg;
      (void)mp_int_bits(c, &neg, what);
      break;
    }
    case MP_FLOAT:
      (void)mp_take(c, b == 0xca ? 5 : 9, what);
      break;
    case MP_STR:
      (void)mp_bytes(c, 0, &len, what);
      break;
    case MP_BIN:
      (void)mp_bytes(c, 1, &len, what);
      break;
    case MP_ARRAY:
      pending += mp_array(c, what);
      break;
    case MP_MAP:
      pending += 2 * (uint64_t)mp_map(c, what);
      break;
    case MP_EXT: {
      /* fixext 1/2/4/8/16 = 0xd4..0xd8; ext 8/16/32 = 0xc7..0xc9 */
      if (b >= 0xd4) {
        (void)mp_take(c, 2 + ((size_t)1 << (b - 0xd4)), what);
      } else {
        unsigned n = b == 0xc7 ? 1u : b == 0xc8 ? 2u : 4u;
        if (mp_left(c) < 2 + n) {
          mp_fail(c, KVIDX_ETRUNC, what);
          return;
        }
        uint64_t dl = mp_be(c->p + 1, n);
        if (dl > mp_left(c) - 2 - n) {
          mp_fail(c, KVIDX_ETRUNC, what);
          return;
        }
        c->p += 2 + n + dl;
      }
      break;
    }
    default:
      mp_fail(c, KVIDX_EPROTO, what);
      return;
    }
  }
}

#endif

/* json_impl.h — the node layout shared by json.c (DOM, parser) and json_write.c (writer).
 * Private to those two files; everyone else goes through json.h. */
#ifndef PRISM_JSON_IMPL_H
#define PRISM_JSON_IMPL_H

#include "json.h"

struct prism_json {
  prism_json_kind kind;
  union {
    bool b;
    int64_t i;
    double d;
    struct {
      char *s; /* NUL-terminated; may also hold \u0000 bytes, hence n */
      size_t n;
    } str;
    struct {
      prism_json **items;
      size_t n, cap;
    } arr;
    struct {
      char **keys; /* insertion order; the writer sorts */
      size_t *klens;
      prism_json **vals;
      size_t n, cap;
    } obj;
  } u;
};

/* Length (1..4) of the valid UTF-8 sequence at p and its code point; 0 when invalid. */
size_t prism_json_utf8_seq(const unsigned char *p, const unsigned char *end, uint32_t *cp);

#endif

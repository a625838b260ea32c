/* json.c — the JSON DOM and its strict parser (see json.h); the writer lives in json_write.c.
 *
 * The parser reads files a miner or a peer validator may have crafted (manifests given to
 * `prism score`/`prism leaderboard`), so it is strict RFC 8259 and bounded: nesting depth is
 * capped, UTF-8 is validated (no overlong forms, no encoded surrogates, nothing past U+10FFFF),
 * \u escapes must pair surrogates, duplicate object keys are an error (two readers could otherwise
 * disagree on which value counts), and numbers that overflow a double are rejected. Integers
 * without fraction or exponent stay exact int64; larger ones become doubles as Python's float()
 * would round them. Objects keep insertion order; the writer sorts. */
#define _GNU_SOURCE /* qsort_r */
#include "json.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_impl.h"

/* ------------------------------------------------------------------ constructors */

static prism_json *node(prism_json_kind k) {
  prism_json *v = calloc(1, sizeof *v);
  if (v) v->kind = k;
  return v;
}

prism_json *prism_json_null(void) { return node(PRISM_JSON_NULL); }

prism_json *prism_json_bool(bool b) {
  prism_json *v = node(PRISM_JSON_BOOL);
  if (v) v->u.b = b;
  return v;
}

prism_json *prism_json_int(int64_t i) {
  prism_json *v = node(PRISM_JSON_INT);
  if (v) v->u.i = i;
  return v;
}

prism_json *prism_json_double(double d) {
  prism_json *v = node(PRISM_JSON_DOUBLE);
  if (v) v->u.d = d;
  return v;
}

prism_json *prism_json_stringn(const char *s, size_t n) {
  if (!s) return prism_json_null();
  prism_json *v = node(PRISM_JSON_STRING);
  if (!v) return NULL;
  v->u.str.s = malloc(n + 1);
  if (!v->u.str.s) {
    free(v);
    return NULL;
  }
  if (n) memcpy(v->u.str.s, s, n);
  v->u.str.s[n] = '\0';
  v->u.str.n = n;
  return v;
}

prism_json *prism_json_string(const char *s) { return s ? prism_json_stringn(s, strlen(s)) : prism_json_null(); }
prism_json *prism_json_array(void) { return node(PRISM_JSON_ARRAY); }
prism_json *prism_json_object(void) { return node(PRISM_JSON_OBJECT); }

void prism_json_free(prism_json *v) {
  if (!v) return;
  switch (v->kind) {
  case PRISM_JSON_STRING: free(v->u.str.s); break;
  case PRISM_JSON_ARRAY:
    for (size_t i = 0; i < v->u.arr.n; i++) prism_json_free(v->u.arr.items[i]);
    free(v->u.arr.items);
    break;
  case PRISM_JSON_OBJECT:
    for (size_t i = 0; i < v->u.obj.n; i++) {
      free(v->u.obj.keys[i]);
      prism_json_free(v->u.obj.vals[i]);
    }
    free(v->u.obj.keys);
    free(v->u.obj.klens);
    free(v->u.obj.vals);
    break;
  default: break;
  }
  free(v);
}

/* ------------------------------------------------------------------ containers */

int prism_json_append(prism_json *arr, prism_json *v) {
  if (!arr || arr->kind != PRISM_JSON_ARRAY || !v) {
    prism_json_free(v);
    return -1;
  }
  if (arr->u.arr.n == arr->u.arr.cap) {
    size_t cap = arr->u.arr.cap ? arr->u.arr.cap * 2 : 8;
    prism_json **items = realloc(arr->u.arr.items, cap * sizeof *items);
    if (!items) {
      prism_json_free(v);
      return -1;
    }
    arr->u.arr.items = items;
    arr->u.arr.cap = cap;
  }
  arr->u.arr.items[arr->u.arr.n++] = v;
  return 0;
}

static long find_key(const prism_json *obj, const char *key, size_t klen) {
  for (size_t i = 0; i < obj->u.obj.n; i++)
    if (obj->u.obj.klens[i] == klen && memcmp(obj->u.obj.keys[i], key, klen) == 0) return (long)i;
  return -1;
}

/* Appends without checking for an existing key (the parser checks duplicates itself). */
static int obj_push(prism_json *obj, const char *key, size_t klen, prism_json *v) {
  if (obj->u.obj.n == obj->u.obj.cap) {
    size_t cap = obj->u.obj.cap ? obj->u.obj.cap * 2 : 8;
    char **keys = realloc(obj->u.obj.keys, cap * sizeof *keys);
    if (!keys) return -1;
    obj->u.obj.keys = keys;
    size_t *klens = realloc(obj->u.obj.klens, cap * sizeof *klens);
    if (!klens) return -1;
    obj->u.obj.klens = klens;
    prism_json **vals = realloc(obj->u.obj.vals, cap * sizeof *vals);
    if (!vals) return -1;
    obj->u.obj.vals = vals;
    obj->u.obj.cap = cap;
  }
  char *k = malloc(klen + 1);
  if (!k) return -1;
  if (klen) memcpy(k, key, klen);
  k[klen] = '\0';
  obj->u.obj.keys[obj->u.obj.n] = k;
  obj->u.obj.klens[obj->u.obj.n] = klen;
  obj->u.obj.vals[obj->u.obj.n] = v;
  obj->u.obj.n++;
  return 0;
}

int prism_json_set(prism_json *obj, const char *key, prism_json *v) {
  if (!obj || obj->kind != PRISM_JSON_OBJECT || !key || !v) {
    prism_json_free(v);
    return -1;
  }
  size_t klen = strlen(key);
  long i = find_key(obj, key, klen);
  if (i >= 0) {
    prism_json_free(obj->u.obj.vals[i]);
    obj->u.obj.vals[i] = v;
    return 0;
  }
  if (obj_push(obj, key, klen, v) != 0) {
    prism_json_free(v);
    return -1;
  }
  return 0;
}

int prism_json_remove(prism_json *obj, const char *key) {
  if (!obj || obj->kind != PRISM_JSON_OBJECT || !key) return 0;
  long i = find_key(obj, key, strlen(key));
  if (i < 0) return 0;
  free(obj->u.obj.keys[i]);
  prism_json_free(obj->u.obj.vals[i]);
  size_t rest = obj->u.obj.n - (size_t)i - 1;
  memmove(obj->u.obj.keys + i, obj->u.obj.keys + i + 1, rest * sizeof *obj->u.obj.keys);
  memmove(obj->u.obj.klens + i, obj->u.obj.klens + i + 1, rest * sizeof *obj->u.obj.klens);
  memmove(obj->u.obj.vals + i, obj->u.obj.vals + i + 1, rest * sizeof *obj->u.obj.vals);
  obj->u.obj.n--;
  return 1;
}

prism_json *prism_json_get(const prism_json *obj, const char *key) {
  if (!obj || obj->kind != PRISM_JSON_OBJECT || !key) return NULL;
  long i = find_key(obj, key, strlen(key));
  return i < 0 ? NULL : obj->u.obj.vals[i];
}

prism_json *prism_json_path(const prism_json *root, const char *dotted) {
  if (!root || !dotted) return NULL;
  const prism_json *cur = root;
  const char *p = dotted;
  for (;;) {
    const char *dot = strchr(p, '.');
    size_t n = dot ? (size_t)(dot - p) : strlen(p);
    if (!cur || cur->kind != PRISM_JSON_OBJECT) return NULL;
    long i = find_key(cur, p, n);
    if (i < 0) return NULL;
    cur = cur->u.obj.vals[i];
    if (!dot) return (prism_json *)cur;
    p = dot + 1;
  }
}

prism_json *prism_json_clone(const prism_json *v) {
  if (!v) return NULL;
  switch (v->kind) {
  case PRISM_JSON_NULL: return prism_json_null();
  case PRISM_JSON_BOOL: return prism_json_bool(v->u.b);
  case PRISM_JSON_INT: return prism_json_int(v->u.i);
  case PRISM_JSON_DOUBLE: return prism_json_double(v->u.d);
  case PRISM_JSON_STRING: return prism_json_stringn(v->u.str.s, v->u.str.n);
  case PRISM_JSON_ARRAY: {
    prism_json *a = prism_json_array();
    for (size_t i = 0; a && i < v->u.arr.n; i++) {
      prism_json *c = prism_json_clone(v->u.arr.items[i]);
      if (!c || prism_json_append(a, c) != 0) {
        prism_json_free(a);
        return NULL;
      }
    }
    return a;
  }
  case PRISM_JSON_OBJECT: {
    prism_json *o = prism_json_object();
    for (size_t i = 0; o && i < v->u.obj.n; i++) {
      prism_json *c = prism_json_clone(v->u.obj.vals[i]);
      if (!c || obj_push(o, v->u.obj.keys[i], v->u.obj.klens[i], c) != 0) {
        prism_json_free(c);
        prism_json_free(o);
        return NULL;
      }
    }
    return o;
  }
  }
  return NULL;
}

bool prism_json_equal(const prism_json *a, const prism_json *b) {
  if (!a || !b) return a == b;
  if (a->kind != b->kind) return false;
  switch (a->kind) {
  case PRISM_JSON_NULL: return true;
  case PRISM_JSON_BOOL: return a->u.b == b->u.b;
  case PRISM_JSON_INT: return a->u.i == b->u.i;
  /* Bitwise: the manifest check wants "the same bits", and NaN never reaches a manifest. */
  case PRISM_JSON_DOUBLE: return memcmp(&a->u.d, &b->u.d, sizeof(double)) == 0;
  case PRISM_JSON_STRING: return a->u.str.n == b->u.str.n && memcmp(a->u.str.s, b->u.str.s, a->u.str.n) == 0;
  case PRISM_JSON_ARRAY:
    if (a->u.arr.n != b->u.arr.n) return false;
    for (size_t i = 0; i < a->u.arr.n; i++)
      if (!prism_json_equal(a->u.arr.items[i], b->u.arr.items[i])) return false;
    return true;
  case PRISM_JSON_OBJECT:
    if (a->u.obj.n != b->u.obj.n) return false;
    for (size_t i = 0; i < a->u.obj.n; i++) {
      long j = find_key(b, a->u.obj.keys[i], a->u.obj.klens[i]);
      if (j < 0 || !prism_json_equal(a->u.obj.vals[i], b->u.obj.vals[j])) return false;
    }
    return true;
  }
  return false;
}

/* ------------------------------------------------------------------ accessors */

prism_json_kind prism_json_kind_of(const prism_json *v) { return v ? v->kind : PRISM_JSON_NULL; }
bool prism_json_is_number(const prism_json *v) { return v && (v->kind == PRISM_JSON_INT || v->kind == PRISM_JSON_DOUBLE); }

double prism_json_number(const prism_json *v) {
  if (v && v->kind == PRISM_JSON_INT) return (double)v->u.i;
  if (v && v->kind == PRISM_JSON_DOUBLE) return v->u.d;
  return NAN;
}

int64_t prism_json_int_value(const prism_json *v) {
  if (v && v->kind == PRISM_JSON_INT) return v->u.i;
  if (v && v->kind == PRISM_JSON_DOUBLE) {
    double d = v->u.d;
    if (!(d == d)) return 0;
    if (d >= 9223372036854775807.0) return INT64_MAX;
    if (d <= -9223372036854775808.0) return INT64_MIN;
    return (int64_t)d; /* C conversion truncates toward zero, like Python's int() */
  }
  return 0;
}

const char *prism_json_string_value(const prism_json *v) { return v && v->kind == PRISM_JSON_STRING ? v->u.str.s : NULL; }
size_t prism_json_string_length(const prism_json *v) { return v && v->kind == PRISM_JSON_STRING ? v->u.str.n : 0; }
bool prism_json_bool_value(const prism_json *v) { return v && v->kind == PRISM_JSON_BOOL && v->u.b; }

size_t prism_json_length(const prism_json *v) {
  if (v && v->kind == PRISM_JSON_ARRAY) return v->u.arr.n;
  if (v && v->kind == PRISM_JSON_OBJECT) return v->u.obj.n;
  return 0;
}

prism_json *prism_json_at(const prism_json *arr, size_t i) {
  return arr && arr->kind == PRISM_JSON_ARRAY && i < arr->u.arr.n ? arr->u.arr.items[i] : NULL;
}
const char *prism_json_key_at(const prism_json *obj, size_t i) {
  return obj && obj->kind == PRISM_JSON_OBJECT && i < obj->u.obj.n ? obj->u.obj.keys[i] : NULL;
}
prism_json *prism_json_value_at(const prism_json *obj, size_t i) {
  return obj && obj->kind == PRISM_JSON_OBJECT && i < obj->u.obj.n ? obj->u.obj.vals[i] : NULL;
}

/* ------------------------------------------------------------------ parser */

typedef struct {
  const unsigned char *p, *end, *start;
  char *err;
  size_t errcap;
  bool failed;
  char *sbuf; /* scratch for decoded strings */
  size_t scap;
} parser;

static void perr(parser *ps, const unsigned char *at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void perr(parser *ps, const unsigned char *at, const char *fmt, ...) {
  if (ps->failed) return;
  ps->failed = true;
  if (!ps->err || !ps->errcap) return;
  size_t line = 1, col = 1;
  for (const unsigned char *q = ps->start; q < at && q < ps->end; q++) {
    if (*q == '\n') {
      line++;
      col = 1;
    } else {
      col++;
    }
  }
  int n = snprintf(ps->err, ps->errcap, "line %zu col %zu: ", line, col);
  if (n < 0 || (size_t)n >= ps->errcap) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(ps->err + n, ps->errcap - (size_t)n, fmt, ap);
  va_end(ap);
}

static void skip_ws(parser *ps) {
  while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')) ps->p++;
}

static int sput(parser *ps, size_t *n, const char *bytes, size_t k) {
  if (*n + k + 1 > ps->scap) {
    size_t cap = ps->scap ? ps->scap : 64;
    while (cap < *n + k + 1) cap *= 2;
    char *b = realloc(ps->sbuf, cap);
    if (!b) return -1;
    ps->sbuf = b;
    ps->scap = cap;
  }
  memcpy(ps->sbuf + *n, bytes, k);
  *n += k;
  return 0;
}

/* Length of the valid UTF-8 sequence at p (1..4), 0 when invalid (RFC 3629 table). */
size_t prism_json_utf8_seq(const unsigned char *p, const unsigned char *end, uint32_t *cp) {
  unsigned c = p[0];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  size_t n;
  uint32_t v, min;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2, v = c & 0x1F, min = 0x80;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3, v = c & 0x0F, min = 0x800;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4, v = c & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if ((size_t)(end - p) < n) return 0;
  for (size_t i = 1; i < n; i++) {
    if ((p[i] & 0xC0) != 0x80) return 0;
    v = (v << 6) | (p[i] & 0x3F);
  }
  if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
  *cp = v;
  return n;
}

static int hex4(const unsigned char *p, const unsigned char *end, uint32_t *out) {
  if (end - p < 4) return -1;
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) {
    unsigned c = p[i];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= c - '0';
    else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
    else return -1;
  }
  *out = v;
  return 0;
}

/* Decodes the string at ps->p (on the opening quote) into ps->sbuf; returns its length or -1. */
static long parse_string_raw(parser *ps) {
  const unsigned char *open = ps->p++;
  size_t n = 0;
  for (;;) {
    if (ps->p >= ps->end) {
      perr(ps, open, "unterminated string");
      return -1;
    }
    unsigned c = *ps->p;
    if (c == '"') {
      ps->p++;
      if (sput(ps, &n, "", 0) != 0) goto oom;
      ps->sbuf[n] = '\0';
      return (long)n;
    }
    if (c < 0x20) {
      perr(ps, ps->p, "control character 0x%02x inside a string must be escaped", c);
      return -1;
    }
    if (c == '\\') {
      const unsigned char *esc = ps->p;
      if (ps->p + 1 >= ps->end) {
        perr(ps, esc, "unterminated escape");
        return -1;
      }
      char e = (char)ps->p[1];
      ps->p += 2;
      const char *simple = NULL;
      switch (e) {
      case '"': simple = "\""; break;
      case '\\': simple = "\\"; break;
      case '/': simple = "/"; break;
      case 'b': simple = "\b"; break;
      case 'f': simple = "\f"; break;
      case 'n': simple = "\n"; break;
      case 'r': simple = "\r"; break;
      case 't': simple = "\t"; break;
      case 'u': break;
      default: perr(ps, esc, "invalid escape '\\%c'", e); return -1;
      }
      if (simple) {
        if (sput(ps, &n, simple, 1) != 0) goto oom;
        continue;
      }
      uint32_t cp;
      if (hex4(ps->p, ps->end, &cp) != 0) {
        perr(ps, esc, "\\u must be followed by 4 hex digits");
        return -1;
      }
      ps->p += 4;
      if (cp >= 0xDC00 && cp <= 0xDFFF) {
        perr(ps, esc, "lone low surrogate \\u%04x", cp);
        return -1;
      }
      if (cp >= 0xD800 && cp <= 0xDBFF) {
        uint32_t lo;
        if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u' || hex4(ps->p + 2, ps->end, &lo) != 0 ||
            lo < 0xDC00 || lo > 0xDFFF) {
          perr(ps, esc, "lone high surrogate \\u%04x", cp);
          return -1;
        }
        ps->p += 6;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      }
      char u[4];
      size_t k;
      if (cp < 0x80) {
        u[0] = (char)cp, k = 1;
      } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6)), u[1] = (char)(0x80 | (cp & 0x3F)), k = 2;
      } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12)), u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F)), k = 3;
      } else {
        u[0] = (char)(0xF0 | (cp >> 18)), u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), u[3] = (char)(0x80 | (cp & 0x3F)), k = 4;
      }
      if (sput(ps, &n, u, k) != 0) goto oom;
      continue;
    }
    uint32_t cp;
    size_t k = prism_json_utf8_seq(ps->p, ps->end, &cp);
    if (!k) {
      perr(ps, ps->p, "invalid UTF-8 byte 0x%02x inside a string", c);
      return -1;
    }
    if (sput(ps, &n, (const char *)ps->p, k) != 0) goto oom;
    ps->p += k;
  }
oom:
  perr(ps, ps->p, "out of memory");
  return -1;
}

static prism_json *parse_number(parser *ps) {
  const unsigned char *s = ps->p, *q = ps->p;
  bool integral = true;
  if (q < ps->end && *q == '-') q++;
  if (q >= ps->end) goto bad;
  if (*q == '0') {
    q++;
  } else if (*q >= '1' && *q <= '9') {
    while (q < ps->end && *q >= '0' && *q <= '9') q++;
  } else {
    goto bad;
  }
  if (q < ps->end && *q == '.') {
    integral = false;
    q++;
    if (q >= ps->end || *q < '0' || *q > '9') goto bad;
    while (q < ps->end && *q >= '0' && *q <= '9') q++;
  }
  if (q < ps->end && (*q == 'e' || *q == 'E')) {
    integral = false;
    q++;
    if (q < ps->end && (*q == '+' || *q == '-')) q++;
    if (q >= ps->end || *q < '0' || *q > '9') goto bad;
    while (q < ps->end && *q >= '0' && *q <= '9') q++;
  }
  size_t len = (size_t)(q - s);
  char local[64];
  char *buf = len < sizeof local ? local : malloc(len + 1);
  if (!buf) {
    perr(ps, s, "out of memory");
    return NULL;
  }
  memcpy(buf, s, len);
  buf[len] = '\0';
  prism_json *v = NULL;
  errno = 0;
  if (integral) {
    long long i = strtoll(buf, NULL, 10);
    if (errno == 0) v = prism_json_int((int64_t)i);
    errno = 0;
  }
  if (!v && !ps->failed) {
    double d = strtod(buf, NULL);
    if (!isfinite(d)) perr(ps, s, "number %.40s is out of range for a double", buf);
    else v = prism_json_double(d);
  }
  if (buf != local) free(buf);
  if (!v && !ps->failed) perr(ps, s, "out of memory");
  ps->p = q;
  return v;
bad:
  perr(ps, s, "invalid number");
  return NULL;
}

static int literal(parser *ps, const char *word) {
  size_t n = strlen(word);
  if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0) return -1;
  ps->p += n;
  return 0;
}

static int cmp_key_idx(const void *a, const void *b, void *objp) {
  const prism_json *o = objp;
  size_t i = *(const size_t *)a, j = *(const size_t *)b;
  size_t la = o->u.obj.klens[i], lb = o->u.obj.klens[j];
  int c = memcmp(o->u.obj.keys[i], o->u.obj.keys[j], la < lb ? la : lb);
  return c ? c : (la < lb ? -1 : la > lb);
}

/* Sorting instead of a per-insert scan keeps a hostile 100k-key object O(n log n). */
static int check_duplicates(parser *ps, const prism_json *o, const unsigned char *at) {
  size_t n = o->u.obj.n;
  if (n < 2) return 0;
  size_t *idx = malloc(n * sizeof *idx);
  if (!idx) {
    perr(ps, at, "out of memory");
    return -1;
  }
  for (size_t i = 0; i < n; i++) idx[i] = i;
  qsort_r(idx, n, sizeof *idx, cmp_key_idx, (void *)o);
  int rc = 0;
  for (size_t i = 1; i < n; i++) {
    if (cmp_key_idx(&idx[i - 1], &idx[i], (void *)o) == 0) {
      perr(ps, at, "duplicate key \"%.100s\"", o->u.obj.keys[idx[i]]);
      rc = -1;
      break;
    }
  }
  free(idx);
  return rc;
}

static prism_json *parse_value(parser *ps, int depth);

static prism_json *parse_container(parser *ps, int depth, bool is_obj) {
  const unsigned char *open = ps->p;
  if (depth >= PRISM_JSON_MAX_DEPTH) {
    perr(ps, open, "nesting deeper than %d levels", PRISM_JSON_MAX_DEPTH);
    return NULL;
  }
  ps->p++;
  prism_json *c = is_obj ? prism_json_object() : prism_json_array();
  if (!c) {
    perr(ps, open, "out of memory");
    return NULL;
  }
  skip_ws(ps);
  char close = is_obj ? '}' : ']';
  if (ps->p < ps->end && *ps->p == close) {
    ps->p++;
    return c;
  }
  for (;;) {
    skip_ws(ps);
    if (is_obj) {
      if (ps->p >= ps->end || *ps->p != '"') {
        perr(ps, ps->p, "expected a string key");
        goto fail;
      }
      long klen = parse_string_raw(ps);
      if (klen < 0) goto fail;
      char *key = malloc((size_t)klen + 1);
      if (!key) {
        perr(ps, ps->p, "out of memory");
        goto fail;
      }
      memcpy(key, ps->sbuf, (size_t)klen + 1);
      skip_ws(ps);
      if (ps->p >= ps->end || *ps->p != ':') {
        free(key);
        perr(ps, ps->p, "expected ':' after an object key");
        goto fail;
      }
      ps->p++;
      skip_ws(ps);
      prism_json *v = parse_value(ps, depth + 1);
      if (!v) {
        free(key);
        goto fail;
      }
      int rc = obj_push(c, key, (size_t)klen, v);
      free(key);
      if (rc != 0) {
        prism_json_free(v);
        perr(ps, ps->p, "out of memory");
        goto fail;
      }
    } else {
      prism_json *v = parse_value(ps, depth + 1);
      if (!v) goto fail;
      if (prism_json_append(c, v) != 0) {
        perr(ps, ps->p, "out of memory");
        goto fail;
      }
    }
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ',') {
      ps->p++;
      skip_ws(ps);
      if (ps->p < ps->end && *ps->p == close) {
        perr(ps, ps->p, "trailing comma");
        goto fail;
      }
      continue;
    }
    if (ps->p < ps->end && *ps->p == close) {
      ps->p++;
      if (is_obj && check_duplicates(ps, c, open) != 0) goto fail;
      return c;
    }
    perr(ps, ps->p, is_obj ? "expected ',' or '}'" : "expected ',' or ']'");
    goto fail;
  }
fail:
  prism_json_free(c);
  return NULL;
}

static prism_json *parse_value(parser *ps, int depth) {
  if (ps->p >= ps->end) {
    perr(ps, ps->p, "unexpected end of input");
    return NULL;
  }
  switch (*ps->p) {
  case '{': return parse_container(ps, depth, true);
  case '[': return parse_container(ps, depth, false);
  case '"': {
    long n = parse_string_raw(ps);
    if (n < 0) return NULL;
    prism_json *v = prism_json_stringn(ps->sbuf, (size_t)n);
    if (!v) perr(ps, ps->p, "out of memory");
    return v;
  }
  case 't':
    if (literal(ps, "true") == 0) return prism_json_bool(true);
    break;
  case 'f':
    if (literal(ps, "false") == 0) return prism_json_bool(false);
    break;
  case 'n':
    if (literal(ps, "null") == 0) return prism_json_null();
    break;
  default:
    if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9')) return parse_number(ps);
    break;
  }
  unsigned c = *ps->p;
  if (c >= 0x20 && c < 0x7f) perr(ps, ps->p, "unexpected character '%c'", (char)c);
  else perr(ps, ps->p, "unexpected byte 0x%02x", c);
  return NULL;
}

prism_json *prism_json_parse(const char *text, size_t len, char *err, size_t errcap) {
  if (err && errcap) err[0] = '\0';
  parser ps = {(const unsigned char *)text, (const unsigned char *)text + len, (const unsigned char *)text, err, errcap,
               false, NULL, 0};
  if (!text) {
    perr(&ps, ps.p, "no input");
    return NULL;
  }
  skip_ws(&ps);
  prism_json *v = parse_value(&ps, 0);
  if (v) {
    skip_ws(&ps);
    if (ps.p != ps.end) {
      perr(&ps, ps.p, "unexpected data after the JSON value");
      prism_json_free(v);
      v = NULL;
    }
  }
  free(ps.sbuf);
  return v;
}

/* json_write.c — the deterministic JSON writer (see json.h) and JSON file I/O.
 *
 * Output matches Python's json.dumps(v, sort_keys=True[, indent=N]) byte for byte, because the
 * reference writes manifests that way and validators diff them: keys sorted by code point (= UTF-8
 * byte order), ensure_ascii escaping (non-ASCII as lowercase \uXXXX, astral code points as
 * surrogate pairs), and doubles in Python's repr — the shortest decimal string that reads back to
 * the same double, nearest to it when several of that length do, printed in fixed notation when
 * the decimal exponent is in [-4, 16) and as 1e-05 / 1.5e+16 otherwise, with ".0" on integral
 * values. Non-finite doubles are written as null (Python would write NaN, which is not JSON). */
#define _GNU_SOURCE /* qsort_r */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json.h"
#include "json_impl.h"

/* ------------------------------------------------------------------ Python float repr */

/* p significant digits of v > 0, correctly rounded (glibc's printf is exact): digits into dig,
 * returns the decimal exponent e with v ~= d.ddd × 10^e. */
static int round_digits(double v, int p, char *dig) {
  char buf[48];
  snprintf(buf, sizeof buf, "%.*e", p - 1, v);
  int n = 0;
  const char *s = buf;
  for (; *s && *s != 'e'; s++)
    if (*s >= '0' && *s <= '9') dig[n++] = *s;
  dig[n] = '\0';
  return atoi(s + 1);
}

static double digits_value(const char *dig, int e) {
  char buf[48];
  snprintf(buf, sizeof buf, "%c.%se%d", dig[0], dig + 1, e);
  return strtod(buf, NULL);
}

/* The p-digit decimal one unit above (dir +1) or below (dir -1) dig×10^e; 0 when none. */
static int neighbour(const char *dig, int e, int dir, char *out, int *eout) {
  int p = (int)strlen(dig);
  memcpy(out, dig, (size_t)p + 1);
  *eout = e;
  int i = p - 1;
  if (dir > 0) {
    while (i >= 0 && out[i] == '9') out[i--] = '0';
    if (i < 0) { /* 999 -> 1000: still p digits at the next exponent */
      out[0] = '1';
      for (int k = 1; k < p; k++) out[k] = '0';
      *eout = e + 1;
    } else {
      out[i]++;
    }
  } else {
    while (i >= 0 && out[i] == '0') out[i--] = '9';
    if (i < 0) return 0;
    out[i]--;
    if (out[0] == '0') { /* 100 -> 099: the p-digit decimal below is 999 one decade down */
      for (int k = 0; k < p; k++) out[k] = '9';
      *eout = e - 1;
    }
  }
  return 1;
}

/* Is there a p-digit decimal that reads back as v? Fills the nearest such one. The round-trip set
 * is an interval around v, so checking the correctly rounded candidate and the one on the other
 * side of v is enough; the second matters at powers of two, where the interval is lopsided. */
static int shortest_at(double v, int p, char *dig, int *e) {
  *e = round_digits(v, p, dig);
  double r = digits_value(dig, *e);
  if (r == v) return 1;
  char alt[24];
  int ealt;
  if (neighbour(dig, *e, r < v ? 1 : -1, alt, &ealt) && digits_value(alt, ealt) == v) {
    memcpy(dig, alt, strlen(alt) + 1);
    *e = ealt;
    return 1;
  }
  return 0;
}

void prism_json_format_double(double v, char *buf, size_t cap) {
  if (!cap) return;
  if (isnan(v)) {
    snprintf(buf, cap, "NaN");
    return;
  }
  if (isinf(v)) {
    snprintf(buf, cap, v < 0 ? "-Infinity" : "Infinity");
    return;
  }
  if (v == 0) {
    snprintf(buf, cap, signbit(v) ? "-0.0" : "0.0");
    return;
  }
  bool neg = v < 0;
  double a = fabs(v);
  char dig[24], best[24];
  int e = 0, ebest = 0;
  /* Existence of a p-digit round-tripping decimal is monotone in p: binary search. 17 always works.
   * Most recorded losses are float32 values widened to double and need 16-17 digits, so probe 15
   * first to keep the 100k-element online_loss arrays cheap. */
  int lo = 1, hi = 17;
  if (shortest_at(a, 15, dig, &e)) {
    hi = 15;
    memcpy(best, dig, sizeof dig);
    ebest = e;
  } else {
    lo = 16;
  }
  if (hi == 17) {
    if (shortest_at(a, 16, dig, &e)) {
      memcpy(best, dig, sizeof dig);
      ebest = e;
    } else {
      shortest_at(a, 17, best, &ebest);
    }
  } else {
    while (lo < hi) {
      int mid = (lo + hi) / 2;
      if (shortest_at(a, mid, dig, &e)) {
        hi = mid;
        memcpy(best, dig, sizeof dig);
        ebest = e;
      } else {
        lo = mid + 1;
      }
    }
  }
  int n = (int)strlen(best);
  while (n > 1 && best[n - 1] == '0') best[--n] = '\0';
  int decpt = ebest + 1; /* value = 0.best × 10^decpt */
  char out[64];
  size_t o = 0;
  if (neg) out[o++] = '-';
  if (decpt <= -4 || decpt > 16) {
    out[o++] = best[0];
    if (n > 1) {
      out[o++] = '.';
      memcpy(out + o, best + 1, (size_t)n - 1);
      o += (size_t)n - 1;
    }
    snprintf(out + o, sizeof out - o, "e%c%02d", ebest < 0 ? '-' : '+', ebest < 0 ? -ebest : ebest);
  } else if (decpt <= 0) {
    out[o++] = '0';
    out[o++] = '.';
    for (int k = 0; k < -decpt; k++) out[o++] = '0';
    memcpy(out + o, best, (size_t)n);
    out[o + (size_t)n] = '\0';
  } else if (decpt >= n) {
    memcpy(out + o, best, (size_t)n);
    o += (size_t)n;
    for (int k = n; k < decpt; k++) out[o++] = '0';
    memcpy(out + o, ".0", 3);
  } else {
    memcpy(out + o, best, (size_t)decpt);
    o += (size_t)decpt;
    out[o++] = '.';
    memcpy(out + o, best + decpt, (size_t)(n - decpt));
    out[o + (size_t)(n - decpt)] = '\0';
  }
  snprintf(buf, cap, "%s", out);
}

/* ------------------------------------------------------------------ writer */

typedef struct {
  char *b;
  size_t n, cap;
  bool oom;
} sbuf;

static void grow(sbuf *s, size_t k) {
  if (s->oom || s->n + k + 1 <= s->cap) return;
  size_t cap = s->cap ? s->cap : 256;
  while (cap < s->n + k + 1) cap *= 2;
  char *b = realloc(s->b, cap);
  if (!b) {
    s->oom = true;
    return;
  }
  s->b = b;
  s->cap = cap;
}

static void put(sbuf *s, const char *p, size_t k) {
  grow(s, k);
  if (s->oom) return;
  memcpy(s->b + s->n, p, k);
  s->n += k;
}

static void putc_(sbuf *s, char c) { put(s, &c, 1); }

static void put_u(sbuf *s, unsigned cp) {
  static const char hex[] = "0123456789abcdef";
  char e[6] = {'\\', 'u', hex[(cp >> 12) & 15], hex[(cp >> 8) & 15], hex[(cp >> 4) & 15], hex[cp & 15]};
  put(s, e, 6);
}

static void put_string(sbuf *s, const char *p, size_t n) {
  const unsigned char *q = (const unsigned char *)p, *end = q + n;
  putc_(s, '"');
  while (q < end) {
    const unsigned char *run = q;
    while (q < end && *q >= 0x20 && *q < 0x7f && *q != '"' && *q != '\\') q++;
    if (q > run) put(s, (const char *)run, (size_t)(q - run));
    if (q >= end) break;
    unsigned c = *q;
    if (c == '"' || c == '\\') {
      putc_(s, '\\');
      putc_(s, (char)c);
      q++;
    } else if (c == '\n') {
      put(s, "\\n", 2), q++;
    } else if (c == '\r') {
      put(s, "\\r", 2), q++;
    } else if (c == '\t') {
      put(s, "\\t", 2), q++;
    } else if (c == '\b') {
      put(s, "\\b", 2), q++;
    } else if (c == '\f') {
      put(s, "\\f", 2), q++;
    } else if (c < 0x80) {
      put_u(s, c), q++;
    } else {
      uint32_t cp;
      size_t k = prism_json_utf8_seq(q, end, &cp);
      if (!k) { /* C strings (e.g. a Lua error message) may hold invalid UTF-8: U+FFFD per byte */
        put_u(s, 0xFFFD);
        q++;
      } else if (cp >= 0x10000) {
        cp -= 0x10000;
        put_u(s, 0xD800 + (cp >> 10));
        put_u(s, 0xDC00 + (cp & 0x3FF));
        q += k;
      } else {
        put_u(s, cp);
        q += k;
      }
    }
  }
  putc_(s, '"');
}

static void newline(sbuf *s, int indent, int depth) {
  putc_(s, '\n');
  size_t k = (size_t)indent * (size_t)depth;
  grow(s, k);
  if (s->oom) return;
  memset(s->b + s->n, ' ', k);
  s->n += k;
}

static int cmp_keys(const void *a, const void *b, void *objp) {
  const prism_json *o = objp;
  size_t i = *(const size_t *)a, j = *(const size_t *)b;
  size_t la = o->u.obj.klens[i], lb = o->u.obj.klens[j];
  int c = memcmp(o->u.obj.keys[i], o->u.obj.keys[j], la < lb ? la : lb);
  return c ? c : (la < lb ? -1 : la > lb);
}

static void write_value(sbuf *s, const prism_json *v, int indent, int depth) {
  char num[64];
  switch (v ? v->kind : PRISM_JSON_NULL) {
  case PRISM_JSON_NULL: put(s, "null", 4); return;
  case PRISM_JSON_BOOL: v->u.b ? put(s, "true", 4) : put(s, "false", 5); return;
  case PRISM_JSON_INT: put(s, num, (size_t)snprintf(num, sizeof num, "%lld", (long long)v->u.i)); return;
  case PRISM_JSON_DOUBLE:
    if (!isfinite(v->u.d)) {
      put(s, "null", 4);
    } else {
      prism_json_format_double(v->u.d, num, sizeof num);
      put(s, num, strlen(num));
    }
    return;
  case PRISM_JSON_STRING: put_string(s, v->u.str.s, v->u.str.n); return;
  case PRISM_JSON_ARRAY:
    if (!v->u.arr.n) {
      put(s, "[]", 2);
      return;
    }
    putc_(s, '[');
    for (size_t i = 0; i < v->u.arr.n; i++) {
      if (i) put(s, indent > 0 ? "," : ", ", indent > 0 ? 1 : 2);
      if (indent > 0) newline(s, indent, depth + 1);
      write_value(s, v->u.arr.items[i], indent, depth + 1);
    }
    if (indent > 0) newline(s, indent, depth);
    putc_(s, ']');
    return;
  case PRISM_JSON_OBJECT: {
    size_t n = v->u.obj.n;
    if (!n) {
      put(s, "{}", 2);
      return;
    }
    size_t *idx = malloc(n * sizeof *idx);
    if (!idx) {
      s->oom = true;
      return;
    }
    for (size_t i = 0; i < n; i++) idx[i] = i;
    qsort_r(idx, n, sizeof *idx, cmp_keys, (void *)v);
    putc_(s, '{');
    for (size_t i = 0; i < n; i++) {
      if (i) put(s, indent > 0 ? "," : ", ", indent > 0 ? 1 : 2);
      if (indent > 0) newline(s, indent, depth + 1);
      put_string(s, v->u.obj.keys[idx[i]], v->u.obj.klens[idx[i]]);
      put(s, ": ", 2);
      write_value(s, v->u.obj.vals[idx[i]], indent, depth + 1);
    }
    free(idx);
    if (indent > 0) newline(s, indent, depth);
    putc_(s, '}');
    return;
  }
  }
}

char *prism_json_write(const prism_json *v, int indent) {
  sbuf s = {0};
  write_value(&s, v, indent < 0 ? 0 : indent, 0);
  grow(&s, 0);
  if (s.oom) {
    free(s.b);
    return NULL;
  }
  s.b[s.n] = '\0';
  return s.b;
}

/* ------------------------------------------------------------------ files */

static int write_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

int prism_json_write_file_atomic(const char *path, const prism_json *v, int indent, char *err, size_t errcap) {
  char *text = prism_json_write(v, indent);
  if (!text) {
    snprintf(err, errcap, "out of memory while writing %s", path);
    return -1;
  }
  size_t plen = strlen(path);
  char *tmp = malloc(plen + 16);
  if (!tmp) {
    free(text);
    snprintf(err, errcap, "out of memory while writing %s", path);
    return -1;
  }
  /* ".name.tmp.XXXXXX" next to the target, so rename(2) stays within one file system */
  const char *slash = strrchr(path, '/');
  size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;
  snprintf(tmp, plen + 16, "%.*s.%s.XXXXXX", (int)dirlen, path, path + dirlen);
  int fd = mkstemp(tmp);
  int rc = -1;
  if (fd < 0) {
    snprintf(err, errcap, "cannot create a temporary file next to %s: %s", path, strerror(errno));
    goto out;
  }
  if (fchmod(fd, 0644) != 0 || write_all(fd, text, strlen(text)) != 0 || fsync(fd) != 0) {
    snprintf(err, errcap, "cannot write %s: %s", tmp, strerror(errno));
    close(fd);
    unlink(tmp);
    goto out;
  }
  if (close(fd) != 0) {
    snprintf(err, errcap, "cannot write %s: %s", tmp, strerror(errno));
    unlink(tmp);
    goto out;
  }
  /* rename(2) replaces a symlink at path itself; it never writes through it. */
  if (rename(tmp, path) != 0) {
    snprintf(err, errcap, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
    unlink(tmp);
    goto out;
  }
  char dir[4096];
  snprintf(dir, sizeof dir, "%.*s", dirlen ? (int)dirlen : 1, dirlen ? path : ".");
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd); /* best effort: the file itself is already durable */
    close(dfd);
  }
  rc = 0;
out:
  free(tmp);
  free(text);
  return rc;
}

prism_json *prism_json_read_file(const char *path, size_t max_bytes, char *err, size_t errcap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    snprintf(err, errcap, "cannot open %s: %s", path, strerror(errno));
    return NULL;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    snprintf(err, errcap, "%s is not a regular file", path);
    close(fd);
    return NULL;
  }
  if ((uint64_t)st.st_size > max_bytes) {
    snprintf(err, errcap, "%s is %lld bytes, over the %zu-byte limit", path, (long long)st.st_size, max_bytes);
    close(fd);
    return NULL;
  }
  size_t cap = (size_t)st.st_size + 1, n = 0;
  char *buf = malloc(cap);
  if (!buf) {
    snprintf(err, errcap, "out of memory reading %s", path);
    close(fd);
    return NULL;
  }
  for (;;) { /* read to EOF, but never past the cap even if the file grows meanwhile */
    if (n == cap) {
      if (cap > max_bytes) {
        snprintf(err, errcap, "%s grew past the %zu-byte limit while being read", path, max_bytes);
        free(buf);
        close(fd);
        return NULL;
      }
      size_t ncap = cap * 2 > max_bytes + 1 ? max_bytes + 1 : cap * 2;
      char *b = realloc(buf, ncap);
      if (!b) {
        snprintf(err, errcap, "out of memory reading %s", path);
        free(buf);
        close(fd);
        return NULL;
      }
      buf = b;
      cap = ncap;
    }
    ssize_t r = read(fd, buf + n, cap - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      snprintf(err, errcap, "cannot read %s: %s", path, strerror(errno));
      free(buf);
      close(fd);
      return NULL;
    }
    if (r == 0) break;
    n += (size_t)r;
  }
  close(fd);
  if (n > max_bytes) {
    snprintf(err, errcap, "%s is over the %zu-byte limit", path, max_bytes);
    free(buf);
    return NULL;
  }
  char perr[256];
  prism_json *v = prism_json_parse(buf, n, perr, sizeof perr);
  free(buf);
  if (!v) snprintf(err, errcap, "%s: invalid JSON: %s", path, perr);
  return v;
}

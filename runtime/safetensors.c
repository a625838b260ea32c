/* safetensors.c — the strict safetensors reader/writer behind trained_state.safetensors and
 * ctx:save (SPEC §3.1, §5, §6). The writer reproduces the Python library's bytes (compact serde
 * JSON, metadata first, header space-padded to 8 bytes) but keeps the caller's entry order, and it
 * replaces the target atomically so the held-out child never sees a half-written file. The reader
 * validates the whole header before anything is loaded, because a wrong file here must become an
 * actionable error rather than silently mis-shaped weights: only F32/I64/I32, shapes that fit
 * PRISM_MAX_DIMS without overflow, offsets that tile the data section exactly. Tensor data is
 * read on demand with pread, so opening a large file costs only its header. */
#define _GNU_SOURCE
#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "json.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c copies tensor bytes as-is: the format is little-endian, so must the host be"
#endif

typedef unsigned long long ull; /* for %llu */

typedef struct st_info {
  char *name;
  prism_dtype dtype;
  int ndim;
  int64_t shape[PRISM_MAX_DIMS];
  uint64_t begin, end; /* relative to the data section */
} st_info;

struct prism_st_file {
  char label[256];     /* file name, prefixed to every message */
  int fd;              /* -1 for files parsed from memory */
  unsigned char *mem;  /* whole-file copy (parse) or NULL */
  uint64_t data_start; /* 8 + header length */
  uint64_t data_size;
  int n;
  st_info *t;    /* header order */
  int *by_name;  /* indices into t, sorted by name, for bsearch */
};

/* Fills err (printf-style) and returns -1, so callers can `return st_err(...)`. */
static int st_err(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int st_err(char *err, size_t cap, const char *fmt, ...) {
  if (err && cap > 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
  }
  return -1;
}

/* A tensor-layer failure (error.h) folded into our err string; returns -1. */
static int st_err_tensor(char *err, size_t cap, const char *label, const char *what, const char *tname) {
  st_err(err, cap, "%s: %s '%s': %s", label, what, tname, prism_error_message());
  prism_error_clear();
  return -1;
}

static const char *dtype_code(prism_dtype d) {
  switch (d) {
  case PRISM_FLOAT32: return "F32";
  case PRISM_INT64: return "I64";
  case PRISM_INT32: return "I32";
  default: return NULL;
  }
}

static bool dtype_from_code(const char *s, prism_dtype *out) {
  for (int d = 0; d < PRISM_DTYPE_COUNT; d++) {
    if (strcmp(s, dtype_code((prism_dtype)d)) == 0) {
      *out = (prism_dtype)d;
      return true;
    }
  }
  return false;
}

/* RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF. */
static bool utf8_valid(const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    size_t len;
    unsigned min;
    if (c < 0x80) { i++; continue; }
    if ((c & 0xe0) == 0xc0) len = 2, min = 0x80, c &= 0x1f;
    else if ((c & 0xf0) == 0xe0) len = 3, min = 0x800, c &= 0x0f;
    else if ((c & 0xf8) == 0xf0) len = 4, min = 0x10000, c &= 0x07;
    else return false;
    if (n - i < len) return false;
    for (size_t k = 1; k < len; k++) {
      if ((s[i + k] & 0xc0) != 0x80) return false;
      c = (c << 6) | (s[i + k] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return false;
    i += len;
  }
  return true;
}

/* ------------------------------------------------------------------ writer */

typedef struct sbuf {
  char *p;
  size_t len, cap;
  bool oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
      b->oom = true;
      return;
    }
    b->p = p, b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_fmt(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_fmt(sbuf *b, const char *fmt, ...) {
  char tmp[64];
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (k > 0) sb_put(b, tmp, (size_t)k < sizeof tmp ? (size_t)k : sizeof tmp - 1);
}

/* A JSON string exactly as serde_json escapes it (the Python library's serializer): the two
 * mandatory escapes, the five short control escapes, other controls as lowercase \u00xx, and
 * everything else (including non-ASCII and '/') verbatim. */
static void sb_json_string(sbuf *b, const char *s) {
  static const char hex[] = "0123456789abcdef";
  sb_put(b, "\"", 1);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    char esc[7];
    switch (*p) {
    case '"': sb_put(b, "\\\"", 2); break;
    case '\\': sb_put(b, "\\\\", 2); break;
    case '\b': sb_put(b, "\\b", 2); break;
    case '\f': sb_put(b, "\\f", 2); break;
    case '\n': sb_put(b, "\\n", 2); break;
    case '\r': sb_put(b, "\\r", 2); break;
    case '\t': sb_put(b, "\\t", 2); break;
    default:
      if (*p < 0x20) {
        memcpy(esc, "\\u00", 4);
        esc[4] = hex[*p >> 4], esc[5] = hex[*p & 15];
        sb_put(b, esc, 6);
      } else {
        sb_put(b, (const char *)p, 1);
      }
    }
  }
  sb_put(b, "\"", 1);
}

static int cmp_entry_name(const void *a, const void *b) {
  const prism_st_entry *x = *(const prism_st_entry *const *)a, *y = *(const prism_st_entry *const *)b;
  return strcmp(x->name, y->name);
}

static bool bare_file_name(const char *name) {
  size_t n = name ? strlen(name) : 0;
  return n > 0 && n < 256 && !strchr(name, '/') && strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

static int write_all(int fd, const void *p, size_t n) {
  const char *c = p;
  while (n > 0) {
    ssize_t k = write(fd, c, n);
    if (k < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    c += k, n -= (size_t)k;
  }
  return 0;
}

/* Checks the entries and builds the padded header. Returns the data-section size or -1. */
static int64_t build_header(const prism_st_entry *entries, int n, sbuf *h, const char *name, char *err, size_t cap) {
  if (n < 0 || (n > 0 && !entries)) return st_err(err, cap, "%s: invalid entry list (n = %d)", name, n);
  for (int i = 0; i < n; i++) {
    const char *nm = entries[i].name;
    const prism_tensor *t = entries[i].tensor;
    if (!nm || !nm[0]) return st_err(err, cap, "%s: entry %d has an empty tensor name", name, i + 1);
    if (!utf8_valid((const unsigned char *)nm, strlen(nm)))
      return st_err(err, cap, "%s: tensor name of entry %d is not valid UTF-8", name, i + 1);
    if (strcmp(nm, "__metadata__") == 0)
      return st_err(err, cap, "%s: \"__metadata__\" is reserved by the format and cannot name a tensor", name);
    if (!t || !t->storage || (unsigned)t->dtype >= PRISM_DTYPE_COUNT || t->ndim < 0 || t->ndim > PRISM_MAX_DIMS)
      return st_err(err, cap, "%s: entry '%s' is not a valid tensor", name, nm);
  }
  if (n > 1) {
    const prism_st_entry **s = malloc((size_t)n * sizeof *s);
    if (!s) return st_err(err, cap, "%s: out of memory", name);
    for (int i = 0; i < n; i++) s[i] = &entries[i];
    qsort(s, (size_t)n, sizeof *s, cmp_entry_name);
    for (int i = 1; i < n; i++) {
      if (strcmp(s[i - 1]->name, s[i]->name) == 0) {
        st_err(err, cap, "%s: tensor name '%s' appears twice", name, s[i]->name);
        free(s);
        return -1;
      }
    }
    free(s);
  }
  uint64_t off = 0;
  sb_str(h, "{\"__metadata__\":{\"format\":\"pt\"}");
  for (int i = 0; i < n; i++) {
    const prism_tensor *t = entries[i].tensor;
    uint64_t bytes = (uint64_t)prism_tensor_numel(t) * prism_dtype_size(t->dtype);
    if (off + bytes < off || off + bytes > (uint64_t)INT64_MAX / 2)
      return st_err(err, cap, "%s: total tensor size overflows", name);
    sb_str(h, ",");
    sb_json_string(h, entries[i].name);
    sb_fmt(h, ":{\"dtype\":\"%s\",\"shape\":[", dtype_code(t->dtype));
    for (int d = 0; d < t->ndim; d++) sb_fmt(h, d ? ",%lld" : "%lld", (long long)t->shape[d]);
    sb_fmt(h, "],\"data_offsets\":[%llu,%llu]}", (ull)off, (ull)(off + bytes));
    off += bytes;
  }
  sb_str(h, "}");
  while (h->len % 8) sb_str(h, " "); /* data then starts 8-aligned, as the Python writer does */
  if (h->oom) return st_err(err, cap, "%s: out of memory building the header", name);
  if (h->len > PRISM_ST_MAX_HEADER)
    return st_err(err, cap, "%s: header would be %zu bytes, over the %d-byte limit", name, h->len, PRISM_ST_MAX_HEADER);
  return (int64_t)off;
}

/* Streams the tensors' bytes in entry order; device tensors and views go through a contiguous
 * host copy, one tensor at a time. */
static int write_tensors(int fd, const prism_st_entry *entries, int n, const char *name, char *err, size_t cap) {
  for (int i = 0; i < n; i++) {
    const prism_tensor *t = entries[i].tensor;
    if (prism_tensor_numel(t) == 0) continue;
    prism_tensor *host = prism_tensor_to_device_raw(t, PRISM_CPU);
    prism_tensor *c = host ? prism_tensor_contiguous_raw(host) : NULL;
    prism_tensor_release(host);
    if (!c) return st_err_tensor(err, cap, name, "cannot read tensor", entries[i].name);
    size_t bytes = (size_t)prism_tensor_numel(c) * prism_dtype_size(c->dtype);
    int rc = write_all(fd, prism_tensor_data(c), bytes);
    prism_tensor_release(c);
    if (rc < 0) return st_err(err, cap, "%s: write failed: %s", name, strerror(errno));
  }
  return 0;
}

/* Refuses a symlink or any non-regular file at the target; rename would replace a symlink
 * rather than follow it, but a link planted there means something is wrong. */
static int check_target(int dir_fd, const char *name, char *err, size_t cap) {
  struct stat st;
  if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
    if (!S_ISREG(st.st_mode))
      return st_err(err, cap, "%s: refusing to replace a %s", name,
                    S_ISLNK(st.st_mode) ? "symlink" : "non-regular file");
    return 0;
  }
  return errno == ENOENT ? 0 : st_err(err, cap, "%s: %s", name, strerror(errno));
}

int prism_safetensors_write_at(int dir_fd, const char *name, const prism_st_entry *entries, int n, int64_t max_bytes,
                               int64_t *bytes_written, char *err, size_t errcap) {
  if (bytes_written) *bytes_written = 0;
  if (!bare_file_name(name)) {
    st_err(err, errcap, "safetensors: '%s' is not a bare file name", name ? name : "(null)");
    return PRISM_ST_ERR;
  }
  sbuf h = {0};
  int64_t data = build_header(entries, n, &h, name, err, errcap);
  int64_t total = data < 0 ? 0 : 8 + (int64_t)h.len + data;
  int rc = data < 0 ? PRISM_ST_ERR : PRISM_ST_OK;
  if (rc == PRISM_ST_OK && max_bytes >= 0 && total > max_bytes) {
    st_err(err, errcap, "%s: the file would be %lld bytes, over the %lld bytes left in the artifacts quota", name,
           (long long)total, (long long)max_bytes);
    rc = PRISM_ST_QUOTA;
  }
  if (rc == PRISM_ST_OK && check_target(dir_fd, name, err, errcap) < 0) rc = PRISM_ST_ERR;
  if (rc != PRISM_ST_OK) {
    free(h.p);
    return rc;
  }

  static unsigned counter;
  char tmp[64];
  int fd = -1;
  for (int attempt = 0; attempt < 16 && fd < 0; attempt++) {
    unsigned k = __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED);
    snprintf(tmp, sizeof tmp, ".prism-st-%ld-%u.tmp", (long)getpid(), k);
    fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) {
    st_err(err, errcap, "%s: cannot create a temporary file: %s", name, strerror(errno));
    free(h.p);
    return PRISM_ST_ERR;
  }
  unsigned char len8[8];
  for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)h.len >> (8 * i));
  if (write_all(fd, len8, 8) < 0 || write_all(fd, h.p, h.len) < 0)
    rc = st_err(err, errcap, "%s: write failed: %s", name, strerror(errno));
  free(h.p);
  if (rc == 0) rc = write_tensors(fd, entries, n, name, err, errcap);
  off_t end = rc == 0 ? lseek(fd, 0, SEEK_CUR) : 0;
  if (rc == 0 && end != (off_t)total)
    rc = st_err(err, errcap, "%s: wrote %lld bytes, expected %lld", name, (long long)end, (long long)total);
  if (rc == 0 && fsync(fd) < 0) rc = st_err(err, errcap, "%s: fsync failed: %s", name, strerror(errno));
  if (close(fd) < 0 && rc == 0) rc = st_err(err, errcap, "%s: close failed: %s", name, strerror(errno));
  if (rc == 0 && renameat(dir_fd, tmp, dir_fd, name) < 0)
    rc = st_err(err, errcap, "%s: rename failed: %s", name, strerror(errno));
  if (rc < 0) {
    unlinkat(dir_fd, tmp, 0);
    return PRISM_ST_ERR;
  }
  if (bytes_written) *bytes_written = total;
  return PRISM_ST_OK;
}

/* ------------------------------------------------------------------ reader */

static void st_free(prism_st_file *f) {
  if (!f) return;
  if (f->t)
    for (int i = 0; i < f->n; i++) free(f->t[i].name);
  free(f->t);
  free(f->by_name);
  free(f->mem);
  if (f->fd >= 0) close(f->fd);
  free(f);
}

void prism_safetensors_close(prism_st_file *f) { st_free(f); }

/* Sort keys carry their entry, so comparators need no global state; ties break by header index,
 * so the order (and which duplicate or overlap is reported) never depends on qsort's internals. */
typedef struct st_key {
  const st_info *info;
  int index;
} st_key;

static int cmp_key_name(const void *a, const void *b) {
  const st_key *x = a, *y = b;
  int c = strcmp(x->info->name, y->info->name);
  return c ? c : (x->index > y->index) - (x->index < y->index);
}

static int cmp_key_offsets(const void *a, const void *b) {
  const st_key *x = a, *y = b;
  if (x->info->begin != y->info->begin) return x->info->begin < y->info->begin ? -1 : 1;
  if (x->info->end != y->info->end) return x->info->end < y->info->end ? -1 : 1;
  return (x->index > y->index) - (x->index < y->index);
}

/* The JSON parser decodes \u0000 into the string, but names and metadata are C strings here:
 * refuse the escape rather than silently truncate a name. Valid JSON only has backslashes
 * inside strings, so a plain scan is exact. */
static bool has_escaped_nul(const char *s, size_t n) {
  for (size_t i = 0; i + 1 < n; i++) {
    if (s[i] != '\\') continue;
    if (s[i + 1] == 'u' && i + 5 < n && memcmp(s + i + 2, "0000", 4) == 0) return true;
    i++; /* skip the escaped character (handles "\\\\u0000") */
  }
  return false;
}

static int parse_u64_array(const prism_json *arr, const char *what, const char *tname, uint64_t *out, int maxn,
                           const char *label, char *err, size_t cap) {
  size_t n = prism_json_length(arr);
  for (size_t i = 0; i < n; i++) {
    const prism_json *v = prism_json_at(arr, i);
    if (prism_json_kind_of(v) != PRISM_JSON_INT || prism_json_int_value(v) < 0)
      return st_err(err, cap, "%s: tensor '%s': %s entry %zu is not a non-negative integer", label, tname, what, i + 1);
    if ((int)i < maxn) out[i] = (uint64_t)prism_json_int_value(v);
  }
  return 0;
}

static int parse_tensor(const char *tname, const prism_json *v, st_info *info, uint64_t data_size, const char *label,
                        char *err, size_t cap) {
  if (!tname[0]) return st_err(err, cap, "%s: header has a tensor with an empty name", label);
  if (prism_json_kind_of(v) != PRISM_JSON_OBJECT)
    return st_err(err, cap, "%s: tensor '%s': entry is not an object", label, tname);
  const prism_json *jd = NULL, *js = NULL, *jo = NULL;
  size_t nk = prism_json_length(v);
  for (size_t i = 0; i < nk; i++) {
    const char *k = prism_json_key_at(v, i);
    if (strcmp(k, "dtype") == 0) jd = prism_json_value_at(v, i);
    else if (strcmp(k, "shape") == 0) js = prism_json_value_at(v, i);
    else if (strcmp(k, "data_offsets") == 0) jo = prism_json_value_at(v, i);
    else
      return st_err(err, cap, "%s: tensor '%s': unknown field \"%s\" (allowed: dtype, shape, data_offsets)", label,
                    tname, k);
  }
  if (!jd || !js || !jo)
    return st_err(err, cap, "%s: tensor '%s': missing field \"%s\"", label, tname,
                  !jd ? "dtype" : !js ? "shape" : "data_offsets");
  const char *ds = prism_json_string_value(jd);
  if (!ds) return st_err(err, cap, "%s: tensor '%s': dtype is not a string", label, tname);
  if (!dtype_from_code(ds, &info->dtype))
    return st_err(err, cap, "%s: tensor '%s': dtype \"%.32s\" is not supported (prism reads F32, I64 and I32)", label,
                  tname, ds);
  if (prism_json_kind_of(js) != PRISM_JSON_ARRAY)
    return st_err(err, cap, "%s: tensor '%s': shape is not an array", label, tname);
  uint64_t dims[PRISM_MAX_DIMS];
  if (parse_u64_array(js, "shape", tname, dims, PRISM_MAX_DIMS, label, err, cap) < 0) return -1;
  size_t nd = prism_json_length(js);
  if (nd > PRISM_MAX_DIMS)
    return st_err(err, cap, "%s: tensor '%s': %zu dimensions, at most %d are supported", label, tname, nd,
                  PRISM_MAX_DIMS);
  /* Fold in order like the Python library does, so [huge, huge, 0] is an overflow, not 0. */
  uint64_t numel = 1;
  for (size_t d = 0; d < nd; d++) {
    if (dims[d] != 0 && numel > (uint64_t)INT64_MAX / dims[d])
      return st_err(err, cap, "%s: tensor '%s': shape overflows (element count past 2^63)", label, tname);
    numel *= dims[d];
  }
  size_t isz = prism_dtype_size(info->dtype);
  if (numel > (uint64_t)INT64_MAX / isz)
    return st_err(err, cap, "%s: tensor '%s': shape overflows (byte size past 2^63)", label, tname);
  uint64_t nbytes = numel * isz;
  if (prism_json_kind_of(jo) != PRISM_JSON_ARRAY || prism_json_length(jo) != 2)
    return st_err(err, cap, "%s: tensor '%s': data_offsets is not a [begin, end] pair", label, tname);
  uint64_t off[2];
  if (parse_u64_array(jo, "data_offsets", tname, off, 2, label, err, cap) < 0) return -1;
  if (off[1] < off[0])
    return st_err(err, cap, "%s: tensor '%s': data_offsets [%llu, %llu] end before they begin", label, tname,
                  (ull)off[0], (ull)off[1]);
  char sbuf_[160];
  int64_t shp[PRISM_MAX_DIMS];
  for (size_t d = 0; d < nd; d++) shp[d] = (int64_t)dims[d];
  if (off[1] - off[0] != nbytes)
    return st_err(err, cap, "%s: tensor '%s': data_offsets [%llu, %llu] span %llu bytes, but %s %s needs %llu", label,
                  tname, (ull)off[0], (ull)off[1], (ull)(off[1] - off[0]), ds,
                  prism_shape_str((int)nd, shp, sbuf_, sizeof sbuf_), (ull)nbytes);
  if (off[1] > data_size)
    return st_err(err, cap, "%s: tensor '%s': data_offsets [%llu, %llu] run past the data section (%llu bytes)", label,
                  tname, (ull)off[0], (ull)off[1], (ull)data_size);
  info->ndim = (int)nd;
  memcpy(info->shape, shp, nd * sizeof *shp);
  info->begin = off[0], info->end = off[1];
  info->name = strdup(tname);
  if (!info->name) return st_err(err, cap, "%s: out of memory", label);
  return 0;
}

static int parse_metadata(const prism_json *v, const char *label, char *err, size_t cap) {
  if (prism_json_kind_of(v) != PRISM_JSON_OBJECT)
    return st_err(err, cap, "%s: \"__metadata__\" is not an object of strings", label);
  for (size_t i = 0; i < prism_json_length(v); i++) {
    if (prism_json_kind_of(prism_json_value_at(v, i)) != PRISM_JSON_STRING)
      return st_err(err, cap, "%s: \"__metadata__\" value for \"%s\" is not a string", label, prism_json_key_at(v, i));
  }
  return 0;
}

/* The data section must be tiled exactly: sorted by (begin, end), each tensor starts where the
 * previous one ended, the first at 0, the last ends at the section's end. Zero-byte tensors
 * [k, k] fit anywhere in the chain. */
static int check_tiling(prism_st_file *f, st_key *keys, const char *label, char *err, size_t cap) {
  for (int i = 0; i < f->n; i++) keys[i].info = &f->t[i], keys[i].index = i;
  qsort(keys, (size_t)f->n, sizeof *keys, cmp_key_offsets);
  uint64_t pos = 0;
  const char *prev = NULL;
  for (int i = 0; i < f->n; i++) {
    const st_info *t = keys[i].info;
    if (t->begin < pos)
      return st_err(err, cap, "%s: tensors '%s' and '%s' overlap (the first ends at byte %llu, the second begins at "
                    "%llu)", label, prev, t->name, (ull)pos, (ull)t->begin);
    if (t->begin > pos)
      return st_err(err, cap, "%s: gap of %llu bytes in the data section before tensor '%s' (bytes %llu..%llu belong "
                    "to no tensor)", label, (ull)(t->begin - pos), t->name, (ull)pos, (ull)t->begin);
    pos = t->end;
    prev = t->name;
  }
  if (pos != f->data_size)
    return st_err(err, cap, "%s: %llu trailing bytes after the last tensor (the data section is %llu bytes, tensors "
                  "cover %llu)", label, (ull)(f->data_size - pos), (ull)f->data_size, (ull)pos);
  return 0;
}

/* The 8-byte length field against the file size and the cap; fills *hlen. */
static int check_prefix(const char *label, const unsigned char *p8, uint64_t file_size, uint64_t *hlen, char *err,
                        size_t cap) {
  if (file_size < 8)
    return st_err(err, cap, "%s: file is %llu bytes, shorter than the 8-byte header length", label, (ull)file_size);
  *hlen = 0;
  for (int i = 0; i < 8; i++) *hlen |= (uint64_t)p8[i] << (8 * i);
  if (*hlen > PRISM_ST_MAX_HEADER)
    return st_err(err, cap, "%s: header length %llu exceeds the %d-byte limit", label, (ull)*hlen, PRISM_ST_MAX_HEADER);
  if (*hlen > file_size - 8)
    return st_err(err, cap, "%s: header length %llu runs past the end of the file (%llu bytes follow the length field)",
                  label, (ull)*hlen, (ull)(file_size - 8));
  return 0;
}

/* Validates the header text (hlen bytes, already bounded by check_prefix) and the layout of a
 * data section of data_size bytes. fd is stored in the result but stays the caller's on failure. */
static prism_st_file *st_build(const char *label, const char *hdr, uint64_t hlen, uint64_t data_size, int fd,
                               char *err, size_t cap) {
  if (hlen < 2 || hdr[0] != '{') {
    st_err(err, cap, "%s: header does not start with '{'", label);
    return NULL;
  }
  char jerr[256] = "";
  prism_json *root = prism_json_parse(hdr, (size_t)hlen, jerr, sizeof jerr);
  if (!root) {
    st_err(err, cap, "%s: header is not valid JSON: %s", label, jerr);
    return NULL;
  }
  prism_st_file *f = calloc(1, sizeof *f);
  st_key *keys = NULL;
  if (!f) goto oom;
  f->fd = fd;
  snprintf(f->label, sizeof f->label, "%s", label);
  f->data_start = 8 + hlen;
  f->data_size = data_size;
  if (prism_json_kind_of(root) != PRISM_JSON_OBJECT) {
    st_err(err, cap, "%s: header is not a JSON object", label);
    goto fail;
  }
  if (has_escaped_nul(hdr, (size_t)hlen)) {
    st_err(err, cap, "%s: header contains an escaped NUL (\\u0000) in a name or value", label);
    goto fail;
  }
  size_t nk = prism_json_length(root);
  if (nk > (size_t)INT32_MAX) goto oom;
  f->t = calloc(nk ? nk : 1, sizeof *f->t);
  if (!f->t) goto oom;
  for (size_t i = 0; i < nk; i++) {
    const char *k = prism_json_key_at(root, i);
    const prism_json *v = prism_json_value_at(root, i);
    if (strcmp(k, "__metadata__") == 0) {
      if (parse_metadata(v, label, err, cap) < 0) goto fail;
      continue;
    }
    if (parse_tensor(k, v, &f->t[f->n], f->data_size, label, err, cap) < 0) goto fail;
    f->n++;
  }
  keys = malloc((size_t)(f->n ? f->n : 1) * sizeof *keys);
  f->by_name = malloc((size_t)(f->n ? f->n : 1) * sizeof *f->by_name);
  if (!keys || !f->by_name) goto oom;
  if (check_tiling(f, keys, label, err, cap) < 0) goto fail;
  for (int i = 0; i < f->n; i++) keys[i].info = &f->t[i], keys[i].index = i;
  qsort(keys, (size_t)f->n, sizeof *keys, cmp_key_name);
  for (int i = 0; i < f->n; i++) {
    if (i > 0 && strcmp(keys[i - 1].info->name, keys[i].info->name) == 0) {
      st_err(err, cap, "%s: tensor name '%s' appears twice", label, keys[i].info->name);
      goto fail;
    }
    f->by_name[i] = keys[i].index;
  }
  free(keys);
  prism_json_free(root);
  return f;
oom:
  st_err(err, cap, "%s: out of memory reading the header", label);
fail:
  free(keys);
  prism_json_free(root);
  if (f) f->fd = -1; /* the caller owns fd until success */
  st_free(f);
  return NULL;
}

prism_st_file *prism_safetensors_parse(const void *data, size_t size, char *err, size_t errcap) {
  uint64_t hlen = 0;
  if (!data && size) {
    st_err(err, errcap, "safetensors: no data");
    return NULL;
  }
  if (check_prefix("safetensors", data, size, &hlen, err, errcap) < 0) return NULL;
  prism_st_file *f = st_build("safetensors", (const char *)data + 8, hlen, size - 8 - hlen, -1, err, errcap);
  if (f && !(f->mem = malloc(size))) {
    st_err(err, errcap, "safetensors: out of memory");
    st_free(f);
    return NULL;
  }
  if (f) memcpy(f->mem, data, size);
  return f;
}

static int read_at(int fd, void *buf, size_t n, uint64_t off) {
  char *p = buf;
  while (n > 0) {
    ssize_t k = pread(fd, p, n, (off_t)off);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return k < 0 ? -1 : -2;
    p += k, n -= (size_t)k, off += (uint64_t)k;
  }
  return 0;
}

prism_st_file *prism_safetensors_open_at(int dir_fd, const char *name, char *err, size_t errcap) {
  if (!bare_file_name(name)) {
    st_err(err, errcap, "safetensors: '%s' is not a bare file name", name ? name : "(null)");
    return NULL;
  }
  int fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    st_err(err, errcap, "%s: cannot open: %s", name, errno == ELOOP ? "it is a symlink" : strerror(errno));
    return NULL;
  }
  struct stat st;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
    st_err(err, errcap, "%s: not a regular file", name);
    close(fd);
    return NULL;
  }
  uint64_t size = (uint64_t)st.st_size, hlen = 0;
  unsigned char p8[8] = {0};
  if (size >= 8 && read_at(fd, p8, 8, 0) < 0) size = 0; /* reported as too short */
  char *hdr = NULL;
  prism_st_file *f = NULL;
  if (check_prefix(name, p8, size, &hlen, err, errcap) < 0) goto done;
  hdr = malloc(hlen ? (size_t)hlen : 1);
  if (!hdr) {
    st_err(err, errcap, "%s: out of memory", name);
    goto done;
  }
  if (read_at(fd, hdr, (size_t)hlen, 8) < 0) {
    st_err(err, errcap, "%s: cannot read the header", name);
    goto done;
  }
  f = st_build(name, hdr, hlen, size - 8 - hlen, fd, err, errcap);
done:
  free(hdr);
  if (!f) close(fd);
  return f;
}

int prism_safetensors_count(const prism_st_file *f) { return f ? f->n : 0; }

const char *prism_safetensors_name(const prism_st_file *f, int i) {
  return f && i >= 0 && i < f->n ? f->t[i].name : NULL;
}

static const st_info *st_find(const prism_st_file *f, const char *name) {
  if (!f || !name) return NULL;
  int lo = 0, hi = f->n - 1;
  while (lo <= hi) {
    int mid = lo + (hi - lo) / 2;
    const st_info *t = &f->t[f->by_name[mid]];
    int c = strcmp(name, t->name);
    if (c == 0) return t;
    if (c < 0) hi = mid - 1;
    else lo = mid + 1;
  }
  return NULL;
}

int prism_safetensors_info(const prism_st_file *f, const char *name, prism_dtype *dtype, int64_t *shape) {
  const st_info *t = st_find(f, name);
  if (!t) return -1;
  if (dtype) *dtype = t->dtype;
  if (shape) {
    for (int d = 0; d < PRISM_MAX_DIMS; d++) shape[d] = d < t->ndim ? t->shape[d] : 0;
  }
  return t->ndim;
}

static int st_read_data(const prism_st_file *f, const st_info *t, void *dst, char *err, size_t cap) {
  size_t n = (size_t)(t->end - t->begin);
  if (n == 0) return 0;
  if (f->mem) {
    memcpy(dst, f->mem + f->data_start + t->begin, n);
    return 0;
  }
  int rc = read_at(f->fd, dst, n, f->data_start + t->begin);
  if (rc < 0)
    return st_err(err, cap, "%s: tensor '%s': %s", f->label, t->name,
                  rc == -2 ? "file ended early (was it changed after opening?)" : strerror(errno));
  return 0;
}

static prism_tensor *st_load(const prism_st_file *f, const st_info *t, char *err, size_t cap) {
  prism_tensor *out = prism_tensor_empty(t->dtype, PRISM_CPU, t->ndim, t->shape);
  if (!out) {
    st_err_tensor(err, cap, f->label, "cannot allocate tensor", t->name);
    return NULL;
  }
  if (st_read_data(f, t, prism_tensor_data(out), err, cap) < 0) {
    prism_tensor_release(out);
    return NULL;
  }
  return out;
}

prism_tensor *prism_safetensors_load(const prism_st_file *f, const char *name, char *err, size_t errcap) {
  if (!f) {
    st_err(err, errcap, "safetensors: no file");
    return NULL;
  }
  const st_info *t = st_find(f, name);
  if (!t) {
    st_err(err, errcap, "%s: no tensor named '%s'", f->label, name ? name : "(null)");
    return NULL;
  }
  return st_load(f, t, err, errcap);
}

static int cmp_target_name(const void *a, const void *b) {
  const prism_st_target *x = *(const prism_st_target *const *)a, *y = *(const prism_st_target *const *)b;
  return strcmp(x->name, y->name);
}

/* Every mismatch is found before any byte moves, so a rejected file leaves the model as built. */
static int check_targets(const prism_st_file *f, const prism_st_target *tg, int n, char *err, size_t cap) {
  if (n < 0 || (n > 0 && !tg)) return st_err(err, cap, "%s: invalid target list (n = %d)", f->label, n);
  for (int i = 0; i < n; i++) {
    if (!tg[i].name || !tg[i].tensor || !tg[i].tensor->storage)
      return st_err(err, cap, "%s: target %d has no name or no tensor", f->label, i + 1);
  }
  const prism_st_target **s = malloc((size_t)(n ? n : 1) * sizeof *s);
  char *seen = calloc((size_t)(f->n ? f->n : 1), 1);
  int rc = -1;
  if (!s || !seen) {
    st_err(err, cap, "%s: out of memory", f->label);
    goto done;
  }
  for (int i = 0; i < n; i++) s[i] = &tg[i];
  qsort(s, (size_t)n, sizeof *s, cmp_target_name);
  for (int i = 1; i < n; i++) {
    if (strcmp(s[i - 1]->name, s[i]->name) == 0) {
      st_err(err, cap, "%s: the model names two parameters '%s'", f->label, s[i]->name);
      goto done;
    }
  }
  int missing = 0, first_missing = -1;
  for (int i = 0; i < n; i++) {
    const st_info *t = st_find(f, tg[i].name);
    if (!t) {
      if (missing++ == 0) first_missing = i;
      continue;
    }
    seen[t - f->t] = 1;
  }
  if (missing) {
    char b[160];
    const prism_tensor *x = tg[first_missing].tensor;
    st_err(err, cap, "%s: the model's tensor '%s' (%s %s) is missing from the file (%d missing in all)", f->label,
           tg[first_missing].name, dtype_code(x->dtype), prism_shape_str(x->ndim, x->shape, b, sizeof b), missing);
    goto done;
  }
  for (int i = 0; i < f->n; i++) {
    if (!seen[i]) {
      st_err(err, cap, "%s: the file holds tensor '%s' that the model does not have (%d unexpected in all)", f->label,
             f->t[i].name, f->n - n);
      goto done;
    }
  }
  for (int i = 0; i < n; i++) {
    const st_info *t = st_find(f, tg[i].name);
    const prism_tensor *x = tg[i].tensor;
    char b1[160], b2[160];
    if (t->dtype != x->dtype) {
      st_err(err, cap, "%s: tensor '%s' is %s in the file but %s in the model", f->label, t->name, dtype_code(t->dtype),
             dtype_code(x->dtype));
      goto done;
    }
    bool same = t->ndim == x->ndim;
    for (int d = 0; same && d < t->ndim; d++) same = t->shape[d] == x->shape[d];
    if (!same) {
      st_err(err, cap, "%s: tensor '%s' has shape %s in the file but %s in the model", f->label, t->name,
             prism_shape_str(t->ndim, t->shape, b1, sizeof b1), prism_shape_str(x->ndim, x->shape, b2, sizeof b2));
      goto done;
    }
  }
  rc = 0;
done:
  free(s);
  free(seen);
  return rc;
}

int prism_safetensors_load_into(const prism_st_file *f, const prism_st_target *targets, int n, char *err,
                                size_t errcap) {
  if (!f) {
    st_err(err, errcap, "safetensors: no file");
    return PRISM_ST_ERR;
  }
  if (check_targets(f, targets, n, err, errcap) < 0) return PRISM_ST_ERR;
  for (int i = 0; i < n; i++) {
    prism_tensor *x = targets[i].tensor;
    const st_info *t = st_find(f, targets[i].name);
    if (x->storage->device == PRISM_CPU && prism_tensor_is_contiguous(x)) {
      if (st_read_data(f, t, prism_tensor_data(x), err, errcap) < 0) return PRISM_ST_ERR;
      prism_tensor_bump_version(x);
      continue;
    }
    prism_tensor *host = st_load(f, t, err, errcap);
    if (!host) return PRISM_ST_ERR;
    prism_tensor *dev = prism_tensor_to_device_raw(host, x->storage->device);
    prism_tensor_release(host);
    int rc = dev ? prism_tensor_copy_(x, dev) : -1;
    prism_tensor_release(dev);
    if (rc < 0) return st_err_tensor(err, errcap, f->label, "cannot copy into the model's tensor", t->name);
  }
  return PRISM_ST_OK;
}

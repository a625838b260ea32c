/* jsonl.c — byte-level helpers for JSONL shards (see jsonl.h). The line reader keeps memory
 * bounded by the line cap whatever the file holds (one 10 GB line must not take 10 GB), and its
 * newline rules are Python's universal newlines because the reference counts offsets that way.
 * The UTF-8 and whitespace rules are Python's too, so a shard is accepted, skipped or refused
 * exactly where the reference would read, skip or crash on it. */
#include "jsonl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define READ_CHUNK ((size_t)1 << 16)

int prism_line_reader_open(prism_line_reader *r, const char *path, size_t max_line) {
  memset(r, 0, sizeof *r);
  r->max_line = max_line;
  r->f = fopen(path, "rb");
  return r->f ? 0 : -1;
}

void prism_line_reader_close(prism_line_reader *r) {
  if (r->f) fclose(r->f);
  free(r->buf);
  memset(r, 0, sizeof *r);
}

/* Moves the pending bytes to the front, grows the buffer while under the cap, reads one chunk.
 * Returns 0, or -1 on a read/allocation error. */
static int fill(prism_line_reader *r) {
  if (r->start > 0) {
    memmove(r->buf, r->buf + r->start, r->end - r->start);
    r->end -= r->start;
    r->start = 0;
  }
  if (r->alloc - r->end < READ_CHUNK) {
    size_t want = r->alloc ? r->alloc * 2 : 4 * READ_CHUNK;
    size_t limit = r->max_line + 2 + READ_CHUNK;
    if (want > limit) want = limit;
    if (want > r->alloc) {
      char *p = realloc(r->buf, want);
      if (!p) {
        r->error = ENOMEM;
        return -1;
      }
      r->buf = p;
      r->alloc = want;
    }
  }
  size_t room = r->alloc - r->end;
  if (room == 0) return 0; /* cannot happen below the cap; the caller's length check fires first */
  size_t n = fread(r->buf + r->end, 1, room, r->f);
  if (r->hash) prism_sha256_update(r->hash, r->buf + r->end, n);
  r->end += n;
  if (n < room) {
    if (ferror(r->f)) {
      r->error = errno ? errno : EIO;
      return -1;
    }
    r->eof = true;
  }
  return 0;
}

int prism_line_reader_next(prism_line_reader *r, const char **line, size_t *len) {
  size_t scan = r->start;
  for (;;) {
    size_t i = scan;
    while (i < r->end && r->buf[i] != '\n' && r->buf[i] != '\r') i++;
    if (i < r->end) {
      size_t n = i - r->start;
      if (n > r->max_line) return -1;
      if (r->buf[i] == '\r' && i + 1 == r->end && !r->eof) {
        /* a "\r" at the buffer's edge may be the first half of "\r\n" */
        size_t off = i - r->start;
        if (fill(r) < 0) return -1;
        scan = r->start + off;
        continue;
      }
      *line = r->buf + r->start;
      *len = n;
      r->start = i + 1 + (r->buf[i] == '\r' && i + 1 < r->end && r->buf[i + 1] == '\n');
      r->lines++;
      return 1;
    }
    if (r->end - r->start > r->max_line) return -1;
    if (r->eof) {
      if (r->start == r->end) return 0;
      *line = r->buf + r->start;
      *len = r->end - r->start;
      r->start = r->end;
      r->lines++;
      return 1;
    }
    size_t off = r->end - r->start;
    if (fill(r) < 0) return -1;
    scan = r->start + off;
  }
}

bool prism_utf8_valid(const char *str, size_t len, size_t *bad) {
  const unsigned char *s = (const unsigned char *)str;
  size_t i = 0;
  while (i < len) {
    unsigned c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t need;
    unsigned lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) need = 1;
    else if (c == 0xe0) need = 2, lo = 0xa0;
    else if (c == 0xed) need = 2, hi = 0x9f;
    else if (c >= 0xe1 && c <= 0xef) need = 2;
    else if (c == 0xf0) need = 3, lo = 0x90;
    else if (c == 0xf4) need = 3, hi = 0x8f;
    else if (c >= 0xf1 && c <= 0xf3) need = 3;
    else {
      if (bad) *bad = i;
      return false;
    }
    if (len - i <= need) { /* truncated sequence */
      if (bad) *bad = i;
      return false;
    }
    if (s[i + 1] < lo || s[i + 1] > hi) {
      if (bad) *bad = i;
      return false;
    }
    for (size_t k = 2; k <= need; k++)
      if ((s[i + k] & 0xc0) != 0x80) {
        if (bad) *bad = i;
        return false;
      }
    i += need + 1;
  }
  return true;
}

static bool py_space(unsigned cp) {
  return (cp >= 0x09 && cp <= 0x0d) || (cp >= 0x1c && cp <= 0x20) || cp == 0x85 || cp == 0xa0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f || cp == 0x205f ||
         cp == 0x3000;
}

/* Decodes the code point at s[i] of valid UTF-8; *n receives its byte length. */
static unsigned decode_at(const unsigned char *s, size_t i, size_t *n) {
  unsigned c = s[i];
  if (c < 0x80) return *n = 1, c;
  if (c < 0xe0) return *n = 2, (c & 0x1f) << 6 | (s[i + 1] & 0x3f);
  if (c < 0xf0) return *n = 3, (c & 0x0f) << 12 | (s[i + 1] & 0x3f) << 6 | (s[i + 2] & 0x3f);
  return *n = 4, (c & 0x07) << 18 | (s[i + 1] & 0x3f) << 12 | (s[i + 2] & 0x3f) << 6 | (s[i + 3] & 0x3f);
}

void prism_py_strip(const char *str, size_t len, size_t *start, size_t *out_len) {
  const unsigned char *s = (const unsigned char *)str;
  size_t a = 0, b = len, n;
  while (a < b && py_space(decode_at(s, a, &n))) a += n;
  while (b > a) {
    size_t k = b - 1;
    while (k > a && (s[k] & 0xc0) == 0x80) k--; /* back to the lead byte */
    if (!py_space(decode_at(s, k, &n))) break;
    b = k;
  }
  *start = a;
  *out_len = b - a;
}

static int hex4(const char *s, size_t avail) {
  if (avail < 4) return -1;
  int v = 0;
  for (int k = 0; k < 4; k++) {
    char c = s[k];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

bool prism_json_lone_surrogate(const char *s, size_t len, size_t *where) {
  /* Backslashes only occur inside JSON strings, so a flat scan of escapes is enough. */
  for (size_t i = 0; i < len; i++) {
    if (s[i] != '\\') continue;
    if (i + 1 < len && s[i + 1] == 'u') {
      int v = hex4(s + i + 2, len - i - 2);
      if (v >= 0xd800 && v <= 0xdbff) {
        int w = (i + 7 < len && s[i + 6] == '\\' && s[i + 7] == 'u') ? hex4(s + i + 8, len - i - 8) : -1;
        if (w >= 0xdc00 && w <= 0xdfff) {
          i += 11;
          continue;
        }
      }
      if (v >= 0xd800 && v <= 0xdfff) {
        if (where) *where = i;
        return true;
      }
    }
    i++; /* skip the escaped character */
  }
  return false;
}

void prism_buf_append(prism_buf *b, const void *data, size_t n) {
  if (b->oom) return;
  if (b->cap - b->len < n + 1) {
    size_t want = b->cap ? b->cap : 4096;
    while (want - b->len < n + 1) {
      if (want > (SIZE_MAX >> 1)) {
        b->oom = true;
        return;
      }
      want *= 2;
    }
    char *p = realloc(b->p, want);
    if (!p) {
      b->oom = true;
      return;
    }
    b->p = p;
    b->cap = want;
  }
  memcpy(b->p + b->len, data, n);
  b->len += n;
  b->p[b->len] = '\0';
}

void prism_buf_puts(prism_buf *b, const char *s) { prism_buf_append(b, s, strlen(s)); }

void prism_buf_free(prism_buf *b) {
  free(b->p);
  memset(b, 0, sizeof *b);
}

void prism_buf_json_string(prism_buf *b, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  prism_buf_append(b, "\"", 1);
  size_t run = 0; /* start of the pending raw run */
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    prism_buf_append(b, s + run, i - run);
    run = i + 1;
    char esc[7] = {'\\', 0};
    size_t k = 2;
    switch (c) {
    case '"': esc[1] = '"'; break;
    case '\\': esc[1] = '\\'; break;
    case '\b': esc[1] = 'b'; break;
    case '\f': esc[1] = 'f'; break;
    case '\n': esc[1] = 'n'; break;
    case '\r': esc[1] = 'r'; break;
    case '\t': esc[1] = 't'; break;
    default:
      esc[1] = 'u', esc[2] = '0', esc[3] = '0', esc[4] = hex[c >> 4], esc[5] = hex[c & 15];
      k = 6;
    }
    prism_buf_append(b, esc, k);
  }
  prism_buf_append(b, s + run, n - run);
  prism_buf_append(b, "\"", 1);
}

bool prism_path_join(char *buf, size_t cap, const char *a, const char *b) {
  int n = snprintf(buf, cap, "%s/%s", a, b);
  return n >= 0 && (size_t)n < cap;
}

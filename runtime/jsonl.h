/* jsonl.h — the byte-level plumbing under the locked-data plane (data.c, data_prepare.c): a
 * bounded line reader with universal newlines, a strict UTF-8 validator, Python's str.strip()
 * whitespace set, a lone-surrogate scan of JSON escapes, and the JSON string escaper that writes
 * shard lines the way Python's json.dumps(ensure_ascii=False) does. Parsing itself is json.h's. */
#ifndef PRISM_JSONL_H
#define PRISM_JSONL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sha256.h"

/* Reads physical lines split at "\n", "\r\n" or "\r" (Python's universal newlines), at most
 * max_line bytes each (terminator excluded), buffering at most max_line + 64 KiB. */
typedef struct prism_line_reader {
  FILE *f;
  char *buf;
  size_t alloc, start, end, max_line;
  bool eof;
  int64_t lines;     /* physical lines returned so far: the index of the next line */
  int error;         /* errno of a read error, 0 otherwise */
  prism_sha256 *hash; /* optional: every byte read is also hashed here (set after open) */
} prism_line_reader;

/* 0 ok, -1 with errno set. */
int prism_line_reader_open(prism_line_reader *r, const char *path, size_t max_line);
/* 1 = a line in *line and *len (valid until the next call; r->lines - 1 is its 0-based index),
 * 0 = end of file, -1 = read error (r->error) or line over max_line (r->error == 0). */
int prism_line_reader_next(prism_line_reader *r, const char **line, size_t *len);
void prism_line_reader_close(prism_line_reader *r);

/* Strict UTF-8 as Python decodes it: no overlongs, no surrogates (ED A0..BF), nothing past
 * U+10FFFF. Returns true when valid; otherwise *bad (may be NULL) is the first bad byte offset. */
bool prism_utf8_valid(const char *s, size_t len, size_t *bad);
/* Python's str.strip() on valid UTF-8: trims the code points str.isspace() accepts. */
void prism_py_strip(const char *s, size_t len, size_t *start, size_t *out_len);
/* True when a JSON text holds a \uD800-\uDFFF escape that is not a high+low surrogate pair:
 * such a string cannot be encoded as UTF-8. *where (may be NULL) is the escape's byte offset. */
bool prism_json_lone_surrogate(const char *s, size_t len, size_t *where);

/* A growable byte buffer; on allocation failure it sets oom and ignores further appends. */
typedef struct prism_buf {
  char *p;
  size_t len, cap;
  bool oom;
} prism_buf;

void prism_buf_append(prism_buf *b, const void *data, size_t n);
void prism_buf_puts(prism_buf *b, const char *s);
void prism_buf_free(prism_buf *b);
/* Appends s as a quoted JSON string exactly like Python's json.dumps(s, ensure_ascii=False):
 * '"' and '\\' escaped, \b \f \n \r \t by name, other bytes < 0x20 as \u00xx, everything else
 * (DEL and non-ASCII included) raw. */
void prism_buf_json_string(prism_buf *b, const char *s, size_t n);

/* "a/b" into buf; false (buf undefined) when it does not fit in cap. */
bool prism_path_join(char *buf, size_t cap, const char *a, const char *b);

#endif

/* json.h — prism's own strict JSON DOM. Manifests carry exact numbers that a validator recomputes
 * bit for bit, so the writer prints doubles the way Python's json.dumps does (shortest round-trip
 * repr) and sorts keys by byte order; the parser is strict RFC 8259 (no NaN, no comments, no
 * trailing commas, no duplicate keys, valid UTF-8, no lone surrogates, depth <= 64) because it reads
 * miner-influenced files and is fuzzed. Integers that fit int64 stay integers (no precision loss).
 *
 * Ownership: constructors return a new node (NULL only on out-of-memory); append/set take ownership
 * of the value even when they fail (it is freed then); get/path/at return borrowed pointers. */
#ifndef PRISM_JSON_H
#define PRISM_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
  PRISM_JSON_NULL,
  PRISM_JSON_BOOL,
  PRISM_JSON_INT,
  PRISM_JSON_DOUBLE,
  PRISM_JSON_STRING,
  PRISM_JSON_ARRAY,
  PRISM_JSON_OBJECT
} prism_json_kind;

typedef struct prism_json prism_json;

#define PRISM_JSON_MAX_DEPTH 64

prism_json *prism_json_null(void);
prism_json *prism_json_bool(bool b);
prism_json *prism_json_int(int64_t v);
prism_json *prism_json_double(double v); /* non-finite -> written as null */
prism_json *prism_json_string(const char *s); /* NULL s -> JSON null */
prism_json *prism_json_stringn(const char *s, size_t n);
prism_json *prism_json_array(void);
prism_json *prism_json_object(void);

int prism_json_append(prism_json *arr, prism_json *v);              /* 0 ok, -1 error; takes ownership */
int prism_json_set(prism_json *obj, const char *key, prism_json *v); /* 0 ok, -1 error; replaces */
int prism_json_remove(prism_json *obj, const char *key);             /* 1 removed, 0 absent */
prism_json *prism_json_get(const prism_json *obj, const char *key);  /* borrowed or NULL */
prism_json *prism_json_path(const prism_json *root, const char *dotted); /* "metrics.online_loss" */
prism_json *prism_json_clone(const prism_json *v);                   /* deep copy, NULL on OOM */
bool prism_json_equal(const prism_json *a, const prism_json *b);     /* structural; int 1 != double 1.0 */

prism_json_kind prism_json_kind_of(const prism_json *v); /* NULL pointer -> PRISM_JSON_NULL */
bool prism_json_is_number(const prism_json *v);          /* INT or DOUBLE (bool is not a number) */
double prism_json_number(const prism_json *v);           /* INT/DOUBLE value, NAN otherwise */
int64_t prism_json_int_value(const prism_json *v);       /* INT value; DOUBLE truncated; 0 otherwise */
const char *prism_json_string_value(const prism_json *v); /* NULL unless STRING (NUL-terminated) */
size_t prism_json_string_length(const prism_json *v);     /* byte length (strings may hold \u0000) */
size_t prism_json_length(const prism_json *v);            /* array/object element count, 0 otherwise */
prism_json *prism_json_at(const prism_json *arr, size_t i); /* borrowed or NULL */
const char *prism_json_key_at(const prism_json *obj, size_t i); /* object key in insertion order */
prism_json *prism_json_value_at(const prism_json *obj, size_t i);
bool prism_json_bool_value(const prism_json *v);

/* Strict RFC 8259. Returns NULL and fills err ("line L col C: what") on any violation. */
prism_json *prism_json_parse(const char *text, size_t len, char *err, size_t errcap);

/* Keys sorted by byte order; doubles as Python repr (json.dumps); indent 0 = compact with ", "
 * and ": " separators like json.dumps(sort_keys=True); indent > 0 like json.dumps(indent=N).
 * No trailing newline. Returns malloc'd NUL-terminated text, NULL on OOM. */
char *prism_json_write(const prism_json *v, int indent);
/* Python repr of a double into buf (>= 32 bytes): "0.1", "1e-05", "1e+16", "123.0"; non-finite
 * gives "NaN"/"Infinity"/"-Infinity" (what json.dumps would print; the writer emits null). */
void prism_json_format_double(double v, char *buf, size_t cap);

/* Writes the text (no trailing newline, like the reference's manifests) to a temp file in the same
 * directory, fsyncs it, renames it over path (never following a symlink at path), fsyncs the
 * directory. 0 / -1 with err. */
int prism_json_write_file_atomic(const char *path, const prism_json *v, int indent, char *err, size_t errcap);
/* Reads and parses a file of at most max_bytes. NULL + err on failure. */
prism_json *prism_json_read_file(const char *path, size_t max_bytes, char *err, size_t errcap);

void prism_json_free(prism_json *v);

#endif

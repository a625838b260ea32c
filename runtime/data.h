/* data.h — the locked data plane: train shard resolution, streaming JSONL documents with bounded
 * memory (SPEC §5, reference §1.6), the strict split iterator used by the held-out (§4.2 there),
 * and locked-dataset prepare/verify (§4.1 there). */
#ifndef PRISM_DATA_H
#define PRISM_DATA_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "failure.h"

typedef struct prism_doc_stream prism_doc_stream;

typedef struct prism_doc {
  const char *text;   /* valid UTF-8, NUL-terminated, owned by the stream until the next call; may
                         hold NUL bytes (a \u0000 escape), so len is authoritative */
  size_t len;         /* bytes */
  const char *shard;  /* shard base name, e.g. "train-00000.jsonl" (valid until close) */
  int64_t offset;     /* lenient: 0-based physical line index in the shard (blank lines counted);
                         strict: 0-based record index in the shard (blank lines not counted) */
  const char *id;     /* strict mode: the record's id (stringified); lenient: NULL */
} prism_doc;

/* Lenient train stream (the instrument's): resolves shards in data_dir — the first of the patterns
 * train-*.jsonl, *.jsonl, then *.jsonl inside train/ that matches any regular file, sorted by
 * path, zero-byte files dropped (*.bin is never read). None → NULL with err = prism:data-missing
 * ("... (no random-token fallback)"). Opening reads no data. */
prism_doc_stream *prism_data_open_train(const char *data_dir, prism_failure *err);
/* Strict split stream (held-out): <root>/<split>/<split>-*.jsonl if <root>/<split> is a directory
 * (possibly with no shards: an empty stream), else <root>/<split>-*.jsonl; neither →
 * prism:data-missing. Every non-blank line must be an object with an "id" (string or number,
 * stringified like Python's str()) and a string "text" (may be empty). */
prism_doc_stream *prism_data_open_split(const char *root, const char *split, prism_failure *err);
/* 1 = a document in *doc, 0 = end of stream, -1 = data error in *err: prism:data-invalid naming
 * shard:line (invalid UTF-8, a lone-surrogate \u escape, a line over PRISM_DATA_LINE_CAP, a read
 * error, or a strict-mode record error); the stream then stays failed. Lenient mode skips blank
 * and malformed lines, non-objects and records without a non-empty string "text", counting them
 * in skipped_lines (strict mode counts nothing). */
int prism_doc_stream_next(prism_doc_stream *s, prism_doc *doc, prism_failure *err);
int prism_doc_stream_shard_count(const prism_doc_stream *s);
int64_t prism_doc_stream_available_bytes(const prism_doc_stream *s); /* sum of shard file sizes */
int64_t prism_doc_stream_skipped_lines(const prism_doc_stream *s);
void prism_doc_stream_close(prism_doc_stream *s);

/* `prism data prepare IN.jsonl... --out DIR` and `prism data verify DIR` (exit codes per SPEC §1). */
int prism_cmd_data(int argc, char **argv);

/* ---- additions (data plane; see docs/data.md) ---- */

/* A line longer than this (terminator excluded) is a prism:data-invalid error naming shard:line. */
#define PRISM_DATA_LINE_CAP ((size_t)64 << 20)

/* The reference partition: bucket = int(sha256_hex(id UTF-8), 16) mod 1000; train [0, 949],
 * val [950, 974], test [975, 999]. */
#define PRISM_DATA_MODULUS 1000
#define PRISM_DATA_TRAIN_LAST 949
#define PRISM_DATA_VAL_LAST 974
int prism_data_bucket(const char *id, size_t len);
const char *prism_data_split_of_bucket(int bucket); /* "train" | "val" | "test"; NULL out of range */

/* Split fingerprint: sha256 hex (65 bytes with NUL) of the compact sorted-key JSON
 * {"shard_sha256":[...],"split":NAME} (reference dataset.py). */
void prism_data_split_fingerprint(const char *split, const char *const *shard_sha, int n, char out[65]);
/* The canonical MANIFEST.json "partition" block (a new json.h object; NULL on OOM). */
struct prism_json *prism_data_canonical_partition(void);

/* Path of shard i of a stream (reading order), NULL out of range. */
const char *prism_doc_stream_shard_path(const prism_doc_stream *s, int i);

typedef struct prism_data_prepare_opts {
  int docs_per_shard;    /* 0 → 1024 */
  const char *name;      /* MANIFEST.json dataset.name; NULL → "local" */
  const char *license;   /* dataset.license; NULL → "unknown" */
  const char *pin;       /* dataset.pin_sha: what pins the source; NULL → "unpinned" */
} prism_data_prepare_opts;

/* Builds the locked layout under out_dir from JSONL inputs (every non-blank line an object with
 * a non-empty string "id" and "text"): <split>/<split>-NNNNN.jsonl + MANIFEST.json. A summary
 * goes to log (may be NULL). 0 ok; -1 with err (prism:data-invalid naming file:line for a bad
 * input, prism:data-missing for an unreadable one, prism:data-write for an output error). */
int prism_data_prepare(const char *const *inputs, int n_inputs, const char *out_dir,
                       const prism_data_prepare_opts *opts, FILE *log, prism_failure *err);

/* Checks a locked dataset (reference §4.1 "Verification" plus content checks) and prints one
 * line per problem to out (may be NULL). expected_pin (may be NULL) must equal dataset.pin_sha.
 * Returns the number of problems: 0 = clean. */
int prism_data_verify(const char *root, const char *expected_pin, FILE *out);

#endif

/* data.h — the locked data plane: train shard resolution, streaming JSONL documents with bounded
 * memory (SPEC §5, reference §1.6), the strict split iterator used by the held-out (§4.2 there),
 * and locked-dataset prepare/verify (§4.1 there). */
#ifndef PRISM_DATA_H
#define PRISM_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "failure.h"

typedef struct prism_doc_stream prism_doc_stream;

typedef struct prism_doc {
  const char *text;   /* UTF-8, valid; owned by the stream until the next call */
  size_t len;         /* bytes */
  const char *shard;  /* shard base name, e.g. "train-00000.jsonl" */
  int64_t offset;     /* lenient: 0-based physical line index (blank lines counted); strict: record index */
  const char *id;     /* strict mode: the record's id (stringified); lenient: NULL */
} prism_doc;

/* Lenient train stream (the instrument's): resolves shards in data_dir — first non-empty match of
 * train-*.jsonl, *.jsonl, then train/*.jsonl, sorted, zero-byte files dropped. None →
 * NULL with err = prism:data-missing ("... (no random-token fallback)"). */
prism_doc_stream *prism_data_open_train(const char *data_dir, prism_failure *err);
/* Strict split stream (held-out): <root>/<split>/<split>-*.jsonl or <root>/<split>-*.jsonl; every
 * non-blank line must be an object with "id" and a string "text". */
prism_doc_stream *prism_data_open_split(const char *root, const char *split, prism_failure *err);
/* 1 = a document in *doc, 0 = end of stream, -1 = data error in *err (e.g. invalid UTF-8 at
 * shard:line, or a strict-mode record error). Lenient mode skips blank/malformed lines and records
 * without a non-empty string "text", counting them in skipped_lines. */
int prism_doc_stream_next(prism_doc_stream *s, prism_doc *doc, prism_failure *err);
int prism_doc_stream_shard_count(const prism_doc_stream *s);
int64_t prism_doc_stream_available_bytes(const prism_doc_stream *s); /* sum of shard file sizes */
int64_t prism_doc_stream_skipped_lines(const prism_doc_stream *s);
void prism_doc_stream_close(prism_doc_stream *s);

/* `prism data prepare IN.jsonl... --out DIR` and `prism data verify DIR` (exit codes per SPEC §1). */
int prism_cmd_data(int argc, char **argv);

#endif

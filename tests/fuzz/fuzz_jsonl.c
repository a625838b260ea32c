/* fuzz_jsonl.c — libFuzzer target for the locked data plane's JSONL reader (runtime/jsonl.h,
 * runtime/data.c). Each input is written as one shard and read to the end through both
 * streams the runtime uses: the lenient train stream (the instrument's: malformed lines are
 * skipped and counted) and the strict split stream (the held-out's: the first bad record is a
 * prism:data-invalid error). Properties checked beyond "no crash, no sanitizer report": every
 * document handed out is valid UTF-8 of the stated length with a NUL after it, a stream that
 * reported an error stays failed, an error carries a rule id and a message naming the shard, and
 * the lenient stream never returns more documents than the shard has lines. Memory stays
 * bounded because the reader never buffers more than one line (libFuzzer's -rss_limit_mb and
 * -max_len enforce the bound in the runs scripts/fuzz makes).
 *
 * Built only with -DPRISM_FUZZ=ON (clang, -fsanitize=fuzzer,address,undefined); see
 * tests/fuzz/README.md. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data.h"
#include "jsonl.h"

static char g_root[256];
static char g_train[300];
static char g_val_dir[300];
static char g_val[330];

static void die(const char *what) {
  fprintf(stderr, "fuzz_jsonl: %s\n", what);
  abort();
}

static void cleanup(void) {
  unlink(g_train);
  unlink(g_val);
  rmdir(g_val_dir);
  rmdir(g_root);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  /* the shard is rewritten for every input: a memory file system is ~15x faster than /tmp */
  const char *tmp = getenv("TMPDIR");
  if (!tmp || !*tmp) tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  snprintf(g_root, sizeof g_root, "%s/prism-fuzz-jsonl-XXXXXX", tmp);
  if (!mkdtemp(g_root)) die("mkdtemp failed");
  snprintf(g_train, sizeof g_train, "%s/train-00000.jsonl", g_root);
  snprintf(g_val_dir, sizeof g_val_dir, "%s/val", g_root);
  snprintf(g_val, sizeof g_val, "%s/val-00000.jsonl", g_val_dir);
  char cmd[400];
  snprintf(cmd, sizeof cmd, "mkdir -p '%s'", g_val_dir);
  if (system(cmd) != 0) die("mkdir failed");
  atexit(cleanup);
  return 0;
}

static void write_file(const char *path, const uint8_t *data, size_t size) {
  FILE *f = fopen(path, "wb");
  if (!f) die("cannot write the shard");
  if (size && fwrite(data, 1, size, f) != size) die("short write");
  if (fclose(f) != 0) die("close failed");
}

/* Upper bound on the documents a shard of these bytes can hold: one per line. */
static size_t count_lines(const uint8_t *data, size_t size) {
  size_t n = 1;
  for (size_t i = 0; i < size; i++) n += data[i] == '\n' || data[i] == '\r';
  return n;
}

static void drain(prism_doc_stream *s, size_t max_docs, int lenient) {
  prism_doc d;
  prism_failure err;
  size_t docs = 0;
  int rc;
  while ((rc = prism_doc_stream_next(s, &d, &err)) == 1) {
    docs++;
    if (docs > max_docs) die("more documents than lines");
    if (!d.text || d.text[d.len] != '\0') die("document text is not NUL-terminated");
    if (!prism_utf8_valid(d.text, d.len, NULL)) die("document text is not valid UTF-8");
    if (!d.shard || !*d.shard) die("document without a shard name");
    if (lenient && d.len == 0) die("lenient stream returned an empty text");
    if (!lenient && !d.id) die("strict stream returned a record without an id");
  }
  if (rc < 0) {
    if (!err.rule_id[0] || !err.message[0]) die("data error without a rule id or message");
    if (!strstr(err.message, ".jsonl")) die("data error does not name the shard");
    if (prism_doc_stream_next(s, &d, &err) != -1) die("a failed stream did not stay failed");
  } else if (rc != 0) {
    die("unexpected return code");
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t max_docs = count_lines(data, size);
  prism_failure err;

  write_file(g_train, data, size);
  prism_doc_stream *s = prism_data_open_train(g_root, &err);
  if (size == 0) {
    if (s) die("a zero-byte shard must be dropped");
  } else {
    if (!s) die("open_train failed on a non-empty shard");
    drain(s, max_docs, 1);
    prism_doc_stream_close(s);
  }

  write_file(g_val, data, size);
  s = prism_data_open_split(g_root, "val", &err);
  if (!s) die("open_split failed although val/ exists");
  drain(s, max_docs, 0);
  prism_doc_stream_close(s);
  return 0;
}

/* data_prepare.c — `prism data prepare` and the `prism data` command line: JSONL documents in, the
 * reference's locked layout out (reference §4.1): split by sha256(id) mod 1000, first text per id
 * kept, ids sorted by code point (= UTF-8 byte order), 1024 docs per shard, shard lines written as
 * Python's json.dumps(sort_keys=True, ensure_ascii=False, compact) would, stale shards deleted,
 * and MANIFEST.json (prism_locked_data.v1, sorted keys, indent 2, trailing newline).
 *
 * Output depends only on the set of (id, first text) pairs, never on input order, file system
 * order or time, so two runs — or a run on shuffled input — are byte-identical. The whole input is
 * held in memory (sorting needs it); this tool builds sample and validator datasets, not
 * web-scale corpora in one go. Verification lives in data_verify.c. */
#include "data.h"

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json.h"
#include "jsonl.h"
#include "loader.h"
#include "sha256.h"

#define RULE_MISSING "prism:data-missing"
#define RULE_INVALID "prism:data-invalid"
#define RULE_WRITE "prism:data-write"
#define DEFAULT_DOCS_PER_SHARD 1024

static const char *const k_splits[3] = {"train", "val", "test"};

typedef struct doc_rec {
  char *id, *text;
  size_t id_len, text_len;
  size_t seq;   /* input order: the first text per id wins */
  int split;    /* index into k_splits */
} doc_rec;

typedef struct doc_set {
  doc_rec *v;
  size_t n, cap;
} doc_set;

static void doc_set_free(doc_set *d) {
  for (size_t i = 0; i < d->n; i++) {
    free(d->v[i].id);
    free(d->v[i].text);
  }
  free(d->v);
  memset(d, 0, sizeof *d);
}

static char *dup_bytes(const char *s, size_t n) {
  char *p = malloc(n + 1);
  if (p) {
    memcpy(p, s, n);
    p[n] = '\0';
  }
  return p;
}

static int input_error(prism_failure *err, const char *path, int64_t line, const char *what) {
  const char *base = strrchr(path, '/');
  return prism_failure_set(err, RULE_INVALID, base ? base + 1 : path, (int)line, "%s:%lld: %s", path,
                           (long long)line, what);
}

/* Reads one JSONL input; every non-blank line must be {"id": non-empty string, "text": non-empty
 * string, ...}. Invalid input is refused (naming file:line), never silently dropped. */
static int read_input(const char *path, doc_set *docs, prism_failure *err) {
  prism_line_reader rd;
  if (prism_line_reader_open(&rd, path, PRISM_DATA_LINE_CAP) != 0)
    return prism_failure_set(err, RULE_MISSING, path, 0, "cannot read input %s: %s", path, strerror(errno));
  int rc = 0;
  const char *line;
  size_t len;
  int r;
  char what[256];
  while ((r = prism_line_reader_next(&rd, &line, &len)) == 1) {
    int64_t no = rd.lines;
    size_t bad, a, n;
    if (!prism_utf8_valid(line, len, &bad)) {
      snprintf(what, sizeof what, "invalid UTF-8 (byte 0x%02x at column %zu)", (unsigned char)line[bad], bad + 1);
      rc = input_error(err, path, no, what);
      break;
    }
    prism_py_strip(line, len, &a, &n);
    if (n == 0) continue;
    if (prism_json_lone_surrogate(line + a, n, &bad)) {
      snprintf(what, sizeof what, "JSON escape '%.6s' is a lone UTF-16 surrogate (not encodable as UTF-8)",
               line + a + bad);
      rc = input_error(err, path, no, what);
      break;
    }
    char perr[160];
    prism_json *rec = prism_json_parse(line + a, n, perr, sizeof perr);
    const prism_json *id = prism_json_get(rec, "id"), *text = prism_json_get(rec, "text");
    const char *problem = NULL;
    if (!rec) snprintf(what, sizeof what, "not a JSON record (%s)", perr), problem = what;
    else if (prism_json_kind_of(rec) != PRISM_JSON_OBJECT) problem = "record is not a JSON object";
    else if (prism_json_kind_of(id) != PRISM_JSON_STRING || prism_json_string_length(id) == 0)
      problem = "record needs a non-empty string \"id\"";
    else if (prism_json_kind_of(text) != PRISM_JSON_STRING || prism_json_string_length(text) == 0)
      problem = "record needs a non-empty string \"text\"";
    if (problem) {
      prism_json_free(rec);
      rc = input_error(err, path, no, problem);
      break;
    }
    if (docs->n == docs->cap) {
      size_t cap = docs->cap ? docs->cap * 2 : 1024;
      doc_rec *v = realloc(docs->v, cap * sizeof *v);
      if (!v) {
        prism_json_free(rec);
        rc = prism_failure_set(err, RULE_INVALID, path, 0, "out of memory reading %s", path);
        break;
      }
      docs->v = v;
      docs->cap = cap;
    }
    doc_rec *d = &docs->v[docs->n];
    d->id_len = prism_json_string_length(id);
    d->text_len = prism_json_string_length(text);
    d->id = dup_bytes(prism_json_string_value(id), d->id_len);
    d->text = dup_bytes(prism_json_string_value(text), d->text_len);
    d->seq = docs->n;
    prism_json_free(rec);
    if (!d->id || !d->text) {
      free(d->id);
      free(d->text);
      rc = prism_failure_set(err, RULE_INVALID, path, 0, "out of memory reading %s", path);
      break;
    }
    int b = prism_data_bucket(d->id, d->id_len);
    d->split = b <= PRISM_DATA_TRAIN_LAST ? 0 : b <= PRISM_DATA_VAL_LAST ? 1 : 2;
    docs->n++;
  }
  if (r < 0 && rc == 0) {
    if (rd.error) rc = prism_failure_set(err, RULE_MISSING, path, 0, "cannot read input %s: %s", path, strerror(rd.error));
    else rc = input_error(err, path, rd.lines + 1, "line is longer than the 64 MiB JSONL line cap");
  }
  prism_line_reader_close(&rd);
  return rc;
}

static int cmp_doc(const void *pa, const void *pb) {
  const doc_rec *a = pa, *b = pb;
  size_t n = a->id_len < b->id_len ? a->id_len : b->id_len;
  int c = memcmp(a->id, b->id, n);
  if (c) return c;
  if (a->id_len != b->id_len) return a->id_len < b->id_len ? -1 : 1;
  return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* mkdir -p */
static int ensure_dir(const char *path, prism_failure *err) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
      return prism_failure_set(err, RULE_WRITE, "", 0, "cannot create directory %s: %s", buf, strerror(errno));
    *p = '/';
  }
  if (mkdir(path, 0777) == 0 || errno == EEXIST) {
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return 0;
    errno = ENOTDIR;
  }
  return prism_failure_set(err, RULE_WRITE, "", 0, "cannot create directory %s: %s", path, strerror(errno));
}

/* Removes every <split>-*.jsonl in dir so a re-run with fewer documents leaves no stale shard. */
static int delete_stale(const char *dir, const char *split, prism_failure *err) {
  char pattern[64];
  snprintf(pattern, sizeof pattern, "%s-*.jsonl", split);
  DIR *d = opendir(dir);
  if (!d) return prism_failure_set(err, RULE_WRITE, "", 0, "cannot list %s: %s", dir, strerror(errno));
  struct dirent *e;
  int rc = 0;
  while ((e = readdir(d))) {
    if (fnmatch(pattern, e->d_name, FNM_PERIOD) != 0) continue;
    char path[4096];
    if (!prism_path_join(path, sizeof path, dir, e->d_name) || unlink(path) != 0) {
      rc = prism_failure_set(err, RULE_WRITE, "", 0, "cannot delete stale shard %s: %s", path, strerror(errno));
      break;
    }
  }
  closedir(d);
  return rc;
}

/* Writes bytes to path through a temp file and a rename, so a shard is whole or absent. */
static int write_file_atomic(const char *path, const char *data, size_t n, prism_failure *err) {
  char tmp[4200];
  int tn = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
  FILE *f = tn > 0 && (size_t)tn < sizeof tmp ? fopen(tmp, "wb") : NULL;
  if (!f) return prism_failure_set(err, RULE_WRITE, "", 0, "cannot write %s: %s", tmp, strerror(errno));
  int ok = fwrite(data, 1, n, f) == n;
  ok = (fflush(f) == 0) && ok;
  ok = (fsync(fileno(f)) == 0) && ok;
  int saved = errno;
  ok = (fclose(f) == 0) && ok;
  if (!ok || rename(tmp, path) != 0) {
    if (ok) saved = errno;
    unlink(tmp);
    return prism_failure_set(err, RULE_WRITE, "", 0, "cannot write %s: %s", path, strerror(saved ? saved : EIO));
  }
  return 0;
}

static prism_json *pair(int64_t a, int64_t b) {
  prism_json *v = prism_json_array();
  prism_json_append(v, prism_json_int(a));
  prism_json_append(v, prism_json_int(b));
  return v;
}

prism_json *prism_data_canonical_partition(void) {
  prism_json *buckets = prism_json_object(), *p = prism_json_object();
  prism_json_set(buckets, "train", pair(0, PRISM_DATA_TRAIN_LAST));
  prism_json_set(buckets, "val", pair(PRISM_DATA_TRAIN_LAST + 1, PRISM_DATA_VAL_LAST));
  prism_json_set(buckets, "test", pair(PRISM_DATA_VAL_LAST + 1, PRISM_DATA_MODULUS - 1));
  prism_json_set(p, "buckets", buckets);
  prism_json_set(p, "hash", prism_json_string("sha256"));
  prism_json_set(p, "key", prism_json_string("doc.id"));
  prism_json_set(p, "modulus", prism_json_int(PRISM_DATA_MODULUS));
  return p;
}

void prism_data_split_fingerprint(const char *split, const char *const *shard_sha, int n, char out[PRISM_SHA256_HEX]) {
  prism_buf b = {0};
  prism_buf_puts(&b, "{\"shard_sha256\":[");
  for (int i = 0; i < n; i++) {
    if (i) prism_buf_puts(&b, ",");
    prism_buf_json_string(&b, shard_sha[i], strlen(shard_sha[i]));
  }
  prism_buf_puts(&b, "],\"split\":");
  prism_buf_json_string(&b, split, strlen(split));
  prism_buf_puts(&b, "}");
  prism_sha256_hex(b.oom ? "" : b.p, b.oom ? 0 : b.len, out);
  prism_buf_free(&b);
}

/* Writes one split's shards and returns its MANIFEST.json entry (NULL + err on failure). */
static prism_json *write_split(const char *out_dir, int split, doc_rec **docs, size_t n, int per_shard,
                               FILE *log, prism_failure *err) {
  const char *name = k_splits[split];
  char dir[4096];
  if (!prism_path_join(dir, sizeof dir, out_dir, name)) {
    prism_failure_set(err, RULE_WRITE, "", 0, "output path too long: %.200s", out_dir);
    return NULL;
  }
  if (ensure_dir(dir, err) != 0 || delete_stale(dir, name, err) != 0) return NULL;
  prism_json *shards = prism_json_array();
  int n_shards = (int)((n + (size_t)per_shard - 1) / (size_t)per_shard);
  char (*shas)[PRISM_SHA256_HEX] = calloc((size_t)n_shards + 1, sizeof *shas);
  const char **sha_ptrs = calloc((size_t)n_shards + 1, sizeof *sha_ptrs);
  int64_t split_tokens = 0, split_bytes = 0;
  prism_buf b = {0};
  if (!shas || !sha_ptrs) goto oom;
  for (int s = 0; s < n_shards; s++) {
    size_t lo = (size_t)s * (size_t)per_shard, hi = lo + (size_t)per_shard < n ? lo + (size_t)per_shard : n;
    b.len = 0;
    int64_t tokens = 0;
    for (size_t i = lo; i < hi; i++) {
      prism_buf_puts(&b, "{\"id\":");
      prism_buf_json_string(&b, docs[i]->id, docs[i]->id_len);
      prism_buf_puts(&b, ",\"text\":");
      prism_buf_json_string(&b, docs[i]->text, docs[i]->text_len);
      prism_buf_puts(&b, "}\n");
      tokens += (int64_t)docs[i]->text_len; /* bytes tokenizer: one token per UTF-8 byte */
    }
    if (b.oom) goto oom;
    char file[64], path[4200];
    snprintf(file, sizeof file, "%s-%05d.jsonl", name, s);
    prism_path_join(path, sizeof path, dir, file); /* dir < 4096, file < 64: fits */
    if (write_file_atomic(path, b.p, b.len, err) != 0) goto fail;
    prism_sha256_hex(b.p, b.len, shas[s]);
    sha_ptrs[s] = shas[s];
    char rel[128];
    snprintf(rel, sizeof rel, "%s/%s", name, file);
    prism_json *e = prism_json_object();
    prism_json_set(e, "path", prism_json_string(rel));
    prism_json_set(e, "sha256", prism_json_string(shas[s]));
    prism_json_set(e, "bytes", prism_json_int((int64_t)b.len));
    prism_json_set(e, "doc_count", prism_json_int((int64_t)(hi - lo)));
    prism_json_set(e, "token_count", prism_json_int(tokens));
    if (prism_json_append(shards, e) != 0) goto oom;
    split_tokens += tokens;
    split_bytes += tokens;
  }
  char fp[PRISM_SHA256_HEX];
  prism_data_split_fingerprint(name, sha_ptrs, n_shards, fp);
  prism_json *entry = prism_json_object();
  prism_json_set(entry, "doc_count", prism_json_int((int64_t)n));
  prism_json_set(entry, "token_count", prism_json_int(split_tokens));
  prism_json_set(entry, "byte_count", prism_json_int(split_bytes));
  prism_json_set(entry, "fingerprint", prism_json_string(fp));
  prism_json_set(entry, "shards", shards);
  if (log) fprintf(log, "%-5s %7zu docs %5d shard%s %12lld text bytes  fingerprint %.16s…\n", name, n, n_shards,
                   n_shards == 1 ? " " : "s", (long long)split_bytes, fp);
  prism_buf_free(&b);
  free(shas);
  free(sha_ptrs);
  return entry;
oom:
  prism_failure_set(err, RULE_WRITE, "", 0, "out of memory writing the %s split", name);
fail:
  prism_buf_free(&b);
  free(shas);
  free(sha_ptrs);
  prism_json_free(shards);
  return NULL;
}

int prism_data_prepare(const char *const *inputs, int n_inputs, const char *out_dir,
                       const prism_data_prepare_opts *opts, FILE *log, prism_failure *err) {
  int per_shard = opts && opts->docs_per_shard > 0 ? opts->docs_per_shard : DEFAULT_DOCS_PER_SHARD;
  doc_set docs = {0};
  for (int i = 0; i < n_inputs; i++)
    if (read_input(inputs[i], &docs, err) != 0) {
      doc_set_free(&docs);
      return -1;
    }
  if (docs.n > 1) qsort(docs.v, docs.n, sizeof *docs.v, cmp_doc);
  /* Per split, ids in order, first occurrence only (the sort put it first within its id). */
  doc_rec **by_split[3] = {NULL, NULL, NULL};
  size_t count[3] = {0, 0, 0}, dupes = 0;
  int rc = -1;
  prism_json *manifest = NULL;
  for (int s = 0; s < 3; s++)
    if (!(by_split[s] = malloc((docs.n + 1) * sizeof **by_split))) {
      prism_failure_set(err, RULE_WRITE, "", 0, "out of memory preparing %s", out_dir);
      goto done;
    }
  for (size_t i = 0; i < docs.n; i++) {
    if (i > 0 && docs.v[i].id_len == docs.v[i - 1].id_len && !memcmp(docs.v[i].id, docs.v[i - 1].id, docs.v[i].id_len)) {
      dupes++;
      continue;
    }
    by_split[docs.v[i].split][count[docs.v[i].split]++] = &docs.v[i];
  }
  if (ensure_dir(out_dir, err) != 0) goto done;
  if (log) fprintf(log, "prepare %s: %zu documents from %d input(s), %zu duplicate id(s) dropped\n", out_dir,
                   docs.n - dupes, n_inputs, dupes);
  manifest = prism_json_object();
  prism_json *splits = prism_json_object();
  prism_json_set(manifest, "splits", splits);
  for (int s = 0; s < 3; s++) {
    prism_json *entry = write_split(out_dir, s, by_split[s], count[s], per_shard, log, err);
    if (!entry) goto done;
    prism_json_set(splits, k_splits[s], entry);
  }
  prism_json *dataset = prism_json_object(), *tok = prism_json_object();
  prism_json_set(dataset, "name", prism_json_string(opts && opts->name ? opts->name : "local"));
  prism_json_set(dataset, "license", prism_json_string(opts && opts->license ? opts->license : "unknown"));
  prism_json_set(dataset, "pin_sha", prism_json_string(opts && opts->pin ? opts->pin : "unpinned"));
  char fp[PRISM_SHA256_HEX];
  prism_sha256_hex("bytes:n_vocab=256", 17, fp);
  prism_json_set(tok, "id", prism_json_string("bytes"));
  prism_json_set(tok, "fingerprint", prism_json_string(fp));
  prism_json_set(manifest, "schema_version", prism_json_string("prism_locked_data.v1"));
  prism_json_set(manifest, "dataset", dataset);
  prism_json_set(manifest, "partition", prism_data_canonical_partition());
  prism_json_set(manifest, "tokenizer", tok);
  char path[4200];
  if (!prism_path_join(path, sizeof path, out_dir, "MANIFEST.json")) {
    prism_failure_set(err, RULE_WRITE, "", 0, "output path too long: %.200s", out_dir);
    goto done;
  }
  /* indent 2, sorted keys, and a trailing newline (reference data_prep.py) */
  char *text = prism_json_write(manifest, 2);
  bool have_text = text != NULL;
  prism_buf mb = {0};
  if (have_text) prism_buf_puts(&mb, text), prism_buf_puts(&mb, "\n");
  free(text);
  if (!have_text || mb.oom) {
    prism_buf_free(&mb);
    prism_failure_set(err, RULE_WRITE, "", 0, "out of memory writing %s", path);
    goto done;
  }
  int wrc = write_file_atomic(path, mb.p, mb.len, err);
  prism_buf_free(&mb);
  if (wrc != 0) goto done;
  if (log) fprintf(log, "wrote %s\n", path);
  rc = 0;
done:
  prism_json_free(manifest);
  for (int s = 0; s < 3; s++) free(by_split[s]);
  doc_set_free(&docs);
  return rc;
}

/* ---- the `prism data` command line ---- */

static void data_usage(FILE *f) {
  fprintf(f,
          "usage: prism data prepare IN.jsonl... --out DIR [--docs-per-shard N]\n"
          "                          [--name NAME] [--license SPDX] [--pin PIN]\n"
          "       prism data verify DIR [--pin PIN]\n"
          "\n"
          "prepare  builds a locked dataset: every non-blank input line is a JSON object with a\n"
          "         non-empty string \"id\" and \"text\"; documents are split by sha256(id) mod 1000\n"
          "         (train 0-949, val 950-974, test 975-999), the first text per id is kept, ids are\n"
          "         sorted, and DIR/<split>/<split>-NNNNN.jsonl shards (default 1024 docs each) plus\n"
          "         DIR/MANIFEST.json are written; stale shards are deleted first. The output\n"
          "         depends only on the documents, not on their order.\n"
          "         --name, --license, --pin fill MANIFEST.json's dataset block (what the data is,\n"
          "         its licence, what pins its source).\n"
          "verify   checks DIR against its MANIFEST.json (partition, shard sha256s and sizes,\n"
          "         unlisted shards, fingerprints, record format, ids in their split's buckets,\n"
          "         counts) and prints each problem; --pin also requires dataset.pin_sha == PIN.\n"
          "\n"
          "exit codes: 0 ok / clean, 1 failed / problems found, 2 usage error\n");
}

/* --opt VALUE or --opt=VALUE; returns the value or NULL (not this option). *i advances. */
static const char *opt_value(int argc, char **argv, int *i, const char *name, bool *missing) {
  size_t n = strlen(name);
  const char *a = argv[*i];
  if (strncmp(a, name, n) != 0) return NULL;
  if (a[n] == '=') return a + n + 1;
  if (a[n] != '\0') return NULL;
  if (*i + 1 >= argc) {
    *missing = true;
    return NULL;
  }
  return argv[++*i];
}

static int usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "prism: data: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n(see `prism data --help`)\n");
  return PRISM_EXIT_USAGE;
}

static int cmd_prepare(int argc, char **argv) {
  const char **inputs = calloc((size_t)argc + 1, sizeof *inputs);
  if (!inputs) return PRISM_EXIT_INTERNAL;
  int n_inputs = 0, rc;
  const char *out = NULL;
  prism_data_prepare_opts opts = {0};
  bool only_files = false;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i], *v;
    bool missing = false;
    if (only_files || a[0] != '-') {
      inputs[n_inputs++] = a;
    } else if (!strcmp(a, "--")) {
      only_files = true;
    } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      free(inputs);
      data_usage(stdout);
      return PRISM_EXIT_OK;
    } else if ((v = opt_value(argc, argv, &i, "--out", &missing))) {
      out = v;
    } else if ((v = opt_value(argc, argv, &i, "--docs-per-shard", &missing))) {
      char *end;
      long n = strtol(v, &end, 10);
      if (!*v || *end || n < 1 || n > 100000000) {
        free(inputs);
        return usage_error("--docs-per-shard expects an integer in [1, 100000000], got '%s'", v);
      }
      opts.docs_per_shard = (int)n;
    } else if ((v = opt_value(argc, argv, &i, "--name", &missing))) {
      opts.name = v;
    } else if ((v = opt_value(argc, argv, &i, "--license", &missing))) {
      opts.license = v;
    } else if ((v = opt_value(argc, argv, &i, "--pin", &missing))) {
      opts.pin = v;
    } else {
      free(inputs);
      return usage_error(missing ? "option '%s' needs a value" : "unknown option '%s' for prepare", a);
    }
  }
  if (!out || !*out) {
    free(inputs);
    return usage_error("%s", "prepare needs --out DIR");
  }
  if (n_inputs == 0) {
    free(inputs);
    return usage_error("%s", "prepare needs at least one IN.jsonl");
  }
  prism_failure err = {0};
  if (prism_data_prepare(inputs, n_inputs, out, &opts, stdout, &err) != 0) {
    fprintf(stderr, "prism: %s: %s\n", err.rule_id, err.message);
    rc = PRISM_EXIT_FAILED;
  } else {
    rc = PRISM_EXIT_OK;
  }
  free(inputs);
  return rc;
}

static int cmd_verify(int argc, char **argv) {
  const char *dir = NULL, *pin = NULL;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i], *v;
    bool missing = false;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      data_usage(stdout);
      return PRISM_EXIT_OK;
    } else if (a[0] != '-') {
      if (dir) return usage_error("verify takes one DIR, got a second: '%s'", a);
      dir = a;
    } else if ((v = opt_value(argc, argv, &i, "--pin", &missing))) {
      pin = v;
    } else {
      return usage_error(missing ? "option '%s' needs a value" : "unknown option '%s' for verify", a);
    }
  }
  if (!dir) return usage_error("%s", "verify needs DIR");
  int problems = prism_data_verify(dir, pin, stdout);
  fflush(stdout);
  if (problems == 0) return PRISM_EXIT_OK;
  fprintf(stderr, "prism: prism:data-invalid: %s: %d problem%s found by data verify\n", dir, problems,
          problems == 1 ? "" : "s");
  return PRISM_EXIT_FAILED;
}

int prism_cmd_data(int argc, char **argv) {
  if (argc < 1) {
    data_usage(stderr);
    return PRISM_EXIT_USAGE;
  }
  if (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h") || !strcmp(argv[0], "help")) {
    data_usage(stdout);
    return PRISM_EXIT_OK;
  }
  if (!strcmp(argv[0], "prepare")) return cmd_prepare(argc - 1, argv + 1);
  if (!strcmp(argv[0], "verify")) return cmd_verify(argc - 1, argv + 1);
  return usage_error("unknown data command '%s' (prepare, verify)", argv[0]);
}

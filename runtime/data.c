/* data.c — the document streams of the locked-data plane (data.h): the lenient train stream the
 * instrument reads (reference §1.6 as SPEC §5 adapts it) and the strict split stream the held-out
 * reads (reference §4.2), plus the doc-id → bucket → split rule both prepare and verify use.
 *
 * Both streams hold one line and one parsed record at a time (line cap PRISM_DATA_LINE_CAP), so a
 * multi-gigabyte shard costs no more memory than its longest line. Where the reference crashes —
 * invalid UTF-8 in a shard, a lone surrogate escape — we stop with prism:data-invalid naming
 * shard:line instead; everything the reference skips silently we skip and count. docs/data.md
 * states every rule. */
#include "data.h"

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "json.h"
#include "jsonl.h"
#include "sha256.h"

#define RULE_MISSING "prism:data-missing"
#define RULE_INVALID "prism:data-invalid"

struct prism_doc_stream {
  bool strict;
  char **paths;          /* resolved shards, in reading order */
  int n;
  int64_t available;     /* sum of shard sizes */
  int cur;               /* index of the open shard; n when done */
  bool open;
  prism_line_reader rd;
  int64_t records;       /* strict: records read from the open shard */
  int64_t skipped;
  prism_json *rec;       /* the record the last document points into */
  char id[64];           /* strict: a stringified numeric id */
  bool failed;           /* a data error ends the stream for good */
};

int prism_data_bucket(const char *id, size_t len) {
  uint8_t d[PRISM_SHA256_DIGEST];
  prism_sha256_bytes(id, len, d);
  /* The digest read as one big-endian 256-bit integer, reduced mod 1000 digit by digit. */
  unsigned r = 0;
  for (int i = 0; i < PRISM_SHA256_DIGEST; i++) r = (r * 256 + d[i]) % PRISM_DATA_MODULUS;
  return (int)r;
}

const char *prism_data_split_of_bucket(int bucket) {
  if (bucket < 0 || bucket >= PRISM_DATA_MODULUS) return NULL;
  return bucket <= PRISM_DATA_TRAIN_LAST ? "train" : bucket <= PRISM_DATA_VAL_LAST ? "val" : "test";
}

static const char *base_name(const char *path) {
  const char *s = strrchr(path, '/');
  return s ? s + 1 : path;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void free_paths(char **paths, int n) {
  for (int i = 0; i < n; i++) free(paths[i]);
  free(paths);
}

/* Regular files (symlinks followed, as Python's is_file does) in dir whose name matches pattern;
 * names starting with '.' never match (glob semantics). Sorted by path. -1 on allocation failure. */
static int list_matches(const char *dir, const char *pattern, char ***out, int *count) {
  *out = NULL;
  *count = 0;
  DIR *d = opendir(dir);
  if (!d) return 0;
  int cap = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (fnmatch(pattern, e->d_name, FNM_PERIOD) != 0) continue;
    size_t n = strlen(dir) + strlen(e->d_name) + 2;
    char *p = malloc(n);
    if (!p) goto oom;
    snprintf(p, n, "%s/%s", dir, e->d_name);
    struct stat st;
    if (stat(p, &st) != 0 || !S_ISREG(st.st_mode)) {
      free(p);
      continue;
    }
    if (*count == cap) {
      cap = cap ? cap * 2 : 16;
      char **q = realloc(*out, (size_t)cap * sizeof *q);
      if (!q) {
        free(p);
        goto oom;
      }
      *out = q;
    }
    (*out)[(*count)++] = p;
  }
  closedir(d);
  if (*count > 1) qsort(*out, (size_t)*count, sizeof **out, cmp_str);
  return 0;
oom:
  closedir(d);
  free_paths(*out, *count);
  *out = NULL;
  *count = 0;
  return -1;
}

static prism_doc_stream *new_stream(bool strict, char **paths, int n, prism_failure *err) {
  prism_doc_stream *s = calloc(1, sizeof *s);
  if (!s) {
    free_paths(paths, n);
    prism_failure_set(err, RULE_MISSING, "", 0, "out of memory opening the locked data");
    return NULL;
  }
  s->strict = strict;
  s->paths = paths;
  s->n = n;
  for (int i = 0; i < n; i++) {
    struct stat st;
    if (stat(paths[i], &st) == 0) s->available += st.st_size;
  }
  return s;
}

prism_doc_stream *prism_data_open_train(const char *data_dir, prism_failure *err) {
  if (!data_dir || !*data_dir) {
    prism_failure_set(err, RULE_MISSING, "", 0, "locked train data path is not configured (no random-token fallback)");
    return NULL;
  }
  struct stat st;
  if (stat(data_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
    prism_failure_set(err, RULE_MISSING, "", 0, "locked train data path is missing: %s (no random-token fallback)",
                      data_dir);
    return NULL;
  }
  /* The first pattern with any match wins, even if every match is empty (reference §1.6). */
  static const char *const patterns[] = {"train-*.jsonl", "*.jsonl"};
  char **paths = NULL;
  int n = 0;
  for (int p = 0; p < 2 && n == 0; p++)
    if (list_matches(data_dir, patterns[p], &paths, &n) < 0) goto oom;
  if (n == 0) {
    size_t len = strlen(data_dir) + 7;
    char *sub = malloc(len);
    if (!sub) goto oom;
    snprintf(sub, len, "%s/train", data_dir);
    int rc = list_matches(sub, "*.jsonl", &paths, &n);
    free(sub);
    if (rc < 0) goto oom;
  }
  int kept = 0;
  for (int i = 0; i < n; i++) {
    if (stat(paths[i], &st) == 0 && st.st_size > 0) paths[kept++] = paths[i];
    else free(paths[i]);
  }
  if (kept == 0) {
    free(paths);
    prism_failure_set(err, RULE_MISSING, "", 0, "locked train data is empty: %s (no random-token fallback)", data_dir);
    return NULL;
  }
  return new_stream(false, paths, kept, err);
oom:
  prism_failure_set(err, RULE_MISSING, "", 0, "out of memory listing the locked train data in %s", data_dir);
  return NULL;
}

prism_doc_stream *prism_data_open_split(const char *root, const char *split, prism_failure *err) {
  if (!root || !*root || !split || !*split || strchr(split, '/')) {
    prism_failure_set(err, RULE_MISSING, "", 0, "locked %s split: no dataset root given", split ? split : "(null)");
    return NULL;
  }
  char pattern[96];
  snprintf(pattern, sizeof pattern, "%s-*.jsonl", split);
  size_t len = strlen(root) + strlen(split) + 2;
  char *dir = malloc(len);
  if (!dir) {
    prism_failure_set(err, RULE_MISSING, "", 0, "out of memory opening the locked %s split", split);
    return NULL;
  }
  snprintf(dir, len, "%s/%s", root, split);
  struct stat st;
  char **paths = NULL;
  int n = 0, rc;
  if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) {
    rc = list_matches(dir, pattern, &paths, &n);
  } else {
    rc = list_matches(root, pattern, &paths, &n);
    if (rc == 0 && n == 0) {
      prism_failure_set(err, RULE_MISSING, "", 0,
                        "locked %s split not found: neither %s/ nor %s/%s exists", split, dir, root, pattern);
      free(dir);
      return NULL;
    }
  }
  free(dir);
  if (rc < 0) {
    prism_failure_set(err, RULE_MISSING, "", 0, "out of memory listing the locked %s split", split);
    return NULL;
  }
  return new_stream(true, paths, n, err);
}

/* A data error: names shard:line (1-based) in the message and in file/line. */
static int data_error(prism_doc_stream *s, prism_failure *err, const char *msg) {
  const char *path = s->paths[s->cur];
  int line = (int)(s->rd.lines > 0 && s->rd.lines < 0x7fffffff ? s->rd.lines : 0);
  s->failed = true;
  return prism_failure_set(err, RULE_INVALID, base_name(path), line, "%s:%d: %s", path, line, msg);
}

/* Python's str() of a JSON number id: ints as decimal, floats as repr. */
static const char *stringify_id(prism_doc_stream *s, const prism_json *id) {
  switch (prism_json_kind_of(id)) {
  case PRISM_JSON_STRING: return prism_json_string_value(id);
  case PRISM_JSON_INT: snprintf(s->id, sizeof s->id, "%lld", (long long)prism_json_int_value(id)); return s->id;
  case PRISM_JSON_DOUBLE: prism_json_format_double(prism_json_number(id), s->id, sizeof s->id); return s->id;
  default: return NULL;
  }
}

int prism_doc_stream_next(prism_doc_stream *s, prism_doc *doc, prism_failure *err) {
  prism_json_free(s->rec);
  s->rec = NULL;
  if (s->failed) return prism_failure_set(err, RULE_INVALID, "", 0, "the locked data stream already failed");
  for (;;) {
    if (!s->open) {
      if (s->cur >= s->n) return 0;
      if (prism_line_reader_open(&s->rd, s->paths[s->cur], PRISM_DATA_LINE_CAP) != 0) {
        s->failed = true;
        return prism_failure_set(err, RULE_MISSING, base_name(s->paths[s->cur]), 0, "cannot open shard %s: %s",
                                 s->paths[s->cur], strerror(errno));
      }
      s->open = true;
      s->records = 0;
    }
    const char *line;
    size_t len;
    int r = prism_line_reader_next(&s->rd, &line, &len);
    if (r == 0) {
      prism_line_reader_close(&s->rd);
      s->open = false;
      s->cur++;
      continue;
    }
    if (r < 0) {
      int e = s->rd.error;
      s->rd.lines++; /* name the line being read */
      if (e) {
        char what[160];
        snprintf(what, sizeof what, "read error: %s", strerror(e));
        return data_error(s, err, what);
      }
      return data_error(s, err, "line is longer than the 64 MiB JSONL line cap (PRISM_DATA_LINE_CAP)");
    }
    size_t bad;
    if (!prism_utf8_valid(line, len, &bad)) {
      char what[96];
      snprintf(what, sizeof what, "invalid UTF-8 (byte 0x%02x at column %zu); locked data must be UTF-8 text",
               (unsigned char)line[bad], bad + 1);
      return data_error(s, err, what);
    }
    size_t a, n;
    prism_py_strip(line, len, &a, &n);
    if (n == 0) {
      if (!s->strict) s->skipped++;
      continue;
    }
    size_t where;
    if (prism_json_lone_surrogate(line + a, n, &where)) {
      char what[128];
      snprintf(what, sizeof what, "JSON escape '%.6s' at column %zu is a lone UTF-16 surrogate: the string cannot be UTF-8",
               line + a + where, a + where + 1);
      return data_error(s, err, what);
    }
    char perr[160];
    prism_json *rec = prism_json_parse(line + a, n, perr, sizeof perr);
    if (!s->strict) {
      const prism_json *text = prism_json_get(rec, "text");
      if (!rec || prism_json_kind_of(rec) != PRISM_JSON_OBJECT || prism_json_kind_of(text) != PRISM_JSON_STRING ||
          prism_json_string_length(text) == 0) {
        prism_json_free(rec);
        s->skipped++;
        continue;
      }
      s->rec = rec;
      doc->text = prism_json_string_value(text);
      doc->len = prism_json_string_length(text);
      doc->shard = base_name(s->paths[s->cur]);
      doc->offset = s->rd.lines - 1;
      doc->id = NULL;
      return 1;
    }
    if (!rec) {
      char what[224];
      snprintf(what, sizeof what, "not a JSON record (%s)", perr);
      return data_error(s, err, what);
    }
    if (prism_json_kind_of(rec) != PRISM_JSON_OBJECT) {
      prism_json_free(rec);
      return data_error(s, err, "record is not a JSON object");
    }
    const prism_json *idv = prism_json_get(rec, "id"), *text = prism_json_get(rec, "text");
    const char *id = idv ? stringify_id(s, idv) : NULL;
    const char *problem = !idv ? "record has no \"id\"" : !id ? "record \"id\" must be a string or a number"
                        : !text ? "record has no \"text\"" : prism_json_kind_of(text) != PRISM_JSON_STRING
                        ? "record \"text\" must be a string" : NULL;
    if (problem) {
      prism_json_free(rec);
      return data_error(s, err, problem);
    }
    s->rec = rec;
    doc->text = prism_json_string_value(text);
    doc->len = prism_json_string_length(text);
    doc->shard = base_name(s->paths[s->cur]);
    doc->offset = s->records++;
    doc->id = id;
    return 1;
  }
}

int prism_doc_stream_shard_count(const prism_doc_stream *s) { return s ? s->n : 0; }
int64_t prism_doc_stream_available_bytes(const prism_doc_stream *s) { return s ? s->available : 0; }
int64_t prism_doc_stream_skipped_lines(const prism_doc_stream *s) { return s ? s->skipped : 0; }
const char *prism_doc_stream_shard_path(const prism_doc_stream *s, int i) {
  return s && i >= 0 && i < s->n ? s->paths[i] : NULL;
}

void prism_doc_stream_close(prism_doc_stream *s) {
  if (!s) return;
  if (s->open) prism_line_reader_close(&s->rd);
  prism_json_free(s->rec);
  free_paths(s->paths, s->n);
  free(s);
}

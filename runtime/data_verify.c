/* data_verify.c — `prism data verify`: does a locked dataset still match its MANIFEST.json? The
 * reference's checks (dataset.py verify: pin, canonical partition, split present, listed shard
 * present, sha256 and byte length, no unlisted <split>-*.jsonl, split fingerprint) plus content
 * checks the reference leaves out: every record parses strictly, its id hashes into the split it
 * sits in, ids are unique and sorted, and the doc/token/byte counts add up. A tampered, truncated,
 * re-partitioned or hand-edited dataset is reported problem by problem; nothing is repaired. */
#include "data.h"

#include <dirent.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "json.h"
#include "jsonl.h"
#include "sha256.h"

#define MANIFEST_CAP ((size_t)64 << 20)

static const char *const k_splits[3] = {"train", "val", "test"};

typedef struct verifier {
  FILE *out;
  int problems;
} verifier;

__attribute__((format(printf, 2, 3))) static void problem(verifier *v, const char *fmt, ...) {
  v->problems++;
  if (!v->out) return;
  va_list ap;
  va_start(ap, fmt);
  vfprintf(v->out, fmt, ap);
  va_end(ap);
  fputc('\n', v->out);
}

static const char *str_field(const prism_json *obj, const char *key) {
  return prism_json_string_value(prism_json_get(obj, key));
}

/* An integer field, or -1 (with a problem) when absent or not a non-negative integer. */
static int64_t count_field(verifier *v, const prism_json *obj, const char *key, const char *where) {
  const prism_json *x = prism_json_get(obj, key);
  if (prism_json_kind_of(x) != PRISM_JSON_INT || prism_json_int_value(x) < 0) {
    problem(v, "%s.%s: missing or not a non-negative integer", where, key);
    return -1;
  }
  return prism_json_int_value(x);
}

typedef struct shard_facts {
  char sha[PRISM_SHA256_HEX];
  int64_t bytes, docs, text_bytes;
} shard_facts;

/* Hashes the shard and checks its records in one pass. prev_id carries the last id across the
 * split's shards (ids must ascend strictly). Content problems are reported once per shard. */
static int scan_shard(verifier *v, const char *path, const char *rel, int split, char **prev_id, size_t *prev_len,
                      shard_facts *f) {
  prism_line_reader rd;
  memset(f, 0, sizeof *f);
  if (prism_line_reader_open(&rd, path, PRISM_DATA_LINE_CAP) != 0) {
    problem(v, "%s: listed shard is missing or unreadable", rel);
    return -1;
  }
  prism_sha256 h;
  prism_sha256_init(&h);
  rd.hash = &h; /* hashed as read: one pass over the shard */
  bool reported = false;
  const char *line;
  size_t len;
  int r;
  while ((r = prism_line_reader_next(&rd, &line, &len)) == 1) {
    long long no = (long long)rd.lines;
    size_t bad, a, n;
    if (!prism_utf8_valid(line, len, &bad)) {
      if (!reported) problem(v, "%s:%lld: invalid UTF-8 at column %zu", rel, no, bad + 1);
      reported = true;
      continue;
    }
    prism_py_strip(line, len, &a, &n);
    if (n == 0) continue;
    char perr[160];
    prism_json *rec = prism_json_parse(line + a, n, perr, sizeof perr);
    const prism_json *id = prism_json_get(rec, "id"), *text = prism_json_get(rec, "text");
    if (!rec || prism_json_kind_of(rec) != PRISM_JSON_OBJECT || prism_json_kind_of(id) != PRISM_JSON_STRING ||
        prism_json_kind_of(text) != PRISM_JSON_STRING) {
      if (!reported) problem(v, "%s:%lld: not a {\"id\": string, \"text\": string} record%s%s%s", rel, no,
                             rec ? "" : " (", rec ? "" : perr, rec ? "" : ")");
      reported = true;
      prism_json_free(rec);
      continue;
    }
    const char *ids = prism_json_string_value(id);
    size_t idn = prism_json_string_length(id);
    int bucket = prism_data_bucket(ids, idn);
    const char *home = prism_data_split_of_bucket(bucket);
    if (strcmp(home, k_splits[split]) != 0 && !reported) {
      problem(v, "%s:%lld: id \"%.80s\" hashes to bucket %d (%s), not %s", rel, no, ids, bucket, home, k_splits[split]);
      reported = true;
    }
    if (*prev_id) {
      size_t m = idn < *prev_len ? idn : *prev_len;
      int c = memcmp(*prev_id, ids, m);
      if ((c > 0 || (c == 0 && *prev_len >= idn)) && !reported) {
        problem(v, "%s:%lld: id \"%.80s\" is a duplicate or out of order (ids must ascend by byte order)", rel, no, ids);
        reported = true;
      }
    }
    char *copy = malloc(idn + 1);
    if (copy) {
      memcpy(copy, ids, idn + 1);
      free(*prev_id);
      *prev_id = copy;
      *prev_len = idn;
    }
    f->docs++;
    f->text_bytes += (int64_t)prism_json_string_length(text);
    prism_json_free(rec);
  }
  long long at = (long long)rd.lines + 1;
  int read_error = rd.error;
  prism_line_reader_close(&rd);
  if (r < 0) {
    problem(v, "%s:%lld: %s", rel, at, read_error ? "read error" : "line is longer than the 64 MiB JSONL line cap");
    return -1;
  }
  uint8_t d[PRISM_SHA256_DIGEST];
  f->bytes = (int64_t)h.total;
  prism_sha256_final(&h, d);
  prism_sha256_to_hex(d, f->sha);
  return 0;
}

static bool listed(const prism_json *shards, const char *rel) {
  for (size_t i = 0; i < prism_json_length(shards); i++) {
    const char *p = str_field(prism_json_at(shards, i), "path");
    if (p && !strcmp(p, rel)) return true;
  }
  return false;
}

static void verify_split(verifier *v, const char *root, const prism_json *entry, int s, bool bytes_tokenizer,
                         int *n_shards, int64_t *n_docs) {
  const char *name = k_splits[s];
  char where[64], pattern[64];
  snprintf(where, sizeof where, "splits.%s", name);
  snprintf(pattern, sizeof pattern, "%s-*.jsonl", name);
  if (prism_json_kind_of(entry) != PRISM_JSON_OBJECT) {
    problem(v, "%s: split missing from MANIFEST.json", where);
    return;
  }
  const prism_json *shards = prism_json_get(entry, "shards");
  if (prism_json_kind_of(shards) != PRISM_JSON_ARRAY) {
    problem(v, "%s.shards: missing or not a list", where);
    return;
  }
  size_t n = prism_json_length(shards);
  const char **shas = calloc(n + 1, sizeof *shas);
  int64_t sum_docs = 0, sum_tokens = 0, sum_text = 0;
  char *prev_id = NULL;
  size_t prev_len = 0;
  bool fp_ok = shas != NULL, all_scanned = true;
  for (size_t i = 0; i < n; i++) {
    const prism_json *sh = prism_json_at(shards, i);
    char sw[96];
    snprintf(sw, sizeof sw, "%s.shards[%zu]", where, i);
    const char *rel = str_field(sh, "path"), *sha = str_field(sh, "sha256");
    if (shas) shas[i] = sha ? sha : "";
    if (!sha) fp_ok = false, problem(v, "%s.sha256: missing or not a string", sw);
    size_t pre = strlen(name);
    if (!rel || strncmp(rel, name, pre) != 0 || rel[pre] != '/' || strchr(rel + pre + 1, '/') ||
        fnmatch(pattern, rel + pre + 1, FNM_PERIOD) != 0) {
      problem(v, "%s.path: \"%s\" is not %s/%s", sw, rel ? rel : "(missing)", name, pattern);
      all_scanned = false;
      continue;
    }
    for (size_t j = 0; j < i; j++) {
      const char *other = str_field(prism_json_at(shards, j), "path");
      if (other && !strcmp(rel, other)) problem(v, "%s: listed twice in %s.shards", rel, where);
    }
    int64_t bytes = count_field(v, sh, "bytes", sw), docs = count_field(v, sh, "doc_count", sw),
            tokens = count_field(v, sh, "token_count", sw);
    sum_docs += docs > 0 ? docs : 0;
    sum_tokens += tokens > 0 ? tokens : 0;
    char path[4200];
    struct stat st;
    if (!prism_path_join(path, sizeof path, root, rel) || stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
      problem(v, "%s: listed shard is missing", rel);
      all_scanned = false;
      continue;
    }
    shard_facts f;
    if (scan_shard(v, path, rel, s, &prev_id, &prev_len, &f) != 0) {
      all_scanned = false;
      continue;
    }
    (*n_shards)++;
    *n_docs += f.docs;
    sum_text += f.text_bytes;
    if (sha && strcmp(sha, f.sha) != 0) problem(v, "%s: sha256 mismatch (MANIFEST.json %s, on disk %s)", rel, sha, f.sha);
    if (bytes >= 0 && bytes != f.bytes)
      problem(v, "%s: byte length mismatch (MANIFEST.json %lld, on disk %lld)", rel, (long long)bytes, (long long)f.bytes);
    if (docs >= 0 && docs != f.docs)
      problem(v, "%s: doc_count mismatch (MANIFEST.json %lld, records %lld)", rel, (long long)docs, (long long)f.docs);
    if (bytes_tokenizer && tokens >= 0 && tokens != f.text_bytes)
      problem(v, "%s: token_count mismatch (MANIFEST.json %lld, UTF-8 bytes of the texts %lld)", rel,
              (long long)tokens, (long long)f.text_bytes);
  }
  free(prev_id);
  /* Files on disk that the manifest does not list. */
  char dir[4200];
  DIR *d = prism_path_join(dir, sizeof dir, root, name) ? opendir(dir) : NULL;
  if (d) {
    char **extra = NULL;
    size_t n_extra = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
      char rel[512];
      if (fnmatch(pattern, e->d_name, FNM_PERIOD) != 0 || !prism_path_join(rel, sizeof rel, name, e->d_name) ||
          listed(shards, rel))
        continue;
      if (n_extra == cap) {
        cap = cap ? cap * 2 : 8;
        char **q = realloc(extra, cap * sizeof *q);
        if (!q) break;
        extra = q;
      }
      if ((extra[n_extra] = strdup(rel))) n_extra++;
    }
    closedir(d);
    /* sorted, so the report does not depend on directory order */
    for (size_t i = 0; i < n_extra; i++)
      for (size_t j = i + 1; j < n_extra; j++)
        if (strcmp(extra[i], extra[j]) > 0) {
          char *t = extra[i];
          extra[i] = extra[j];
          extra[j] = t;
        }
    for (size_t i = 0; i < n_extra; i++) {
      problem(v, "%s: shard file not listed in MANIFEST.json", extra[i]);
      free(extra[i]);
    }
    free(extra);
  } else if (n > 0) {
    problem(v, "%s/: split directory is missing", name);
  }
  const char *fp = str_field(entry, "fingerprint");
  if (fp_ok) {
    char want[PRISM_SHA256_HEX];
    prism_data_split_fingerprint(name, shas, (int)n, want);
    if (!fp || strcmp(fp, want) != 0)
      problem(v, "%s.fingerprint: drift (MANIFEST.json %s, recomputed from the shard list %s)", where,
              fp ? fp : "(missing)", want);
  }
  free(shas);
  int64_t docs = count_field(v, entry, "doc_count", where), tokens = count_field(v, entry, "token_count", where),
          text = count_field(v, entry, "byte_count", where);
  if (docs >= 0 && docs != sum_docs)
    problem(v, "%s.doc_count: %lld, but the shards list %lld", where, (long long)docs, (long long)sum_docs);
  if (tokens >= 0 && tokens != sum_tokens)
    problem(v, "%s.token_count: %lld, but the shards list %lld", where, (long long)tokens, (long long)sum_tokens);
  if (text >= 0 && all_scanned && text != sum_text)
    problem(v, "%s.byte_count: %lld, but the texts hold %lld UTF-8 bytes", where, (long long)text, (long long)sum_text);
}

int prism_data_verify(const char *root, const char *expected_pin, FILE *out) {
  verifier v = {out, 0};
  struct stat st;
  if (!root || stat(root, &st) != 0 || !S_ISDIR(st.st_mode)) {
    problem(&v, "%s: not a directory", root ? root : "(null)");
    return v.problems;
  }
  char path[4200], err[256];
  if (!prism_path_join(path, sizeof path, root, "MANIFEST.json")) {
    problem(&v, "%.200s: path too long", root);
    return v.problems;
  }
  prism_json *m = prism_json_read_file(path, MANIFEST_CAP, err, sizeof err);
  if (!m) {
    problem(&v, "MANIFEST.json: %s", err);
    return v.problems;
  }
  if (prism_json_kind_of(m) != PRISM_JSON_OBJECT) {
    problem(&v, "MANIFEST.json: not a JSON object");
    prism_json_free(m);
    return v.problems;
  }
  const char *schema = str_field(m, "schema_version");
  if (!schema || strcmp(schema, "prism_locked_data.v1") != 0)
    problem(&v, "schema_version: \"%s\", expected \"prism_locked_data.v1\"", schema ? schema : "(missing)");
  const prism_json *ds = prism_json_get(m, "dataset");
  const char *pin = str_field(ds, "pin_sha");
  if (!str_field(ds, "name") || !str_field(ds, "license"))
    problem(&v, "dataset: name and license must be strings");
  if (!pin || !*pin) problem(&v, "dataset.pin_sha: missing or empty");
  else if (expected_pin && strcmp(pin, expected_pin) != 0)
    problem(&v, "dataset.pin_sha: \"%s\", expected \"%s\"", pin, expected_pin);
  prism_json *canon = prism_data_canonical_partition();
  if (!prism_json_equal(prism_json_get(m, "partition"), canon))
    problem(&v, "partition: not the canonical sha256(doc.id) mod 1000 split (train [0,949], val [950,974], test [975,999])");
  prism_json_free(canon);
  const prism_json *tok = prism_json_get(m, "tokenizer");
  const char *tid = str_field(tok, "id"), *tfp = str_field(tok, "fingerprint");
  bool bytes_tok = false;
  if (!tid || !tfp) {
    problem(&v, "tokenizer: id and fingerprint must be strings");
  } else {
    const char *basis = !strcmp(tid, "bytes") ? "bytes:n_vocab=256" : !strcmp(tid, "gpt2") ? "tiktoken:gpt2:n_vocab=50257" : NULL;
    char want[PRISM_SHA256_HEX];
    if (!basis) problem(&v, "tokenizer.id: unknown tokenizer \"%s\" (known: bytes, gpt2)", tid);
    else if (prism_sha256_hex(basis, strlen(basis), want), strcmp(want, tfp) != 0)
      problem(&v, "tokenizer.fingerprint: %s, expected sha256(\"%s\") = %s", tfp, basis, want);
    bytes_tok = basis && !strcmp(tid, "bytes");
  }
  const prism_json *splits = prism_json_get(m, "splits");
  int n_shards = 0;
  int64_t n_docs = 0;
  if (prism_json_kind_of(splits) != PRISM_JSON_OBJECT) {
    problem(&v, "splits: missing or not an object");
  } else {
    for (size_t i = 0; i < prism_json_length(splits); i++) {
      const char *k = prism_json_key_at(splits, i);
      if (strcmp(k, "train") && strcmp(k, "val") && strcmp(k, "test"))
        problem(&v, "splits.%s: not a split of the locked layout (train, val, test)", k);
    }
    for (int s = 0; s < 3; s++) verify_split(&v, root, prism_json_get(splits, k_splits[s]), s, bytes_tok, &n_shards, &n_docs);
  }
  prism_json_free(m);
  if (out && v.problems == 0)
    fprintf(out, "ok: %s: 3 splits, %d shards, %lld documents match MANIFEST.json\n", root, n_shards, (long long)n_docs);
  return v.problems;
}

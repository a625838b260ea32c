/* test_data.c — the locked-data plane (data.h): train shard resolution and its failures, the
 * lenient stream's skip/count rules and offsets, universal newlines, the data errors (invalid
 * UTF-8, lone surrogates, the line cap) naming shard:line, the strict split stream, the bucket
 * rule's golden values, `prepare` against bytes produced by a Python re-statement of the reference
 * data_prep (json.dumps escaping, MANIFEST.json layout), determinism under shuffled input, stale
 * shards, bad inputs, and `verify` catching tampering, missing/extra shards and re-partitioning. */
#define _GNU_SOURCE
#include "../../runtime/data.h"
#include "../../runtime/json.h"
#include "../../runtime/jsonl.h"
#include "../../runtime/sha256.h"

#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
static char root[64];

/* ---- scratch files ---- */

static const char *P(const char *fmt, ...) {
  static char bufs[8][4096];
  static int k;
  char rel[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(rel, sizeof rel, fmt, ap);
  va_end(ap);
  char *b = bufs[k++ % 8];
  snprintf(b, 4096, "%s/%s", root, rel);
  return b;
}

static void mkdirs(const char *path) {
  char b[4096];
  snprintf(b, sizeof b, "%s", path);
  for (char *p = b + 1; *p; p++)
    if (*p == '/') {
      *p = 0;
      mkdir(b, 0777);
      *p = '/';
    }
  mkdir(b, 0777);
}

static void write_bytes(const char *path, const char *data, size_t n) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash) *slash = 0, mkdirs(dir);
  FILE *f = fopen(path, "wb");
  if (!f) {
    perror(path);
    exit(2);
  }
  fwrite(data, 1, n, f);
  fclose(f);
}

static void write_text(const char *path, const char *text) { write_bytes(path, text, strlen(text)); }

static char *read_all(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc((size_t)len + 1);
  *n = fread(b, 1, (size_t)len, f);
  b[*n] = 0;
  fclose(f);
  return b;
}

static int rm_entry(const char *p, const struct stat *sb, int type, struct FTW *ftw) {
  (void)sb, (void)type, (void)ftw;
  return remove(p);
}
static void rm_rf(const char *path) { nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

/* Reads a whole stream: texts joined as "offset:text|", returns the count or -1 (err filled). */
static int drain(prism_doc_stream *s, char *out, size_t cap, prism_failure *err) {
  prism_doc d;
  int n = 0, r;
  size_t used = 0;
  out[0] = 0;
  while ((r = prism_doc_stream_next(s, &d, err)) == 1) {
    n++;
    int w = snprintf(out + used, cap - used, "%s%lld:%.*s|", d.id ? d.id : "", (long long)d.offset, (int)d.len, d.text);
    if (w > 0 && (size_t)w < cap - used) used += (size_t)w;
  }
  return r < 0 ? -1 : n;
}

/* ---- resolution ---- */

static void test_resolution(void) {
  prism_failure err = {0};
  prism_doc_stream *s = prism_data_open_train("", &err);
  check(!s && !strcmp(err.rule_id, "prism:data-missing") &&
            !strcmp(err.message, "locked train data path is not configured (no random-token fallback)"),
        "resolution: empty data dir -> not configured", err.message);

  s = prism_data_open_train(P("nowhere"), &err);
  char want[512];
  snprintf(want, sizeof want, "locked train data path is missing: %s (no random-token fallback)", P("nowhere"));
  check(!s && !strcmp(err.rule_id, "prism:data-missing") && !strcmp(err.message, want),
        "resolution: missing dir -> data-missing, reference wording", err.message);

  mkdirs(P("r0"));
  write_text(P("r0/notes.txt"), "{\"text\":\"x\"}\n");
  write_text(P("r0/shard.bin"), "{\"text\":\"x\"}\n");
  s = prism_data_open_train(P("r0"), &err);
  snprintf(want, sizeof want, "locked train data is empty: %s (no random-token fallback)", P("r0"));
  check(!s && !strcmp(err.rule_id, "prism:data-missing") && !strcmp(err.message, want),
        "resolution: only .txt/.bin files -> empty (no .bin reading)", err.message);

  /* train-*.jsonl beats *.jsonl; sorted by path */
  write_text(P("r1/train-00001.jsonl"), "{\"text\":\"B\"}\n");
  write_text(P("r1/train-00000.jsonl"), "{\"text\":\"A\"}\n");
  write_text(P("r1/other.jsonl"), "{\"text\":\"O\"}\n");
  write_text(P("r1/train/x.jsonl"), "{\"text\":\"T\"}\n");
  write_text(P("r1/.train-hidden.jsonl"), "{\"text\":\"H\"}\n");
  mkdirs(P("r1/train-dir.jsonl"));
  s = prism_data_open_train(P("r1"), &err);
  char got[4096];
  int n = s ? drain(s, got, sizeof got, &err) : -2;
  check(n == 2 && !strcmp(got, "0:A|0:B|") && prism_doc_stream_shard_count(s) == 2,
        "resolution: train-*.jsonl first, sorted, no hidden files or dirs", got);
  check(s && prism_doc_stream_available_bytes(s) == 26, "resolution: available bytes = sum of shard sizes", "");
  const char *p0 = prism_doc_stream_shard_path(s, 0);
  check(p0 && !strcmp(p0, P("r1/train-00000.jsonl")) && prism_doc_stream_shard_path(s, 2) == NULL,
        "resolution: shard paths in reading order", p0);
  prism_doc_stream_close(s);

  /* *.jsonl when there is no train-*.jsonl; train/ is then not consulted */
  write_text(P("r2/b.jsonl"), "{\"text\":\"b\"}\n");
  write_text(P("r2/a.jsonl"), "{\"text\":\"a\"}\n");
  write_text(P("r2/train/x.jsonl"), "{\"text\":\"T\"}\n");
  s = prism_data_open_train(P("r2"), &err);
  n = s ? drain(s, got, sizeof got, &err) : -2;
  check(n == 2 && !strcmp(got, "0:a|0:b|"), "resolution: *.jsonl second, sorted", got);
  prism_doc_stream_close(s);

  /* train/ (its *.jsonl) only when nothing matched at the top, even with a .bin present */
  write_text(P("r3/tokens.bin"), "{\"text\":\"BIN\"}\n");
  write_text(P("r3/train/z.jsonl"), "{\"text\":\"z\"}\n");
  write_text(P("r3/train/y.jsonl"), "{\"text\":\"y\"}\n");
  s = prism_data_open_train(P("r3"), &err);
  n = s ? drain(s, got, sizeof got, &err) : -2;
  check(n == 2 && !strcmp(got, "0:y|0:z|"), "resolution: train/*.jsonl third, .bin never read", got);
  prism_doc_stream_close(s);

  /* zero-byte files dropped */
  write_text(P("r4/train-00000.jsonl"), "");
  write_text(P("r4/train-00001.jsonl"), "{\"text\":\"one\"}\n");
  s = prism_data_open_train(P("r4"), &err);
  n = s ? drain(s, got, sizeof got, &err) : -2;
  check(n == 1 && prism_doc_stream_shard_count(s) == 1 && !strcmp(got, "0:one|"),
        "resolution: zero-byte shards dropped", got);
  prism_doc_stream_close(s);

  /* the first matching pattern wins even when all its files are empty */
  write_text(P("r5/train-00000.jsonl"), "");
  write_text(P("r5/other.jsonl"), "{\"text\":\"O\"}\n");
  s = prism_data_open_train(P("r5"), &err);
  check(!s && strstr(err.message, "locked train data is empty: ") != NULL,
        "resolution: all train-*.jsonl empty -> empty (no fallback to *.jsonl)", err.message);
}

/* ---- lenient parsing ---- */

static void test_lenient(void) {
  prism_failure err = {0};
  const char *body =
      "{\"text\":\"first\"}\n"          /* 0 */
      "\n"                               /* 1 blank */
      "   \t \n"                         /* 2 blank (whitespace) */
      "{not json}\n"                     /* 3 malformed */
      "[\"text\"]\n"                     /* 4 not an object */
      "{\"text\":5}\n"                   /* 5 non-string */
      "{\"text\":\"\"}\n"                /* 6 empty */
      "{\"id\":\"no text\"}\n"           /* 7 missing text */
      "  {\"text\":\"padded\"}  \n"      /* 8 ok: stripped */
      "\xc2\xa0{\"text\":\"nbsp\"}\xe3\x80\x80\n" /* 9 ok: Python strips U+00A0 and U+3000 */
      "{\"text\":\"a\",\"text\":\"b\"}\n" /* 10 duplicate keys: malformed for the strict parser */
      "{\"text\":NaN}\n"                 /* 11 malformed for the strict parser */
      "\xef\xbb\xbf{\"text\":\"bom\"}\n" /* 12 BOM: json.loads refuses it too */
      "{\"text\":\"nul\\u0000inside\",\"id\":3}\n" /* 13 ok, with a NUL */
      "{\"text\":\"last\"}";             /* 14 ok, no final newline */
  write_text(P("l1/train-00000.jsonl"), body);
  prism_doc_stream *s = prism_data_open_train(P("l1"), &err);
  prism_doc d;
  int64_t offs[8];
  char texts[8][32];
  size_t lens[8];
  int n = 0, r;
  while (s && (r = prism_doc_stream_next(s, &d, &err)) == 1 && n < 8) {
    offs[n] = d.offset;
    lens[n] = d.len;
    snprintf(texts[n], sizeof texts[n], "%.*s", (int)d.len, d.text);
    check(d.id == NULL && !strcmp(d.shard, "train-00000.jsonl"), "lenient: id NULL, shard is the base name", d.shard);
    n++;
  }
  check(n == 5, "lenient: 5 documents out of 15 lines", "");
  check(n == 5 && offs[0] == 0 && offs[1] == 8 && offs[2] == 9 && offs[3] == 13 && offs[4] == 14,
        "lenient: offsets are physical line indices counting blank lines", "");
  check(n == 5 && !strcmp(texts[1], "padded") && !strcmp(texts[2], "nbsp") && lens[3] == 10 &&
            !memcmp(texts[3], "nul", 3) && !strcmp(texts[4], "last"),
        "lenient: stripped lines, NUL kept in text, last line without newline", "");
  check(prism_doc_stream_skipped_lines(s) == 10, "lenient: 10 blank/malformed/non-text lines skipped and counted", "");
  prism_doc_stream_close(s);
}

static void test_newlines(void) {
  prism_failure err = {0};
  char got[4096];
  write_text(P("n1/x.jsonl"), "{\"text\":\"a\"}\r\n{\"text\":\"b\"}\r{\"text\":\"c\"}\n\r\n{\"text\":\"d\"}\r\r{\"text\":\"e\"}\r");
  prism_doc_stream *s = prism_data_open_train(P("n1"), &err);
  int n = s ? drain(s, got, sizeof got, &err) : -2;
  check(n == 5 && !strcmp(got, "0:a|1:b|2:c|4:d|6:e|"), "universal newlines: \\r\\n, \\r, \\n; blank lines counted", got);
  check(s && prism_doc_stream_skipped_lines(s) == 2, "universal newlines: the two blank lines skipped", "");
  prism_doc_stream_close(s);

  /* a "\r\n" split across the reader's first 256 KiB buffer fill */
  size_t first = 262143; /* the "\r" is the buffer's last byte */
  char *big = malloc(first + 64);
  memcpy(big, "{\"text\":\"", 9);
  memset(big + 9, 'x', first - 11);
  memcpy(big + first - 2, "\"}", 2);
  memcpy(big + first, "\r\n{\"text\":\"y\"}\n", 16);
  write_bytes(P("n2/x.jsonl"), big, first + 16);
  free(big);
  s = prism_data_open_train(P("n2"), &err);
  prism_doc d;
  int a = s ? prism_doc_stream_next(s, &d, &err) : -2;
  size_t l0 = a == 1 ? d.len : 0;
  int b = s ? prism_doc_stream_next(s, &d, &err) : -2;
  check(a == 1 && l0 == first - 11 && b == 1 && d.offset == 1 && d.len == 1 && d.text[0] == 'y' &&
            prism_doc_stream_skipped_lines(s) == 0,
        "universal newlines: \\r\\n across a buffer refill is one terminator", "");
  prism_doc_stream_close(s);
}

static void expect_data_error(const char *dir, const char *file, const char *body, size_t n, int line,
                              const char *needle, const char *name) {
  prism_failure err = {0};
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", P("%s", dir), file);
  write_bytes(path, body, n);
  prism_doc_stream *s = prism_data_open_train(P("%s", dir), &err);
  char got[4096];
  int r = s ? drain(s, got, sizeof got, &err) : -2;
  char where[4200];
  snprintf(where, sizeof where, "%s:%d: ", path, line);
  int ok = r == -1 && !strcmp(err.rule_id, "prism:data-invalid") && !strcmp(err.file, file) && err.line == line &&
           !strncmp(err.message, where, strlen(where)) && strstr(err.message, needle);
  check(ok, name, err.message);
  /* the stream stays failed */
  prism_doc d;
  check(s && prism_doc_stream_next(s, &d, &err) == -1, "  ... and the stream stays failed", "");
  prism_doc_stream_close(s);
}

static void test_data_errors(void) {
  static const char bad_utf8[] = "{\"text\":\"ok\"}\n\n{\"text\":\"caf\xc3(\"}\n";
  expect_data_error("u1", "train-00000.jsonl", bad_utf8, sizeof bad_utf8 - 1, 3, "invalid UTF-8",
                    "invalid UTF-8 -> prism:data-invalid naming shard:line");
  static const char bad_in_blank[] = "{\"text\":\"ok\"}\n  \xff  \n";
  expect_data_error("u2", "a.jsonl", bad_in_blank, sizeof bad_in_blank - 1, 2, "invalid UTF-8",
                    "invalid UTF-8 in an otherwise skipped line is still an error");
  static const char overlong[] = "{\"text\":\"\xc0\x80\"}\n";
  expect_data_error("u3", "a.jsonl", overlong, sizeof overlong - 1, 1, "0xc0", "overlong encoding refused");
  static const char surrogate_bytes[] = "{\"text\":\"\xed\xa0\x80\"}\n";
  expect_data_error("u4", "a.jsonl", surrogate_bytes, sizeof surrogate_bytes - 1, 1, "invalid UTF-8",
                    "UTF-8-encoded surrogate (ED A0 80) refused");
  static const char truncated[] = "{\"text\":\"x\"}\n{\"text\":\"\xe2\x82";
  expect_data_error("u5", "a.jsonl", truncated, sizeof truncated - 1, 2, "invalid UTF-8",
                    "sequence truncated at end of file refused");
  static const char beyond[] = "{\"text\":\"\xf4\x90\x80\x80\"}\n";
  expect_data_error("u6", "a.jsonl", beyond, sizeof beyond - 1, 1, "invalid UTF-8", "code point past U+10FFFF refused");
  static const char lone_high[] = "{\"text\":\"ok\"}\r\n{\"text\":\"a\\ud800b\"}\r\n";
  expect_data_error("s1", "a.jsonl", lone_high, sizeof lone_high - 1, 2, "lone UTF-16 surrogate",
                    "lone high surrogate escape -> data error naming shard:line");
  static const char lone_low[] = "{\"id\":\"\\uDC00\",\"text\":\"fine\"}\n";
  expect_data_error("s2", "a.jsonl", lone_low, sizeof lone_low - 1, 1, "lone UTF-16 surrogate",
                    "lone low surrogate in another field -> data error too");

  prism_failure err = {0};
  char got[4096];
  write_text(P("s3/a.jsonl"), "{\"text\":\"\\ud83d\\ude00|\\\\ud800\"}\n");
  prism_doc_stream *s = prism_data_open_train(P("s3"), &err);
  int n = s ? drain(s, got, sizeof got, &err) : -2;
  check(n == 1 && !strcmp(got, "0:\xf0\x9f\x98\x80|\\ud800|"),
        "surrogate pair decodes; an escaped backslash before 'ud800' is text", got);
  prism_doc_stream_close(s);
}

static void test_line_cap(void) {
  /* the reader itself, with a small cap */
  write_text(P("cap/small.txt"), "0123456789\n01234567890\nok");
  prism_line_reader rd;
  const char *line;
  size_t len;
  int ok = prism_line_reader_open(&rd, P("cap/small.txt"), 10) == 0;
  int a = prism_line_reader_next(&rd, &line, &len);
  int b = prism_line_reader_next(&rd, &line, &len);
  check(ok && a == 1 && b == -1 && rd.error == 0 && rd.lines == 1, "line reader: 10 bytes fit a cap of 10, 11 do not", "");
  prism_line_reader_close(&rd);

  /* the stream's real cap: one line of 64 MiB + 1 bytes after a good line */
  size_t n = PRISM_DATA_LINE_CAP + 1;
  char *big = malloc(n + 32);
  if (!big) {
    check(0, "line cap: allocate 64 MiB", "");
    return;
  }
  memcpy(big, "{\"text\":\"ok\"}\n", 14);
  memset(big + 14, 'x', n);
  big[14 + n] = '\n';
  write_bytes(P("cap/big/train-00000.jsonl"), big, n + 15);
  free(big);
  prism_failure err = {0};
  prism_doc_stream *s = prism_data_open_train(P("cap/big"), &err);
  prism_doc d;
  int r1 = s ? prism_doc_stream_next(s, &d, &err) : -2;
  int r2 = s ? prism_doc_stream_next(s, &d, &err) : -2;
  check(r1 == 1 && r2 == -1 && !strcmp(err.rule_id, "prism:data-invalid") && err.line == 2 &&
            strstr(err.message, "train-00000.jsonl:2: line is longer than the 64 MiB"),
        "line cap: a 64 MiB + 1 line is a data error naming shard:line", err.message);
  prism_doc_stream_close(s);
  unlink(P("cap/big/train-00000.jsonl"));
}

/* ---- strict split stream ---- */

static void test_strict(void) {
  prism_failure err = {0};
  char got[4096];
  write_text(P("st1/val/val-00001.jsonl"), "{\"id\":\"b\",\"text\":\"B\"}\n");
  write_text(P("st1/val/val-00000.jsonl"),
             "\n{\"id\":\"a\",\"text\":\"A\"}\n\n  \n{\"id\":7,\"text\":\"\"}\n{\"id\":1.5,\"text\":\"F\",\"x\":[1]}\n"
             "{\"id\":1e5,\"text\":\"E\"}\n");
  write_text(P("st1/val/other.jsonl"), "{\"id\":\"z\",\"text\":\"Z\"}\n");
  write_text(P("st1/val-00000.jsonl"), "{\"id\":\"root\",\"text\":\"R\"}\n");
  prism_doc_stream *s = prism_data_open_split(P("st1"), "val", &err);
  int n = s ? drain(s, got, sizeof got, &err) : -2;
  check(n == 5 && !strcmp(got, "a0:A|71:|1.52:F|100000.03:E|b0:B|"),
        "strict: <root>/val/val-*.jsonl sorted; offsets skip blanks; ids stringified", got);
  check(s && prism_doc_stream_skipped_lines(s) == 0, "strict: blank lines are not counted", "");
  prism_doc_stream_close(s);

  write_text(P("st2/val-00000.jsonl"), "{\"id\":\"r\",\"text\":\"R\"}\n");
  s = prism_data_open_split(P("st2"), "val", &err);
  n = s ? drain(s, got, sizeof got, &err) : -2;
  check(n == 1 && !strcmp(got, "r0:R|"), "strict: falls back to <root>/val-*.jsonl", got);
  prism_doc_stream_close(s);

  s = prism_data_open_split(P("st2"), "test", &err);
  check(!s && !strcmp(err.rule_id, "prism:data-missing") && strstr(err.message, "test"),
        "strict: no split dir and no shards -> data-missing", err.message);

  static const struct { const char *body; int line; const char *needle, *name; } bad[] = {
      {"{\"id\":\"a\",\"text\":\"A\"}\n\n{\"text\":\"no id\"}\n", 3, "no \"id\"", "strict: missing id -> error at shard:line"},
      {"{\"id\":\"a\",\"text\":3}\n", 1, "\"text\" must be a string", "strict: non-string text -> error"},
      {"{\"id\":\"a\"}\n", 1, "no \"text\"", "strict: missing text -> error"},
      {"{\"id\":null,\"text\":\"t\"}\n", 1, "\"id\" must be a string or a number", "strict: null id -> error"},
      {"{\"id\":\"a\",\"text\":\"t\"\n", 1, "not a JSON record", "strict: malformed JSON -> error"},
      {"[1,2]\n", 1, "not a JSON object", "strict: non-object -> error"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char dir[32];
    snprintf(dir, sizeof dir, "st3-%zu", i);
    write_text(P("%s/test/test-00000.jsonl", dir), bad[i].body);
    s = prism_data_open_split(P("%s", dir), "test", &err);
    n = s ? drain(s, got, sizeof got, &err) : -2;
    check(n == -1 && !strcmp(err.rule_id, "prism:data-invalid") && err.line == bad[i].line &&
              !strcmp(err.file, "test-00000.jsonl") && strstr(err.message, bad[i].needle),
          bad[i].name, err.message);
    prism_doc_stream_close(s);
  }
}

/* ---- buckets ---- */

static void test_buckets(void) {
  static const struct { const char *id; int bucket; const char *split; } g[] = {
      {"doc-000123", 835, "train"}, {"doc-000169", 0, "train"},   {"doc-001531", 949, "train"},
      {"doc-000245", 950, "val"},   {"doc-000053", 974, "val"},   {"doc-001400", 975, "test"},
      {"doc-003208", 999, "test"},  {"", 549, "train"},           {"\xc3\xa9", 588, "train"},
      {"\xf0\x9f\x98\x80", 281, "train"}, {"sotu-1790-george-washington", 472, "train"},
  };
  for (size_t i = 0; i < sizeof g / sizeof g[0]; i++) {
    int b = prism_data_bucket(g[i].id, strlen(g[i].id));
    char name[96], detail[64];
    snprintf(name, sizeof name, "bucket: \"%s\" -> %d (%s)", g[i].id, g[i].bucket, g[i].split);
    snprintf(detail, sizeof detail, "got %d", b);
    check(b == g[i].bucket && !strcmp(prism_data_split_of_bucket(b), g[i].split), name, detail);
  }
  check(prism_data_split_of_bucket(-1) == NULL && prism_data_split_of_bucket(1000) == NULL,
        "bucket: out-of-range buckets have no split", "");
}

/* ---- prepare ---- */

static const char golden_input[] =
    "{\"text\": \"val doc: tab\\t quote\\\" backslash\\\\ nl\\n ctrl\\u0001\\u001f del\\u007f \\u00e9 \\u20ac "
    "\\ud83d\\ude00 \\u2028 end\", \"id\": \"doc-000053\"}\n"
    "{\"text\": \"train 0\", \"id\": \"doc-000169\"}\n"
    "{\"text\": \"train 949\", \"id\": \"doc-001531\"}\n"
    "{\"text\": \"val 950\", \"id\": \"doc-000245\"}\n"
    "{\"text\": \"test 975\", \"id\": \"doc-001400\"}\n"
    "{\"text\": \"test 999\\r\\b\\f\", \"id\": \"doc-003208\"}\n"
    "{\"text\": \"duplicate: dropped\", \"id\": \"doc-000169\"}\n";

static int prepare(const char *in, const char *out, int per_shard, prism_failure *err) {
  const char *inputs[1] = {in};
  prism_data_prepare_opts o = {per_shard, NULL, NULL, NULL};
  return prism_data_prepare(inputs, 1, out, &o, NULL, err);
}

static int same_file(const char *a, const char *b) {
  size_t na = 0, nb = 0;
  char *x = read_all(a, &na), *y = read_all(b, &nb);
  int same = x && y && na == nb && !memcmp(x, y, na);
  free(x);
  free(y);
  return same;
}

static int verify_quiet(const char *dir, const char *pin, char *report, size_t cap) {
  FILE *f = fmemopen(report, cap, "w");
  int n = prism_data_verify(dir, pin, f);
  fclose(f);
  report[cap - 1] = 0;
  return n;
}

static void test_prepare_golden(void) {
  prism_failure err = {0};
  write_text(P("g/in.jsonl"), golden_input);
  int rc = prepare(P("g/in.jsonl"), P("g/out"), 1, &err);
  check(rc == 0, "prepare: golden input", err.message);
  char hex[PRISM_SHA256_HEX];
  int64_t size = 0;
  prism_sha256_file(P("g/out/MANIFEST.json"), hex, &size);
  /* from a Python re-statement of the reference data_prep on the same input */
  check(!strcmp(hex, "dd1c6e4cc1c7eb8ff2ac5421b524441778afdf2d6260f51f0e25929a36e96637"),
        "prepare: MANIFEST.json byte-identical to the Python reference's", hex);
  size_t n;
  char *val0 = read_all(P("g/out/val/val-00000.jsonl"), &n);
  static const char want[] =
      "{\"id\":\"doc-000053\",\"text\":\"val doc: tab\\t quote\\\" backslash\\\\ nl\\n ctrl\\u0001\\u001f del\x7f "
      "\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xe2\x80\xa8 end\"}\n";
  check(val0 && n == sizeof want - 1 && !memcmp(val0, want, n),
        "prepare: shard line escapes like json.dumps(ensure_ascii=False)", "");
  free(val0);
  struct stat st;
  check(stat(P("g/out/train/train-00000.jsonl"), &st) == 0 && stat(P("g/out/train/train-00001.jsonl"), &st) == 0 &&
            stat(P("g/out/train/train-00002.jsonl"), &st) != 0 && stat(P("g/out/test/test-00001.jsonl"), &st) == 0,
        "prepare: docs_per_shard 1 -> one shard per document", "");
  char *t0 = read_all(P("g/out/train/train-00000.jsonl"), &n);
  check(t0 && !strcmp(t0, "{\"id\":\"doc-000169\",\"text\":\"train 0\"}\n"), "prepare: first text per id kept", t0);
  free(t0);
  char report[8192];
  int problems = verify_quiet(P("g/out"), NULL, report, sizeof report);
  check(problems == 0, "verify: freshly prepared dataset is clean", report);
}

static void test_prepare_determinism(void) {
  prism_failure err = {0};
  /* 2,600 documents written in two different orders (and newline styles) */
  FILE *a = fopen(P("d/a.jsonl"), "wb"), *b;
  if (!a) {
    mkdirs(P("d"));
    a = fopen(P("d/a.jsonl"), "wb");
  }
  b = fopen(P("d/b.jsonl"), "wb");
  for (int i = 0; i < 2600; i++) fprintf(a, "{\"id\":\"doc-%06d\",\"text\":\"text %d \\u00e9\"}\n", i, i * 7);
  for (int k = 0; k < 2600; k++) {
    int i = (int)(((long)k * 1103 + 17) % 2600); /* a permutation of 0..2599 */
    fprintf(b, "{\"text\":\"text %d \\u00e9\",\"id\":\"doc-%06d\"}\r\n", i * 7, i);
  }
  fclose(a);
  fclose(b);
  int r1 = prepare(P("d/a.jsonl"), P("d/o1"), 0, &err);
  int r2 = prepare(P("d/a.jsonl"), P("d/o2"), 0, &err);
  int r3 = prepare(P("d/b.jsonl"), P("d/o3"), 0, &err);
  const char *files[] = {"MANIFEST.json", "train/train-00000.jsonl", "train/train-00001.jsonl",
                         "train/train-00002.jsonl", "val/val-00000.jsonl", "test/test-00000.jsonl"};
  int same12 = 1, same13 = 1;
  for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
    same12 &= same_file(P("d/o1/%s", files[i]), P("d/o2/%s", files[i]));
    same13 &= same_file(P("d/o1/%s", files[i]), P("d/o3/%s", files[i]));
  }
  check(r1 == 0 && r2 == 0 && r3 == 0 && same12, "prepare: two runs are byte-identical", err.message);
  check(same13, "prepare: shuffled input gives byte-identical output", "");
  struct stat st;
  check(stat(P("d/o1/train/train-00003.jsonl"), &st) != 0, "prepare: 1024 docs per shard by default (3 train shards)", "");

  /* fewer documents into the same directory: stale shards go */
  FILE *c = fopen(P("d/c.jsonl"), "wb");
  for (int i = 0; i < 100; i++) fprintf(c, "{\"id\":\"doc-%06d\",\"text\":\"t\"}\n", i);
  fclose(c);
  write_text(P("d/o1/val/val-00007.jsonl"), "{\"id\":\"stale\",\"text\":\"x\"}\n");
  int r4 = prepare(P("d/c.jsonl"), P("d/o1"), 0, &err);
  check(r4 == 0 && stat(P("d/o1/train/train-00001.jsonl"), &st) != 0 && stat(P("d/o1/val/val-00007.jsonl"), &st) != 0 &&
            stat(P("d/o1/train/train-00000.jsonl"), &st) == 0,
        "prepare: stale shards deleted on re-run", "");
  char report[8192];
  check(verify_quiet(P("d/o1"), NULL, report, sizeof report) == 0, "verify: re-prepared directory is clean", report);

  /* the doc stream reads what prepare wrote, in id order */
  prism_doc_stream *s = prism_data_open_split(P("d/o3"), "val", &err);
  prism_doc d;
  int n = 0, ordered = 1;
  char prev[64] = "";
  while (s && prism_doc_stream_next(s, &d, &err) == 1) {
    ordered &= strcmp(prev, d.id) < 0 && !strcmp(prism_data_split_of_bucket(prism_data_bucket(d.id, strlen(d.id))), "val");
    snprintf(prev, sizeof prev, "%s", d.id);
    n++;
  }
  check(n > 0 && ordered, "prepare: val split holds only val-bucket ids, ascending", "");
  prism_doc_stream_close(s);
}

static void test_prepare_bad_inputs(void) {
  static const struct { const char *body; int line; const char *needle, *name; } bad[] = {
      {"{\"id\":\"a\",\"text\":\"A\"}\n\n{\"text\":\"no id\"}\n", 3, "\"id\"", "prepare: missing id refused at file:line"},
      {"{\"id\":\"\",\"text\":\"A\"}\n", 1, "\"id\"", "prepare: empty id refused"},
      {"{\"id\":5,\"text\":\"A\"}\n", 1, "\"id\"", "prepare: numeric id refused"},
      {"{\"id\":\"a\",\"text\":\"\"}\n", 1, "\"text\"", "prepare: empty text refused"},
      {"{\"id\":\"a\",\"text\":\"A\"\n", 1, "not a JSON record", "prepare: malformed JSON refused"},
      {"\"just a string\"\n", 1, "not a JSON object", "prepare: non-object refused"},
      {"{\"id\":\"a\",\"text\":\"\xff\"}\n", 1, "invalid UTF-8", "prepare: invalid UTF-8 refused"},
      {"{\"id\":\"a\",\"text\":\"\\udfff\"}\n", 1, "lone UTF-16 surrogate", "prepare: lone surrogate refused"},
  };
  char report[8192];
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    prism_failure err = {0};
    write_text(P("bad/in%zu.jsonl", i), bad[i].body);
    /* the output of an earlier good run must survive a refused input untouched */
    int rc = prepare(P("bad/in%zu.jsonl", i), P("g/out"), 1, &err);
    char where[64];
    snprintf(where, sizeof where, "in%zu.jsonl:%d: ", i, bad[i].line);
    check(rc == -1 && !strcmp(err.rule_id, "prism:data-invalid") && err.line == bad[i].line &&
              strstr(err.message, where) && strstr(err.message, bad[i].needle),
          bad[i].name, err.message);
  }
  check(verify_quiet(P("g/out"), NULL, report, sizeof report) == 0, "prepare: refused inputs left the output untouched", report);
  prism_failure err = {0};
  int rc = prepare(P("bad/absent.jsonl"), P("bad/out"), 0, &err);
  check(rc == -1 && !strcmp(err.rule_id, "prism:data-missing"), "prepare: unreadable input -> data-missing", err.message);
}

/* ---- verify ---- */

static void copy_tree(const char *from, const char *to) {
  char cmd[8400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s' '%s'", to, from, to);
  if (system(cmd) != 0) exit(2);
}

static void replace_in_file(const char *path, const char *from, const char *to) {
  size_t n;
  char *s = read_all(path, &n);
  char *at = s ? strstr(s, from) : NULL;
  if (!at) {
    free(s);
    return;
  }
  FILE *f = fopen(path, "wb");
  fwrite(s, 1, (size_t)(at - s), f);
  fputs(to, f);
  fputs(at + strlen(from), f);
  fclose(f);
  free(s);
}

static void expect_problem(const char *dir, const char *pin, const char *needle, const char *name) {
  char report[16384];
  int n = verify_quiet(dir, pin, report, sizeof report);
  check(n > 0 && strstr(report, needle) != NULL, name, n > 0 ? report : "no problem reported");
}

static void test_verify(void) {
  char clean[4096];
  snprintf(clean, sizeof clean, "%s", P("d/o3"));
  char report[16384];
  check(verify_quiet(clean, NULL, report, sizeof report) == 0 && strstr(report, "ok: "), "verify: clean dataset -> 0 problems",
        report);

  copy_tree(clean, P("v1"));
  replace_in_file(P("v1/train/train-00001.jsonl"), "text 7", "text 8"); /* same length */
  expect_problem(P("v1"), NULL, "train/train-00001.jsonl: sha256 mismatch", "verify: tampered shard (same length) -> sha256");

  copy_tree(clean, P("v2"));
  unlink(P("v2/val/val-00000.jsonl"));
  expect_problem(P("v2"), NULL, "val/val-00000.jsonl: listed shard is missing", "verify: missing shard");

  copy_tree(clean, P("v3"));
  write_text(P("v3/train/train-00009.jsonl"), "{\"id\":\"doc-000169\",\"text\":\"x\"}\n");
  expect_problem(P("v3"), NULL, "train/train-00009.jsonl: shard file not listed", "verify: extra shard");

  copy_tree(clean, P("v4"));
  replace_in_file(P("v4/MANIFEST.json"), "\"modulus\": 1000", "\"modulus\": 1024");
  expect_problem(P("v4"), NULL, "partition: not the canonical", "verify: altered modulus");

  copy_tree(clean, P("v5"));
  replace_in_file(P("v5/MANIFEST.json"), "949", "959");
  expect_problem(P("v5"), NULL, "partition: not the canonical", "verify: altered bucket ranges");

  copy_tree(clean, P("v6"));
  replace_in_file(P("v6/MANIFEST.json"), "\"val\": {", "\"valX\": {");
  expect_problem(P("v6"), NULL, "splits.val: split missing", "verify: split missing from MANIFEST.json");

  copy_tree(clean, P("v7"));
  expect_problem(P("v7"), "some-other-pin", "dataset.pin_sha: \"unpinned\", expected \"some-other-pin\"",
                 "verify: pin differs from the expected one");

  /* Re-partitioning with a self-consistent manifest: a train document appended to the val shard,
   * and the manifest's sha256, bytes, counts and fingerprint all updated to match. Only the
   * content check (ids must hash into their split) can see it. */
  copy_tree(P("g/out"), P("v8"));
  size_t n;
  char *val = read_all(P("v8/val/val-00001.jsonl"), &n);
  static const char extra[] = "{\"id\":\"doc-000169\",\"text\":\"train 0\"}\n";
  char *moved = malloc(n + sizeof extra);
  memcpy(moved, val, n);
  memcpy(moved + n, extra, sizeof extra - 1);
  size_t m = n + sizeof extra - 1;
  write_bytes(P("v8/val/val-00001.jsonl"), moved, m);
  char errbuf[256], new_sha[PRISM_SHA256_HEX];
  prism_sha256_hex(moved, m, new_sha);
  prism_json *man = prism_json_read_file(P("v8/MANIFEST.json"), 1 << 20, errbuf, sizeof errbuf);
  prism_json *vs = prism_json_path(man, "splits.val");
  prism_json *sh = prism_json_at(prism_json_get(vs, "shards"), 1);
  prism_json_set(sh, "sha256", prism_json_string(new_sha));
  prism_json_set(sh, "bytes", prism_json_int((int64_t)m));
  prism_json_set(sh, "doc_count", prism_json_int(prism_json_int_value(prism_json_get(sh, "doc_count")) + 1));
  prism_json_set(sh, "token_count", prism_json_int(prism_json_int_value(prism_json_get(sh, "token_count")) + 7));
  prism_json_set(vs, "doc_count", prism_json_int(prism_json_int_value(prism_json_get(vs, "doc_count")) + 1));
  prism_json_set(vs, "token_count", prism_json_int(prism_json_int_value(prism_json_get(vs, "token_count")) + 7));
  prism_json_set(vs, "byte_count", prism_json_int(prism_json_int_value(prism_json_get(vs, "byte_count")) + 7));
  const char *shas[2] = {prism_json_string_value(prism_json_get(prism_json_at(prism_json_get(vs, "shards"), 0), "sha256")),
                         new_sha};
  char fp[PRISM_SHA256_HEX];
  prism_data_split_fingerprint("val", shas, 2, fp);
  prism_json_set(vs, "fingerprint", prism_json_string(fp));
  char *text = prism_json_write(man, 2);
  write_text(P("v8/MANIFEST.json"), text);
  free(text);
  prism_json_free(man);
  free(val);
  free(moved);
  int problems = verify_quiet(P("v8"), NULL, report, sizeof report);
  check(problems == 1 && strstr(report, "val/val-00001.jsonl:2: id \"doc-000169\" hashes to bucket 0 (train), not val"),
        "verify: a train doc moved into val (consistent manifest) -> bucket", report);

  copy_tree(clean, P("v10"));
  replace_in_file(P("v10/MANIFEST.json"), "\"fingerprint\": \"", "\"fingerprint\": \"0");
  expect_problem(P("v10"), NULL, "fingerprint: drift", "verify: fingerprint drift");

  copy_tree(clean, P("v11"));
  replace_in_file(P("v11/val/val-00000.jsonl"), "\n", "\n\n"); /* a blank line: sha and size drift */
  expect_problem(P("v11"), NULL, "val/val-00000.jsonl: byte length mismatch", "verify: byte length drift");

  copy_tree(clean, P("v9"));
  unlink(P("v9/MANIFEST.json"));
  expect_problem(P("v9"), NULL, "MANIFEST.json:", "verify: missing MANIFEST.json");
  expect_problem(P("nowhere"), NULL, "not a directory", "verify: missing directory");
}

int main(void) {
  snprintf(root, sizeof root, "/tmp/prism_test_data_XXXXXX");
  if (!mkdtemp(root)) {
    perror("mkdtemp");
    return 2;
  }
  test_resolution();
  test_lenient();
  test_newlines();
  test_data_errors();
  test_line_cap();
  test_strict();
  test_buckets();
  test_prepare_golden();
  test_prepare_determinism();
  test_prepare_bad_inputs();
  test_verify();
  rm_rf(root);
  return check_summary();
}

/* test_tokenizer.c — the generic tokenizer API (runtime/tokenizer/tokenizer.h): the bytes
 * tokenizer's round trip and id checks; unknown names; a missing dir or file is
 * prism:tokenizer-missing naming the file and `scripts/stage-tokenizers DIR` (explicit dir and env
 * PRISM_REFERENCE_TOKENIZER_DIR); a wrong or tampered file is prism:tokenizer-checksum; the
 * verify walk used by `prism tokenizers verify`. When the reference files are staged (env
 * PRISM_REFERENCE_TOKENIZER_DIR, else the build's default dir) it also checks the GPT-2 and Llama
 * vectors of data-sources.md §1–§2 through the API, the whole-fixture token counts (41,210 GPT-2,
 * 45,591 Llama) and round trips, and a copy with one flipped byte; when they are not staged those
 * checks print "skipped: ..." and are not counted as passed. The backends also load from bytes
 * already in memory (tokenizer.c parses exactly the bytes it hashed): same ids as from the file,
 * and truncated or unterminated bytes are refused. */
#include "../../runtime/tokenizer/tokenizer.h"
#include "../../runtime/tokenizer/gpt2.h"
#include "../../runtime/tokenizer/llama.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHECK_NAME_WIDTH 70
#include "check.h"

static char tmpdir[256];

static void write_file(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  if (!f) {
    perror(path);
    exit(2);
  }
  fwrite(data, 1, len, f);
  fclose(f);
}

static char *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long sz = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)sz + 1);
  if (!buf || fread(buf, 1, (size_t)sz, f) != (size_t)sz) {
    fclose(f);
    free(buf);
    return NULL;
  }
  fclose(f);
  buf[sz] = '\0';
  *len = (size_t)sz;
  return buf;
}

static int encode_str(prism_tokenizer *t, const char *s, int64_t **ids, size_t *n, prism_failure *err) {
  size_t cap = 0;
  *ids = NULL;
  *n = 0;
  return prism_tokenizer_encode(t, s, strlen(s), ids, n, &cap, err);
}

static int ids_equal(const int64_t *got, size_t n, const int64_t *want, size_t wn) {
  if (n != wn) return 0;
  for (size_t i = 0; i < n; i++)
    if (got[i] != want[i]) return 0;
  return 1;
}

static void check_vector(prism_tokenizer *t, const char *text, const int64_t *want, size_t wn) {
  prism_failure err = {0};
  int64_t *ids;
  size_t n;
  char name[160], detail[512] = "";
  int rc = encode_str(t, text, &ids, &n, &err);
  int ok = rc == 0 && ids_equal(ids, n, want, wn);
  if (!ok) {
    size_t off = (size_t)snprintf(detail, sizeof detail, "rc %d, got [", rc);
    for (size_t i = 0; rc == 0 && i < n && off < sizeof detail - 24; i++)
      off += (size_t)snprintf(detail + off, sizeof detail - off, "%s%lld", i ? ", " : "", (long long)ids[i]);
    snprintf(detail + off, sizeof detail - off, "] %.200s", err.message);
  }
  char *dec = NULL;
  size_t dlen = 0;
  int round = rc == 0 && prism_tokenizer_decode(t, ids, n, &dec, &dlen, &err) == 0 && dlen == strlen(text) &&
              memcmp(dec, text, dlen) == 0;
  snprintf(name, sizeof name, "%s: \"%.40s\" -> pinned ids, decodes back", prism_tokenizer_name(t), text);
  for (char *c = name; *c; c++)
    if (*c == '\n') *c = ' ';
  check(ok && round, name, detail);
  free(dec);
  free(ids);
}

static void test_unknown_and_bytes(void) {
  prism_failure err = {0};
  prism_tokenizer *t = prism_tokenizer_open("gpt4", NULL, &err);
  check(!t && !strcmp(err.rule_id, "prism:tokenizer-unknown") && strstr(err.message, "gpt4"),
        "unknown name -> prism:tokenizer-unknown naming it", err.message);
  memset(&err, 0, sizeof err);
  t = prism_tokenizer_open("", NULL, &err);
  check(!t && !strcmp(err.rule_id, "prism:tokenizer-unknown"), "empty name -> prism:tokenizer-unknown", err.rule_id);

  /* bytes needs no staged files, so a dir that does not exist is fine */
  t = prism_tokenizer_open("BYTES", "/nonexistent/prism-tokenizers", &err);
  check(t && !strcmp(prism_tokenizer_name(t), "bytes") && prism_tokenizer_vocab_size(t) == 256,
        "bytes opens without files (case-insensitive), vocab 256", t ? NULL : err.message);
  if (!t) return;
  char all[256];
  for (int i = 0; i < 256; i++) all[i] = (char)i;
  int64_t *ids = NULL;
  size_t n = 0, cap = 0;
  int rc = prism_tokenizer_encode(t, "h\xc3\xa9", 3, &ids, &n, &cap, &err);
  rc |= prism_tokenizer_encode(t, all, sizeof all, &ids, &n, &cap, &err);
  int ok = rc == 0 && n == 259 && ids[0] == 'h' && ids[1] == 0xc3 && ids[2] == 0xa9;
  for (int i = 0; ok && i < 256; i++) ok = ids[3 + i] == i;
  check(ok, "bytes: encode appends; ids are the unsigned bytes (all 256)", NULL);
  char *out = NULL;
  size_t out_len = 0;
  rc = prism_tokenizer_decode(t, ids, n, &out, &out_len, &err);
  check(rc == 0 && out_len == 259 && !memcmp(out, "h\xc3\xa9", 3) && !memcmp(out + 3, all, 256) && out[259] == '\0',
        "bytes: decode(encode(x)) == x, NUL-terminated", rc ? err.message : NULL);
  free(out);
  int64_t bad[2] = {65, 256};
  rc = prism_tokenizer_decode(t, bad, 2, &out, &out_len, &err);
  check(rc != 0 && !out && !strcmp(err.rule_id, "prism:tokenizer-id") && strstr(err.message, "256"),
        "bytes: decode of id 256 -> prism:tokenizer-id", err.message);
  bad[1] = -1;
  rc = prism_tokenizer_decode(t, bad, 2, &out, &out_len, &err);
  check(rc != 0 && !strcmp(err.rule_id, "prism:tokenizer-id"), "bytes: decode of id -1 -> prism:tokenizer-id", NULL);
  rc = prism_tokenizer_decode(t, NULL, 0, &out, &out_len, &err);
  check(rc == 0 && out && out_len == 0, "bytes: decode of no ids is the empty string", NULL);
  free(out);
  free(ids);
  prism_tokenizer_free(t);
}

static void test_missing(void) {
  char empty[300], msg[64];
  snprintf(empty, sizeof empty, "%s/empty", tmpdir);
  mkdir(empty, 0755);
  const char *names[2] = {"gpt2", "llama"}, *files[2] = {"gpt2/gpt2.tiktoken", "llama/tokenizer.model"};
  for (int i = 0; i < 2; i++) {
    prism_failure err = {0};
    char want_cmd[400], name[120];
    snprintf(want_cmd, sizeof want_cmd, "`scripts/stage-tokenizers %s`", empty);
    prism_tokenizer *t = prism_tokenizer_open(names[i], empty, &err);
    snprintf(name, sizeof name, "%s: empty dir -> prism:tokenizer-missing, file + staging command", names[i]);
    check(!t && !strcmp(err.rule_id, "prism:tokenizer-missing") && strstr(err.message, files[i]) &&
              strstr(err.message, want_cmd),
          name, err.message);
    prism_tokenizer_free(t);
  }
  /* the env var is the fallback when no dir is given */
  const char *old = getenv("PRISM_REFERENCE_TOKENIZER_DIR");
  char *saved = old ? strdup(old) : NULL;
  setenv("PRISM_REFERENCE_TOKENIZER_DIR", empty, 1);
  prism_failure err = {0};
  prism_tokenizer *t = prism_tokenizer_open("llama", NULL, &err);
  check(!t && !strcmp(err.rule_id, "prism:tokenizer-missing") && strstr(err.message, empty),
        "dir NULL -> env PRISM_REFERENCE_TOKENIZER_DIR is used", err.message);
  check(!strcmp(prism_tokenizer_resolve_dir(NULL), empty) && !strcmp(prism_tokenizer_resolve_dir("x"), "x"),
        "resolve: explicit dir beats env, env beats default", NULL);
  unsetenv("PRISM_REFERENCE_TOKENIZER_DIR");
  check(!strcmp(prism_tokenizer_resolve_dir(NULL), prism_tokenizer_default_dir()) &&
            prism_tokenizer_default_dir()[0] == '/',
        "resolve: without env the build's absolute default dir", prism_tokenizer_default_dir());
  if (saved) setenv("PRISM_REFERENCE_TOKENIZER_DIR", saved, 1);
  free(saved);

  int problems = prism_tokenizers_verify(empty, NULL, &err);
  snprintf(msg, sizeof msg, "%d problems", problems);
  check(problems == 5 && !strcmp(err.rule_id, "prism:tokenizer-missing"),
        "verify on an empty dir: 4 pinned files + manifest missing", msg);

  /* a file that is present but is not the pinned one */
  char sub[400], path[500];
  snprintf(sub, sizeof sub, "%s/wrong", tmpdir);
  mkdir(sub, 0755);
  snprintf(path, sizeof path, "%s/gpt2", sub);
  mkdir(path, 0755);
  snprintf(path, sizeof path, "%s/gpt2/gpt2.tiktoken", sub);
  write_file(path, "SGVsbG8= 0\n", 11);
  t = prism_tokenizer_open("gpt2", sub, &err);
  check(!t && !strcmp(err.rule_id, "prism:tokenizer-checksum") && strstr(err.message, "306cd27f") &&
            strstr(err.message, "scripts/stage-tokenizers"),
        "gpt2: a different ranks file -> prism:tokenizer-checksum", err.message);
  prism_tokenizer_free(t);
}

/* Copies src to dst, flipping one byte in the middle when flip is set. */
static int copy_file(const char *src, const char *dst, int flip) {
  size_t len;
  char *buf = read_all(src, &len);
  if (!buf) return -1;
  if (flip && len) buf[len / 2] ^= 0x01;
  write_file(dst, buf, len);
  free(buf);
  return 0;
}

static void test_staged(const char *dir) {
  prism_failure err = {0};
  char msg[64];
  int problems = prism_tokenizers_verify(dir, NULL, &err);
  check(problems == 0, "verify: the staged dir is clean", problems ? err.message : NULL);

  /* a copy of the staged dir with one flipped byte in the llama model */
  char cp[300], src[600], dst[600];
  snprintf(cp, sizeof cp, "%s/tampered", tmpdir);
  mkdir(cp, 0755);
  snprintf(dst, sizeof dst, "%s/gpt2", cp);
  mkdir(dst, 0755);
  snprintf(dst, sizeof dst, "%s/llama", cp);
  mkdir(dst, 0755);
  const char *rels[] = {"gpt2/gpt2.tiktoken", "gpt2/encoder.json", "gpt2/vocab.bpe", "llama/tokenizer.model",
                        "reference_manifest.json"};
  int copied = 0;
  for (size_t i = 0; i < sizeof rels / sizeof *rels; i++) {
    snprintf(src, sizeof src, "%s/%s", dir, rels[i]);
    snprintf(dst, sizeof dst, "%s/%s", cp, rels[i]);
    copied += copy_file(src, dst, !strcmp(rels[i], "llama/tokenizer.model")) == 0;
  }
  check(copied == 5, "copied the staged dir for tampering", NULL);
  prism_tokenizer *t = prism_tokenizer_open("llama", cp, &err);
  check(!t && !strcmp(err.rule_id, "prism:tokenizer-checksum") && strstr(err.message, "llama/tokenizer.model") &&
            strstr(err.message, "9e556afd"),
        "llama: one flipped byte -> prism:tokenizer-checksum", err.message);
  prism_tokenizer_free(t);
  t = prism_tokenizer_open("gpt2", cp, &err);
  check(t != NULL, "gpt2 still opens from the copy (its file is intact)", t ? NULL : err.message);
  prism_tokenizer_free(t);
  problems = prism_tokenizers_verify(cp, NULL, &err);
  snprintf(msg, sizeof msg, "%d problems", problems);
  check(problems == 1 && !strcmp(err.rule_id, "prism:tokenizer-checksum"), "verify on the copy: exactly 1 problem",
        msg);

  /* the fixture sits beside this source: <root>/tests/fixtures/sample.txt */
  char fpath[1024];
  const char *src_file = __FILE__, *cut = strstr(src_file, "unit/test_tokenizer.c");
  snprintf(fpath, sizeof fpath, "%.*sfixtures/sample.txt", cut ? (int)(cut - src_file) : 0, src_file);
  size_t flen = 0;
  char *fixture = read_all(fpath, &flen);
  check(fixture && flen == 193890, "read the 193,890-byte fixture tests/fixtures/sample.txt", fpath);

  /* GPT-2 (data-sources.md §1) */
  t = prism_tokenizer_open("gpt2", dir, &err);
  check(t && prism_tokenizer_vocab_size(t) == 50257, "gpt2 opens from the staged dir, vocab 50257",
        t ? NULL : err.message);
  if (t) {
    check_vector(t, "Hello", (const int64_t[]){15496}, 1);
    check_vector(t, "Hello world", (const int64_t[]){15496, 995}, 2);
    check_vector(t, "The quick brown fox jumps over the lazy dog.",
                 (const int64_t[]){464, 2068, 7586, 21831, 18045, 625, 262, 16931, 3290, 13}, 10);
    check_vector(t, "I'm   here\n\nok", (const int64_t[]){40, 1101, 220, 220, 994, 198, 198, 482}, 8);
    int64_t *ids = NULL;
    size_t n = 0, cap = 0;
    char *dec = NULL;
    size_t dlen = 0;
    int rc = fixture ? prism_tokenizer_encode(t, fixture, flen, &ids, &n, &cap, &err) : -1;
    snprintf(msg, sizeof msg, "%zu tokens", n);
    check(rc == 0 && n == 41210, "gpt2: the 193,890-byte fixture is 41,210 tokens", msg);
    rc = rc == 0 ? prism_tokenizer_decode(t, ids, n, &dec, &dlen, &err) : -1;
    check(rc == 0 && dlen == flen && !memcmp(dec, fixture, flen), "gpt2: the fixture decodes back byte for byte", NULL);
    free(dec);
    free(ids);
    int64_t bad = 50257;
    rc = prism_tokenizer_decode(t, &bad, 1, &dec, &dlen, &err);
    check(rc != 0 && !strcmp(err.rule_id, "prism:tokenizer-id"), "gpt2: decode of id 50257 -> prism:tokenizer-id",
          err.message);
    prism_tokenizer_free(t);
  }

  /* Llama (data-sources.md §2) */
  t = prism_tokenizer_open("llama", dir, &err);
  check(t && prism_tokenizer_vocab_size(t) == 32000 && !strcmp(prism_tokenizer_name(t), "llama"),
        "llama opens from the staged dir, vocab 32000", t ? NULL : err.message);
  if (t) {
    check_vector(t, "Hello world!", (const int64_t[]){15043, 3186, 29991}, 3);
    check_vector(t, "The quick brown fox jumps over the lazy dog.",
                 (const int64_t[]){450, 4996, 17354, 1701, 29916, 432, 17204, 975, 278, 17366, 11203, 29889}, 12);
    int64_t *ids = NULL;
    size_t n = 0, cap = 0;
    int rc = encode_str(t, "\n", &ids, &n, &err);
    check(rc == 0 && n == 2 && ids[0] == 29871 && ids[1] == 13, "llama: \"\\n\" -> [29871, 13] (byte fallback <0x0A>)",
          NULL);
    free(ids);
    rc = encode_str(t, "给", &ids, &n, &err);
    check(rc == 0 && n == 2 && ids[0] == 29871 && ids[1] == 31999, "llama: \"给\" -> [29871, 31999], no BOS/EOS", NULL);
    free(ids);
    /* the fixture line by line, as the reference does per document: 45,591 tokens in all */
    ids = NULL;
    n = cap = 0;
    size_t total = 0, lines = 0, roundtrips = 0;
    for (size_t pos = 0; fixture && pos < flen;) {
      const char *nl = memchr(fixture + pos, '\n', flen - pos);
      size_t end = nl ? (size_t)(nl - fixture) + 1 : flen;
      n = 0;
      if (prism_tokenizer_encode(t, fixture + pos, end - pos, &ids, &n, &cap, &err) != 0) break;
      char *dec = NULL;
      size_t dlen = 0;
      if (prism_tokenizer_decode(t, ids, n, &dec, &dlen, &err) == 0 && dlen == end - pos &&
          !memcmp(dec, fixture + pos, dlen))
        roundtrips++;
      free(dec);
      total += n;
      lines++;
      pos = end;
    }
    free(ids);
    n = 0;
    ids = NULL;
    cap = 0;
    rc = fixture ? prism_tokenizer_encode(t, fixture, flen, &ids, &n, &cap, &err) : -1;
    snprintf(msg, sizeof msg, "%zu tokens", n);
    check(rc == 0 && n == 45591, "llama: the whole fixture is 45,591 tokens", msg);
    free(ids);
    snprintf(msg, sizeof msg, "%zu of %zu lines, %zu tokens", roundtrips, lines, total);
    check(lines == 112 && roundtrips == lines, "llama: every fixture line decodes back byte for byte", msg);
    int64_t bad[2] = {15043, 32000};
    char *dec = NULL;
    size_t dlen = 0;
    rc = prism_tokenizer_decode(t, bad, 2, &dec, &dlen, &err);
    check(rc != 0 && !dec && !strcmp(err.rule_id, "prism:tokenizer-id"),
          "llama: decode of id 32000 -> prism:tokenizer-id", err.message);
    prism_tokenizer_free(t);
  }
  free(fixture);
}

/* Loading from the hashed bytes (what prism_tokenizer_open does) gives the same tokenizer. */
static void test_from_bytes(const char *dir) {
  char path[600], err[512];
  size_t n = 0, cap = 0, len;
  int64_t *ids = NULL;
  snprintf(path, sizeof path, "%s/llama/tokenizer.model", dir);
  char *model = read_all(path, &len);
  prism_llama *l = model ? prism_llama_load_bytes("mem", model, len, err, sizeof err) : NULL;
  int rc = l ? prism_llama_encode(l, "Hello world!", 12, &ids, &n, &cap, err, sizeof err) : -1;
  check(rc == 0 && n == 3 && ids[0] == 15043 && ids[1] == 3186 && ids[2] == 29991,
        "llama from bytes: \"Hello world!\" -> [15043, 3186, 29991]", l ? NULL : err);
  prism_llama_free(l);
  l = model ? prism_llama_load_bytes("half", model, len / 2, err, sizeof err) : NULL;
  check(model && !l && strstr(err, "cannot load SentencePiece model half"), "llama from truncated bytes -> refused", err);
  free(model);

  snprintf(path, sizeof path, "%s/gpt2/gpt2.tiktoken", dir);
  char *ranks = read_all(path, &len);
  prism_gpt2 *g = ranks ? prism_gpt2_parse("mem", ranks, len, err, sizeof err) : NULL;
  n = 0;
  rc = g ? prism_gpt2_encode(g, "Hello world", 11, &ids, &n, &cap, err, sizeof err) : -1;
  check(rc == 0 && n == 2 && ids[0] == 15496 && ids[1] == 995, "gpt2 from bytes: \"Hello world\" -> [15496, 995]",
        g ? NULL : err);
  prism_gpt2_free(g);
  g = ranks ? prism_gpt2_parse("cut", ranks, len / 2, err, sizeof err) : NULL;
  check(ranks && !g && strstr(err, "cut: the ranks buffer must end with a NUL byte"), "gpt2 from unterminated bytes -> refused",
        err);
  if (ranks) ranks[len / 2] = '\0'; /* the first half, terminated: too few ranks */
  g = ranks ? prism_gpt2_parse("half", ranks, len / 2, err, sizeof err) : NULL;
  check(ranks && !g && strstr(err, "prism:tokenizer-format: half"), "gpt2 from half the ranks -> prism:tokenizer-format", err);
  free(ranks);
  free(ids);
}

int main(void) {
  snprintf(tmpdir, sizeof tmpdir, "%s/prism-test-tokenizer.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 2;
  }
  test_unknown_and_bytes();
  test_missing();

  const char *dir = prism_tokenizer_resolve_dir(NULL);
  if (prism_tokenizers_verify(dir, NULL, NULL) == 0) {
    test_staged(dir);
    test_from_bytes(dir);
  } else {
    printf("skipped: reference tokenizers are not staged at %s (run `scripts/stage-tokenizers %s` or set "
           "PRISM_REFERENCE_TOKENIZER_DIR): the gpt2/llama vectors, fixture counts and tamper checks did not run\n",
           dir, dir);
  }

  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
  return check_summary();
}

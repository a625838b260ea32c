/* test_bundle.c — intake (runtime/bundle.c, bundle_zip.c, bundle_yaml.c): one check per rule of
 * SPEC §2 on bundles built on the fly — folders, links, FIFOs and sockets in a temporary
 * directory, zips written with libzip in memory (bombs, encryption, link and device entries,
 * traversal names, truncated and foreign bytes) — plus the accepted layouts, prism.yaml in safe
 * mode, and the committed corpus in tests/bundles/ (each case's README.md names the expected
 * rule id). `test_bundle --emit-zips DIR` writes the zip cases (bundle_zips.h) to DIR as
 * CASE.zip with the expected rule id in CASE.expect, for the end-to-end test of `prism check`
 * (tests/e2e/bundles.sh). */
#define _GNU_SOURCE /* nftw */
#include "../../runtime/bundle_internal.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "bundle_zips.h"

#define CHECK_NAME_WIDTH 62
#include "check.h"
static char tmp_root[256];

/* Checks that loading failed with rule (or succeeded, rule == "ok"); frees the bundle. */
static void expect(prism_bundle *b, const prism_failure *err, const char *rule, const char *name) {
  char detail[1200];
  if (!strcmp(rule, "ok")) {
    snprintf(detail, sizeof detail, "%s%s%s", b ? "" : err->rule_id, b ? "" : ": ", b ? "" : err->message);
    check(b != NULL, name, detail);
  } else {
    snprintf(detail, sizeof detail, "%s: %s", b ? "(accepted)" : err->rule_id, b ? "" : err->message);
    check(!b && !strcmp(err->rule_id, rule), name, detail);
  }
  prism_bundle_free(b);
}

/* ---- directories ---- */

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb; (void)flag; (void)ftw;
  return remove(p);
}

static const char *case_dir(const char *name) {
  static char path[512];
  snprintf(path, sizeof path, "%s/%s", tmp_root, name);
  mkdir(path, 0755);
  return path;
}

static void mkdirs(char *path) {
  for (char *p = path + 1; *p; p++)
    if (*p == '/') { *p = '\0'; mkdir(path, 0755); *p = '/'; }
}

static void put_n(const char *dir, const char *rel, const void *data, size_t n) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, rel);
  mkdirs(path);
  FILE *f = fopen(path, "wb");
  if (!f) { fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno)); exit(2); }
  if (n) fwrite(data, 1, n, f);
  fclose(f);
}

static void put(const char *dir, const char *rel, const char *text) { put_n(dir, rel, text, strlen(text)); }

static void put_pair(const char *dir) {
  put(dir, "architecture.lua", ARCH);
  put(dir, "training.lua", TRAIN);
}

static prism_bundle *load_dir(const char *dir, prism_failure *err) { return prism_bundle_load(dir, err); }

/* ---- zips (cases in bundle_zips.h) ---- */

static void test_zip_cases(void) {
  for (int i = 0; i < N_ZCASES; i++) {
    size_t n;
    unsigned char *bytes = build_zip(zcases[i].build, &n);
    prism_failure err;
    char name[128];
    snprintf(name, sizeof name, "zip %s -> %s", zcases[i].name, zcases[i].expect);
    expect(prism_bundle_load_zip_memory(zcases[i].name, bytes, n, &err), &err, zcases[i].expect, name);
    if (zcases[i].build == z_bomb_one) {
      char d[64];
      snprintf(d, sizeof d, "archive %zu bytes", n);
      check(n < 64 * 1024, "zip bomb: 3 MB of zeros compress to a few KB", d);
    }
    free(bytes);
  }
}

/* A libzip source of n zeros that holds no buffer, so a huge bomb can be built cheaply. */
typedef struct zeros_src { zip_uint64_t n, pos; } zeros_src;

static zip_int64_t zeros_cb(void *ud, void *data, zip_uint64_t len, zip_source_cmd_t cmd) {
  zeros_src *z = ud;
  switch (cmd) {
  case ZIP_SOURCE_OPEN: z->pos = 0; return 0;
  case ZIP_SOURCE_READ: {
    zip_uint64_t k = z->n - z->pos < len ? z->n - z->pos : len;
    memset(data, 0, (size_t)k);
    z->pos += k;
    return (zip_int64_t)k;
  }
  case ZIP_SOURCE_STAT: {
    zip_stat_t *st = data;
    zip_stat_init(st);
    st->size = z->n;
    st->valid |= ZIP_STAT_SIZE;
    return sizeof *st;
  }
  case ZIP_SOURCE_ERROR: return 2 * sizeof(int);
  case ZIP_SOURCE_SUPPORTS:
    return zip_source_make_command_bitmap(ZIP_SOURCE_OPEN, ZIP_SOURCE_READ, ZIP_SOURCE_CLOSE, ZIP_SOURCE_STAT,
                                          ZIP_SOURCE_ERROR, ZIP_SOURCE_FREE, -1);
  default: return 0;
  }
}

static long peak_rss_kb(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

/* 128 MB of zeros in one entry: if intake trusted the entry and inflated it, the process's peak
 * memory would grow by 128 MB; reading in chunks against the budget keeps it near 2 MB. */
static void test_zip_bomb_memory(void) {
  static zeros_src zs = {128u << 20, 0};
  zb z;
  zb_open(&z);
  zb_pair(&z);
  zip_source_t *src = zip_source_function(z.za, zeros_cb, &zs);
  if (zip_file_add(z.za, "zeros.txt", src, 0) < 0) { fprintf(stderr, "zip_file_add: %s\n", zip_strerror(z.za)); exit(2); }
  size_t n;
  unsigned char *bytes = zb_close(&z, &n);
  long before = peak_rss_kb();
  prism_failure err;
  prism_bundle *b = prism_bundle_load_zip_memory("bomb128", bytes, n, &err);
  long grew = peak_rss_kb() - before;
  char d[1200];
  snprintf(d, sizeof d, "archive %zu bytes; peak RSS grew %ld KB; %s: %s", n, grew, b ? "accepted" : err.rule_id,
           b ? "" : err.message);
  check(!b && !strcmp(err.rule_id, "prism:bundle-size") && grew < 32 * 1024,
        "128 MB zip bomb rejected with peak memory growth under 32 MB", d);
  prism_bundle_free(b);
  free(bytes);
}

static void test_zip_accepted_details(void) {
  size_t n;
  unsigned char *bytes = build_zip(z_ok_nested, &n);
  prism_failure err;
  prism_bundle *b = prism_bundle_load_zip_memory("nested", bytes, n, &err);
  int ok = b && b->n_files == 4 && !strcmp(b->files[0].path, "architecture.lua") &&
           !strcmp(b->files[1].path, "lib/util.lua") && !strcmp(b->files[2].path, "prism.yaml") &&
           !strcmp(b->files[3].path, "training.lua") && !strcmp(b->name, "nested") &&
           b->display_name && !strcmp(b->display_name, "Nested zip");
  check(ok, "zip: single top folder stripped, files sorted, folder entry skipped", b ? "" : err.message);
  const prism_bundle_file *f = b ? prism_bundle_find(b, "lib/util.lua") : NULL;
  check(f && f->size == 10 && !memcmp(f->data, "return {}\n", 11), "zip: find() returns NUL-terminated bytes", "");
  check(b && !prism_bundle_find(b, "proj/lib/util.lua") && !prism_bundle_find(b, "missing.lua"),
        "zip: find() misses stripped and absent paths", "");
  check(b && b->total_bytes == strlen(ARCH) + strlen(TRAIN) + 10 + strlen("name: Nested zip\n"),
        "zip: total_bytes is the sum of file sizes", "");
  prism_bundle_free(b);
  free(bytes);

  /* The byte limit is judged on inflated bytes: lie about the size in both headers. */
  bytes = build_zip(z_bomb_one, &n);
  int patched = 0;
  for (size_t i = 0; i + 46 <= n; i++) {
    if (!memcmp(bytes + i, "PK\x03\x04", 4)) {
      size_t name_len = bytes[i + 26] | (size_t)bytes[i + 27] << 8;
      if (name_len == 9 && !memcmp(bytes + i + 30, "zeros.txt", 9)) { memcpy(bytes + i + 22, "\x64\0\0\0", 4); patched++; }
    } else if (!memcmp(bytes + i, "PK\x01\x02", 4)) {
      size_t name_len = bytes[i + 28] | (size_t)bytes[i + 29] << 8;
      if (name_len == 9 && !memcmp(bytes + i + 46, "zeros.txt", 9)) { memcpy(bytes + i + 24, "\x64\0\0\0", 4); patched++; }
    }
  }
  b = prism_bundle_load_zip_memory("liar", bytes, n, &err);
  char d[1200];
  snprintf(d, sizeof d, "patched %d headers; %s: %s", patched, b ? "accepted" : err.rule_id, b ? "" : err.message);
  check(patched == 2 && !b && (!strcmp(err.rule_id, "prism:bundle-size") || !strcmp(err.rule_id, "prism:bundle-zip")),
        "zip bomb whose headers claim 100 bytes is still rejected", d);
  prism_bundle_free(b);

  free(bytes);
  const char *sn[] = {"architecture.lua", "training.lua", "notes.md"}, *st[] = {ARCH, TRAIN, "# notes\n"};
  bytes = streamed_zip(sn, st, 3, &n);
  b = prism_bundle_load_zip_memory("streamed", bytes, n, &err);
  check(b && b->n_files == 3 && prism_bundle_find(b, "notes.md") && !strcmp((const char *)prism_bundle_find(b, "notes.md")->data, "# notes\n"),
        "streamed zip as `zip -` writes it (data descriptors) accepted", b ? "" : err.message);
  prism_bundle_free(b);
  free(bytes);
  /* A stored entry whose bytes no longer match its CRC. */
  zb zc;
  zb_open(&zc);
  zb_pair(&zc);
  zip_int64_t ci = zb_add(&zc, "stored.txt", "plain stored text to corrupt");
  zip_set_file_compression(zc.za, (zip_uint64_t)ci, ZIP_CM_STORE, 0);
  bytes = zb_close(&zc, &n);
  unsigned char *hit = memmem(bytes, n, "plain stored", 12);
  if (hit) hit[0] = 'P';
  b = prism_bundle_load_zip_memory("crc", bytes, n, &err);
  snprintf(d, sizeof d, "%s: %s", b ? "accepted" : err.rule_id, b ? "" : err.message);
  check(hit && !b && !strcmp(err.rule_id, "prism:bundle-zip"), "zip entry failing its CRC -> prism:bundle-zip", d);
  prism_bundle_free(b);
  free(bytes);
  /* A NUL inside an entry name (written over a real name in both headers). */
  zb z;
  zb_open(&z);
  zb_pair(&z);
  zb_add(&z, "abcd.lua", "return 1\n");
  bytes = zb_close(&z, &n);
  patched = 0;
  for (size_t i = 0; i + 8 <= n; i++)
    if (!memcmp(bytes + i, "abcd.lua", 8)) { bytes[i + 1] = '\0'; patched++; }
  b = prism_bundle_load_zip_memory("nul", bytes, n, &err);
  snprintf(d, sizeof d, "patched %d names; %s: %s", patched, b ? "accepted" : err.rule_id, b ? "" : err.message);
  check(patched == 2 && !b && !strcmp(err.rule_id, "prism:bundle-path"), "zip entry name with a NUL byte -> prism:bundle-path", d);
  prism_bundle_free(b);
  free(bytes);
  bytes = build_zip(z_bomb_one, &n);

  /* Truncated archive, foreign bytes, empty input, oversize archive. */
  b = prism_bundle_load_zip_memory("truncated", bytes, n / 2, &err);
  expect(b, &err, "prism:bundle-zip", "zip truncated at half its length -> prism:bundle-zip");
  free(bytes);
  bytes = build_zip(z_ok_nested, &n);
  b = prism_bundle_load_zip_memory("truncated", bytes, n - 10, &err);
  expect(b, &err, "prism:bundle-zip", "zip missing its last 10 bytes -> prism:bundle-zip");
  free(bytes);
  const char *text = "local M = {} -- this is Lua, not a zip archive, padded past 22 bytes\n";
  expect(prism_bundle_load_zip_memory("text", text, strlen(text), &err), &err, "prism:bundle-zip",
         "non-zip bytes -> prism:bundle-zip");
  expect(prism_bundle_load_zip_memory("empty", "", 0, &err), &err, "prism:bundle-zip", "empty input -> prism:bundle-zip");
  unsigned char *huge = calloc(PRISM_BUNDLE_MAX_ZIP_BYTES + 1, 1);
  expect(prism_bundle_load_zip_memory("huge", huge, PRISM_BUNDLE_MAX_ZIP_BYTES + 1, &err), &err, "prism:bundle-size",
         "zip of 7,500,001 bytes -> prism:bundle-size");
  check(strstr(err.message, "7,500,000") != NULL, "zip size message names the 7,500,000-byte limit", err.message);

  /* From a file: the name drops .zip; an oversize file is refused before it is read. */
  char path[512];
  snprintf(path, sizeof path, "%s/My-Bundle.ZIP", tmp_root);
  bytes = build_zip(z_ok_nested, &n);
  FILE *fz = fopen(path, "wb");
  fwrite(bytes, 1, n, fz);
  fclose(fz);
  free(bytes);
  b = prism_bundle_load(path, &err);
  check(b && !strcmp(b->name, "My-Bundle") && b->n_files == 4, "zip file on disk: loaded, name without .zip",
        b ? b->name : err.message);
  prism_bundle_free(b);
  snprintf(path, sizeof path, "%s/huge.zip", tmp_root);
  fz = fopen(path, "wb");
  fwrite(huge, 1, PRISM_BUNDLE_MAX_ZIP_BYTES + 1, fz);
  fclose(fz);
  free(huge);
  expect(prism_bundle_load(path, &err), &err, "prism:bundle-size", "zip file of 7,500,001 bytes on disk -> prism:bundle-size");
  snprintf(path, sizeof path, "%s/does-not-exist", tmp_root);
  expect(prism_bundle_load(path, &err), &err, "prism:bundle-path", "missing bundle path -> prism:bundle-path");
}

/* ---- directory rules ---- */

static void test_dir_rules(void) {
  prism_failure err;
  const char *d = case_dir("ok-defaults");
  put_pair(d);
  put(d, "README.md", "# notes\n");
  prism_bundle *b = load_dir(d, &err);
  int ok = b && !strcmp(b->name, "ok-defaults") && !strcmp(b->arch_path, "architecture.lua") &&
           !strcmp(b->arch_symbol, "build_model") && !strcmp(b->train_path, "training.lua") &&
           !strcmp(b->train_symbol, "train") && !b->kind && !b->tokenizer && !b->display_name && b->n_warnings == 0;
  check(ok, "dir without prism.yaml: defaults architecture.lua / training.lua", b ? "" : err.message);
  prism_bundle_free(b);

  d = case_dir("ok-top-folder");
  char sub[600];
  snprintf(sub, sizeof sub, "%s/inner", d);
  mkdir(sub, 0755);
  put_pair(sub);
  put(sub, "src/model.lua", "return {}\n");
  b = load_dir(d, &err);
  check(b && b->n_files == 3 && !strcmp(b->files[1].path, "src/model.lua") && !strcmp(b->name, "ok-top-folder"),
        "dir with one top-level folder: that folder is the root", b ? b->files[0].path : err.message);
  prism_bundle_free(b);

  char target[600];
  d = case_dir("symlink-file");
  put_pair(d);
  snprintf(target, sizeof target, "%s/link.lua", d);
  symlink("/etc/passwd", target);
  expect(load_dir(d, &err), &err, "prism:bundle-symlink", "dir: symlink to a file -> prism:bundle-symlink");
  check(!strcmp(err.file, "link.lua") && strstr(err.message, "link.lua"), "symlink message names the path", err.message);

  d = case_dir("symlink-folder");
  put_pair(d);
  snprintf(target, sizeof target, "%s/lib", d);
  symlink("/usr/share", target);
  expect(load_dir(d, &err), &err, "prism:bundle-symlink", "dir: symlink to a folder -> prism:bundle-symlink");

  d = case_dir("symlink-dangling");
  put_pair(d);
  snprintf(target, sizeof target, "%s/sub/dangling.lua", d);
  put(d, "sub/ok.lua", "return 1\n");
  symlink("nowhere.lua", target);
  expect(load_dir(d, &err), &err, "prism:bundle-symlink", "dir: dangling symlink in a subfolder -> prism:bundle-symlink");

  d = case_dir("fifo");
  put_pair(d);
  snprintf(target, sizeof target, "%s/pipe.txt", d);
  mkfifo(target, 0644);
  expect(load_dir(d, &err), &err, "prism:bundle-symlink", "dir: FIFO (never opened, never blocks) -> prism:bundle-symlink");
  check(strstr(err.message, "FIFO") != NULL, "FIFO message says what the file is", err.message);

  d = case_dir("socket");
  put_pair(d);
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s/s.txt", d);
  int bound = fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
  if (fd >= 0) close(fd);
  check(bound, "dir: unix socket created for the next check", strerror(errno));
  expect(load_dir(d, &err), &err, "prism:bundle-symlink", "dir: unix socket -> prism:bundle-symlink");

  d = case_dir("files-201");
  put_pair(d);
  for (int i = 0; i < 199; i++) {
    char name[32];
    snprintf(name, sizeof name, "f%03d.txt", i);
    put(d, name, "x");
  }
  expect(load_dir(d, &err), &err, "prism:bundle-files", "dir: 201 files -> prism:bundle-files");
  check(strstr(err.message, "200") != NULL, "file-count message names the 200-file limit", err.message);
  snprintf(target, sizeof target, "%s/f198.txt", d);
  unlink(target);
  expect(load_dir(d, &err), &err, "ok", "dir: exactly 200 files accepted");

  d = case_dir("bytes-over");
  put_pair(d);
  size_t n = PRISM_BUNDLE_MAX_BYTES - strlen(ARCH) - strlen(TRAIN) + 1;
  char *big = malloc(n);
  memset(big, 'b', n);
  put_n(d, "zbig.txt", big, n); /* read last, so it is the file that passes the limit */
  expect(load_dir(d, &err), &err, "prism:bundle-size", "dir: 2,000,001 bytes in total -> prism:bundle-size");
  check(strstr(err.message, "2,000,000") && strstr(err.message, "zbig.txt") && !strcmp(err.file, "zbig.txt"),
        "size message names the file and the limit", err.message);
  put_n(d, "zbig.txt", big, n - 1);
  expect(load_dir(d, &err), &err, "ok", "dir: exactly 2,000,000 bytes accepted");
  free(big);

  d = case_dir("suffix");
  put_pair(d);
  put(d, "tool.sh", "#!/bin/sh\n");
  expect(load_dir(d, &err), &err, "prism:bundle-suffix", "dir: tool.sh -> prism:bundle-suffix");
  check(strstr(err.message, "tool.sh") && strstr(err.message, ".lua .yaml"), "suffix message names the file and the allowed list",
        err.message);

  d = case_dir("deep");
  put_pair(d);
  char deep[1024] = "";
  for (int i = 0; i < PRISM_BUNDLE_MAX_DEPTH + 1; i++) strcat(deep, "d/");
  strcat(deep, "x.lua");
  put(d, deep, "return 1\n");
  expect(load_dir(d, &err), &err, "prism:bundle-path", "dir: 33 nested folders -> prism:bundle-path");

  d = case_dir("dup-backslash");
  put_pair(d);
  put(d, "a\\b.lua", "return 1\n");
  put(d, "a/b.lua", "return 2\n");
  expect(load_dir(d, &err), &err, "prism:bundle-path", "dir: 'a\\b.lua' next to 'a/b.lua' -> duplicate, prism:bundle-path");

  d = case_dir("control-name");
  put_pair(d);
  put(d, "bad\x1b[31m.lua", "return 1\n");
  expect(load_dir(d, &err), &err, "prism:bundle-path", "dir: escape character in a file name -> prism:bundle-path");
  check(strstr(err.message, "\\x1b") != NULL, "control characters are escaped in the message", err.message);

  d = case_dir("bad-utf8");
  put_pair(d);
  put(d, "caf\xe9.lua", "return 1\n");
  expect(load_dir(d, &err), &err, "prism:bundle-path", "dir: Latin-1 (invalid UTF-8) file name -> prism:bundle-path");

  d = case_dir("both-manifests");
  put_pair(d);
  put(d, "prism.yaml", "name: a\n");
  put(d, "prism.yml", "name: b\n");
  expect(load_dir(d, &err), &err, "prism:bundle-yaml", "dir: prism.yaml and prism.yml together -> prism:bundle-yaml");

  d = case_dir("empty");
  expect(load_dir(d, &err), &err, "prism:contract", "dir: empty folder -> prism:contract (missing architecture.lua)");
  check(strstr(err.message, "architecture.lua") != NULL, "missing-entrypoint message names the file", err.message);
}

/* ---- prism.yaml ---- */

static prism_bundle *with_yaml(const char *name, const char *yaml, prism_failure *err) {
  const char *d = case_dir(name);
  put_pair(d);
  put(d, "model.lua", ARCH);
  put(d, "loop.lua", TRAIN);
  put(d, "prism.yaml", yaml);
  return load_dir(d, err);
}

static void test_yaml(void) {
  prism_failure err;
  static const struct { const char *name, *yaml, *rule; } cases[] = {
      {"billion laughs", "a: &a [x, x]\nb: [*a, *a]\n", "prism:bundle-yaml"},
      {"alias without anchor", "a: *nothing\n", "prism:bundle-yaml"},
      {"anchor alone", "a: &anchor x\n", "prism:bundle-yaml"},
      {"python tag", "name: !!python/object/apply:os.system ['id']\n", "prism:bundle-yaml"},
      {"str tag", "name: !!str hello\n", "prism:bundle-yaml"},
      {"local tag", "name: !custom hello\n", "prism:bundle-yaml"},
      {"TAG directive", "%TAG !e! tag:example.com,2000:\n---\nname: x\n", "prism:bundle-yaml"},
      {"two documents", "name: a\n---\nname: b\n", "prism:bundle-yaml"},
      {"top-level list", "- architecture.lua\n- training.lua\n", "prism:bundle-yaml"},
      {"top-level scalar", "just some text\n", "prism:bundle-yaml"},
      {"syntax error", "name: \"unterminated\n", "prism:bundle-yaml"},
      {"flow syntax error", "tokenizer: gpt2\nextra: [a, b\n", "prism:bundle-yaml"},
      {"tab indentation error", "architecture:\n\tentrypoint: model.lua\n", "prism:bundle-yaml"},
      {"architecture not a mapping", "architecture: model.lua\n", "prism:bundle-yaml"},
      {"entrypoint not a string", "architecture:\n  entrypoint: [model.lua]\n", "prism:bundle-yaml"},
      {"entrypoint an integer", "training:\n  entrypoint: 12\n", "prism:bundle-yaml"},
      {"name an integer", "name: 2024\n", "prism:bundle-yaml"},
      {"name a boolean", "name: yes\n", "prism:bundle-yaml"},
      {"name a float", "name: 1.5\n", "prism:bundle-yaml"},
      {"tokenizer a list", "tokenizer: [gpt2]\n", "prism:bundle-yaml"},
      {"kind unsupported", "kind: everything\n", "prism:bundle-yaml"},
      {"duplicate key", "name: a\nname: b\n", "prism:bundle-yaml"},
      {"duplicate entrypoint", "architecture:\n  entrypoint: model.lua\n  entrypoint: architecture.lua\n", "prism:bundle-yaml"},
      {"mapping as key", "? {a: 1}\n: x\n", "prism:bundle-yaml"},
      {"entrypoint escapes root", "architecture:\n  entrypoint: ../model.lua\n", "prism:bundle-yaml"},
      {"entrypoint absolute", "architecture:\n  entrypoint: /model.lua\n", "prism:bundle-yaml"},
      {"entrypoint not .lua", "architecture:\n  entrypoint: notes.txt\n", "prism:bundle-yaml"},
      {"entrypoint empty symbol", "architecture:\n  entrypoint: \"model.lua::\"\n", "prism:bundle-yaml"},
      {"entrypoint bad symbol", "architecture:\n  entrypoint: \"model.lua::1x\"\n", "prism:bundle-yaml"},
      {"entrypoint keyword symbol", "architecture:\n  entrypoint: \"model.lua::end\"\n", "prism:bundle-yaml"},
      {"entrypoint no path", "architecture:\n  entrypoint: \"::build\"\n", "prism:bundle-yaml"},
      {"declared arch missing", "architecture:\n  entrypoint: nets/model.lua\n", "prism:contract"},
      {"declared train missing", "training:\n  entrypoint: train_loop.lua::run\n", "prism:contract"},
      {"same file twice", "architecture:\n  entrypoint: model.lua\ntraining:\n  entrypoint: ./model.lua::train\n", "prism:contract"},
      {"empty file", "", "ok"},
      {"comments only", "# nothing declared\n", "ok"},
      {"explicit null document", "---\n~\n", "ok"},
      {"quoted number name", "name: \"2024\"\n", "ok"},
      {"null sections", "architecture:\ntraining: ~\n", "ok"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char name[128], dir[64];
    snprintf(name, sizeof name, "prism.yaml %s -> %s", cases[i].name, cases[i].rule);
    snprintf(dir, sizeof dir, "yaml-%02zu", i);
    expect(with_yaml(dir, cases[i].yaml, &err), &err, cases[i].rule, name);
  }

  prism_bundle *b = with_yaml("yaml-alias-msg", "a: &a [x]\nb: [*a]\n", &err);
  check(!b && err.line == 1 && !strcmp(err.file, "prism.yaml") && strstr(err.message, "anchor"),
        "billion laughs fails at its first anchor, with file:line", err.message);
  prism_bundle_free(b);
  b = with_yaml("yaml-missing-msg", "architecture:\n  entrypoint: nets/model.lua\n", &err);
  check(!b && strstr(err.message, "nets/model.lua") && strstr(err.message, "no fallback") && err.line == 2,
        "declared-but-missing entrypoint names the declared path", err.message);
  prism_bundle_free(b);
  b = with_yaml("yaml-syntax-line", "name: ok\ntokenizer: gpt2\nkind: full\nextra: {a: [1, 2}\n", &err);
  check(!b && err.line == 4 && strstr(err.message, "not valid YAML"), "YAML syntax error carries its line", err.message);
  prism_bundle_free(b);

  for (int depth = 60; depth <= 70; depth += 10) {
    char nest[256] = "extra: ", name[96];
    for (int i = 0; i < depth; i++) strcat(nest, "[");
    strcat(nest, "x");
    for (int i = 0; i < depth; i++) strcat(nest, "]");
    strcat(nest, "\n");
    snprintf(name, sizeof name, "unknown key nested %d deep -> %s", depth, depth > 64 ? "prism:bundle-yaml" : "ok");
    expect(with_yaml(depth > 64 ? "yaml-nest-70" : "yaml-nest-60", nest, &err), &err, depth > 64 ? "prism:bundle-yaml" : "ok", name);
  }
  char *big = malloc(PRISM_BUNDLE_MAX_YAML_BYTES + 2);
  memset(big, ' ', PRISM_BUNDLE_MAX_YAML_BYTES + 1);
  big[0] = '#';
  big[PRISM_BUNDLE_MAX_YAML_BYTES] = '\n';
  big[PRISM_BUNDLE_MAX_YAML_BYTES + 1] = '\0';
  expect(with_yaml("yaml-big", big, &err), &err, "prism:bundle-yaml", "prism.yaml of 65,537 bytes -> prism:bundle-yaml");
  check(strstr(err.message, "65,536") != NULL, "yaml size message names the limit", err.message);
  big[PRISM_BUNDLE_MAX_YAML_BYTES - 1] = '\n';
  big[PRISM_BUNDLE_MAX_YAML_BYTES] = '\0';
  expect(with_yaml("yaml-at-limit", big, &err), &err, "ok", "prism.yaml of exactly 65,536 bytes accepted");
  free(big);

  b = with_yaml("yaml-declared",
                "architecture:\n  entrypoint: model.lua::make_model\ntraining:\n  entrypoint: './loop.lua'\n"
                "tokenizer: gpt2\nkind: training_for_arch\nname: \"  Tiny\\tdecoder <b>v2</b> \\u00e9 [fast] & small, really quite long indeed  \"\n",
                &err);
  check(b && !strcmp(b->arch_path, "model.lua") && !strcmp(b->arch_symbol, "make_model") &&
            !strcmp(b->train_path, "loop.lua") && !strcmp(b->train_symbol, "train"),
        "declared entrypoints honoured: path::symbol and default symbol", b ? b->arch_symbol : err.message);
  check(b && b->tokenizer && !strcmp(b->tokenizer, "gpt2") && b->kind && !strcmp(b->kind, "training_for_arch"),
        "tokenizer and kind recorded", "");
  check(b && b->display_name && !strcmp(b->display_name, "Tiny decoder bv2/b [fast] & small really quite l"),
        "name moderated: whitespace collapsed, charset filtered, 48 chars", b && b->display_name ? b->display_name : "(none)");
  check(b && b->n_warnings == 0, "no warnings for known keys", "");
  prism_bundle_free(b);

  b = with_yaml("yaml-unknown",
                "architecture_id: abc\narchitecture:\n  entrypoint: model.lua\n  factory: make\ntokenizer: mine\n", &err);
  int w0 = b && b->n_warnings == 3 && strstr(b->warnings[0], "'architecture_id'") &&
           strstr(b->warnings[0], "architecture, training, tokenizer, kind, name") && strstr(b->warnings[0], "prism.yaml:1");
  check(w0, "unknown top-level key: warning listing the known keys", b && b->n_warnings ? b->warnings[0] : err.message);
  check(b && b->n_warnings >= 2 && strstr(b->warnings[1], "architecture.factory") && strstr(b->warnings[1], "entrypoint"),
        "unknown key inside a section: warning listing its known key", b && b->n_warnings > 1 ? b->warnings[1] : "");
  check(b && b->n_warnings >= 3 && strstr(b->warnings[2], "mine"), "unrecognized tokenizer value: warning",
        b && b->n_warnings > 2 ? b->warnings[2] : "");
  prism_bundle_free(b);

  char many[4096] = "";
  for (int i = 0; i < 40; i++) {
    char line[32];
    snprintf(line, sizeof line, "k%02d: {x: [1, 2]}\n", i);
    strcat(many, line);
  }
  b = with_yaml("yaml-many-unknown", many, &err);
  check(b && b->n_warnings == 17 && strstr(b->warnings[16], "suppressed"), "many unknown keys: 16 warnings and a summary",
        b ? "" : err.message);
  prism_bundle_free(b);

  b = with_yaml("yaml-name-empty", "name: \"<<>>\"\n", &err);
  check(b && !b->display_name, "name with nothing allowed left: no display name", "");
  prism_bundle_free(b);
  const char *d = case_dir("yaml-yml-only");
  put(d, "nets/model.lua", ARCH);
  put(d, "training.lua", TRAIN);
  put(d, "prism.yml", "architecture:\n  entrypoint: nets/model.lua\n");
  b = load_dir(d, &err);
  check(b && !strcmp(b->arch_path, "nets/model.lua"), "prism.yml is read like prism.yaml", b ? "" : err.message);
  prism_bundle_free(b);

  d = case_dir("contract-empty-arch");
  put(d, "architecture.lua", " \n\t\n");
  put(d, "training.lua", TRAIN);
  expect(load_dir(d, &err), &err, "prism:contract", "blank architecture.lua -> prism:contract");
  check(strstr(err.message, "empty") && !strcmp(err.file, "architecture.lua"), "empty-entrypoint message names the file", err.message);
  d = case_dir("contract-empty-train");
  put(d, "architecture.lua", ARCH);
  put(d, "training.lua", "");
  expect(load_dir(d, &err), &err, "prism:contract", "zero-byte training.lua -> prism:contract");
  b = with_yaml("contract-same", "architecture:\n  entrypoint: model.lua\ntraining:\n  entrypoint: model.lua::train\n", &err);
  check(!b && strstr(err.message, "two distinct scripts"), "same file for both roles: distinct-file message", err.message);
  prism_bundle_free(b);
}

/* ---- internal helpers ---- */

static void test_normalize(void) {
  static const struct { const char *in, *out; } ok[] = {
      {"a.lua", "a.lua"}, {"./a.lua", "a.lua"}, {"a//b.lua", "a/b.lua"}, {"a\\b.lua", "a/b.lua"},
      {"a/./b/../c.lua", "a/c.lua"}, {"a/b/", "a/b"}, {"caf\xc3\xa9.lua", "caf\xc3\xa9.lua"}, {"...lua", "...lua"},
  };
  static const char *const bad[] = {"", ".", "./", "..", "../a", "a/../..", "/a", "\\a", "C:/a", "a\nb",
                                    "a\x7f", "\xc0\xaf.lua", "\xed\xa0\x80.lua", "\xff"};
  int good = 1;
  char out[PRISM_BUNDLE_MAX_PATH + 1], d[300] = "";
  for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
    const char *why;
    if (prism_bundle_normalize_path(ok[i].in, out, &why) || strcmp(out, ok[i].out)) { good = 0; snprintf(d, sizeof d, "%s", ok[i].in); }
  }
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    const char *why;
    if (!prism_bundle_normalize_path(bad[i], out, &why)) { good = 0; snprintf(d, sizeof d, "accepted bad #%zu", i); }
  }
  char longp[300];
  memset(longp, 'a', 256);
  strcpy(longp + 256, ".lua");
  const char *why;
  if (!prism_bundle_normalize_path(longp, out, &why)) good = 0;
  check(good, "path normalization: accepted forms and rejected forms", d);
  check(prism_bundle_suffix_allowed("A.Lua") && prism_bundle_suffix_allowed("x/y.YML") && !prism_bundle_suffix_allowed("x.lua.exe") &&
            !prism_bundle_suffix_allowed("lua") && !prism_bundle_suffix_allowed("x."),
        "suffix rule is case-insensitive and needs a suffix", "");
  char buf[32];
  check(!strcmp(prism_bundle_fmt_count(buf, 150912000), "150,912,000") && !strcmp(prism_bundle_fmt_count(buf, 999), "999") &&
            !strcmp(prism_bundle_fmt_count(buf, 1000), "1,000"),
        "thousands separators", buf);
  char *m1 = prism_bundle_moderate_name("  a\n\n b  "), *m2 = prism_bundle_moderate_name(" \t ");
  check(m1 && !strcmp(m1, "a b") && !m2, "name moderation collapses whitespace; blank -> none", m1 ? m1 : "");
  free(m1);
  free(m2);
}

/* ---- the committed corpus ---- */

static void test_corpus(void) {
  char root[1024];
  snprintf(root, sizeof root, "%s", __FILE__);
  char *slash = strrchr(root, '/');
  if (slash) strcpy(slash, "/../bundles");
  else snprintf(root, sizeof root, "tests/bundles");
  DIR *dir = opendir(root);
  check(dir != NULL, "corpus tests/bundles found", root);
  if (!dir) return;
  char *names[256];
  int n = 0;
  struct dirent *de;
  while ((de = readdir(dir)) && n < 256)
    if (de->d_name[0] != '.') names[n++] = strdup(de->d_name);
  closedir(dir);
  qsort(names, (size_t)n, sizeof *names, (int (*)(const void *, const void *))strcmp);
  int cases = 0;
  for (int i = 0; i < n; i++) {
    char readme[1400], bundle[1400], line[256], rule[128] = "";
    snprintf(readme, sizeof readme, "%s/%s/README.md", root, names[i]);
    snprintf(bundle, sizeof bundle, "%s/%s/bundle", root, names[i]);
    FILE *f = fopen(readme, "r");
    if (!f) { free(names[i]); continue; }
    while (fgets(line, sizeof line, f))
      if (sscanf(line, "Expected: `%127[^`]`", rule) == 1) break;
    fclose(f);
    char name[200];
    snprintf(name, sizeof name, "corpus %s -> %s", names[i], rule[0] ? rule : "(no Expected line)");
    prism_failure err;
    if (!rule[0]) check(0, name, readme);
    else expect(prism_bundle_load(bundle, &err), &err, rule, name);
    cases++;
    free(names[i]);
  }
  check(cases >= 10, "corpus holds at least 10 cases", "");
}

static int emit_zips(const char *dir) {
  mkdir(dir, 0755);
  for (int i = 0; i < N_ZCASES; i++) {
    size_t n;
    unsigned char *bytes = build_zip(zcases[i].build, &n);
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.zip", dir, zcases[i].name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(bytes, 1, n, f) != n) { fprintf(stderr, "cannot write %s\n", path); return 1; }
    fclose(f);
    snprintf(path, sizeof path, "%s/%s.expect", dir, zcases[i].name);
    f = fopen(path, "w");
    if (!f) { fprintf(stderr, "cannot write %s\n", path); return 1; }
    fprintf(f, "%s\n", zcases[i].expect);
    fclose(f);
    free(bytes);
  }
  printf("wrote %d zip cases to %s\n", N_ZCASES, dir);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 3 && !strcmp(argv[1], "--emit-zips")) return emit_zips(argv[2]);
  snprintf(tmp_root, sizeof tmp_root, "/tmp/prism_test_bundle.XXXXXX");
  if (!mkdtemp(tmp_root)) { perror("mkdtemp"); return 2; }
  test_normalize();
  test_zip_cases();
  test_zip_accepted_details();
  test_zip_bomb_memory();
  test_dir_rules();
  test_yaml();
  test_corpus();
  nftw(tmp_root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  return check_summary();
}

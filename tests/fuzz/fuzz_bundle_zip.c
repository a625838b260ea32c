/* fuzz_bundle_zip.c — libFuzzer target for bundle intake from zip bytes (runtime/bundle.c,
 * bundle_zip.c, bundle_yaml.c): prism_bundle_load_zip_memory runs the archive reader, the
 * admission checks, the layout checks, prism.yaml and the entrypoint resolution, i.e. everything
 * `prism check` does before any Lua runs. Properties checked beyond "no crash, no sanitizer
 * report, no leak":
 *   - a rejection carries one of intake's rule ids and a message;
 *   - an accepted bundle holds at most 200 files and at most 2,000,000 bytes (total_bytes is the
 *     sum of the file sizes), every file NUL-terminated;
 *   - every path obeys the path rules: non-empty, at most 255 bytes, relative, no empty / "." /
 *     ".." segment, no backslash, no control character, an allowed suffix; paths strictly
 *     increasing (sorted, no duplicates) and no path is a folder of another;
 *   - the contract resolved: two distinct .lua entrypoints present in the bundle, non-blank,
 *     symbols that are Lua identifiers; prism_bundle_find finds every file.
 *
 * Built only with -DPRISM_FUZZ=ON; see tests/fuzz/README.md. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bundle.h"

static void die(const char *what, const char *detail) {
  fprintf(stderr, "fuzz_bundle_zip: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
  abort();
}

static const char *const rules[] = {"prism:bundle-size", "prism:bundle-files", "prism:bundle-suffix",
                                    "prism:bundle-symlink", "prism:bundle-path", "prism:bundle-zip",
                                    "prism:bundle-yaml", "prism:contract"};

static int suffix_ok(const char *p) {
  static const char *const sfx[] = {".lua", ".yaml", ".yml", ".json", ".txt", ".md"};
  size_t n = strlen(p);
  for (size_t i = 0; i < sizeof sfx / sizeof *sfx; i++) {
    size_t k = strlen(sfx[i]);
    if (n > k && strcasecmp(p + n - k, sfx[i]) == 0) return 1;
  }
  return 0;
}

static void check_path(const char *p) {
  size_t n = strlen(p);
  if (n == 0 || n > 255) die("path empty or over 255 bytes", p);
  if (p[0] == '/' || strchr(p, '\\')) die("absolute path or backslash", p);
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f) die("control character in a path", p);
  for (const char *s = p;;) { /* segments */
    const char *e = strchr(s, '/');
    size_t len = e ? (size_t)(e - s) : strlen(s);
    if (len == 0 || (len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
      die("empty, '.' or '..' segment", p);
    if (!e) break;
    s = e + 1;
  }
  if (!suffix_ok(p)) die("suffix outside the allowed set", p);
}

static int lua_identifier(const char *s) {
  if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_')) return 0;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_')) return 0;
  return 1;
}

static void check_entry(const prism_bundle *b, const char *path, const char *symbol) {
  if (!path || !symbol) die("entrypoint not resolved", NULL);
  size_t n = strlen(path);
  if (n < 5 || strcasecmp(path + n - 4, ".lua") != 0) die("entrypoint is not a .lua file", path);
  if (!lua_identifier(symbol)) die("entrypoint symbol is not a Lua identifier", symbol);
  const prism_bundle_file *f = prism_bundle_find(b, path);
  if (!f) die("entrypoint not in the bundle", path);
  size_t i = 0;
  while (i < f->size && strchr(" \t\n\r\f\v", f->data[i]) && f->data[i]) i++;
  if (i == f->size) die("entrypoint script is blank", path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  prism_failure err;
  prism_bundle *b = prism_bundle_load_zip_memory("fuzz", data, size, &err);
  if (!b) {
    size_t k = 0;
    while (k < sizeof rules / sizeof *rules && strcmp(err.rule_id, rules[k])) k++;
    if (k == sizeof rules / sizeof *rules) die("rejection with an unexpected rule id", err.rule_id);
    if (!err.message[0]) die("rejection without a message", err.rule_id);
    return 0;
  }
  if (err.rule_id[0]) die("accepted bundle with a failure set", err.rule_id);
  if (b->n_files < 2 || b->n_files > 200) die("file count outside 2..200", NULL);
  size_t total = 0;
  for (int i = 0; i < b->n_files; i++) {
    const prism_bundle_file *f = &b->files[i];
    check_path(f->path);
    if (!f->data || f->data[f->size] != 0) die("file data not NUL-terminated", f->path);
    total += f->size;
    if (i > 0) {
      if (strcmp(b->files[i - 1].path, f->path) >= 0) die("paths not strictly sorted", f->path);
    }
    char folder[256];
    for (const char *s = strchr(f->path, '/'); s; s = strchr(s + 1, '/')) { /* each enclosing folder */
      memcpy(folder, f->path, (size_t)(s - f->path));
      folder[s - f->path] = '\0';
      if (prism_bundle_find(b, folder)) die("a file is also a folder", folder);
    }
    if (prism_bundle_find(b, f->path) != f) die("prism_bundle_find misses a file", f->path);
  }
  if (total != b->total_bytes || total > 2000000) die("total bytes wrong or over 2,000,000", NULL);
  check_entry(b, b->arch_path, b->arch_symbol);
  check_entry(b, b->train_path, b->train_symbol);
  if (strcmp(b->arch_path, b->train_path) == 0) die("architecture and training are one file", b->arch_path);
  prism_bundle_free(b);
  return 0;
}

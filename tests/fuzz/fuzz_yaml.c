/* fuzz_yaml.c — libFuzzer target for prism.yaml (runtime/bundle_yaml.c, safe-mode libyaml event
 * reader) and the entrypoint resolution that consumes it (runtime/bundle.c). Each input is parsed
 * as prism.yaml on its own, then placed as prism.yaml into a small fixed bundle (default
 * entrypoints plus src/model.lua and src/train.lua, so declared entrypoints can resolve) and run
 * through prism_bundle_finish, the last step of intake. Properties checked beyond "no crash, no
 * sanitizer report, no leak":
 *   - a rejected prism.yaml is prism:bundle-yaml with a message naming prism.yaml, and the bundle
 *     built around it is rejected the same way;
 *   - an accepted one has kind absent or one of full / architecture_only / training_for_arch, a
 *     moderated name (at most 48 characters of the allowed set, single inner spaces, trimmed),
 *     declared entrypoints with their line, at most 17 warnings each naming prism.yaml;
 *   - the bundle then fails only with prism:bundle-yaml or prism:contract, or resolves two
 *     distinct .lua entrypoints of the bundle with Lua-identifier symbols (the defaults when
 *     nothing is declared) and carries the parsed kind, tokenizer, name and warnings.
 *
 * Built only with -DPRISM_FUZZ=ON; see tests/fuzz/README.md. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle_internal.h"

#define YAML "prism.yaml"

static void die(const char *what, const char *detail) {
  fprintf(stderr, "fuzz_yaml: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
  abort();
}

static int same(const char *a, const char *b) { return (!a && !b) || (a && b && strcmp(a, b) == 0); }

static void add(prism_bundle_set *s, const char *path, const void *bytes, size_t n) {
  prism_failure err;
  unsigned char *d = malloc(n + 1);
  if (!d) die("out of memory", NULL);
  if (n) memcpy(d, bytes, n);
  d[n] = 0;
  if (prism_bundle_set_add(s, path, path, d, n, &err) != 0) die("set_add failed", err.message);
}

static void check_name(const char *n) {
  size_t len = strlen(n);
  if (len == 0 || len > 48) die("moderated name empty or over 48 characters", n);
  if (n[0] == ' ' || n[len - 1] == ' ' || strstr(n, "  ")) die("moderated name has untrimmed spaces", n);
  for (const char *p = n; *p; p++) {
    char c = *p;
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr(" -_.()[]/+&", c);
    if (!ok) die("moderated name keeps a disallowed character", n);
  }
}

static int lua_identifier(const char *s) {
  if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_')) return 0;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_')) return 0;
  return 1;
}

static void check_entry(const prism_bundle *b, const char *decl, const char *path, const char *symbol,
                        const char *def_path, const char *def_symbol) {
  size_t n = strlen(path);
  if (n < 5 || strcmp(path + n - 4, ".lua") != 0) die("entrypoint is not a .lua file", path);
  if (!lua_identifier(symbol)) die("entrypoint symbol is not a Lua identifier", symbol);
  if (!prism_bundle_find(b, path)) die("entrypoint not in the bundle", path);
  if (!decl && (strcmp(path, def_path) || strcmp(symbol, def_symbol))) die("undeclared entrypoint is not the default", path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  prism_failure err, err2;
  prism_bundle_manifest m;
  int rc = prism_bundle_parse_manifest(YAML, data, size, &m, &err);
  if (rc != 0) {
    if (strcmp(err.rule_id, "prism:bundle-yaml")) die("yaml rejection with another rule id", err.rule_id);
    if (strncmp(err.message, YAML, strlen(YAML))) die("yaml rejection does not name prism.yaml", err.message);
  } else {
    if (m.kind && strcmp(m.kind, "full") && strcmp(m.kind, "architecture_only") && strcmp(m.kind, "training_for_arch"))
      die("accepted an unsupported kind", m.kind);
    if (m.display_name) check_name(m.display_name);
    if ((m.arch_entry && m.arch_line < 1) || (m.train_entry && m.train_line < 1)) die("entrypoint without a line", NULL);
    if (m.n_warnings > 17) die("more than 17 warnings", NULL);
    for (int i = 0; i < m.n_warnings; i++)
      if (strncmp(m.warnings[i], YAML ":", strlen(YAML) + 1)) die("warning does not name prism.yaml", m.warnings[i]);
  }

  static const char arch[] = "return function() end\n", train[] = "local M = {}\nreturn M\n";
  prism_bundle_set s;
  memset(&s, 0, sizeof s);
  add(&s, "architecture.lua", arch, sizeof arch - 1);
  add(&s, "training.lua", train, sizeof train - 1);
  add(&s, "src/model.lua", arch, sizeof arch - 1);
  add(&s, "src/train.lua", train, sizeof train - 1);
  add(&s, "src/empty.lua", "\n", 1);
  add(&s, YAML, data, size);
  prism_bundle *b = prism_bundle_finish(&s, "fuzz", &err2);
  if (rc != 0) {
    if (b) die("bundle accepted with a rejected prism.yaml", NULL);
    if (strcmp(err2.rule_id, "prism:bundle-yaml")) die("bundle rejected a bad prism.yaml with another rule", err2.rule_id);
    return 0;
  }
  if (!b) {
    if (strcmp(err2.rule_id, "prism:bundle-yaml") && strcmp(err2.rule_id, "prism:contract"))
      die("bundle rejection with an unexpected rule id", err2.rule_id);
    if (!err2.message[0]) die("bundle rejection without a message", err2.rule_id);
  } else {
    check_entry(b, m.arch_entry, b->arch_path, b->arch_symbol, "architecture.lua", "build_model");
    check_entry(b, m.train_entry, b->train_path, b->train_symbol, "training.lua", "train");
    if (!strcmp(b->arch_path, b->train_path)) die("architecture and training are one file", b->arch_path);
    if (!strcmp(b->arch_path, "src/empty.lua") || !strcmp(b->train_path, "src/empty.lua"))
      die("a blank script was accepted as an entrypoint", NULL);
    if (!same(b->kind, m.kind) || !same(b->tokenizer, m.tokenizer) || !same(b->display_name, m.display_name) ||
        b->n_warnings != m.n_warnings)
      die("the bundle does not carry what prism.yaml declared", NULL);
    prism_bundle_free(b);
  }
  prism_bundle_manifest_clear(&m);
  return 0;
}

/* test_static_gate.c — the bytecode static gate (sandbox/static_gate.h): each rule with its
 * file:line, nested functions, every hit at once and sorted, requires of the stdlib and of
 * bundle files allowed, and no hit on the committed example and fixture bundles. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "check.h"
#include "static_gate.h"

/* A bundle of in-memory files (paths in byte order, as intake leaves them). */
static int scan_files(const char *const *pf, int n, prism_failure **hits) {
  prism_bundle b;
  memset(&b, 0, sizeof b);
  prism_bundle_file files[8];
  for (int i = 0; i < n; i++) {
    files[i].path = (char *)pf[2 * i];
    files[i].data = (unsigned char *)pf[2 * i + 1];
    files[i].size = strlen(pf[2 * i + 1]);
  }
  b.files = files;
  b.n_files = n;
  return prism_static_gate_scan(&b, hits);
}

static int scan_one(const char *src, prism_failure **hits) {
  const char *f[] = {"m.lua", src};
  return scan_files(f, 1, hits);
}

/* One file, one hit: rule and line as expected. */
static void expect_one(const char *name, const char *src, const char *rule, int line) {
  prism_failure *h = NULL;
  int n = scan_one(src, &h);
  char detail[1400] = "";
  if (n > 0) snprintf(detail, sizeof detail, "%d hit(s), first %s %s:%d: %s", n, h[0].rule_id, h[0].file, h[0].line, h[0].message);
  else snprintf(detail, sizeof detail, "%d hits", n);
  check(n == 1 && !strcmp(h[0].rule_id, rule) && h[0].line == line && !strcmp(h[0].file, "m.lua") && h[0].message[0],
        name, n == 1 && !strcmp(h[0].rule_id, rule) && h[0].line == line ? "" : detail);
  free(h);
}

static void expect_none(const char *name, const char *src) {
  prism_failure *h = NULL;
  int n = scan_one(src, &h);
  char detail[1400] = "";
  if (n > 0) snprintf(detail, sizeof detail, "%s %s:%d: %s", h[0].rule_id, h[0].file, h[0].line, h[0].message);
  check(n == 0, name, detail);
  free(h);
}

static void test_rules(void) {
  expect_one("io read -> no-filesystem", "local x = 1\nlocal f = io.open('x')\n", "prism:sandbox-no-filesystem", 2);
  expect_one("dofile -> no-filesystem", "\n\ndofile('x.lua')\n", "prism:sandbox-no-filesystem", 3);
  expect_one("loadfile -> no-filesystem", "local f = loadfile\n", "prism:sandbox-no-filesystem", 1);
  expect_one("package -> no-filesystem", "print(package.path)\n", "prism:sandbox-no-filesystem", 1);
  expect_one("os.remove -> no-filesystem", "os.remove('/x')\n", "prism:sandbox-no-filesystem", 1);
  expect_one("os.execute -> no-process", "local a\nos.execute('ls')\n", "prism:sandbox-no-process", 2);
  expect_one("os.exit -> no-process", "os.exit(0)\n", "prism:sandbox-no-process", 1);
  expect_one("os.getenv -> no-process", "local h = os.getenv('HOME')\n", "prism:sandbox-no-process", 1);
  expect_one("ffi global -> no-ffi", "local C = ffi.C\n", "prism:sandbox-no-ffi", 1);
  expect_one("require ffi -> no-ffi", "local ffi = require('ffi')\n", "prism:sandbox-no-ffi", 1);
  expect_one("jit -> no-ffi", "jit.off()\n", "prism:sandbox-no-ffi", 1);
  expect_one("load -> no-dynamic-code", "local f = load('return 1')\n", "prism:sandbox-no-dynamic-code", 1);
  expect_one("loadstring -> no-dynamic-code", "\nloadstring('x')()\n", "prism:sandbox-no-dynamic-code", 2);
  expect_one("setfenv -> no-dynamic-code", "setfenv(1, {})\n", "prism:sandbox-no-dynamic-code", 1);
  expect_one("getfenv -> no-dynamic-code", "local e = getfenv(2)\n", "prism:sandbox-no-dynamic-code", 1);
  expect_one("string.dump -> no-dynamic-code", "local s = string.dump(print)\n", "prism:sandbox-no-dynamic-code", 1);
  expect_one("debug -> no-debug", "local x\n\n\nlocal t = debug.getinfo(1)\n", "prism:sandbox-no-debug", 4);
  expect_one("require debug -> no-debug", "require 'debug'\n", "prism:sandbox-no-debug", 1);
  expect_one("require socket -> no-network", "local s = require('socket')\n", "prism:sandbox-no-network", 1);
  expect_one("require socket.http -> no-network", "local h = require('socket.http')\n", "prism:sandbox-no-network", 1);
  expect_one("socket global -> no-network", "socket.connect('x', 80)\n", "prism:sandbox-no-network", 1);
  expect_one("require unknown -> forbidden-module", "local l = require('lpeg')\n", "prism:forbidden-module", 1);
  expect_one("global write of io", "io = {}\n", "prism:sandbox-no-filesystem", 1);
  expect_one("_G.io -> no-filesystem", "local x = _G.io\n", "prism:sandbox-no-filesystem", 1);
  expect_one("_G['debug'] -> no-debug", "local x = _G['debug']\n", "prism:sandbox-no-debug", 1);
  expect_one("nested function, deep", "local function a()\n  return function()\n    return function()\n"
             "      return io.read()\n    end\n  end\nend\n", "prism:sandbox-no-filesystem", 4);
  expect_one("method body", "local M = {}\nfunction M:go()\n  self.x = 1\n  debug.sethook()\nend\nreturn M\n",
             "prism:sandbox-no-debug", 4);
  expect_one("syntax error -> prism:syntax", "local x = 1\nlocal y = = 2\n", "prism:syntax", 2);
}

static void test_allowed(void) {
  expect_none("os.clock allowed", "local t = os.clock()\nreturn t\n");
  expect_none("stdlib requires allowed", "local prism = require('prism')\nlocal nn = require 'prism.nn'\n"
              "local F = require('prism.nn.functional')\nlocal optim = require('prism.optim')\n");
  expect_none("string/table/math functions allowed", "local s = string.format('%d', 1)\nlocal t = {}\n"
              "table.insert(t, s)\nreturn math.floor(#t) + select('#', 1) + tonumber('1')\n");
  expect_none("locals named like forbidden globals", "local io, debug = {}, {}\nio.x = 1\nreturn debug.y\n");
  expect_none("fields named like forbidden globals", "local t = {io = 1, load = 2}\nreturn t.io + t.load, t.dump\n");
  expect_none("non-literal require not guessed", "local name = ...\nreturn require(name)\n");
}

static void test_bundle_requires(void) {
  const char *f[] = {"a.lua", "local u = require('lib.util')\nlocal i = require('lib')\nlocal m = require('missing')\n",
                     "lib/init.lua", "return {}\n", "lib/util.lua", "return {}\n"};
  prism_failure *h = NULL;
  int n = scan_files(f, 3, &h);
  check(n == 1 && !strcmp(h[0].rule_id, "prism:forbidden-module") && !strcmp(h[0].file, "a.lua") && h[0].line == 3 &&
            strstr(h[0].message, "missing"),
        "bundle modules (a/b.lua, a/init.lua) allowed, others forbidden", n >= 1 ? h[0].message : "no hit");
  free(h);
}

static void test_all_at_once(void) {
  const char *f[] = {"b.lua", "local x = debug\nlocal y = io\n", "a.lua",
                     "local f = require('ffi')\n\nlocal function g()\n  os.execute('x')\nend\nload('x')\n", "c.lua",
                     "return 1 +\n"};
  prism_failure *h = NULL;
  int n = scan_files(f, 3, &h);
  const char *want[][2] = {{"a.lua", "prism:sandbox-no-ffi"},        {"a.lua", "prism:sandbox-no-process"},
                           {"a.lua", "prism:sandbox-no-dynamic-code"}, {"b.lua", "prism:sandbox-no-debug"},
                           {"b.lua", "prism:sandbox-no-filesystem"},  {"c.lua", "prism:syntax"}};
  int lines[] = {1, 4, 6, 1, 2, 0};
  bool ok = n == 6;
  for (int i = 0; ok && i < 6; i++)
    ok = !strcmp(h[i].file, want[i][0]) && !strcmp(h[i].rule_id, want[i][1]) && (!lines[i] || h[i].line == lines[i]);
  char detail[256];
  snprintf(detail, sizeof detail, "%d hits", n);
  check(ok, "every hit at once, sorted by file then line (syntax errors too)", detail);
  free(h);
}

static bool is_dir(const char *p) {
  DIR *d = opendir(p);
  if (d) closedir(d);
  return d != NULL;
}

/* Adds dir's .lua files that b does not have yet. */
static void add_lua_files(prism_bundle *b, const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *de;
  while ((de = readdir(d)) && b->n_files < 64) {
    size_t len = strlen(de->d_name);
    if (len < 5 || strcmp(de->d_name + len - 4, ".lua")) continue;
    bool have = false;
    for (int i = 0; i < b->n_files; i++) have = have || !strcmp(b->files[i].path, de->d_name);
    if (have) continue;
    char sub[2700];
    snprintf(sub, sizeof sub, "%s/%s", dir, de->d_name);
    FILE *fp = fopen(sub, "rb");
    if (!fp) continue;
    prism_bundle_file *f = &b->files[b->n_files++];
    f->path = strdup(de->d_name);
    f->data = calloc(1, 1 << 20);
    f->size = fread(f->data, 1, (1 << 20) - 1, fp);
    fclose(fp);
  }
  closedir(d);
}

/* A bundle through intake (the folder, or its bundle/ subfolder); else, for the partial
 * fixtures that tests merge at run time, the folder's own .lua files plus those of the sibling
 * e2e-common/ it lacks (what assemble_bundles in tests/e2e/lib/common.bash does). */
static prism_bundle *load_tree(const char *bp) {
  prism_failure err;
  prism_bundle *b = prism_bundle_load(bp, &err);
  char sub[2700];
  snprintf(sub, sizeof sub, "%s/bundle", bp);
  if (!b && is_dir(sub)) b = prism_bundle_load(sub, &err);
  if (b) return b;
  if (!is_dir(bp)) return NULL;
  b = calloc(1, sizeof *b);
  b->files = calloc(64, sizeof *b->files);
  add_lua_files(b, bp);
  snprintf(sub, sizeof sub, "%s/../e2e-common", bp);
  add_lua_files(b, sub);
  return b;
}

/* Every bundle under root/dir whose name starts with prefix: zero hits. */
static void scan_tree(const char *root, const char *dir, const char *prefix, int *scanned) {
  char path[2048];
  snprintf(path, sizeof path, "%s/%s", root, dir);
  DIR *d = opendir(path);
  if (!d) return;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (de->d_name[0] == '.' || strncmp(de->d_name, prefix, strlen(prefix))) continue;
    char bp[2600];
    snprintf(bp, sizeof bp, "%s/%s", path, de->d_name);
    if (!is_dir(bp)) continue;
    prism_bundle *b = load_tree(bp);
    if (!b) continue;
    prism_failure *h = NULL;
    int n = prism_static_gate_scan(b, &h);
    char name[300], detail[1400] = "";
    snprintf(name, sizeof name, "no hit: %s/%s", dir, de->d_name);
    if (n != 0) snprintf(detail, sizeof detail, "%d: %s %s:%d %s", n, h ? h[0].rule_id : "", h ? h[0].file : "",
                         h ? h[0].line : 0, h ? h[0].message : "");
    check(n == 0, name, detail);
    (*scanned)++;
    free(h);
    prism_bundle_free(b);
  }
  closedir(d);
}

static void test_no_false_positives(void) {
  char root[1024];
  snprintf(root, sizeof root, "%s", __FILE__);
  char *slash = strrchr(root, '/');
  if (slash) strcpy(slash, "/../..");
  int scanned = 0;
  scan_tree(root, "examples", "tiny", &scanned);
  scan_tree(root, "tests/fixtures/bundles", "", &scanned);
  scan_tree(root, "tests/bundles", "ok-", &scanned);
  char detail[64];
  snprintf(detail, sizeof detail, "%d bundles", scanned);
  check(scanned >= 10, "example and fixture bundles found", detail);
}

int main(void) {
  test_rules();
  test_allowed();
  test_bundle_requires();
  test_all_at_once();
  test_no_false_positives();
  return check_summary();
}

/* child_harness.h — helpers for the tests of the child jobs (test_instrument.c,
 * test_sandbox.c): temporary bundles and data directories, a default evaluation config, and
 * running prism_child_run / _static / _heldout in a forked process whose report records come
 * back through a pipe and are parsed with prism_report_parse, as the parent does.
 * Header-only (static functions): each test binary includes it once. */
#ifndef PRISM_TEST_CHILD_HARNESS_H
#define PRISM_TEST_CHILD_HARNESS_H

#define _GNU_SOURCE
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bundle.h"
#include "child.h"
#include "report.h"

static __attribute__((unused)) int h_passed, h_failed;

static __attribute__((unused)) void check(int ok, const char *name, const char *fmt, ...) {
  if (ok) {
    h_passed++;
    printf("ok - %s\n", name);
    return;
  }
  h_failed++;
  printf("FAIL - %s: ", name);
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  printf("\n");
}

/* Everything the helpers allocate lives until finish_tests, which frees it and removes the
 * temporary directories. */
static __attribute__((unused)) char *h_dirs[4096];
static __attribute__((unused)) int h_n_dirs;
static __attribute__((unused)) prism_bundle *h_bundles[1024];
static __attribute__((unused)) int h_n_bundles;

static __attribute__((unused)) int h_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(path);
}

static __attribute__((unused)) int finish_tests(void) {
  for (int i = 0; i < h_n_dirs; i++) {
    nftw(h_dirs[i], h_rm, 16, FTW_DEPTH | FTW_PHYS);
    free(h_dirs[i]);
  }
  for (int i = 0; i < h_n_bundles; i++) prism_bundle_free(h_bundles[i]);
  printf("%d passed, %d failed\n", h_passed, h_failed);
  return h_failed ? 1 : 0;
}

static __attribute__((unused)) char *h_tmpdir(void) {
  char *p = strdup("/tmp/prism-child-test-XXXXXX");
  if (!p || !mkdtemp(p) || h_n_dirs == (int)(sizeof h_dirs / sizeof *h_dirs)) {
    perror("mkdtemp");
    exit(2);
  }
  h_dirs[h_n_dirs++] = p;
  return p;
}

static __attribute__((unused)) void h_write(const char *dir, const char *name, const char *content) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  char *slash = strrchr(path, '/');
  if (slash && slash > path + strlen(dir)) { /* nested: create the directory */
    *slash = '\0';
    mkdir(path, 0755);
    *slash = '/';
  }
  FILE *f = fopen(path, "wb");
  if (!f) {
    perror(path);
    exit(2);
  }
  fputs(content, f);
  fclose(f);
}

static __attribute__((unused)) char *h_read(const char *dir, const char *name) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *buf = calloc(1, 1 << 20);
  size_t n = fread(buf, 1, (1 << 20) - 1, f);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

static __attribute__((unused)) int h_exists(const char *dir, const char *name) {
  char path[1024];
  struct stat st;
  snprintf(path, sizeof path, "%s/%s", dir, name);
  return lstat(path, &st) == 0;
}

/* A bundle directory with architecture.lua and training.lua (plus extra name/content pairs,
 * NULL-terminated), loaded through intake. Exits the test on an intake failure. */
static __attribute__((unused)) prism_bundle *h_bundle(const char *arch, const char *train, ...) {
  char *dir = h_tmpdir();
  char path[1024];
  snprintf(path, sizeof path, "%s/sub", dir);
  mkdir(path, 0755);
  if (arch) h_write(path, "architecture.lua", arch);
  if (train) h_write(path, "training.lua", train);
  va_list ap;
  va_start(ap, train);
  for (;;) {
    const char *name = va_arg(ap, const char *);
    if (!name) break;
    h_write(path, name, va_arg(ap, const char *));
  }
  va_end(ap);
  prism_failure err;
  memset(&err, 0, sizeof err);
  prism_bundle *b = prism_bundle_load(path, &err);
  if (!b || h_n_bundles == (int)(sizeof h_bundles / sizeof *h_bundles)) {
    fprintf(stderr, "bundle intake failed: %s: %s\n", err.rule_id, err.message);
    exit(2);
  }
  h_bundles[h_n_bundles++] = b;
  return b;
}

/* A train directory with one shard train-00000.jsonl of n lines of the reference's fixture
 * sentence ("the locked fineweb-edu train split sample sentence i"). */
static __attribute__((unused)) char *h_data(int n) {
  char *dir = h_tmpdir();
  size_t cap = (size_t)n * 128 + 1;
  char *buf = calloc(1, cap);
  size_t o = 0;
  for (int i = 0; i < n; i++)
    o += (size_t)snprintf(buf + o, cap - o,
                          "{\"id\":\"doc-%d\",\"text\":\"the locked fineweb-edu train split sample sentence %d\"}\n", i, i);
  h_write(dir, "train-00000.jsonl", buf);
  free(buf);
  return dir;
}

static __attribute__((unused)) void h_config(prism_eval_config *c, const prism_bundle *b, const char *data_dir) {
  memset(c, 0, sizeof *c);
  c->bundle = b;
  c->data_dir = data_dir;
  c->val_dir = NULL;
  c->artifacts_dir = h_tmpdir();
  c->device = "cpu";
  c->seed = 1337;
  c->vocab_size = 128;
  c->seq_len = 16;
  c->max_params = 5000000;
  c->max_layers = 96;
  c->token_budget = -1;
  c->step_budget = -1;
  c->time_budget = 0;
  c->grace = 60;
  c->artifacts_quota = (int64_t)1 << 30;
  c->heldout_bytes = 65536;
  c->threads = 1;
  c->world_size = 1;
  c->rank = 0;
}

enum { JOB_RUN, JOB_STATIC, JOB_HELDOUT };

/* Runs one child job in a forked process; fills rec from its records. Returns the exit status
 * (or -1). The raw records are kept in *raw when raw is not NULL. */
static __attribute__((unused)) int h_job(int which, const prism_eval_config *cfg, prism_run_record *rec, char **raw) {
  int p[2];
  if (pipe(p) != 0) return -1;
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    close(p[0]);
    int rc = which == JOB_RUN ? prism_child_run(cfg, p[1]) : which == JOB_STATIC ? prism_child_static(cfg, p[1])
                                                                                 : prism_child_heldout(cfg, p[1]);
    if (getenv("PRISM_TEST_CHILD_LEAKCHECK")) exit(rc); /* let LeakSanitizer see the child's exit */
    _exit(rc);
  }
  close(p[1]);
  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap);
  for (;;) {
    if (len + 4096 > cap) buf = realloc(buf, cap *= 2);
    ssize_t n = read(p[0], buf + len, cap - len - 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    len += (size_t)n;
  }
  buf[len] = '\0';
  close(p[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  prism_run_record_init(rec);
  prism_report_parse(rec, buf, len);
  if (raw) *raw = buf;
  else free(buf);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Lua sources shared by the tests. */
#define ARCH_TINY                                                                      \
  "local nn = require('prism.nn')\n"                                                   \
  "local M = {}\n"                                                                     \
  "local TinyLM = nn.Module:extend('TinyLM')\n"                                        \
  "function TinyLM:init(V, d) self.emb = nn.Embedding(V, d); self.head = nn.Linear(d, V) end\n" \
  "function TinyLM:forward(t) return self.head(self.emb(t)) end\n"                     \
  "function M.build_model(ctx) return TinyLM(ctx.vocab_size, 8) end\n"                 \
  "return M\n"

/* A learner: AdamW on next-token cross-entropy over every batch. OPTS is the options table. */
#define TRAIN_LEARNER(OPTS)                                                             \
  "local optim = require('prism.optim')\n"                                              \
  "local F = require('prism.nn.functional')\n"                                          \
  "local M = {}\n"                                                                      \
  "function M.train(ctx)\n"                                                             \
  "  local model = ctx:build_model()\n"                                                 \
  "  local opt = optim.AdamW(model:parameters(), {lr = 1e-2})\n"                        \
  "  for batch in ctx:iter_train_batches(model, " OPTS ") do\n"                         \
  "    local t = batch.tokens\n"                                                        \
  "    local T = t:size(2)\n"                                                           \
  "    opt:zero_grad()\n"                                                               \
  "    local logits = model(t:narrow(2, 1, T - 1))\n"                                   \
  "    local loss = F.cross_entropy(logits:reshape(-1, ctx.vocab_size), t:narrow(2, 2, T - 1):reshape(-1))\n" \
  "    loss:backward()\n"                                                               \
  "    opt:step()\n"                                                                    \
  "  end\n"                                                                             \
  "end\n"                                                                               \
  "return M\n"

#endif

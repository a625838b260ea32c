/* bench/jit_policy.c — what the JIT policy of submission states costs (issue 5, sandbox/hook.c).
 *
 * Times, in a real restricted state (prism_sandbox_new over a bundle holding
 * examples/tiny-1m/architecture.lua), under each jit_policy of prism_sandbox_opts:
 *   hook    the interpreter + the wall-clock count hook (what prism runs; deadline an hour away,
 *           so the hook reads the clock every N instructions but never fires),
 *   interp  the interpreter without the hook,
 *   jit     LuaJIT's JIT on, no hook;
 * (1) the tiny-1m training step as a scored run performs it: the instrument's no-grad predict
 *     forward, then forward / backward / clip_grad_norm 1.0 / AdamW lr 5e-3, on [4, 128] batches
 *     of synthetic token ids (math.random over the vocabulary of 4096, drawn once before timing,
 *     8 batches cycled: the ids do not change the work of a dense model);
 * (2) pure-Lua micro-benchmarks, where the JIT matters: a numeric loop, and a byte loop over a
 *     string into a table (the shape of a tokenizer written in Lua).
 * Prints ms per step and per loop for each policy and round, the medians over the rounds, and
 * the ratios of the medians to `hook`.
 *
 * usage: jit_policy [--steps N] [--warmup K] [--rounds R] [--threads T] [--iters M]
 *                   [--counts C1,C2,...]
 *   defaults: 20 timed steps, 3 warm-up, 3 rounds, 1 thread, 10^7 loop iterations; --counts
 *   also times the loops under the hook with each instruction count between clock reads. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>

#include "backend.h"
#include "bundle.h"
#include "clock.h"
#include "rng.h"
#include "state.h"

/* The bench's side of the bundle, run in the submission environment like a training.lua. */
static const char BENCH_LUA[] =
    "local prism = require('prism')\n"
    "local optim = require('prism.optim')\n"
    "local arch = require('architecture')\n"
    "local M = {}\n"
    "local model, params, opt, batches\n"
    "function M.setup(vocab, B, T)\n"
    "  model = arch.build_model({vocab_size = vocab, max_seq_len = T})\n"
    "  params = model:parameters()\n"
    "  opt = optim.AdamW(params, {lr = 5e-3})\n"
    "  batches = {}\n"
    "  for k = 1, 8 do\n"
    "    local rows = {}\n"
    "    for b = 1, B do local row = {}; for t = 1, T do row[t] = math.random(vocab) - 1 end; rows[b] = row end\n"
    "    batches[k] = prism.tensor(rows, {dtype = 'int64'})\n"
    "  end\n"
    "  local n = 0\n"
    "  for _, p in ipairs(params) do n = n + p:numel() end\n"
    "  return n\n"
    "end\n"
    "function M.step(k)\n"
    "  local tokens = batches[k % 8 + 1]\n"
    "  prism.no_grad(function() return model:loss(tokens):item() end)\n"
    "  opt:zero_grad()\n"
    "  local loss = model:loss(tokens)\n"
    "  loss:backward()\n"
    "  optim.clip_grad_norm(params, 1.0)\n"
    "  opt:step()\n"
    "  return loss:item()\n"
    "end\n"
    "function M.numeric(n)\n"
    "  local s = 0\n"
    "  for i = 1, n do s = (s + i * 7) % 1000003 end\n"
    "  return s\n"
    "end\n"
    "function M.bytes(n)\n"
    "  local text = string.rep('the quick brown fox jumps over the lazy dog. ', 64)\n"
    "  local counts, len, s = {}, #text, 0\n"
    "  for i = 1, n / 10 do\n"
    "    local c = text:byte(i % len + 1)\n"
    "    counts[c] = (counts[c] or 0) + 1\n"
    "  end\n"
    "  for _, v in ipairs(counts) do s = s + v end\n"
    "  return s\n"
    "end\n"
    "return M\n";

static const char *const POLICY_NAMES[] = {"hook", "interp", "jit"};

static void die(const char *what, const char *detail) {
  fprintf(stderr, "jit_policy: %s: %s\n", what, detail ? detail : "");
  exit(1);
}

static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) die("cannot open", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = calloc(1, (size_t)n + 1);
  if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) die("cannot read", path);
  fclose(f);
  return buf;
}

static void write_file(const char *dir, const char *name, const char *text) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f || fputs(text, f) < 0 || fclose(f) != 0) die("cannot write", path);
}

/* Calls M[fn](arg) (M at index 1), returning the first result as a number; dies on an error. */
static double call(lua_State *L, const char *fn, double a, double b, double c, int nargs) {
  lua_getfield(L, 1, fn);
  lua_pushnumber(L, a);
  lua_pushnumber(L, b);
  lua_pushnumber(L, c);
  lua_pop(L, 3 - nargs);
  if (lua_pcall(L, nargs, 1, 0) != 0) die(fn, lua_tostring(L, -1));
  double r = lua_tonumber(L, -1);
  lua_pop(L, 1);
  return r;
}

typedef struct result {
  double step_ms, numeric_ms, bytes_ms, loss;
} result;

static lua_State *open_state(const prism_bundle *b, int policy, int count) {
  prism_sandbox_opts opts = {.seed = 1337, .jit_policy = policy, .hook_count = count};
  prism_failure err;
  prism_rng_seed(1337);
  lua_State *L = prism_sandbox_new(b, &opts, &err);
  if (!L) die("prism_sandbox_new", err.message);
  /* The hook reads the clock every `count` instructions but the deadline is never reached. */
  prism_sandbox_set_deadline(L, prism_now() + 3600, "the benchmark's hour");
  if (prism_sandbox_load_entry(L, "training.lua", "prism:runtime-error", "prism:resource-oom", &err) != 0)
    die("loading the bench module", err.message);
  return L;
}

static void time_loops(lua_State *L, double iters, result *r) {
  double t0 = prism_now();
  call(L, "numeric", iters, 0, 0, 1);
  r->numeric_ms = (prism_now() - t0) * 1e3;
  t0 = prism_now();
  call(L, "bytes", iters, 0, 0, 1);
  r->bytes_ms = (prism_now() - t0) * 1e3;
}

static result measure(const prism_bundle *b, int policy, int steps, int warmup, double iters) {
  result r = {0, 0, 0, 0};
  lua_State *L = open_state(b, policy, 0);
  double n = call(L, "setup", 4096, 4, 128, 3);
  if (n != 1049216) die("setup", "the model does not have tiny-1m's 1,049,216 parameters");
  for (int k = 0; k < warmup; k++) call(L, "step", k, 0, 0, 1);
  double t0 = prism_now();
  for (int k = warmup; k < warmup + steps; k++) r.loss = call(L, "step", k, 0, 0, 1);
  r.step_ms = (prism_now() - t0) * 1e3 / steps;
  time_loops(L, iters, &r);
  prism_sandbox_close(L);
  return r;
}

#define MAX_ROUNDS 15

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv) {
  int steps = 20, warmup = 3, threads = 1, rounds = 3;
  double iters = 1e7;
  const char *counts = "";
  for (int i = 1; i < argc; i++) {
    if (i + 1 >= argc) die("missing value for", argv[i]);
    if (!strcmp(argv[i], "--steps")) steps = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--warmup")) warmup = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--iters")) iters = atof(argv[++i]);
    else if (!strcmp(argv[i], "--rounds")) rounds = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--counts")) counts = argv[++i];
    else die("unknown argument (see the header of bench/jit_policy.c)", argv[i]);
  }
  if (steps < 1 || warmup < 0 || threads < 1 || !(iters >= 10) || rounds < 1 || rounds > MAX_ROUNDS)
    die("bad arguments", "steps/threads >= 1, iters >= 10, rounds 1..15");
  prism_backend_set_threads(threads);

  char dir[] = "/tmp/prism-jit-policy-XXXXXX";
  if (!mkdtemp(dir)) die("mkdtemp", dir);
  char *arch = read_file(PRISM_SOURCE_DIR "/examples/tiny-1m/architecture.lua");
  write_file(dir, "architecture.lua", arch);
  write_file(dir, "training.lua", BENCH_LUA);
  free(arch);
  prism_failure err;
  prism_bundle *b = prism_bundle_load(dir, &err);
  if (!b) die("bundle", err.message);

  double load[3] = {0, 0, 0};
  FILE *la = fopen("/proc/loadavg", "r");
  if (la) {
    if (fscanf(la, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3) load[0] = -1;
    fclose(la);
  }
  printf("jit_policy: tiny-1m (1,049,216 parameters), B=4 T=128, synthetic ids (vocab 4096), %d warm-up + %d "
         "timed steps, %d thread(s), %.0f loop iterations, hook count %d, load average %.2f %.2f %.2f\n",
         warmup, steps, threads, iters, PRISM_SANDBOX_HOOK_COUNT, load[0], load[1], load[2]);
  /* Rounds alternate the policies, so a shared machine's load drifts over all of them alike;
   * the summary is each figure's median over the rounds. */
  result all[3][MAX_ROUNDS], r[3];
  for (int k = 0; k < rounds; k++)
    for (int p = 0; p < 3; p++) {
      result *x = &all[p][k];
      *x = measure(b, p, steps, warmup, iters);
      printf("round %d %-7s step %8.2f ms   numeric loop %8.1f ms   byte loop %8.1f ms   (last loss %.4f)\n", k + 1,
             POLICY_NAMES[p], x->step_ms, x->numeric_ms, x->bytes_ms, x->loss);
      fflush(stdout);
    }
  for (int p = 0; p < 3; p++) {
    double v[3][MAX_ROUNDS];
    for (int k = 0; k < rounds; k++) {
      v[0][k] = all[p][k].step_ms;
      v[1][k] = all[p][k].numeric_ms;
      v[2][k] = all[p][k].bytes_ms;
    }
    r[p].step_ms = median(v[0], rounds);
    r[p].numeric_ms = median(v[1], rounds);
    r[p].bytes_ms = median(v[2], rounds);
    printf("median  %-7s step %8.2f ms   numeric loop %8.1f ms   byte loop %8.1f ms\n", POLICY_NAMES[p], r[p].step_ms,
           r[p].numeric_ms, r[p].bytes_ms);
  }
  for (int p = 1; p < 3; p++)
    printf("%s/hook: step %.3f   numeric loop %.3f   byte loop %.3f\n", POLICY_NAMES[p], r[p].step_ms / r[0].step_ms,
           r[p].numeric_ms / r[0].numeric_ms, r[p].bytes_ms / r[0].bytes_ms);
  /* The instruction count between clock reads, on the loops (where it could show). */
  for (const char *c = counts; *c;) {
    int count = atoi(c);
    if (count > 0) {
      lua_State *L = open_state(b, PRISM_JIT_POLICY_HOOK, count);
      result x;
      time_loops(L, iters, &x);
      prism_sandbox_close(L);
      printf("hook count %-7d numeric loop %8.1f ms   byte loop %8.1f ms\n", count, x.numeric_ms, x.bytes_ms);
    }
    c = strchr(c, ',');
    if (!c) break;
    c++;
  }
  prism_bundle_free(b);
  char path[1100];
  snprintf(path, sizeof path, "%s/architecture.lua", dir);
  unlink(path);
  snprintf(path, sizeof path, "%s/training.lua", dir);
  unlink(path);
  rmdir(dir);
  return 0;
}

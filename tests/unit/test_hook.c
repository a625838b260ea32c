/* test_hook.c — the wall-clock count hook of submission states (sandbox/hook.c), each case
 * through a real child job in a forked process with cfg.lua_deadline set as run.c sets it: a
 * loop is stopped with prism:budget-exceeded and its file:line; pcall cannot swallow the stop
 * (the hook raises on every instruction after the deadline, so nothing after the pcall runs);
 * coroutines and Lua callbacks of C functions are reached; the static gate maps the stop to its
 * own rule; nothing fires before the deadline. */
#include "child_harness.h"

#include <time.h>

#include "clock.h"
#include "state.h"

#define LIMIT "the test's limit"

static double deadline_in;

static void with_deadline(prism_eval_config *c) {
  c->lua_deadline = prism_now() + deadline_in;
  c->lua_deadline_limit = LIMIT;
}

/* Runs train (with ARCH_TINY) with a deadline `in` seconds from now; returns the record and the
 * job's wall time. */
static prism_run_record run_with_deadline(const char *train, double in, double *wall, prism_eval_config *cfg) {
  prism_bundle *b = h_bundle(ARCH_TINY, train, NULL);
  h_config(cfg, b, h_data(10));
  deadline_in = in;
  double t0 = prism_now();
  with_deadline(cfg);
  prism_run_record r;
  h_job(JOB_RUN, cfg, &r, NULL);
  *wall = prism_now() - t0;
  return r;
}

/* The run failed with prism:budget-exceeded at training.lua:line, within a second of the deadline. */
static void expect_stop(const char *name, const char *train, int line) {
  prism_eval_config cfg;
  double wall;
  prism_run_record r = run_with_deadline(train, 0.3, &wall, &cfg);
  char where[64];
  snprintf(where, sizeof where, "training.lua:%d", line);
  check(!strcmp(r.failure.rule_id, "prism:budget-exceeded") && !strcmp(r.failure.file, "training.lua") &&
            r.failure.line == line && strstr(r.failure.message, where) && strstr(r.failure.message, LIMIT) &&
            wall >= 0.3 && wall < 1.3,
        name, "rule '%s' at %s:%d after %.2f s: %s", r.failure.rule_id, r.failure.file, r.failure.line, wall,
        r.failure.message);
  prism_run_record_free(&r);
}

static void test_loops(void) {
  expect_stop("hook: a plain loop is stopped at its line",
              "local M = {}\n"
              "function M.train(ctx)\n"
              "  local n = 0\n"
              "  while true do n = n + 1 end\n"
              "end\n"
              "return M\n",
              4);
  expect_stop("hook: a loop in a coroutine is stopped (the hook is VM-wide)",
              "local M = {}\n"
              "function M.train(ctx)\n"
              "  local co = coroutine.wrap(function()\n"
              "    local n = 0; while true do n = n + 1 end\n"
              "  end)\n"
              "  co()\n"
              "end\n"
              "return M\n",
              4);
  expect_stop("hook: a loop in a string.gsub callback is stopped",
              "local M = {}\n"
              "function M.train(ctx)\n"
              "  string.gsub('aaa', 'a', function(c)\n"
              "    while true do c = c .. '' end\n"
              "  end)\n"
              "end\n"
              "return M\n",
              4);
  expect_stop("hook: pcall around the loop, itself in a loop, cannot keep it alive",
              "local M = {}\n"
              "function M.train(ctx)\n"
              "  while true do\n"
              "    pcall(function() local n = 0; while true do n = n + 1 end end)\n"
              "  end\n"
              "end\n"
              "return M\n",
              4);
  expect_stop("hook: pcall'd coroutines resumed forever cannot keep it alive",
              "local M = {}\n"
              "function M.train(ctx)\n"
              "  while true do\n"
              "    local co = coroutine.create(function() while true do end end)\n"
              "    pcall(coroutine.resume, co)\n"
              "  end\n"
              "end\n"
              "return M\n",
              4);
}

/* After a swallowed stop not one more instruction runs: the save after the pcall never happens,
 * and the error the submission raises instead does not replace the verdict. */
static void test_no_instruction_after_pcall(void) {
  const char *train = "local M = {}\n"
                      "function M.train(ctx)\n"
                      "  local ok, e = pcall(function() while true do end end)\n"
                      "  ctx:save('escaped.txt', 'the loop went on after the deadline: ' .. tostring(e))\n"
                      "  error('HOOK-ESCAPED')\n"
                      "end\n"
                      "return M\n";
  prism_eval_config cfg;
  double wall;
  prism_run_record r = run_with_deadline(train, 0.3, &wall, &cfg);
  check(!strcmp(r.failure.rule_id, "prism:budget-exceeded") && r.failure.line == 3 &&
            !strstr(r.failure.message, "HOOK-ESCAPED") && !h_exists(cfg.artifacts_dir, "escaped.txt"),
        "hook: no instruction runs after a pcall swallowed the stop", "rule '%s' line %d escaped.txt %s: %s",
        r.failure.rule_id, r.failure.line, h_exists(cfg.artifacts_dir, "escaped.txt") ? "written" : "absent",
        r.failure.message);
  prism_run_record_free(&r);
}

/* A deadline far away: an honest run is scored, nothing fires. */
static void test_no_false_trigger(void) {
  prism_eval_config cfg;
  double wall;
  prism_run_record r = run_with_deadline(TRAIN_LEARNER("{batch_size = 2, seq_len = 16}"), 60, &wall, &cfg);
  check(!r.failure.rule_id[0] && r.n_batches > 0, "hook: nothing fires before the deadline", "%s %s",
        r.failure.rule_id, r.failure.message);
  prism_run_record_free(&r);
}

/* The static gate's child: a build_model that never returns is its own rule, with the line. */
static void test_static_gate(void) {
  const char *arch = "local M = {}\n"
                     "function M.build_model(ctx)\n"
                     "  while true do end\n"
                     "end\n"
                     "return M\n";
  prism_bundle *b = h_bundle(arch, TRAIN_LEARNER("{batch_size = 2, seq_len = 16}"), NULL);
  prism_eval_config cfg;
  h_config(&cfg, b, h_data(10));
  deadline_in = 0.3;
  with_deadline(&cfg);
  prism_run_record r;
  h_job(JOB_STATIC, &cfg, &r, NULL);
  check(!strcmp(r.failure.rule_id, "prism:build-model-resource") && !strcmp(r.failure.file, "architecture.lua") &&
            r.failure.line == 3 && strstr(r.failure.message, LIMIT),
        "hook: a build_model that never returns is stopped with its line (static gate)", "rule '%s' at %s:%d: %s",
        r.failure.rule_id, r.failure.file, r.failure.line, r.failure.message);
  prism_run_record_free(&r);
}

int main(void) {
  test_loops();
  test_no_instruction_after_pcall();
  test_no_false_trigger();
  test_static_gate();
  return finish_tests();
}

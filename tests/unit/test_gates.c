/* test_gates.c — the static gate (prism_child_static: syntax, contract, forced-seed
 * build_model, return type, instantiation and resource errors, the realized parameter count
 * and the cap with thousands separators) and the held-out child (prism_child_heldout: twin vs
 * trained on the val prefix, the converged train reference, skips), each in a forked process
 * whose records are parsed as the parent does. */
#include "child_harness.h"

#define ARCH_RETURNING(EXPR)                                          \
  "local prism = require('prism')\n"                                  \
  "local nn = require('prism.nn')\n"                                  \
  "local M = {}\n"                                                    \
  "function M.build_model(ctx) return " EXPR " end\n"                 \
  "return M\n"

#define TRAIN_ANY "local M = {}\nfunction M.train(ctx) end\nreturn M\n"

static prism_run_record static_gate(const char *arch, const char *train, int64_t cap) {
  prism_bundle *b = h_bundle(arch, train, NULL);
  prism_eval_config cfg;
  h_config(&cfg, b, NULL);
  if (cap) cfg.max_params = cap;
  prism_run_record r;
  h_job(JOB_STATIC, &cfg, &r, NULL);
  return r;
}

static void test_static(void) {
  prism_run_record r = static_gate(ARCH_TINY, TRAIN_ANY, 0);
  check(!r.failure.rule_id[0] && r.model_params == 2176, "static: a valid bundle reports its parameter count", "%s %s %lld",
        r.failure.rule_id, r.failure.message, (long long)r.model_params);
  prism_run_record_free(&r);

  struct { const char *expr, *got; } bad[] = {
      {"42", "got number"}, {"nil", "got nil"}, {"prism.ones(2)", "got tensor"},
      {"{}", "got table"},  {"nn.Linear", "got class Linear"}, {"function() end", "got function"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char arch[512], name[128];
    snprintf(arch, sizeof arch, ARCH_RETURNING("%s"), bad[i].expr);
    r = static_gate(arch, TRAIN_ANY, 0);
    snprintf(name, sizeof name, "static: build_model returning %s -> prism:build-model-return-type", bad[i].expr);
    check(!strcmp(r.failure.rule_id, "prism:build-model-return-type") &&
              strstr(r.failure.message, "build_model must return a prism.nn.Module, ") && strstr(r.failure.message, bad[i].got),
          name, "fail '%s' '%s'", r.failure.rule_id, r.failure.message);
    prism_run_record_free(&r);
  }

  r = static_gate("local M = {}\nfunction M.build_model(ctx)\n  error('bad config')\nend\nreturn M\n", TRAIN_ANY, 0);
  check(!strcmp(r.failure.rule_id, "prism:build-model-instantiation") && !strcmp(r.failure.file, "architecture.lua") &&
            r.failure.line == 3 &&
            strstr(r.failure.message, "build_model raised during forced-seed instantiation: architecture.lua:3: bad config"),
        "static: a raising build_model -> prism:build-model-instantiation with file:line", "fail '%s' %s:%d '%s'",
        r.failure.rule_id, r.failure.file, r.failure.line, r.failure.message);
  prism_run_record_free(&r);

  r = static_gate("local prism = require('prism')\nlocal nn = require('prism.nn')\nlocal M = {}\n"
                  "function M.build_model(ctx) local m = nn.Linear(4, 4); local y = m(prism.ones(3, 5)); return m end\n"
                  "return M\n",
                  TRAIN_ANY, 0);
  check(!strcmp(r.failure.rule_id, "prism:build-model-instantiation") && r.failure.line == 4,
        "static: a shape error in build_model -> instantiation at architecture.lua:4", "fail '%s' %s:%d '%s'",
        r.failure.rule_id, r.failure.file, r.failure.line, r.failure.message);
  prism_run_record_free(&r);

  setenv("PRISM_LUA_MEM_LIMIT", "100000000", 1);
  r = static_gate(ARCH_RETURNING("(function() local t = {} for i = 1, 1e8 do t[i] = i end end)()"), TRAIN_ANY, 0);
  unsetenv("PRISM_LUA_MEM_LIMIT");
  check(!strcmp(r.failure.rule_id, "prism:build-model-resource") && strstr(r.failure.message, "static memory budget"),
        "static: exhausting the Lua memory cap -> prism:build-model-resource", "fail '%s' '%s'", r.failure.rule_id,
        r.failure.message);
  prism_run_record_free(&r);

  setenv("PRISM_TENSOR_HARD_LIMIT", "100000000", 1);
  r = static_gate(ARCH_RETURNING("nn.Linear(10000, 10000)"), TRAIN_ANY, 0);
  unsetenv("PRISM_TENSOR_HARD_LIMIT");
  check(!strcmp(r.failure.rule_id, "prism:build-model-resource"),
        "static: exceeding the tensor-memory cap -> prism:build-model-resource", "fail '%s' '%s'", r.failure.rule_id,
        r.failure.message);
  prism_run_record_free(&r);

  r = static_gate(ARCH_RETURNING("nn.Linear(64, 64)"), TRAIN_ANY, 1000);
  check(!strcmp(r.failure.rule_id, "prism:param-cap") && r.model_params == 4160 &&
            strstr(r.failure.message, "model has 4,160 parameters, exceeding the 1,000 parameter cap"),
        "static: Linear(64, 64) over a 1,000 cap -> prism:param-cap", "fail '%s' '%s'", r.failure.rule_id, r.failure.message);
  prism_run_record_free(&r);
  r = static_gate(ARCH_RETURNING("nn.Linear(64, 64)"), TRAIN_ANY, 10000);
  check(!r.failure.rule_id[0] && r.model_params == 4160, "static: Linear(64, 64) under a 10,000 cap is accepted", "%s",
        r.failure.rule_id);
  prism_run_record_free(&r);

  r = static_gate(ARCH_RETURNING("nn.Embedding(50304, 3000)"), TRAIN_ANY, 150000000);
  check(!strcmp(r.failure.rule_id, "prism:param-cap") &&
            strstr(r.failure.message, "model has 150,912,000 parameters, exceeding the 150,000,000 parameter cap"),
        "static: nn.Embedding(50304, 3000) = 150,912,000 is over the default cap", "fail '%s' '%s'", r.failure.rule_id,
        r.failure.message);
  prism_run_record_free(&r);
  r = static_gate(ARCH_RETURNING("nn.Embedding(50304, 2980)"), TRAIN_ANY, 150000000);
  check(!r.failure.rule_id[0] && r.model_params == 149905920, "static: nn.Embedding(50304, 2980) = 149,905,920 is accepted",
        "fail '%s' %lld", r.failure.rule_id, (long long)r.model_params);
  prism_run_record_free(&r);

  /* Parameters created by the first forward count (the materializing forward). */
  const char *lazy = "local nn = require('prism.nn')\n"
                     "local M = {}\n"
                     "local Lazy = nn.Module:extend('Lazy')\n"
                     "function Lazy:init() self.emb = nn.Embedding(256, 8) end\n"
                     "function Lazy:forward(t)\n"
                     "  if not self.head then self.head = nn.Linear(8, 2000) end\n"
                     "  return self.head(self.emb(t))\n"
                     "end\n"
                     "function M.build_model(ctx) return Lazy() end\n"
                     "return M\n";
  r = static_gate(lazy, TRAIN_ANY, 10000);
  check(!strcmp(r.failure.rule_id, "prism:param-cap") && r.model_params == 256 * 8 + 8 * 2000 + 2000,
        "static: a head created in the first forward is counted", "fail '%s' %lld", r.failure.rule_id,
        (long long)r.model_params);
  prism_run_record_free(&r);

  r = static_gate("local M = {}\nfunction M.build_model(ctx)\n  return = 1\nend\nreturn M\n", TRAIN_ANY, 0);
  check(!strcmp(r.failure.rule_id, "prism:syntax") && !strcmp(r.failure.file, "architecture.lua") && r.failure.line == 3,
        "static: a syntax error in architecture.lua -> prism:syntax at architecture.lua:3", "fail '%s' %s:%d",
        r.failure.rule_id, r.failure.file, r.failure.line);
  prism_run_record_free(&r);
  r = static_gate(ARCH_TINY, "local M = {}\nfunction M.train(ctx)\n  x = = 1\nend\nreturn M\n", 0);
  check(!strcmp(r.failure.rule_id, "prism:syntax") && !strcmp(r.failure.file, "training.lua") && r.failure.line == 3,
        "static: a syntax error in training.lua -> prism:syntax at training.lua:3", "fail '%s' %s:%d", r.failure.rule_id,
        r.failure.file, r.failure.line);
  prism_run_record_free(&r);
  r = static_gate("local M = {}\nfunction M.make(ctx) end\nreturn M\n", TRAIN_ANY, 0);
  check(!strcmp(r.failure.rule_id, "prism:contract") && strstr(r.failure.message, "missing build_model"),
        "static: no build_model -> prism:contract", "fail '%s' '%s'", r.failure.rule_id, r.failure.message);
  prism_run_record_free(&r);
  r = static_gate(ARCH_TINY, "local M = {}\nreturn M\n", 0);
  check(!strcmp(r.failure.rule_id, "prism:contract") && strstr(r.failure.message, "missing train"),
        "static: no train -> prism:contract", "fail '%s' '%s'", r.failure.rule_id, r.failure.message);
  prism_run_record_free(&r);
  r = static_gate("function build_model(ctx) return require('prism.nn').Linear(2, 2) end\n", TRAIN_ANY, 0);
  check(!r.failure.rule_id[0] && r.model_params == 6, "static: a global build_model is accepted", "fail '%s' '%s'",
        r.failure.rule_id, r.failure.message);
  prism_run_record_free(&r);

  /* The static ctx cannot reach data or write. */
  r = static_gate("local M = {}\nfunction M.build_model(ctx)\n  assert(ctx.data_dir == nil)\n"
                  "  for b in ctx:iter_train_batches(nil) do end\nend\nreturn M\n",
                  TRAIN_ANY, 0);
  check(!strcmp(r.failure.rule_id, "prism:build-model-instantiation") && strstr(r.failure.message, "not available") &&
            r.failure.line == 4,
        "static: ctx:iter_train_batches is refused while instantiating", "fail '%s' %d '%s'", r.failure.rule_id,
        r.failure.line, r.failure.message);
  prism_run_record_free(&r);
}

/* ------------------------------------------------------------------ held-out */

static char *h_val(int n, const char *fmt) {
  char *dir = h_tmpdir();
  size_t cap = (size_t)n * 160 + 1;
  char *buf = calloc(1, cap), text[128];
  size_t o = 0;
  for (int i = 0; i < n; i++) {
    snprintf(text, sizeof text, fmt, i);
    o += (size_t)snprintf(buf + o, cap - o, "{\"id\":\"v-%d\",\"text\":\"%s\"}\n", i, text);
  }
  h_write(dir, "val-00000.jsonl", buf);
  free(buf);
  return dir;
}

#define TRAIN_NOOP_LOOP                                                                    \
  "local M = {}\n"                                                                         \
  "function M.train(ctx)\n"                                                                \
  "  for b in ctx:iter_train_batches(ctx:build_model(), {batch_size = 1, seq_len = 16}) do end\n" \
  "end\n"                                                                                  \
  "return M\n"

static void test_heldout(void) {
  prism_bundle *b = h_bundle(ARCH_TINY, TRAIN_LEARNER("{batch_size = 1, seq_len = 16}"), NULL);
  prism_eval_config cfg;
  h_config(&cfg, b, h_data(200));
  prism_run_record run;
  h_job(JOB_RUN, &cfg, &run, NULL);
  cfg.val_dir = h_val(40, "the locked fineweb-edu val split sample sentence %d");
  prism_run_record r, r2;
  int rc = h_job(JOB_HELDOUT, &cfg, &r, NULL);
  check(rc == 0 && !run.failure.rule_id[0] && r.have_heldout && r.val_bpb_random_init > r.val_bpb_trained &&
            r.val_bpb_trained > 0 && r.val_covered_bytes == 10 * 50 + 30 * 51 && isfinite(r.train_bpb_converged) &&
            !strcmp(r.val_bpb_basis, "bytes"),
        "held-out: a learner's trained model beats its random-init twin on val", "rc %d skip '%s' random %g trained %g "
        "covered %lld converged %g",
        rc, r.heldout_skip, r.val_bpb_random_init, r.val_bpb_trained, (long long)r.val_covered_bytes, r.train_bpb_converged);
  check(r.train_bpb_converged < r.val_bpb_trained + 1.0, "held-out: same-distribution train reference is not a memorizer",
        "converged %g val %g", r.train_bpb_converged, r.val_bpb_trained);
  h_job(JOB_HELDOUT, &cfg, &r2, NULL);
  check(r2.have_heldout && r2.val_bpb_random_init == r.val_bpb_random_init && r2.val_bpb_trained == r.val_bpb_trained &&
            r2.val_covered_bytes == r.val_covered_bytes,
        "held-out: deterministic across repeats", "%g %g", r2.val_bpb_trained, r.val_bpb_trained);
  prism_run_record_free(&r);
  prism_run_record_free(&r2);

  /* A byte budget smaller than the split: the boundary document is included. */
  cfg.heldout_bytes = 100;
  h_job(JOB_HELDOUT, &cfg, &r, NULL);
  check(r.have_heldout && r.val_covered_bytes == 100, "held-out: the prefix stops at the first document crossing the budget",
        "covered %lld skip '%s'", (long long)r.val_covered_bytes, r.heldout_skip);
  prism_run_record_free(&r);
  cfg.heldout_bytes = 65536;

  prism_run_record_free(&run);
  /* No-op training: the trained weights are the twin's, so the delta is exactly 0. */
  b = h_bundle(ARCH_TINY, TRAIN_NOOP_LOOP, NULL);
  prism_eval_config noop;
  h_config(&noop, b, h_data(40));
  h_job(JOB_RUN, &noop, &run, NULL);
  noop.val_dir = cfg.val_dir;
  h_job(JOB_HELDOUT, &noop, &r, NULL);
  check(r.have_heldout && r.val_bpb_random_init == r.val_bpb_trained, "held-out: a no-op loop has delta 0", "%g vs %g (%s)",
        r.val_bpb_random_init, r.val_bpb_trained, r.heldout_skip);
  prism_run_record_free(&r);

  /* Skips: no val split, a strict-loader error, a missing trained state, a mismatched state. */
  noop.val_dir = NULL;
  h_job(JOB_HELDOUT, &noop, &r, NULL);
  check(!r.have_heldout && strstr(r.heldout_skip, "no val split"), "held-out: no val split -> skip", "'%s'", r.heldout_skip);
  prism_run_record_free(&r);
  char *badval = h_tmpdir();
  h_write(badval, "val-00000.jsonl", "{\"text\":\"no id here\"}\n");
  noop.val_dir = badval;
  h_job(JOB_HELDOUT, &noop, &r, NULL);
  check(!r.have_heldout && r.heldout_skip[0], "held-out: a val line without an id -> skip", "'%s'", r.heldout_skip);
  prism_run_record_free(&r);
  noop.val_dir = cfg.val_dir;
  noop.artifacts_dir = h_tmpdir();
  h_job(JOB_HELDOUT, &noop, &r, NULL);
  check(!r.have_heldout && strstr(r.heldout_skip, "trained state"), "held-out: no trained state -> skip", "'%s'",
        r.heldout_skip);
  prism_run_record_free(&r);
  prism_eval_config other = cfg;
  other.bundle = h_bundle(ARCH_RETURNING("nn.Sequential(nn.Embedding(ctx.vocab_size, 4), nn.Linear(4, ctx.vocab_size))"),
                          TRAIN_ANY, NULL);
  h_job(JOB_HELDOUT, &other, &r, NULL);
  check(!r.have_heldout && strstr(r.heldout_skip, "does not match"), "held-out: a state of another shape -> skip", "'%s'",
        r.heldout_skip);
  prism_run_record_free(&r);
  prism_run_record_free(&run);
}

int main(void) {
  test_static();
  test_heldout();
  return finish_tests();
}

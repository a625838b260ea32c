/* test_sandbox.c — what a submission's Lua can and cannot reach inside the run child (SPEC §3,
 * §10 layer 1), the ctx userdata (read-only fields, ctx:save's path, type and quota rules) and
 * require (stdlib, bundle files, cycles, prism.core refused), each checked through a real
 * prism_child_run in a forked process. Lua-side expectations are collected by the submission
 * itself and raised as one error naming every unmet one, so a failure says exactly what leaked. */
#include "child_harness.h"

#include <fcntl.h>

#include "safetensors.h"

/* Prepended to a training script: expect(cond, name) collects unmet expectations; done()
 * raises them all at once. */
#define EXPECT_PRELUDE                                                                      \
  "local prism = require('prism')\n"                                                        \
  "local nn = require('prism.nn')\n"                                                        \
  "local fails, concat, tostring, pcall = {}, table.concat, tostring, pcall\n"               \
  "local function expect(c, name) if not c then fails[#fails + 1] = name end end\n"        \
  "local function errs(fn, needle) local ok, e = pcall(fn)\n"                               \
  "  return not ok and (needle == nil or tostring(e):find(needle, 1, true) ~= nil) end\n"   \
  "local function done() if #fails > 0 then error('unmet: ' .. concat(fails, '; '), 0) end end\n"

static prism_run_record run_train(const char *train, prism_eval_config *cfg, void (*tweak)(prism_eval_config *),
                                  const char *extra_name, const char *extra_src) {
  prism_bundle *b = h_bundle(ARCH_TINY, train, extra_name, extra_src, NULL);
  h_config(cfg, b, h_data(10));
  if (tweak) tweak(cfg);
  prism_run_record r;
  h_job(JOB_RUN, cfg, &r, NULL);
  return r;
}

static void test_environment(void) {
  const char *train =
      EXPECT_PRELUDE
      "local M = {}\n"
      "function M.train(ctx)\n"
      "  for _, name in ipairs({'io', 'debug', 'jit', 'ffi', 'package', 'load', 'loadstring', 'dofile', 'loadfile',\n"
      "                         'getfenv', 'setfenv', 'newproxy', 'module', 'gcinfo'}) do\n"
      "    expect(_G[name] == nil, name .. ' is reachable')\n"
      "  end\n"
      "  expect(type(os.clock) == 'function' and os.execute == nil and os.getenv == nil and os.exit == nil, 'os is os.clock only')\n"
      "  expect(string.dump == nil and (''):len() == 0 and ('x').dump == nil, 'string.dump is gone')\n"
      "  expect(math.randomseed == nil, 'math.randomseed exists')\n"
      "  expect(errs(function() return require('prism.core') end, 'internal'), 'prism.core is requirable')\n"
      "  for _, m in ipairs({'ffi', 'io', 'os', 'debug', 'jit', 'tools.selftest', 'examples.tiny-1m.architecture'}) do\n"
      "    expect(errs(function() return require(m) end, 'not found'), 'require ' .. m .. ' works')\n"
      "  end\n"
      "  expect(prism.manual_seed == nil and prism.data_bytes == nil and prism.set_num_threads == nil, 'core tools leak through prism')\n"
      "  expect(type(collectgarbage('count')) == 'number', 'collectgarbage count')\n"
      "  expect(errs(function() collectgarbage() end) and errs(function() collectgarbage('collect') end), 'collectgarbage collects')\n"
      "  expect(getmetatable('') == 'locked' and getmetatable(prism.ones(1)) == 'locked' and getmetatable(ctx) == 'locked',\n"
      "         'a runtime metatable is readable')\n"
      "  string.upper = function() return 'pwned' end; string.rep = nil\n"
      "  expect(('a'):upper() == 'A' and ('ab'):rep(2) == 'abab', 'patching string changes string methods')\n"
      "  local r = math.random()\n"
      "  expect(r >= 0 and r < 1, 'math.random() in [0, 1)')\n"
      "  for i = 1, 50 do local k = math.random(6); expect(k >= 1 and k <= 6 and k % 1 == 0, 'math.random(6)') end\n"
      "  for i = 1, 50 do local k = math.random(3, 4); expect(k == 3 or k == 4, 'math.random(3, 4)') end\n"
      "  expect(errs(function() math.random(0) end, 'interval is empty'), 'math.random(0) accepted')\n"
      "  expect(errs(function() math.random(1, 2, 3) end), 'math.random with 3 arguments')\n"
      "  local co = coroutine.wrap(function() coroutine.yield(7) end)\n"
      "  expect(co() == 7 and bit.band(6, 3) == 2 and table.concat({'a', 'b'}) == 'ab', 'coroutine/bit/table')\n"
      "  -- the forced seed is re-applied by build_model: math.random restarts with it\n"
      "  local x1 = math.random(); ctx:build_model(); local x2 = math.random(); ctx:build_model(); local x3 = math.random()\n"
      "  expect(x2 == x3 and x1 ~= x2, 'build_model does not re-apply the seed to math.random')\n"
      "  -- globals the submission replaces cannot reach the stdlib\n"
      "  setmetatable = nil; ipairs = nil; table.concat = nil; tostring = function() return 'x' end\n"
      "  local ok, model = pcall(function() return nn.Sequential(nn.Linear(2, 3), nn.ReLU()) end)\n"
      "  expect(ok and #model:parameters() == 2, 'patched globals break the stdlib: ' .. (ok and '' or model))\n"
      "  done()\n"
      "  for b in ctx:iter_train_batches(ctx:build_model(), {batch_size = 1, seq_len = 16}) do end\n"
      "end\n"
      "return M\n";
  prism_eval_config cfg;
  prism_run_record r = run_train(train, &cfg, NULL, NULL, NULL);
  check(!r.failure.rule_id[0] && r.n_batches > 0, "sandbox: only the allow-listed environment is reachable", "%s %s",
        r.failure.rule_id, r.failure.message);
  prism_run_record_free(&r);
}

static void time25(prism_eval_config *c) { c->time_budget = 2.5; }

static void test_ctx_fields(void) {
  const char *train =
      EXPECT_PRELUDE
      "local M = {}\n"
      "function M.train(ctx)\n"
      "  expect(ctx.vocab_size == 128 and ctx.max_seq_len == 16 and ctx.sequence_length == 16, 'sizes')\n"
      "  expect(ctx.max_params == 5000000 and ctx.max_parameters == 5000000 and ctx.max_layers == 96, 'caps')\n"
      "  expect(ctx.seed == 1337 and ctx.device == 'cpu' and ctx.world_size == 1 and ctx.rank == 0 and ctx.local_rank == 0, 'run')\n"
      "  expect(ctx.distributed_backend == nil and ctx.token_budget == nil and ctx.step_budget == nil, 'budgets')\n"
      "  expect(ctx.time_budget == 2.5, 'time_budget')\n"
      "  expect(type(ctx.artifacts_dir) == 'string' and type(ctx.data_dir) == 'string', 'dirs')\n"
      "  expect(errs(function() ctx.vocab_size = 5 end, 'read-only'), 'a field is writable')\n"
      "  expect(errs(function() ctx.new_field = 5 end, 'read-only'), 'a new field is writable')\n"
      "  expect(errs(function() ctx.build_model = nil end, 'read-only'), 'a method is replaceable')\n"
      "  expect(ctx.vocab_size == 128, 'the write went through')\n"
      "  expect(errs(function() return ctx.no_such_field end, 'has no field'), 'unknown fields read as nil')\n"
      "  expect(errs(function() return rawset(ctx, 'x', 1) end), 'rawset on ctx')\n"
      "  expect(errs(function() setmetatable(ctx, {}) end), 'setmetatable on ctx')\n"
      "  expect(errs(function() ctx.build_model() end, \"':'\"), 'ctx.build_model() without self')\n"
      "  local tok = ctx:reference_tokenizer('bytes')\n"
      "  expect(tok.name == 'bytes' and tok.vocab_size == 256 and tok:decode(tok:encode('hé')) == 'hé', 'bytes tokenizer')\n"
      "  expect(#tok:encode('hé') == 3 and tok:encode('A')[1] == 65, 'bytes tokenizer ids')\n"
      "  expect(errs(function() ctx:reference_tokenizer('nope') end, 'unknown reference tokenizer'), 'unknown tokenizer')\n"
      "  expect(errs(function() ctx:iter_train_batches({}) end, 'prism.nn.Module'), 'a non-module model is accepted')\n"
      "  expect(errs(function() ctx:iter_train_batches(ctx:build_model(), {batch = 2}) end, 'unknown option'), 'unknown option')\n"
      "  ctx:log('hello', 1, nil, true)\n"
      "  ctx:report({loss = 1.5, step = 3})\n"
      "  done()\n"
      "  for b in ctx:iter_train_batches(ctx:build_model(), {batch_size = 1, seq_len = 16}) do end\n"
      "end\n"
      "return M\n";
  prism_eval_config cfg;
  prism_run_record r = run_train(train, &cfg, time25, NULL, NULL);
  check(!r.failure.rule_id[0] && r.n_batches > 0, "ctx: read-only fields with the run's values, locked methods", "%s %s",
        r.failure.rule_id, r.failure.message);
  prism_run_record_free(&r);
}

static void test_save(void) {
  const char *train =
      EXPECT_PRELUDE
      "local M = {}\n"
      "function M.train(ctx)\n"
      "  local model = ctx:build_model()\n"
      "  for _, bad in ipairs({'../x.txt', 'sub/x.txt', '.hidden.txt', '', 'evil.exe', 'noext', 'a.lua'}) do\n"
      "    expect(errs(function() ctx:save(bad, 'x') end, 'ctx:save'), 'name accepted: ' .. bad)\n"
      "  end\n"
      "  for _, res in ipairs({'trained_state.safetensors', 'prism_run_manifest.v2.json', 'PRISM_RUN_MANIFEST.v2.json',\n"
      "                        'prism_run_manifest-x.json'}) do\n"
      "    expect(errs(function() ctx:save(res, {}) end, 'reserved'), 'reserved name accepted: ' .. res)\n"
      "  end\n"
      "  expect(errs(function() ctx:save('n.txt', 42) end, 'takes a string'), 'a number as text')\n"
      "  expect(errs(function() ctx:save('t.json', {a = prism.ones(1)}) end, 'safetensors'), 'a tensor in JSON')\n"
      "  expect(errs(function() ctx:save('t.json', {a = 0/0}) end, 'non-finite'), 'NaN in JSON')\n"
      "  expect(errs(function() ctx:save('t.json', {1, a = 2}) end, 'mixing'), 'a mixed table in JSON')\n"
      "  local cyc = {}; cyc.self = cyc\n"
      "  expect(errs(function() ctx:save('t.json', cyc) end, 'deeper'), 'a cyclic table in JSON')\n"
      "  expect(errs(function() ctx:save('w.safetensors', {w = 1}) end, 'tensors'), 'a number as a tensor')\n"
      "  expect(errs(function() ctx:save('link.txt', 'x') end), 'writing through a planted symlink')\n"
      "  ctx:save('notes.txt', 'hello')\n"
      "  ctx:save('notes.md', '# title')\n"
      "  ctx:save('m.json', {b = 1, a = {1, 2.5, 'x'}, c = true})\n"
      "  ctx:save('w.safetensors', {w = prism.ones(2), b = prism.zeros(3)})\n"
      "  ctx:save('np.safetensors', model:named_parameters())\n"
      "  done()\n"
      "  for b in ctx:iter_train_batches(model, {batch_size = 1, seq_len = 16}) do end\n"
      "end\n"
      "return M\n";
  prism_bundle *b = h_bundle(ARCH_TINY, train, NULL);
  prism_eval_config cfg;
  h_config(&cfg, b, h_data(10));
  char *outside = h_tmpdir();
  h_write(outside, "target.txt", "precious");
  char target[1024], link[1024];
  snprintf(target, sizeof target, "%s/target.txt", outside);
  snprintf(link, sizeof link, "%s/link.txt", cfg.artifacts_dir);
  if (symlink(target, link) != 0) perror("symlink");
  prism_run_record r;
  h_job(JOB_RUN, &cfg, &r, NULL);
  check(!r.failure.rule_id[0] && r.n_batches > 0, "ctx:save: name, suffix and type rules", "%s %s", r.failure.rule_id,
        r.failure.message);
  char *notes = h_read(cfg.artifacts_dir, "notes.txt"), *md = h_read(cfg.artifacts_dir, "notes.md");
  char *json = h_read(cfg.artifacts_dir, "m.json"), *kept = h_read(outside, "target.txt");
  check(notes && !strcmp(notes, "hello") && md && !strcmp(md, "# title"), "ctx:save: strings to .txt/.md", "notes '%s'",
        notes ? notes : "(missing)");
  char *pa = json ? strstr(json, "\"a\"") : NULL, *pb = json ? strstr(json, "\"b\"") : NULL, *pc = json ? strstr(json, "\"c\"") : NULL;
  check(json && pa && pb && pc && pa < pb && pb < pc && strstr(json, "2.5") && strstr(json, "true"),
        "ctx:save: a plain table to JSON with sorted keys", "json '%s'", json ? json : "(missing)");
  check(kept && !strcmp(kept, "precious"), "ctx:save: a planted symlink is never followed", "target now '%s'", kept ? kept : "(gone)");
  int dfd = open(cfg.artifacts_dir, O_RDONLY | O_DIRECTORY);
  char err[256];
  prism_st_file *w = prism_safetensors_open_at(dfd, "w.safetensors", err, sizeof err);
  prism_st_file *np = prism_safetensors_open_at(dfd, "np.safetensors", err, sizeof err);
  close(dfd);
  check(w && prism_safetensors_count(w) == 2 && !strcmp(prism_safetensors_name(w, 0), "b") &&
            !strcmp(prism_safetensors_name(w, 1), "w"),
        "ctx:save: a map of tensors to safetensors in sorted name order", "%s", w ? "order" : err);
  check(np && prism_safetensors_count(np) == 3 && !strcmp(prism_safetensors_name(np, 0), "emb.weight") &&
            !strcmp(prism_safetensors_name(np, 2), "head.bias"),
        "ctx:save: named_parameters pairs keep their order", "%s", np ? "order" : err);
  prism_safetensors_close(w);
  prism_safetensors_close(np);
  free(notes), free(md), free(json), free(kept);
  prism_run_record_free(&r);
}

static void quota_small(prism_eval_config *c) { c->artifacts_quota = 4096; }

static void test_quota(void) {
  const char *train = "local M = {}\n"
                      "function M.train(ctx)\n"
                      "  local model = ctx:build_model()\n"
                      "  ctx:save('a.txt', string.rep('x', 3000))\n"
                      "  ctx:save('a.txt', string.rep('y', 3500))  -- replacing a file counts its new size only\n"
                      "  pcall(function() ctx:save('b.txt', string.rep('z', 1000)) end)\n"
                      "  for b in ctx:iter_train_batches(model, {batch_size = 1, seq_len = 16}) do end\n"
                      "end\n"
                      "return M\n";
  prism_eval_config cfg;
  prism_run_record r = run_train(train, &cfg, quota_small, NULL, NULL);
  check(!strcmp(r.failure.rule_id, "prism:artifacts-quota") && strstr(r.failure.message, "4096") &&
            h_exists(cfg.artifacts_dir, "a.txt") && !h_exists(cfg.artifacts_dir, "b.txt") && !r.trained_state_saved,
        "ctx:save: going past the artifacts quota is fatal even when caught", "fail '%s' '%s'", r.failure.rule_id,
        r.failure.message);
  prism_run_record_free(&r);
}

static void test_require(void) {
  const char *train =
      EXPECT_PRELUDE
      "local util = require('lib.util')\n"
      "local M = {}\n"
      "function M.train(ctx)\n"
      "  expect(util.x == 42 and require('lib.util') == util, 'bundle module, cached')\n"
      "  expect(require('lib') == 'init', 'a/init.lua')\n"
      "  expect(require('prism.nn') == nn and require('prism.nn.functional') == nn.functional, 'stdlib instances')\n"
      "  expect(errs(function() require('cyc.a') end, 'cyc.a -> cyc.b -> cyc.a'), 'a cycle is not reported')\n"
      "  expect(errs(function() require('nope') end, \"module 'nope' not found\"), 'missing module')\n"
      "  expect(errs(function() require('../training') end, 'not found'), 'a path as module name')\n"
      "  expect(errs(function() require('lib/util') end, 'not found'), 'a slash in a module name')\n"
      "  expect(errs(function() require('failing') end, 'failing.lua:1: on purpose'), 'a failing module (1)')\n"
      "  expect(errs(function() require('failing') end, 'failing.lua:1: on purpose'), 'a failing module is cached')\n"
      "  expect(errs(function() require('broken') end, 'broken.lua:2'), 'a syntax error in a module')\n"
      "  expect(require('architecture').marker == require('architecture').marker, 'one architecture instance')\n"
      "  done()\n"
      "  for b in ctx:iter_train_batches(ctx:build_model(), {batch_size = 1, seq_len = 16}) do end\n"
      "end\n"
      "return M\n";
  prism_bundle *b = h_bundle(ARCH_TINY, train, "lib/util.lua", "return {x = 42}\n", "lib/init.lua", "return 'init'\n",
                             "cyc/a.lua", "return require('cyc.b')\n", "cyc/b.lua", "return require('cyc.a')\n",
                             "failing.lua", "error('on purpose')\n", "broken.lua", "local x = 1\nlocal = 2\n", NULL);
  prism_eval_config cfg;
  h_config(&cfg, b, h_data(10));
  prism_run_record r;
  h_job(JOB_RUN, &cfg, &r, NULL);
  check(!r.failure.rule_id[0] && r.n_batches > 0, "require: stdlib and bundle modules, cycles, failures", "%s %s",
        r.failure.rule_id, r.failure.message);
  prism_run_record_free(&r);

  /* A syntax error in a required module that escapes train is prism:syntax at that file. */
  b = h_bundle(ARCH_TINY, "local helper = require('helper')\nfunction train(ctx) end\n", "helper.lua",
               "local a = 1\n\nlocal b = = 2\n", NULL);
  h_config(&cfg, b, h_data(10));
  h_job(JOB_RUN, &cfg, &r, NULL);
  check(!strcmp(r.failure.rule_id, "prism:syntax") && !strcmp(r.failure.file, "helper.lua") && r.failure.line == 3,
        "require: a syntax error in a required module -> prism:syntax at helper.lua:3", "fail '%s' %s:%d '%s'",
        r.failure.rule_id, r.failure.file, r.failure.line, r.failure.message);
  prism_run_record_free(&r);

  /* A precompiled chunk is refused. */
  b = h_bundle(ARCH_TINY, "local helper = require('helper')\nfunction train(ctx) end\n", "helper.lua", "\033LJ\002junk", NULL);
  h_config(&cfg, b, h_data(10));
  h_job(JOB_RUN, &cfg, &r, NULL);
  check(!strcmp(r.failure.rule_id, "prism:syntax") && strstr(r.failure.message, "binary"),
        "require: a binary chunk is refused (text mode only)", "fail '%s' '%s'", r.failure.rule_id, r.failure.message);
  prism_run_record_free(&r);
}

int main(void) {
  test_environment();
  test_ctx_fields();
  test_save();
  test_quota();
  test_require();
  return finish_tests();
}

/* test_ordered.c — the restricted states' pairs, next and table.foreach (sandbox/ordered.c):
 * the fixed key order (numbers, strings bytewise, false/true, tensors by creation), next
 * agreeing with pairs, deletion during a traversal, the errors for keys with no reproducible
 * order (with the miner's file:line), and the stdlib still working on top of them. Checked
 * through a real prism_child_run in a forked process, like test_sandbox.c; that the order is the
 * same across processes is tests/e2e/pairs_order.sh. */
#include "child_harness.h"

/* expect(cond, name) collects unmet expectations; done() raises them all at once. */
#define EXPECT_PRELUDE                                                                      \
  "local prism = require('prism')\n"                                                        \
  "local nn = require('prism.nn')\n"                                                        \
  "local optim = require('prism.optim')\n"                                                  \
  "local fails, concat, tostring, pcall = {}, table.concat, tostring, pcall\n"               \
  "local function expect(c, name) if not c then fails[#fails + 1] = name end end\n"        \
  "local function errs(fn, needle) local ok, e = pcall(fn)\n"                               \
  "  return not ok and (needle == nil or tostring(e):find(needle, 1, true) ~= nil) end\n"   \
  "local function done() if #fails > 0 then error('unmet: ' .. concat(fails, '; '), 0) end end\n" \
  "local function order(t) local s = {} for k in pairs(t) do s[#s + 1] = tostring(k) end return concat(s, ',') end\n"

#define CONSUME "  for b in ctx:iter_train_batches(ctx:build_model(), {batch_size = 1, seq_len = 16}) do end\n"

static void run_ok(const char *train, const char *what) {
  prism_bundle *b = h_bundle(ARCH_TINY, train, NULL);
  prism_eval_config cfg;
  h_config(&cfg, b, h_data(10));
  prism_run_record r;
  h_job(JOB_RUN, &cfg, &r, NULL);
  check(!r.failure.rule_id[0] && r.n_batches > 0, what, "%s %s", r.failure.rule_id, r.failure.message);
  prism_run_record_free(&r);
}

static void test_order(void) {
  const char *train =
      EXPECT_PRELUDE
      "local M = {}\n"
      "function M.train(ctx)\n"
      "  local mixed = {[3] = 'c', [1] = 'a', [2.5] = 'x', [-1] = 'm', b = 1, a = 1, ab = 1, B = 1, [''] = 1,\n"
      "                 ['\\195\\169'] = 1, z = 1, ['a\\0'] = 1, [true] = 1, [false] = 1, [1e300] = 1, [-1/0] = 1}\n"
      "  local want = '-inf,-1,1,2.5,3,1e+300,,B,a,a\\0,ab,b,z,\\195\\169,false,true'\n"
      "  expect(order(mixed) == want, 'mixed keys: ' .. order(mixed))\n"
      "  local arr = {} for i = 20, 1, -1 do arr[i] = i end arr.x = 0 arr[0] = 0 arr[21.5] = 0\n"
      "  expect(order(arr) == '0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21.5,x', 'array keys: ' .. order(arr))\n"
      "  local many, names = {}, {}\n"
      "  for i = 1, 300 do many['k' .. (i * 7919 % 1000)] = i; many['model.layers.' .. (i * 7919 % 1000) .. '.w'] = i end\n"
      "  for k in pairs(many) do names[#names + 1] = k end\n"
      "  local sorted = {} for i = 1, #names do sorted[i] = names[i] end table.sort(sorted)\n"
      "  expect(#names == 600 and concat(names, ',') == concat(sorted, ','), '600 string keys come sorted')\n"
      "  -- next: the same order, one step at a time\n"
      "  local chain, k = {}, next(mixed)\n"
      "  while k ~= nil do chain[#chain + 1] = tostring(k); k = next(mixed, k) end\n"
      "  expect(concat(chain, ',') == want, 'next chain: ' .. concat(chain, ','))\n"
      "  local k1, v1 = next(mixed)\n"
      "  expect(k1 == -1/0 and v1 == 1 and next(mixed, 3) == 1e300 and select(2, next(mixed, 2.5)) == 'c', 'next values')\n"
      "  expect(next({}) == nil and next(mixed, true) == nil, 'next at the end is nil')\n"
      "  local viaNext = {} for k in next, many do viaNext[#viaNext + 1] = k end\n"
      "  expect(concat(viaNext, ',') == concat(names, ','), 'for k in next, t: the pairs order')\n"
      "  -- next from an arbitrary key (no traversal to continue), and nested traversals of one table\n"
      "  expect(next(many, names[300]) == names[301] and next(many, names[17]) == names[18], 'next from any key')\n"
      "  local pairsOf, m3 = {}, {c = 1, a = 1, b = 1}\n"
      "  for x in next, m3 do for y in next, m3 do pairsOf[#pairsOf + 1] = x .. y end end\n"
      "  expect(concat(pairsOf, ',') == 'aa,ab,ac,ba,bb,bc,ca,cb,cc', 'nested next traversals: ' .. concat(pairsOf, ','))\n"
      "  local other = {z = 1, y = 2}; local k0 = next(many); local o1 = next(other)\n"
      "  expect(next(many, k0) == names[2] and next(other, o1) == 'z' and next(many, names[2]) == names[3], 'interleaved next')\n"
      "  local grown = {a = 1}; expect(next(grown) == 'a', 'next(t) of one key'); grown.b = 1\n"
      "  expect(next(grown) == 'a' and next(grown, 'a') == 'b', 'a new traversal sees keys added since the last one')\n"
      "  -- tensor keys: after the others, in creation order\n"
      "  local ts = {} for i = 1, 12 do ts[i] = prism.ones(i) end\n"
      "  local tk = {} for i = 12, 1, -1 do tk[ts[i]] = i end\n"
      "  tk.name = 0; tk[1] = -1; tk[true] = -2\n"
      "  local vals = {} for _, v in pairs(tk) do vals[#vals + 1] = v end\n"
      "  expect(concat(vals, ',') == '-1,0,-2,1,2,3,4,5,6,7,8,9,10,11,12', 'tensor keys: ' .. concat(vals, ','))\n"
      "  expect(next(tk, ts[5]) == ts[6] and next(tk, ts[12]) == nil, 'next over tensor keys')\n"
      "  -- table.foreach walks the same order; the first non-nil result ends it\n"
      "  local seen = {}\n"
      "  expect(table.foreach(mixed, function(k) seen[#seen + 1] = tostring(k) end) == nil, 'foreach returns nil')\n"
      "  expect(concat(seen, ',') == want, 'table.foreach order: ' .. concat(seen, ','))\n"
      "  expect(table.foreach({b = 2, a = 1, c = 3}, function(k, v) if v >= 2 then return k end end) == 'b', 'foreach stops')\n"
      "  local fi = {} table.foreachi({'x', 'y'}, function(i, v) fi[#fi + 1] = i .. v end)\n"
      "  expect(concat(fi) == '1x2y', 'table.foreachi')\n"
      "  expect(errs(function() table.foreach({}, 5) end, 'function expected'), 'foreach without a function')\n"
      "  done()\n" CONSUME
      "end\n"
      "return M\n";
  run_ok(train, "pairs/next/table.foreach: numbers, strings bytewise, booleans, tensors by creation");
}

static void test_mutation(void) {
  const char *train =
      EXPECT_PRELUDE
      "local M = {}\n"
      "function M.train(ctx)\n"
      "  local d, seen = {a = 1, b = 2, c = 3, d = 4, [1] = 0}, {}\n"
      "  for k in pairs(d) do seen[#seen + 1] = tostring(k); if k == 'a' then d.c = nil end; d[k] = nil end\n"
      "  expect(concat(seen, ',') == '1,a,b,d' and next(d) == nil, 'deleting during pairs: ' .. concat(seen, ','))\n"
      "  local e = {x = 1, y = 2, [1] = 3, [2] = 4}\n"
      "  for k in next, e do e[k] = nil end\n"
      "  expect(next(e) == nil, 'clearing a table with next')\n"
      "  local f = {a = 1, b = 2}\n"
      "  for k, v in pairs(f) do f[k] = v * 10 end\n"
      "  expect(f.a == 10 and f.b == 20, 'assigning existing fields during pairs')\n"
      "  local g, n = {a = 1}, 0\n"
      "  for k in pairs(g) do n = n + 1; g['new' .. n] = 1 end\n"
      "  expect(n == 1 and g.new1 == 1, 'keys added during pairs are not visited')\n"
      "  local h = {p = 1, q = 2}; local k = next(h); h[k] = nil\n"
      "  expect(next(h, k) == 'q', 'next after deleting its key')\n"
      "  local h2 = {p = 1, q = 2, r = 3}; h2.q = nil; next({a = 1})  -- no traversal of h2 to continue: the scan\n"
      "  expect(next(h2, 'q') == 'r' and next(h2, 'p') == 'r', 'the scan after deleting a key')\n"
      "  done()\n" CONSUME
      "end\n"
      "return M\n";
  run_ok(train, "pairs/next: deleting and assigning during a traversal");
}

static void test_errors(void) {
  const char *train =
      EXPECT_PRELUDE
      "local M = {}\n"
      "function M.train(ctx)\n"
      "  local msg = \"a table key of type '%s' has no reproducible iteration order (LuaJIT orders it by address); \" ..\n"
      "              'keep such objects in an array and use ipairs'\n"
      "  expect(errs(function() for _ in pairs({a = 1, [{}] = 1}) do end end, 'pairs: ' .. msg:format('table')), 'table key')\n"
      "  expect(errs(function() for _ in pairs({[print] = 1}) do end end, msg:format('function')), 'function key')\n"
      "  expect(errs(function() for _ in pairs({[ctx] = 1}) do end end, msg:format('userdata')), 'userdata key')\n"
      "  expect(errs(function() for _ in pairs({[coroutine.create(print)] = 1}) do end end, msg:format('thread')), 'thread key')\n"
      "  expect(errs(function() next({x = 1, [{}] = 1}) end, 'next: ' .. msg:format('table')), 'next over a table key')\n"
      "  local obj = {} local t = {[obj] = 1}\n"
      "  expect(errs(function() next(t, obj) end, 'next: ' .. msg:format('table')), 'next from a table key')\n"
      "  expect(errs(function() table.foreach({[{}] = 1}, print) end, 'table.foreach: ' .. msg:format('table')), 'foreach')\n"
      "  expect(errs(function() pairs(nil) end, \"bad argument #1 to 'pairs' (table expected, got nil)\"), 'pairs(nil)')\n"
      "  expect(errs(function() pairs('abc') end, \"bad argument #1 to 'pairs' (table expected, got string)\"), 'pairs(s)')\n"
      "  expect(errs(function() next(5) end, \"bad argument #1 to 'next' (table expected, got number)\"), 'next(5)')\n"
      "  expect(errs(function() next({a = 1}, 'nope') end, \"invalid key to 'next'\"), 'next with a foreign key')\n"
      "  -- the stdlib's pairs is the ordered one too (its option check walks the options with pairs)\n"
      "  local p = nn.Linear(2, 2):parameters()\n"
      "  expect(errs(function() optim.AdamW(p, {[{}] = 1}) end, 'pairs: ' .. msg:format('table')), 'stdlib pairs')\n"
      "  expect(errs(function() optim.AdamW(p, {lr = 1, zz = 1, aa = 1}) end, 'unknown options aa, zz'), 'stdlib options')\n"
      "  expect(#nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2)):parameters() == 4, 'containers count keys with next')\n"
      "  done()\n" CONSUME
      "end\n"
      "return M\n";
  run_ok(train, "pairs/next: errors for unorderable keys and non-tables, the stdlib on top");

  /* Uncaught: the failure points at the miner's pairs call. */
  const char *level = "local M = {}\n"
                      "function M.train(ctx)\n"
                      "  local layers = {[ctx] = 1}\n"
                      "  for k in pairs(layers) do end\n"
                      "end\n"
                      "return M\n";
  prism_bundle *b = h_bundle(ARCH_TINY, level, NULL);
  prism_eval_config cfg;
  h_config(&cfg, b, h_data(10));
  prism_run_record r;
  h_job(JOB_RUN, &cfg, &r, NULL);
  check(!strcmp(r.failure.rule_id, "prism:runtime-error") && !strcmp(r.failure.file, "training.lua") &&
            r.failure.line == 4 && strstr(r.failure.message, "pairs: a table key of type 'userdata'"),
        "pairs: an unorderable key fails at the miner's file:line", "fail '%s' %s:%d '%s'", r.failure.rule_id,
        r.failure.file, r.failure.line, r.failure.message);
  prism_run_record_free(&r);
}

int main(void) {
  test_order();
  test_mutation();
  test_errors();
  return finish_tests();
}

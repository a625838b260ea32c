/* test_identity.c — no addresses for submission code (sandbox/identity.c): tables, functions,
 * coroutines and plain userdata print as "<type>: #<n>" with n given in first-use order;
 * values with __tostring (tensors) and plain values print as before; string.format refuses %p
 * (through string.format and through the string metatable) and formats reference arguments
 * with the same tostring; print goes through it; and a failure message loses the "at 0x..."
 * that LuaJIT prints for unnamed C functions. Checked through a real prism_child_run in a
 * forked process, like test_ordered.c. */
#include "child_harness.h"
#include "identity.h"

static const char *TRAIN =
    "local prism = require('prism')\n"
    "local fails, concat = {}, table.concat\n"
    "local function expect(c, name) if not c then fails[#fails + 1] = name end end\n"
    "local M = {}\n"
    "function M.train(ctx)\n"
    "  local a, b = {}, {}\n"
    "  local sb, sa = tostring(b), tostring(a)\n"
    "  local nb = tonumber(sb:match('^table: #(%d+)$'))\n"
    "  expect(nb ~= nil and sa == 'table: #' .. (nb + 1), 'tables numbered in first-use order: ' .. sb .. ' ' .. sa)\n"
    "  expect(tostring(b) == sb and tostring(a) == sa, 'the same table prints the same')\n"
    "  expect(not sa:find('0x') and not tostring(print):find('0x'), 'no address in tostring')\n"
    "  expect(tostring(print):match('^function: #%d+$') ~= nil, 'function: ' .. tostring(print))\n"
    "  expect(tostring(coroutine.create(print)):match('^thread: #%d+$') ~= nil, 'thread')\n"
    "  expect(tostring(1.5) == '1.5' and tostring(nil) == 'nil' and tostring(true) == 'true' and tostring('s') == 's', 'plain values')\n"
    "  local named = setmetatable({}, {__tostring = function() return 'NAMED' end})\n"
    "  expect(tostring(named) == 'NAMED', '__tostring still wins')\n"
    "  local t = prism.zeros({2})\n"
    "  expect(tostring(t) ~= nil and not tostring(t):find('#', 1, true), 'a tensor prints through its __tostring: ' .. tostring(t))\n"
    "  expect(not pcall(string.format, '%p', a) and not pcall(string.format, '%-8p', a), 'string.format refuses %p')\n"
    "  local ok, e = pcall(function() return ('%p'):format(a) end)\n"
    "  expect(not ok and tostring(e):find('%p, an address', 1, true), 'the string metatable copy refuses %p too: ' .. tostring(e))\n"
    "  expect(string.format('%s|%s', a, 1) == sa .. '|1' and ('%s'):format(b) == sb, '%s of a table is its tostring')\n"
    "  expect(string.format('%%p %5.1f %d %s', 2, 3, 'x') == '%p   2.0 3 x', 'other conversions unchanged')\n"
    "  expect(string.format('%s', named) == 'NAMED', '%s honours __tostring')\n"
    "  print(a, b, print)\n"
    "  if #fails > 0 then error('unmet: ' .. concat(fails, '; '), 0) end\n"
    "  for b in ctx:iter_train_batches(ctx:build_model(), {batch_size = 1, seq_len = 16}) do end\n"
    "end\n"
    "return M\n";

static void test_in_sandbox(void) {
  prism_bundle *b = h_bundle(ARCH_TINY, TRAIN, NULL);
  prism_eval_config cfg;
  h_config(&cfg, b, h_data(10));
  prism_run_record r;
  h_job(JOB_RUN, &cfg, &r, NULL);
  check(!r.failure.rule_id[0] && r.n_batches > 0, "tostring/format/print show no addresses", "%s %s", r.failure.rule_id,
        r.failure.message);
  prism_run_record_free(&r);
}

static void test_scrub(void) {
  char s[] = "boom\nstack traceback:\n\t[C]: at 0x55d0c1a2b3c0\n\ttraining.lua:4: in function <training.lua:2>\n"
             "\t[C]: at 0x4a3b2c\n\t[C]: in function 'pcall'";
  sandbox_identity_scrub(s);
  check(!strcmp(s, "boom\nstack traceback:\n\t[C]: ?\n\ttraining.lua:4: in function <training.lua:2>\n\t[C]: ?\n"
                   "\t[C]: in function 'pcall'"),
        "scrub: C functions' addresses in a traceback become '?'", "%s", s);
  char plain[] = "no address here: at 0x, 0xzz";
  check(!strcmp(sandbox_identity_scrub(plain), "no address here: at 0x, 0xzz"), "scrub: text without an address unchanged",
        "%s", plain);
}

int main(void) {
  test_in_sandbox();
  test_scrub();
  return finish_tests();
}

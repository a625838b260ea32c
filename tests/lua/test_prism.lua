-- test_prism.lua — the `prism` module itself: the exported names (and the tool functions it
-- must not export), no_grad (results, nesting, restoring the mode when the closure errors, the
-- error value and its location kept), constructors, broadcasting shapes and gradients through
-- the public API, and every example of docs/lua-api.md.
-- Run: prism exec tests/lua/test_prism.lua

---------------------------------------------------------------------------------------------
-- assertion helpers (tests/lua/harness.lua)
local harness = require("harness")
local check, test, raises, finish = harness.check, harness.test, harness.raises, harness.finish
---------------------------------------------------------------------------------------------

local prism = require("prism")

local function shape_of(t)
  return table.concat(t.shape, "x")
end
local function max_diff(a, b)
  return (a - b):abs():max():item()
end

test("exports", function()
  local documented = {
    "tensor", "zeros", "ones", "full", "empty", "arange", "randn", "rand", "no_grad", "is_grad_enabled",
    "matmul", "cat", "stack", "exp", "log", "sqrt", "rsqrt", "tanh", "sigmoid", "relu", "gelu", "silu", "abs",
    "softmax", "log_softmax", "sum", "mean", "max", "masked_fill", "triu", "tril", "gather", "index_select",
    "clamp", "maximum", "minimum", "is_tensor",
  }
  local missing = {}
  for _, name in ipairs(documented) do
    if type(prism[name]) ~= "function" then missing[#missing + 1] = name end
  end
  check("every documented function is exported", #missing == 0, table.concat(missing, ", "))
  local leaked = {}
  for _, name in ipairs({ "manual_seed", "seed", "set_num_threads", "get_num_threads", "data_bytes",
                          "set_grad_enabled", "mem_stats", "set_memory_limits" }) do
    if prism[name] ~= nil then leaked[#leaked + 1] = name end
  end
  check("no tool functions (reseeding, threads, raw data, grad switch)", #leaked == 0, table.concat(leaked, ", "))
  check("free functions behave like methods", max_diff(prism.exp(prism.ones(2)), prism.ones(2):exp()) == 0)
end)

test("no_grad", function()
  check("grad mode is on by default", prism.is_grad_enabled() == true)
  local w = prism.ones(3, { requires_grad = true })
  local a, b, c = prism.no_grad(function(x, y)
    return prism.is_grad_enabled(), w * x, y
  end, 2, "third")
  check("runs fn with grad off, passes arguments, returns every result", a == false and c == "third")
  check("ops inside do not record", b.requires_grad == false and b.is_leaf)
  check("mode restored after return", prism.is_grad_enabled() == true)
  check("ops outside record again", (w * 2).requires_grad == true)

  local inner_mode
  prism.no_grad(function()
    prism.no_grad(function() end)
    inner_mode = prism.is_grad_enabled()
  end)
  check("nested no_grad keeps the outer scope off", inner_mode == false and prism.is_grad_enabled())

  -- both errors are raised on the same line, so their "file:line:" prefixes must be equal
  local ok, err = pcall(prism.no_grad, function() error("boom") end); local _, ref = pcall(function() error("boom") end)
  check("an error propagates", not ok and tostring(err):find("boom", 1, true) ~= nil, err)
  check("the error keeps its original location", err == ref and ref:find("test_prism.lua:", 1, true) ~= nil,
        tostring(err) .. " vs " .. tostring(ref))
  check("mode restored after an error", prism.is_grad_enabled() == true)
  local sentinel = { code = 42 }
  ok, err = pcall(prism.no_grad, function() error(sentinel) end)
  check("a non-string error value is re-raised unchanged", not ok and rawequal(err, sentinel))
  check("mode restored after a table error", prism.is_grad_enabled() == true)
  ok, err = pcall(prism.no_grad, function() return prism.ones(2) + prism.ones(3) end)
  check("a core error inside no_grad propagates and restores", not ok and prism.is_grad_enabled(), err)
  prism.no_grad(function()
    local ok2 = pcall(prism.no_grad, function() error("inner") end)
    inner_mode = not ok2 and prism.is_grad_enabled()
  end)
  check("an inner error restores the OUTER no_grad's mode (off)", inner_mode == false)
  ok, err = raises(function() prism.no_grad(42) end, "no_grad: expected a function")
  check("no_grad rejects a non-function", ok, err)
end)

test("constructors", function()
  check("zeros(2, 3) == zeros({2, 3})", shape_of(prism.zeros(2, 3)) == "2x3" and shape_of(prism.zeros({ 2, 3 })) == "2x3")
  check("ones / full", prism.ones(2, 2):sum():item() == 4 and prism.full({ 2, 2 }, 1.5):sum():item() == 6)
  check("empty is zero-filled", prism.empty(3, 3):abs():sum():item() == 0)
  local r = prism.arange(3):tolist()
  check("arange(3) = {0, 1, 2}", #r == 3 and r[1] == 0 and r[3] == 2)
  r = prism.arange(2, 8, 3):tolist()
  check("arange(2, 8, 3) = {2, 5}", #r == 2 and r[1] == 2 and r[2] == 5)
  check("dtype option", prism.zeros(2, { dtype = "int64" }).dtype == "int64" and prism.zeros(2).dtype == "float32")
  local t = prism.tensor({ { 1, 2, 3 }, { 4, 5, 6 } })
  check("tensor from nested arrays", shape_of(t) == "2x3" and t:sum():item() == 21)
  local u = prism.rand(1000)
  check("rand in [0, 1)", u:max():item() < 1 and (u * -1):max():item() <= 0)
  check("randn draws differ call to call", max_diff(prism.randn(4), prism.randn(4)) > 0)
  check("is_tensor", prism.is_tensor(t) and not prism.is_tensor({}) and not prism.is_tensor(3))
end)

test("broadcasting", function()
  local a = prism.ones(2, 3)
  local row = prism.tensor({ 1, 2, 3 })
  local s = a + row
  check("[2,3] + [3] -> [2,3]", shape_of(s) == "2x3" and s:sum():item() == 2 * (2 + 3 + 4))
  check("[4,1,3] * [2,1] -> [4,2,3]", shape_of(prism.ones(4, 1, 3) * prism.ones(2, 1)) == "4x2x3")
  check("[3,1] - [1,4] -> [3,4]", shape_of(prism.ones(3, 1) - prism.ones(1, 4)) == "3x4")
  check("number on either side", (2 - a):sum():item() == 6 and (a / 4):sum():item() == 1.5)
  check("0-d tensor broadcasts", shape_of(prism.tensor(3) * a) == "2x3")
  local ok, err = raises(function() return prism.ones(2, 3) + prism.ones(4) end, "[2, 3]")
  check("incompatible shapes: an error naming them", ok and err:find("[4]", 1, true) ~= nil, err)
  check("matmul broadcasts batch dims: [2,3,4] @ [4,5]", shape_of(prism.ones(2, 3, 4):matmul(prism.ones(4, 5))) == "2x3x5")
  check("[2,1,3,4] @ [5,4,2] -> [2,5,3,2]", shape_of(prism.ones(2, 1, 3, 4):matmul(prism.ones(5, 4, 2))) == "2x5x3x2")
  check("masked_fill broadcasts its mask", prism.ones(2, 3):masked_fill(prism.tensor({ 1, 0, 1 }), 0):sum():item() == 2)

  -- gradients of broadcast operands are reduced back to their own shapes
  local x = prism.ones(2, 3, { requires_grad = true })
  local b = prism.tensor({ 1, 2, 3 }, { requires_grad = true })
  local c = prism.tensor({ { 2 }, { 5 } }, { requires_grad = true })
  local out = ((x * b + c) * 1):sum()
  out:backward()
  check("grad of the [3] operand has shape [3] and sums over rows", shape_of(b.grad) == "3" and b.grad:sum():item() == 6)
  check("grad of the [2,1] operand has shape [2,1] and sums over columns", shape_of(c.grad) == "2x1" and
        c.grad:sum():item() == 6)
  local xg = x.grad:tolist()
  check("grad of the full operand", shape_of(x.grad) == "2x3" and xg[2][3] == 3 and xg[1][1] == 1)
end)

-- Every ```lua block of docs/lua-api.md is an example whose asserts must hold. Each block is
-- compiled with blank lines in front so an error names its line in the doc itself.
test("docs/lua-api.md examples", function()
  local f = io.open("docs/lua-api.md", "r")   -- ctest runs from the repository root
  check("docs/lua-api.md is readable from the repository root", f ~= nil)
  if not f then return end
  local text = f:read("*a")
  f:close()
  local n, pos = 0, 1
  while true do
    local s, e = text:find("```lua\n", pos, true)
    if not s then break end
    local close_s, close_e = text:find("\n```", e, true)
    if not close_s then check("example after byte " .. s .. " is closed", false) break end
    n = n + 1
    local _, lines_before = text:sub(1, e):gsub("\n", "")
    local body = ("\n"):rep(lines_before) .. text:sub(e + 1, close_s)
    local chunk, err = loadstring(body, "@docs/lua-api.md")
    if chunk then
      local ok, run_err = pcall(chunk)
      check(("docs example %d (line %d) runs and its asserts hold"):format(n, lines_before + 1), ok, run_err)
    else
      check(("docs example %d (line %d) compiles"):format(n, lines_before + 1), false, err)
    end
    pos = close_e + 1
  end
  check("the API doc carries its examples", n >= 8, n)
end)

finish()

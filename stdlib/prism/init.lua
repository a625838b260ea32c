-- prism — the tensor entry point miners `require("prism")`. It re-exports an explicit
-- allow-list of the C core's constructors and free functions (never the whole core table: the
-- core also carries tool functions such as manual_seed or set_num_threads that a submission must
-- not reach) and owns the grad-mode scope `no_grad`, which must restore the mode on every path,
-- errors included, or one failing closure would silently disable autograd for the rest of a run.

-- Globals are captured once, at load: later changes to the global table cannot reach in here.
local error, ipairs, pcall, type = error, ipairs, pcall, type
local core = require("prism.core")

local M = {}

-- The miner-facing functions of the core, as documented in docs/lua-api.md. A name the core
-- lacks is an error at require time, so a gap shows up in the tests, not in a miner's run.
local EXPORTS = {
  -- constructors
  "tensor", "zeros", "ones", "full", "empty", "arange", "randn", "rand",
  -- free functions (same as the methods of their first argument)
  "matmul", "cat", "stack", "exp", "log", "sqrt", "rsqrt", "tanh", "sigmoid", "relu", "gelu",
  "silu", "abs", "softmax", "log_softmax", "sum", "mean", "max", "masked_fill", "triu", "tril",
  "gather", "index_select", "clamp", "maximum", "minimum", "is_tensor",
}

for _, name in ipairs(EXPORTS) do
  local f = core[name]
  if type(f) ~= "function" then
    error("prism: the core module lacks '" .. name .. "' (a runtime build problem)", 0)
  end
  M[name] = f
end

local set_grad_enabled = core.set_grad_enabled
local is_grad_enabled = core.is_grad_enabled

--- True while operations record the autograd tape.
function M.is_grad_enabled()
  return is_grad_enabled()
end

local function finish(prev, ok, ...)
  set_grad_enabled(prev)
  if not ok then
    -- Level 0: the error value already carries the location where it was raised.
    error((...), 0)
  end
  return ...
end

--- Runs fn(...) with gradient recording off and returns its results. The previous mode is
--- restored whether fn returns or raises; the original error value is re-raised unchanged.
function M.no_grad(fn, ...)
  if type(fn) ~= "function" then
    error("no_grad: expected a function, got " .. type(fn), 2)
  end
  local prev = is_grad_enabled()
  set_grad_enabled(false)
  return finish(prev, pcall(fn, ...))
end

return M

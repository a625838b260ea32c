-- hostile/no-getfenv: reach a function environment (the stdlib's) with getfenv (absent).
local prism = require("prism")
local optim = require("prism.optim")

local M = {}

function M.train(ctx)
  -- the name is built at run time, so this exercises the sandbox itself, not a static scan
  local function hidden(...) return table.concat({ ... }) end
  local f = _G[hidden("get", "fenv")]
  f(require)
  error("HOSTILE-ESCAPED: no-getfenv: the trick above did not raise")
end

return M

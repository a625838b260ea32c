-- hostile/no-setfenv: swap a stdlib function environment with setfenv (absent).
local prism = require("prism")
local optim = require("prism.optim")

local M = {}

function M.train(ctx)
  -- the name is built at run time, so this exercises the sandbox itself, not a static scan
  local function hidden(...) return table.concat({ ... }) end
  local f = _G[hidden("set", "fenv")]
  f(1, {})
  error("HOSTILE-ESCAPED: no-setfenv: the trick above did not raise")
end

return M

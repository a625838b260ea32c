-- hostile/no-load: compile code through load(fn) (absent from the sandbox).
local prism = require("prism")
local optim = require("prism.optim")

local M = {}

function M.train(ctx)
  -- the name is built at run time, so this exercises the sandbox itself, not a static scan
  local function hidden(...) return table.concat({ ... }) end
  local f = _G[hidden("lo", "ad")]
  f(function() return nil end)
  error("HOSTILE-ESCAPED: no-load: the trick above did not raise")
end

return M

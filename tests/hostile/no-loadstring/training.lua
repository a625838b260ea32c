-- hostile/no-loadstring: compile code from a string with loadstring (absent from the sandbox).
local prism = require("prism")
local optim = require("prism.optim")

local M = {}

function M.train(ctx)
  -- the name is built at run time, so this exercises the sandbox itself, not a static scan
  local function hidden(...) return table.concat({ ... }) end
  local f = _G[hidden("load", "string")]
  f("return 1")
  error("HOSTILE-ESCAPED: no-loadstring: the trick above did not raise")
end

return M

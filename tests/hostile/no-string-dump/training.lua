-- hostile/no-string-dump: dump a function to bytecode with string.dump (removed from string).
local prism = require("prism")
local optim = require("prism.optim")

local M = {}

function M.train(ctx)
  -- the name is built at run time, so this exercises the sandbox itself, not a static scan
  local function hidden(...) return table.concat({ ... }) end
  local f = string[hidden("du", "mp")]
  f(function() end)
  error("HOSTILE-ESCAPED: no-string-dump: the trick above did not raise")
end

return M

-- hostile/require-debug: require("debug") for the registry and upvalues.
local prism = require("prism")
local optim = require("prism.optim")

local M = {}

function M.train(ctx)
  -- the name is built at run time, so this exercises the sandbox itself, not a static scan
  local function hidden(...) return table.concat({ ... }) end
  require(hidden("de", "bug"))
  error("HOSTILE-ESCAPED: require-debug: the trick above did not raise")
end

return M

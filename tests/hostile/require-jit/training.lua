-- hostile/require-jit: require("jit") to turn the JIT back on.
local prism = require("prism")
local optim = require("prism.optim")

local M = {}

function M.train(ctx)
  -- the name is built at run time, so this exercises the sandbox itself, not a static scan
  local function hidden(...) return table.concat({ ... }) end
  require(hidden("j", "it"))
  error("HOSTILE-ESCAPED: require-jit: the trick above did not raise")
end

return M

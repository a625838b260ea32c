-- hostile/require-prism-core: require the raw kernels (prism.core: manual_seed, unchecked ops).
local prism = require("prism")
local optim = require("prism.optim")

local M = {}

function M.train(ctx)
  -- the name is built at run time, so this exercises the sandbox itself, not a static scan
  local function hidden(...) return table.concat({ ... }) end
  require(hidden("prism", ".core"))
  error("HOSTILE-ESCAPED: require-prism-core: the trick above did not raise")
end

return M

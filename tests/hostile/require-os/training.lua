-- hostile/require-os: require("os") for os.execute / os.remove.
local prism = require("prism")
local optim = require("prism.optim")

local M = {}

function M.train(ctx)
  -- the name is built at run time, so this exercises the sandbox itself, not a static scan
  local function hidden(...) return table.concat({ ... }) end
  require(hidden("o", "s"))
  error("HOSTILE-ESCAPED: require-os: the trick above did not raise")
end

return M

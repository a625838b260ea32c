-- hostile/require-ffi: require("ffi") for raw C calls.
local prism = require("prism")
local optim = require("prism.optim")

local M = {}

function M.train(ctx)
  -- the name is built at run time, so this exercises the sandbox itself, not a static scan
  local function hidden(...) return table.concat({ ... }) end
  require(hidden("f", "fi"))
  error("HOSTILE-ESCAPED: require-ffi: the trick above did not raise")
end

return M

-- hostile/shape-overflow: a shape whose element count overflows 64 bits.
local prism = require("prism")
local optim = require("prism.optim")

local M = {}

function M.train(ctx)
  local t = prism.zeros(2 ^ 31, 2 ^ 31, 2 ^ 31)
  error("HOSTILE-ESCAPED: shape-overflow: the trick above did not raise")
end

return M

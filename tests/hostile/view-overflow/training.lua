-- hostile/view-overflow: view a small tensor as an overflowing shape.
local prism = require("prism")
local optim = require("prism.optim")

local M = {}

function M.train(ctx)
  local t = prism.zeros(4):view(2 ^ 32, 2 ^ 32)
  error("HOSTILE-ESCAPED: view-overflow: the trick above did not raise")
end

return M

-- hostile/negative-size: a negative dimension.
local prism = require("prism")
local optim = require("prism.optim")

local M = {}

function M.train(ctx)
  local t = prism.zeros(-1, 4)
  error("HOSTILE-ESCAPED: negative-size: the trick above did not raise")
end

return M

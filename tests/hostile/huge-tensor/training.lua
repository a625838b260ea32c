-- hostile/huge-tensor: allocate a 4 TiB tensor.
local prism = require("prism")
local optim = require("prism.optim")

local M = {}

function M.train(ctx)
  local t = prism.zeros(1024 * 1024, 1024 * 1024)
  error("HOSTILE-ESCAPED: huge-tensor: the trick above did not raise")
end

return M

-- hostile/ctx-setmetatable: replace the ctx metatable to redirect its methods.
local prism = require("prism")
local optim = require("prism.optim")

local M = {}

function M.train(ctx)
  setmetatable(ctx, { __index = function() return 1 end })
  error("HOSTILE-ESCAPED: ctx-setmetatable: the trick above did not raise")
end

return M

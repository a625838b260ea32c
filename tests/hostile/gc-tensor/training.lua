-- hostile/gc-tensor: hang a __gc finalizer on a tensor's metatable, so code runs when the
-- runtime collects tensors. getmetatable(tensor) is the lock string "locked", so the assignment
-- is an index of a string value, and fails.
local prism = require("prism")
local optim = require("prism.optim")

local M = {}

function M.train(ctx)
  local mt = getmetatable(prism.zeros(2))
  mt.__gc = function() error("tensor finalizer ran") end
  error("HOSTILE-ESCAPED: gc-tensor: the trick above did not raise")
end

return M

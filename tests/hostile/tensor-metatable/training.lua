-- hostile/tensor-metatable: patch a tensor's metatable: getmetatable gives the lock string, setmetatable on it fails.
local prism = require("prism")
local optim = require("prism.optim")

local M = {}

function M.train(ctx)
  local t = prism.zeros(2)
  local mt = getmetatable(t)
  if type(mt) == "table" then error("HOSTILE-ESCAPED: tensor-metatable: getmetatable(tensor) is a table") end
  setmetatable(t, { __index = function() return 0 end })
  error("HOSTILE-ESCAPED: tensor-metatable: the trick above did not raise")
end

return M

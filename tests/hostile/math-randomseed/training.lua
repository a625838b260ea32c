-- hostile/math-randomseed: reseed the Lua random stream (math.randomseed is removed).
local prism = require("prism")
local optim = require("prism.optim")

local M = {}

function M.train(ctx)
  math.randomseed(42)
  error("HOSTILE-ESCAPED: math-randomseed: the trick above did not raise")
end

return M

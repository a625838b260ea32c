-- hostile/deep-recursion: unbounded recursion: a Lua stack-overflow error, not a crash.
local prism = require("prism")
local optim = require("prism.optim")

local M = {}

function M.train(ctx)
  local function f(n) return 1 + f(n + 1) end
  f(1)
  error("HOSTILE-ESCAPED: deep-recursion: the trick above did not raise")
end

return M

-- hostile/coroutine-loop: spin forever inside a coroutine (hooks must reach coroutines too).
local prism = require("prism")
local optim = require("prism.optim")

local M = {}

function M.train(ctx)
  local co = coroutine.wrap(function() local n = 0; while true do n = n + 1 end end)
  co()
  error("HOSTILE-ESCAPED: coroutine-loop: the trick above did not raise")
end

return M

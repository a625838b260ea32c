-- hostile/hook-coroutine-pcall: the loop runs inside a coroutine, whose resume is retried under
-- pcall forever with fresh coroutines: the count hook is global to the VM (it reaches every
-- coroutine) and, once the deadline has passed, raises in the resuming loop as well.
local prism = require("prism")
local optim = require("prism.optim")

local M = {}

function M.train(ctx)
  while true do
    local co = coroutine.create(function() local n = 0; while true do n = n + 1 end end)
    pcall(coroutine.resume, co)
  end
  error("HOSTILE-ESCAPED: hook-coroutine-pcall: the trick above did not raise")
end

return M

-- hostile/coroutine-nesting: each coroutine resumes a new one from inside itself: every resume
-- is a C-level call, so the nesting exhausts the C stack (stock LuaJIT segfaults on this).
local prism = require("prism")
local optim = require("prism.optim")

local M = {}

function M.train(ctx)
  local function nest() return coroutine.wrap(nest)() end
  nest()
  error("HOSTILE-ESCAPED: coroutine-nesting: the trick above did not raise")
end

return M

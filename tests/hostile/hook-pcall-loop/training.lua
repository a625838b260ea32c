-- hostile/hook-pcall-loop: an infinite loop wrapped in pcall, inside an infinite loop: each
-- error the deadline raises is swallowed, and the loop starts again (the Redis "catch the kill"
-- trick). The count hook raises on every instruction once the deadline has passed, so the outer
-- loop cannot run either, and the run ends with the loop's file:line before the watchdog.
local prism = require("prism")
local optim = require("prism.optim")

local M = {}

function M.train(ctx)
  local swallowed = 0
  while true do
    local ok = pcall(function() local n = 0; while true do n = n + 1 end end)
    swallowed = swallowed + 1
  end
  error("HOSTILE-ESCAPED: hook-pcall-loop: the trick above did not raise")
end

return M

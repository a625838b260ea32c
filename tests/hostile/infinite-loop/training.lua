-- hostile/infinite-loop: spin forever before the first batch: only the watchdog can stop it.
local prism = require("prism")
local optim = require("prism.optim")

local M = {}

function M.train(ctx)
  local n = 0
  while true do n = n + 1 end
  error("HOSTILE-ESCAPED: infinite-loop: the trick above did not raise")
end

return M

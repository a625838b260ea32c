-- hostile/log-flood: print 100,000 lines to flood the log: rate-limited, the run is still scored.
local honest = require("honest")

local M = {}

function M.train(ctx)
  for i = 1, 100000 do print("flood line " .. i) end
  honest.train(ctx)
end

return M

-- hostile/collectgarbage-collect: force/stop collection (collectgarbage("stop")) to pin memory; only "count" is available.
local prism = require("prism")
local optim = require("prism.optim")

local M = {}

function M.train(ctx)
  collectgarbage("stop")
  error("HOSTILE-ESCAPED: collectgarbage-collect: the trick above did not raise")
end

return M

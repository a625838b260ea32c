-- hostile/string-method-dump: reach dump through the string method table (""):dump (removed there too).
local prism = require("prism")
local optim = require("prism.optim")

local M = {}

function M.train(ctx)
  local b = (""):dump()
  error("HOSTILE-ESCAPED: string-method-dump: the trick above did not raise")
end

return M

-- hostile/string-rep-huge: one string.rep of 1 GiB in a single allocation, past the Lua heap cap (PRISM_LUA_MEM_LIMIT).
local prism = require("prism")
local optim = require("prism.optim")

local M = {}

function M.train(ctx)
  local s = string.rep("x", 2 ^ 30)
  error("HOSTILE-ESCAPED: string-rep-huge: the trick above did not raise")
end

return M

-- hostile/memory-bomb: double a string until the Lua heap cap (PRISM_LUA_MEM_LIMIT) stops it.
local prism = require("prism")
local optim = require("prism.optim")

local M = {}

function M.train(ctx)
  local s = "x"
  local keep = {}
  while true do s = s .. s; keep[#keep + 1] = s end
  error("HOSTILE-ESCAPED: memory-bomb: the trick above did not raise")
end

return M

-- hostile/c-stack-overflow: recurse through C, not Lua: a string.gsub callback that calls
-- string.gsub again puts a C frame (and its 8 KiB luaL_Buffer) on the C stack per level, so the C
-- stack runs out long before the Lua stack does (stock LuaJIT segfaults on this).
local prism = require("prism")
local optim = require("prism.optim")

local M = {}

function M.train(ctx)
  local function again(s) return (string.gsub(s, ".", again)) end
  again("ab")
  error("HOSTILE-ESCAPED: c-stack-overflow: the trick above did not raise")
end

return M

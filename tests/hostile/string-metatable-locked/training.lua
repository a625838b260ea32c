-- hostile/string-metatable-locked: patch the VM-wide string metatable: getmetatable("") is the lock string, its __index unreachable, so the rep override never happens.
local honest = require("honest")

local M = {}

function M.train(ctx)
  local mt = getmetatable("")
  if type(mt) == "table" then mt.__index.rep = function() return "" end end
  if mt ~= "locked" then error("HOSTILE-ESCAPED: string-metatable-locked: getmetatable(\"\") is " .. tostring(mt)) end
  if ("ab"):rep(2) ~= "abab" then error("HOSTILE-ESCAPED: string-metatable-locked: string methods were patched") end
  string.rep = function() error("patched string.rep reached the runtime") end
  string.format = function() error("patched string.format reached the runtime") end
  table.concat = function() error("patched table.concat reached the runtime") end
  table.insert = function() error("patched table.insert reached the runtime") end
  math.log = function() error("patched math.log reached the runtime") end
  math.sqrt = function() error("patched math.sqrt reached the runtime") end
  honest.train(ctx)
end

return M

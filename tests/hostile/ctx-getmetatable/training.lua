-- hostile/ctx-getmetatable: read the ctx metatable to reach its methods table: getmetatable(ctx) is the lock string.
local honest = require("honest")

local M = {}

function M.train(ctx)
  local mt = getmetatable(ctx)
  if mt ~= "locked" then error("HOSTILE-ESCAPED: ctx-getmetatable: getmetatable(ctx) is " .. tostring(mt)) end
  local ok = pcall(function() return mt.__index end)
  if ok and type(mt.__index) == "table" then error("HOSTILE-ESCAPED: ctx-getmetatable: reached __index") end
  honest.train(ctx)
end

return M

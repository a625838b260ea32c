-- hostile/globals-patched: replace tostring/type/pairs/ipairs/setmetatable in the submission globals: the stdlib has its own environment, so training is unchanged.
local honest = require("honest")

local M = {}

function M.train(ctx)
  local real_type = type
  tostring = function() error("patched tostring reached the runtime") end
  pairs = function() error("patched pairs reached the runtime") end
  ipairs = function() error("patched ipairs reached the runtime") end
  setmetatable = function() error("patched setmetatable reached the runtime") end
  getmetatable = function() error("patched getmetatable reached the runtime") end
  _G.type = function(v) local t = real_type(v); if t == "number" then return "string" end return t end
  honest.train(ctx)
end

return M

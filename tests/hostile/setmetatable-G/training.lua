-- hostile/setmetatable-G: give the submission's globals a metatable that answers every missing
-- name and swallows every write, strip it again with setmetatable(_G, nil), and rawset names
-- the runtime might look up (require, train, tostring): the runtime and the stdlib never read the
-- submission's globals, so training is unchanged.
local honest = require("honest")

local M = {}

function M.train(ctx)
  setmetatable(_G, {
    __index = function(_, k) return function() error("hijacked global " .. tostring(k) .. " reached the runtime") end end,
    __newindex = function() end,
  })
  rawset(_G, "require", function() error("hijacked require reached the runtime") end)
  rawset(_G, "train", function() error("hijacked train reached the runtime") end)
  rawset(_G, "build_model", function() error("hijacked build_model reached the runtime") end)
  setmetatable(_G, nil)
  setmetatable(_G, { __index = function() error("hijacked __index reached the runtime") end, __metatable = "mine" })
  honest.train(ctx)
end

return M

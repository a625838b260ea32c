-- hostile/newproxy-absent: newproxy(true) is the Lua 5.1 way to get a userdata whose __gc runs at
-- collection time (a finalizer outside any pcall the runtime controls). It is not in the
-- allow-list (SPEC §10), so the call fails.
local prism = require("prism")
local optim = require("prism.optim")

local M = {}

function M.train(ctx)
  local newproxy = _G[table.concat({ "new", "proxy" })]
  local p = newproxy(true)
  getmetatable(p).__gc = function() error("finalizer ran") end
  error("HOSTILE-ESCAPED: newproxy-absent: the trick above did not raise")
end

return M

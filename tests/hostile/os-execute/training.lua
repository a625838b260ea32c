-- hostile/os-execute: run a shell command with os.execute (os holds only clock).
local prism = require("prism")
local optim = require("prism.optim")

local M = {}

function M.train(ctx)
  -- the name is built at run time, so this exercises the sandbox itself, not a static scan
  local function hidden(...) return table.concat({ ... }) end
  local f = os[hidden("exe", "cute")]
  f("touch /tmp/prism-hostile-pwned")
  error("HOSTILE-ESCAPED: os-execute: the trick above did not raise")
end

return M

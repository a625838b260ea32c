-- hostile/no-dofile: run a file from disk with dofile (absent from the sandbox).
local prism = require("prism")
local optim = require("prism.optim")

local M = {}

function M.train(ctx)
  -- the name is built at run time, so this exercises the sandbox itself, not a static scan
  local function hidden(...) return table.concat({ ... }) end
  local f = _G[hidden("do", "file")]
  f("/etc/passwd")
  error("HOSTILE-ESCAPED: no-dofile: the trick above did not raise")
end

return M

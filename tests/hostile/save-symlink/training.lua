-- hostile/save-symlink: write through a symlink the runner planted in OUT (points at a canary outside).
local prism = require("prism")
local optim = require("prism.optim")

local M = {}

function M.train(ctx)
  ctx:save("planted.txt", "pwned")
  error("HOSTILE-ESCAPED: save-symlink: the trick above did not raise")
end

return M

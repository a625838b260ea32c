-- hostile/save-absolute: write an absolute path with ctx:save("/tmp/x.txt").
local prism = require("prism")
local optim = require("prism.optim")

local M = {}

function M.train(ctx)
  ctx:save("/tmp/prism-hostile-escaped.txt", "pwned")
  error("HOSTILE-ESCAPED: save-absolute: the trick above did not raise")
end

return M

-- hostile/save-dotdot: escape the artifacts dir with ctx:save("../x.txt").
local prism = require("prism")
local optim = require("prism.optim")

local M = {}

function M.train(ctx)
  ctx:save("../hostile-escaped.txt", "pwned")
  error("HOSTILE-ESCAPED: save-dotdot: the trick above did not raise")
end

return M

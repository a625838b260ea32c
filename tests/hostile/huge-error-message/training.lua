-- hostile/huge-error-message: raise an 8 MiB error message to flood the validator's log and the manifest.
local prism = require("prism")
local optim = require("prism.optim")

local M = {}

function M.train(ctx)
  error(string.rep("A", 8 * 1024 * 1024))
  error("HOSTILE-ESCAPED: huge-error-message: the trick above did not raise")
end

return M

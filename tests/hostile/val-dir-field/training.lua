-- hostile/val-dir-field: find the val split through a ctx field (there is none; the run child never gets the val dir).
local prism = require("prism")
local optim = require("prism.optim")

local M = {}

function M.train(ctx)
  local v = ctx.val_dir
  error("HOSTILE-ESCAPED: val-dir-field: the trick above did not raise")
end

return M

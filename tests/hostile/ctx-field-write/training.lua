-- hostile/ctx-field-write: raise its own budget by writing ctx.token_budget (ctx is read-only).
local prism = require("prism")
local optim = require("prism.optim")

local M = {}

function M.train(ctx)
  ctx.token_budget = 1e12
  error("HOSTILE-ESCAPED: ctx-field-write: the trick above did not raise")
end

return M

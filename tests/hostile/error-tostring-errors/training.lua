-- hostile/error-tostring-errors: raise an error object whose __tostring itself errors: a clean failure, no crash.
local prism = require("prism")
local optim = require("prism.optim")

local M = {}

function M.train(ctx)
  error(setmetatable({}, { __tostring = function() error("__tostring bomb") end }))
  error("HOSTILE-ESCAPED: error-tostring-errors: the trick above did not raise")
end

return M

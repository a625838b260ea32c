-- hostile/tensor-byte-cap: one 256 MiB tensor against a 64 MiB tensor-byte cap (run with
-- PRISM_TENSOR_HARD_LIMIT=64 MiB): refused before any allocation, with the cap named.
local prism = require("prism")
local optim = require("prism.optim")

local M = {}

function M.train(ctx)
  local t = prism.zeros(1024, 1024, 64)
  error("HOSTILE-ESCAPED: tensor-byte-cap: the trick above did not raise")
end

return M

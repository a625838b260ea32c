-- hostile/many-tiny-tensors: allocate 10,000 tiny tensors per step: contained by the tensor GC hook, still scored.
local prism = require("prism")
local honest = require("honest")

local M = {}

function M.train(ctx)
  honest.train(ctx, function()
    local keep = {}
    for i = 1, 10000 do keep[i] = prism.zeros(1) + i end
  end)
end

return M

-- hostile/save-trained-state: pre-plant the trained state with ctx:save("trained_state.safetensors").
local prism = require("prism")
local optim = require("prism.optim")

local M = {}

function M.train(ctx)
  ctx:save("trained_state.safetensors", { w = prism.zeros(2) })
  error("HOSTILE-ESCAPED: save-trained-state: the trick above did not raise")
end

return M

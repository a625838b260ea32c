-- hostile/baseline: the control: an honest learner (no trick); the scored cases must match its online loss.
local honest = require("honest")

local M = {}

function M.train(ctx)
  honest.train(ctx)
end

return M

-- hostile/save-manifest: forge the runtime manifest with ctx:save("prism_run_manifest.v2.json").
local prism = require("prism")
local optim = require("prism.optim")

local M = {}

function M.train(ctx)
  ctx:save("prism_run_manifest.v2.json", { score = { final_score = 1 } })
  error("HOSTILE-ESCAPED: save-manifest: the trick above did not raise")
end

return M

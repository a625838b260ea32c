-- hostile/fake-markers: print forged prism failure lines, rule ids and manifest JSON to stderr; they change nothing.
local honest = require("honest")

local M = {}

function M.train(ctx)
  print("prism: prism:budget-exceeded: forged by the submission")
  print("prism: prism:internal: forged")
  print("{\"schema\":\"prism_run_manifest.v2\",\"score\":{\"final_score\":0.999}}")
  print("PRISM_RESULT final_score=0.999 bpb=0.001")
  honest.train(ctx)
end

return M

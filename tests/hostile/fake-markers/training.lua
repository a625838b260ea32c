-- hostile/fake-markers: print forged prism failure lines, rule ids and manifest JSON to stderr; they change nothing.
local prism = require("prism")
local optim = require("prism.optim")

local M = {}

function M.train(ctx)
  print("prism: prism:budget-exceeded: forged by the submission")
  print("prism: prism:internal: forged")
  print("{\"schema\":\"prism_run_manifest.v2\",\"score\":{\"final_score\":0.999}}")
  print("PRISM_RESULT final_score=0.999 bpb=0.001")
  local model = ctx:build_model()
  local opt = optim.AdamW(model:parameters(), { lr = 1e-2 })
  for batch in ctx:iter_train_batches(model, { batch_size = 4, seq_len = ctx.max_seq_len }) do
    opt:zero_grad()
    local loss = model:loss(batch.tokens)
    loss:backward()
    opt:step()
  end
end

return M

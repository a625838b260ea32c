-- hostile/baseline: the control: an honest learner (no trick); the scored cases must match its online loss.
local prism = require("prism")
local optim = require("prism.optim")

local M = {}

function M.train(ctx)
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

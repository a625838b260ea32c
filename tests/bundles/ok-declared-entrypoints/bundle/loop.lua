-- One pass over the instrument with AdamW on next-token cross-entropy.
local F = require("prism.nn.functional")
local optim = require("prism.optim")

local M = {}

function M.run(ctx)
  local model = ctx:build_model()
  local opt = optim.AdamW(model:parameters(), { lr = 1e-2 })
  for batch in ctx:iter_train_batches(model, { batch_size = 2, seq_len = 32 }) do
    local tokens = batch.tokens
    local T = tokens:size(2)
    local logits = model(tokens:narrow(2, 1, T - 1))
    local V = logits:size(-1)
    local loss = F.cross_entropy(logits:reshape(-1, V), tokens:narrow(2, 2, T - 1):reshape(-1))
    opt:zero_grad()
    loss:backward()
    opt:step()
  end
end

return M

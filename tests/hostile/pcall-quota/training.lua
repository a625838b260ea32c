-- hostile/pcall-quota: swallow the artifacts-quota error with pcall and keep training.
local prism = require("prism")
local optim = require("prism.optim")

local M = {}

function M.train(ctx)
  local ok, err = pcall(function() ctx:save("big.txt", string.rep("x", 256 * 1024)) end)
  if ok then error("HOSTILE-ESCAPED: pcall-quota: a 256 KiB save passed a 64 KiB quota") end
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

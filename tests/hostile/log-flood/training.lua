-- hostile/log-flood: print 100,000 lines to flood the log: rate-limited, the run is still scored.
local prism = require("prism")
local optim = require("prism.optim")

local M = {}

function M.train(ctx)
  for i = 1, 100000 do print("flood line " .. i) end
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

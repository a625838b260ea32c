-- hostile/ctx-getmetatable: read the ctx metatable to reach its methods table: getmetatable(ctx) is the lock string.
local prism = require("prism")
local optim = require("prism.optim")

local M = {}

function M.train(ctx)
  local mt = getmetatable(ctx)
  if mt ~= "locked" then error("HOSTILE-ESCAPED: ctx-getmetatable: getmetatable(ctx) is " .. tostring(mt)) end
  local ok = pcall(function() return mt.__index end)
  if ok and type(mt.__index) == "table" then error("HOSTILE-ESCAPED: ctx-getmetatable: reached __index") end
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

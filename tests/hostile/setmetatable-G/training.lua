-- hostile/setmetatable-G: give the submission's globals a metatable that answers every missing
-- name and swallows every write, strip it again with setmetatable(_G, nil), and rawset names
-- the runtime might look up (require, train, tostring): the runtime and the stdlib never read the
-- submission's globals, so training is unchanged.
local prism = require("prism")
local optim = require("prism.optim")

local M = {}

function M.train(ctx)
  setmetatable(_G, {
    __index = function(_, k) return function() error("hijacked global " .. tostring(k) .. " reached the runtime") end end,
    __newindex = function() end,
  })
  rawset(_G, "require", function() error("hijacked require reached the runtime") end)
  rawset(_G, "train", function() error("hijacked train reached the runtime") end)
  rawset(_G, "build_model", function() error("hijacked build_model reached the runtime") end)
  setmetatable(_G, nil)
  setmetatable(_G, { __index = function() error("hijacked __index reached the runtime") end, __metatable = "mine" })
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

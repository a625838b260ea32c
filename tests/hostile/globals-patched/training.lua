-- hostile/globals-patched: replace tostring/type/pairs/ipairs/setmetatable in the submission globals: the stdlib has its own environment, so training is unchanged.
local prism = require("prism")
local optim = require("prism.optim")

local M = {}

function M.train(ctx)
  local real_type = type
  tostring = function() error("patched tostring reached the runtime") end
  pairs = function() error("patched pairs reached the runtime") end
  ipairs = function() error("patched ipairs reached the runtime") end
  setmetatable = function() error("patched setmetatable reached the runtime") end
  getmetatable = function() error("patched getmetatable reached the runtime") end
  _G.type = function(v) local t = real_type(v); if t == "number" then return "string" end return t end
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

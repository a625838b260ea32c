-- hostile/string-metatable-locked: patch the VM-wide string metatable: getmetatable("") is the lock string, its __index unreachable, so the rep override never happens.
local prism = require("prism")
local optim = require("prism.optim")

local M = {}

function M.train(ctx)
  local mt = getmetatable("")
  if type(mt) == "table" then mt.__index.rep = function() return "" end end
  if mt ~= "locked" then error("HOSTILE-ESCAPED: string-metatable-locked: getmetatable(\"\") is " .. tostring(mt)) end
  if ("ab"):rep(2) ~= "abab" then error("HOSTILE-ESCAPED: string-metatable-locked: string methods were patched") end
  string.rep = function() error("patched string.rep reached the runtime") end
  string.format = function() error("patched string.format reached the runtime") end
  table.concat = function() error("patched table.concat reached the runtime") end
  table.insert = function() error("patched table.insert reached the runtime") end
  math.log = function() error("patched math.log reached the runtime") end
  math.sqrt = function() error("patched math.sqrt reached the runtime") end
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

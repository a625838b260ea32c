-- examples/tiny-1m/training.lua — the reference example's training recipe, as a submission
-- training script: it builds the model through ctx (the runtime applies the forced seed first),
-- owns the optimizer and the loop, and sees text only through ctx:iter_train_batches. The runtime
-- records the model's loss on every batch before this loop updates on it; that stream is the
-- score (prequential bits per byte), so what matters is how fast the model learns in one pass.
--
-- Recipe (reference examples/tiny-1m/training.py): AdamW lr 5e-3 (PyTorch's other defaults:
-- betas 0.9/0.999, eps 1e-8, weight decay 0.01), gradient clipping at norm 1.0, batches of 4
-- windows of ctx.max_seq_len GPT-2 tokens (the reference example's tokenizer; ids are reduced mod
-- ctx.vocab_size by the runtime, and the held-out scores on the same gpt2 basis).

local optim = require("prism.optim")

local LR = 5e-3
local CLIP = 1.0
local BATCH_SIZE = 4

local M = {}

function M.train(ctx)
  local model = ctx:build_model()
  local params = model:parameters()
  local opt = optim.AdamW(params, { lr = LR })
  local tokenizer = ctx:reference_tokenizer("gpt2")
  for batch in ctx:iter_train_batches(model, { batch_size = BATCH_SIZE, seq_len = ctx.max_seq_len,
                                               tokenizer = tokenizer }) do
    opt:zero_grad()
    local loss = model:loss(batch.tokens)
    loss:backward()
    optim.clip_grad_norm(params, CLIP)
    opt:step()
  end
end

return M

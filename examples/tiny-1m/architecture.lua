-- examples/tiny-1m/architecture.lua — the reference's tiny decoder (~1.05M parameters), written
-- as a submission architecture: a pure file that builds the model and touches no data.
--
-- A GPT-style decoder: token embedding -> 2 pre-norm transformer blocks (RMSNorm -> causal
-- self-attention, RMSNorm -> SwiGLU MLP, each added back to the residual stream) -> final
-- RMSNorm -> output head tied to the embedding. With vocab 4096 and dim 128 it has exactly
-- 1,049,216 parameters:
--   embedding 4096*128                 524,288   (also the output head: tied, counted once)
--   per block: qkv 128*384              49,152
--              attention out 128*128    16,384
--              w1, w3 128*512, w2 512*128  196,608
--              two RMSNorm weights          256   -> 262,400 per block, 524,800 for two
--   final RMSNorm                           128
-- The runtime also embeds this file in the binary (module "examples.tiny-1m.architecture"):
-- `prism selftest` trains one step of it to check determinism across thread counts.

local prism = require("prism")
local nn = require("prism.nn")
local F = require("prism.nn.functional")

local DIM = 128       -- width of the residual stream
local N_HEADS = 4     -- head_dim = 32
local N_LAYERS = 2
local MLP_MULT = 4    -- SwiGLU hidden width = 4 * DIM = 512
local NORM_EPS = 1e-6
local EMB_STD = 0.13  -- the reference's embedding init; also sets the tied head's logit scale

-- Causal self-attention with one fused q/k/v projection (one GEMM instead of three).
local Attention = nn.Module:extend("Attention")

function Attention:init(dim, n_heads)
  if dim % n_heads ~= 0 then error("Attention: dim " .. dim .. " is not divisible by n_heads " .. n_heads) end
  self.dim, self.n_heads, self.head_dim = dim, n_heads, dim / n_heads
  self.qkv = nn.Linear(dim, 3 * dim, { bias = false })
  self.proj = nn.Linear(dim, dim, { bias = false })
end

function Attention:forward(x)                     -- x: [B, T, C]
  local B, T, C = x:size(1), x:size(2), x:size(3)
  local H, D = self.n_heads, self.head_dim
  local qkv = self.qkv(x):split(C, -1)        -- three [B, T, C] views of one [B, T, 3C] tensor
  local q, k, v = qkv[1], qkv[2], qkv[3]
  -- [B, T, C] -> [B, T, H, D] -> [B, H, T, D]: the layout the fused attention kernel takes.
  q = q:view(B, T, H, D):transpose(2, 3)
  k = k:view(B, T, H, D):transpose(2, 3)
  v = v:view(B, T, H, D):transpose(2, 3)
  local y = F.scaled_dot_product_attention(q, k, v, { causal = true })   -- scale 1/sqrt(D)
  -- Back to [B, T, C]; the transpose makes y non-contiguous, so reshape copies it.
  y = y:transpose(2, 3):reshape(B, T, C)
  return self.proj(y)
end

-- SwiGLU MLP: w2(silu(w1 x) * w3 x), no biases.
local SwiGLU = nn.Module:extend("SwiGLU")

function SwiGLU:init(dim, hidden)
  self.w1 = nn.Linear(dim, hidden, { bias = false })
  self.w3 = nn.Linear(dim, hidden, { bias = false })
  self.w2 = nn.Linear(hidden, dim, { bias = false })
end

function SwiGLU:forward(x)
  return self.w2(F.silu(self.w1(x)) * self.w3(x))
end

-- One pre-norm block: normalize, transform, add to the residual stream.
local Block = nn.Module:extend("Block")

function Block:init(dim, n_heads)
  self.attn_norm = nn.RMSNorm(dim, { eps = NORM_EPS })
  self.attn = Attention(dim, n_heads)
  self.mlp_norm = nn.RMSNorm(dim, { eps = NORM_EPS })
  self.mlp = SwiGLU(dim, MLP_MULT * dim)
end

function Block:forward(x)
  x = x + self.attn(self.attn_norm(x))
  return x + self.mlp(self.mlp_norm(x))
end

local TinyDecoder = nn.Module:extend("TinyDecoder")

function TinyDecoder:init(vocab_size, dim, n_heads, n_layers)
  self.vocab_size = vocab_size
  self.emb = nn.Embedding(vocab_size, dim)
  prism.no_grad(function() self.emb.weight:normal_(0, EMB_STD) end)
  local blocks = {}
  for i = 1, n_layers do blocks[i] = Block(dim, n_heads) end
  self.blocks = nn.ModuleList(blocks)   -- registered in order: blocks.1.*, blocks.2.*
  self.n_layers = n_layers              -- a plain number: not a parameter, not a module
  self.norm = nn.RMSNorm(dim, { eps = NORM_EPS })
end

-- tokens: [B, T] int64 ids in [0, vocab) -> logits [B, T, vocab]
function TinyDecoder:forward(tokens)
  local h = self.emb(tokens)
  for i = 1, self.n_layers do h = self.blocks[i](h) end
  h = self.norm(h)
  -- Tied head: logits = h @ embᵀ. F.linear(h, w) computes h @ wᵀ without a new parameter,
  -- so the embedding weight gets gradient from both ends and is counted once.
  return F.linear(h, self.emb.weight)
end

-- Mean next-token cross-entropy (nats): position t predicts token t+1, so the logits of the
-- first T-1 positions are scored against tokens 2..T.
function TinyDecoder:loss(tokens)
  local T = tokens:size(2)
  local logits = self:forward(tokens)
  local pred = logits:narrow(2, 1, T - 1):reshape(-1, self.vocab_size)   -- [B*(T-1), V]
  local target = tokens:narrow(2, 2, T - 1):reshape(-1)                  -- [B*(T-1)]
  return F.cross_entropy(pred, target)
end

local M = {}

function M.build_model(ctx)
  return TinyDecoder(ctx.vocab_size, DIM, N_HEADS, N_LAYERS)
end

return M

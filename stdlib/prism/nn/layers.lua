-- prism.nn.layers — the built-in layers, with PyTorch's default initialization so a model
-- ported from PyTorch starts from the same distribution. Initializers run under no_grad and
-- draw from the runtime's init stream (uniform_/normal_), in the same order as PyTorch's
-- reset_parameters (weight, then bias), so the forced seed fixes every initial weight.
-- Containers keep their children in the instance's array part (see prism.nn.module).

-- Globals are captured once, at load: later changes to the global table cannot reach in here.
local error, pairs, rawget, rawset, select, tostring, type = error, pairs, rawget, rawset, select, tostring, type
local floor, huge, sqrt = math.floor, math.huge, math.sqrt
local core = require("prism.core")
local prism = require("prism")
local F = require("prism.nn.functional")
local module = require("prism.nn.module")
local util = require("prism.util")

local Module, Parameter = module.Module, module.Parameter
local describe = module.describe

local L = {}

local function check_options(cls, opts, known)
  if opts == nil then return {} end
  if type(opts) ~= "table" or core.is_tensor(opts) or module.is_module(opts) then
    error(("%s: options must be a table, got %s"):format(cls, describe(opts)), 4)
  end
  util.reject_unknown(cls, opts, known, "option", 4)
  return opts
end

-- Levels: 1 here, 2 the layer's init, 3 instantiate, 4 the miner's `nn.Linear(...)` line.
local function need_size(cls, name, v)
  if type(v) ~= "number" or v ~= floor(v) or v < 1 or v > 2^53 then
    error(("%s: %s must be a positive integer, got %s"):format(cls, name,
          type(v) == "number" and tostring(v) or describe(v)), 4)
  end
end

local function option(cls, opts, name, default, kind)
  local v = opts[name]
  if v == nil then return default end
  if type(v) ~= kind then
    error(("%s: option %s must be a %s, got %s"):format(cls, name, kind, describe(v)), 4)
  end
  return v
end

local function need_eps(cls, eps)
  if not (eps >= 0) or eps == huge then
    error(("%s: eps must be a finite number >= 0, got %s"):format(cls, tostring(eps)), 4)
  end
end

---------------------------------------------------------------------------------------------
-- Linear

local Linear = Module:extend("Linear")

--- nn.Linear(in_features, out_features, {bias = true}): y = x W^T + b, W [out, in].
function Linear:init(in_features, out_features, opts)
  need_size("Linear", "in_features", in_features)
  need_size("Linear", "out_features", out_features)
  opts = check_options("Linear", opts, { bias = true })
  local bias = option("Linear", opts, "bias", true, "boolean")
  self.in_features = in_features
  self.out_features = out_features
  self.weight = Parameter(core.empty(out_features, in_features))
  if bias then self.bias = Parameter(core.empty(out_features)) end
  self:reset_parameters()
end

--- kaiming_uniform_(a = sqrt(5)) on the weight, i.e. U(-1/sqrt(in), 1/sqrt(in)), and the same
--- bound for the bias: PyTorch's nn.Linear.reset_parameters.
function Linear:reset_parameters()
  local bound = 1 / sqrt(self.in_features)
  local w, b = self.weight, self.bias
  prism.no_grad(function()
    w:uniform_(-bound, bound)
    if b ~= nil then b:uniform_(-bound, bound) end
  end)
end

function Linear:forward(x)
  return F.linear(x, self.weight, self.bias)
end

function Linear:extra_repr()
  return ("in_features=%d, out_features=%d, bias=%s"):format(self.in_features, self.out_features,
          tostring(self.bias ~= nil))
end

L.Linear = Linear

---------------------------------------------------------------------------------------------
-- Embedding

local Embedding = Module:extend("Embedding")

--- nn.Embedding(num_embeddings, embedding_dim): weight [n, dim] ~ N(0, 1); input: integer ids.
function Embedding:init(num_embeddings, embedding_dim, opts)
  need_size("Embedding", "num_embeddings", num_embeddings)
  need_size("Embedding", "embedding_dim", embedding_dim)
  check_options("Embedding", opts, {})
  self.num_embeddings = num_embeddings
  self.embedding_dim = embedding_dim
  self.weight = Parameter(core.empty(num_embeddings, embedding_dim))
  self:reset_parameters()
end

function Embedding:reset_parameters()
  local w = self.weight
  prism.no_grad(function() w:normal_(0, 1) end)
end

function Embedding:forward(ids)
  return F.embedding(ids, self.weight)
end

function Embedding:extra_repr()
  return ("%d, %d"):format(self.num_embeddings, self.embedding_dim)
end

L.Embedding = Embedding

---------------------------------------------------------------------------------------------
-- normalization

local LayerNorm = Module:extend("LayerNorm")

--- nn.LayerNorm(dim, {eps = 1e-5, bias = true}) over the last dimension; weight 1, bias 0.
function LayerNorm:init(dim, opts)
  need_size("LayerNorm", "dim", dim)
  opts = check_options("LayerNorm", opts, { eps = true, bias = true })
  self.dim = dim
  self.eps = option("LayerNorm", opts, "eps", 1e-5, "number")
  need_eps("LayerNorm", self.eps)
  self.weight = Parameter(core.ones(dim))
  if option("LayerNorm", opts, "bias", true, "boolean") then
    self.bias = Parameter(core.zeros(dim))
  end
end

function LayerNorm:forward(x)
  return F.layer_norm(x, self.weight, self.bias, self.eps)
end

function LayerNorm:extra_repr()
  return ("%d, eps=%g, bias=%s"):format(self.dim, self.eps, tostring(self.bias ~= nil))
end

L.LayerNorm = LayerNorm

local RMSNorm = Module:extend("RMSNorm")

--- nn.RMSNorm(dim, {eps = 1e-6}) over the last dimension; weight 1.
function RMSNorm:init(dim, opts)
  need_size("RMSNorm", "dim", dim)
  opts = check_options("RMSNorm", opts, { eps = true })
  self.dim = dim
  self.eps = option("RMSNorm", opts, "eps", 1e-6, "number")
  need_eps("RMSNorm", self.eps)
  self.weight = Parameter(core.ones(dim))
end

function RMSNorm:forward(x)
  return F.rms_norm(x, self.weight, self.eps)
end

function RMSNorm:extra_repr()
  return ("%d, eps=%g"):format(self.dim, self.eps)
end

L.RMSNorm = RMSNorm

---------------------------------------------------------------------------------------------
-- Dropout and activations

local Dropout = Module:extend("Dropout")

--- nn.Dropout(p = 0.5): active while m.training, identity after m:eval().
function Dropout:init(p)
  if p == nil then p = 0.5 end
  if type(p) ~= "number" or not (p >= 0 and p <= 1) then
    error("Dropout: p must be a number in [0, 1], got " .. (type(p) == "number" and tostring(p) or describe(p)), 3)
  end
  self.p = p
end

function Dropout:forward(x)
  return F.dropout(x, self.p, self.training)
end

function Dropout:extra_repr()
  return ("p=%g"):format(self.p)
end

L.Dropout = Dropout

local function activation(name, fn)
  local cls = Module:extend(name)
  function cls:init(...)
    if select("#", ...) > 0 then
      error(name .. ": takes no arguments", 3)
    end
  end
  cls.forward = function(_, x) return fn(x) end
  L[name] = cls
end

activation("ReLU", F.relu)
activation("GELU", F.gelu)
activation("SiLU", F.silu)
activation("Tanh", F.tanh)
activation("Sigmoid", F.sigmoid)
activation("Identity", function(x) return x end)

---------------------------------------------------------------------------------------------
-- containers: children live in the instance's array part, so seq[i], #seq, ipairs(list) work

local function fill(cls, self, mods, from)
  for i = 1, #mods do
    local m = mods[i]
    if not module.is_module(m) then
      error(("%s: element %d must be a Module, got %s"):format(cls, i, describe(m)), 4)
    end
    rawset(self, from + i, m)
  end
end

local function append(cls, self, m)
  if not module.is_module(m) then
    error(("%s: append expects a Module, got %s"):format(cls, describe(m)), 3)
  end
  rawset(self, #self + 1, m)
  return self
end

local Sequential = Module:extend("Sequential")
Sequential.__container = true

--- nn.Sequential(m1, m2, …) (or one array of modules): forward chains them in order.
function Sequential:init(...)
  local mods = { ... }
  if select("#", ...) == 1 and type(mods[1]) == "table" and not module.is_module(mods[1]) then
    mods = mods[1]
  end
  fill("Sequential", self, mods, 0)
end

function Sequential:forward(x)
  for i = 1, #self do x = self[i](x) end
  return x
end

function Sequential:append(m)
  return append("Sequential", self, m)
end

L.Sequential = Sequential

local ModuleList = Module:extend("ModuleList")
ModuleList.__container = true

--- nn.ModuleList({m1, m2, …}): an indexable, registered list of modules (no forward).
function ModuleList:init(mods)
  if mods == nil then return end
  if type(mods) ~= "table" or module.is_module(mods) then
    error("ModuleList: expected an array of modules, got " .. describe(mods), 3)
  end
  fill("ModuleList", self, mods, 0)
end

function ModuleList:append(m)
  return append("ModuleList", self, m)
end

-- Called on the class itself (nn.ModuleList:extend("Name")) it makes a subclass, as for
-- every Module class; on an instance it appends an array of modules.
function ModuleList:extend(mods)
  if module.is_class(self) then return Module.extend(self, mods) end
  if type(mods) ~= "table" or module.is_module(mods) then
    error("ModuleList: extend expects an array of modules, got " .. describe(mods), 2)
  end
  local n = #self
  for i = 1, #mods do
    if not module.is_module(mods[i]) then
      error(("ModuleList: element %d must be a Module, got %s"):format(i, describe(mods[i])), 2)
    end
  end
  for i = 1, #mods do rawset(self, n + i, mods[i]) end
  return self
end

local function list_next(list, i)
  i = i + 1
  local m = rawget(list, i)
  if m ~= nil then return i, m end
end

--- for i, m in list:iter() do … end
function ModuleList:iter()
  return list_next, self, 0
end

L.ModuleList = ModuleList

return L

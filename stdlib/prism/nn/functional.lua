-- prism.nn.functional — stateless neural-network functions (PyTorch's torch.nn.functional).
-- Each one checks what it is given (tensor or not, rank, dtype, option names) before calling
-- the C core, so a miner's mistake reads as "F.linear: weight must be 2-D, got [3]" at the
-- miner's own line instead of a message from deep inside a kernel. Shape compatibility that
-- needs the sizes themselves (matmul inner dims, broadcasting) is checked by the core, whose
-- messages already name the op and the shapes.

-- Globals are captured once, at load: later changes to the global table cannot reach in here.
local error, pairs, tostring, type = error, pairs, tostring, type
local floor, huge = math.floor, math.huge
local concat = table.concat
local core = require("prism.core")
local util = require("prism.util")

local is_tensor = core.is_tensor

local F = {}

local function shape_str(t)
  return "[" .. concat(t.shape, ", ") .. "]"
end

local function what(x)
  if is_tensor(x) then return "a " .. tostring(x.dtype) .. " tensor of shape " .. shape_str(x) end
  return "a " .. type(x)
end

-- Each helper is called directly by an F function, so level 3 is the miner's call of it.
local function not_tensor(fname, argname, x)
  error(("%s: %s must be a tensor, got %s"):format(fname, argname, what(x)), 4)
end

local function need_float(fname, argname, x)
  if not is_tensor(x) then not_tensor(fname, argname, x) end
  if x.dtype ~= "float32" then
    error(("%s: %s must be float32, got %s"):format(fname, argname, what(x)), 3)
  end
end

local function need_ndim(fname, argname, x, n)
  if x.ndim ~= n then
    error(("%s: %s must be %d-D, got shape %s"):format(fname, argname, n, shape_str(x)), 3)
  end
end

local function need_index(fname, argname, x)
  if not is_tensor(x) then not_tensor(fname, argname, x) end
  if x.dtype ~= "int64" and x.dtype ~= "int32" then
    error(("%s: %s must hold integer ids (int64 or int32), got %s"):format(fname, argname, what(x)), 3)
  end
end

local function need_number(fname, argname, v, lo, hi)
  if type(v) ~= "number" or v ~= v then
    error(("%s: %s must be a number, got %s"):format(fname, argname, type(v)), 3)
  end
  if (lo and v < lo) or (hi and v > hi) then
    error(("%s: %s must be in [%s, %s], got %s"):format(fname, argname, tostring(lo or "-inf"),
          tostring(hi or "inf"), tostring(v)), 3)
  end
end

local function need_dim(fname, x, dim)
  if type(dim) ~= "number" or dim ~= floor(dim) then
    error(("%s: dim must be an integer (1-based, negative from the end), got %s"):format(
          fname, type(dim) == "number" and tostring(dim) or type(dim)), 3)
  end
end

-- opts must be nil or a table whose keys are all in known (prism.util.reject_unknown).
local function check_options(fname, opts, known)
  if opts == nil then return {} end
  if type(opts) ~= "table" or is_tensor(opts) then
    error(("%s: options must be a table, got %s"):format(fname, what(opts)), 3)
  end
  util.reject_unknown(fname, opts, known, "option", 3)
  return opts
end

--- Mean cross-entropy (nats) of logits [N, C] against integer targets [N] in [0, C).
function F.cross_entropy(logits, targets)
  local f = "F.cross_entropy"
  need_float(f, "logits", logits)
  need_index(f, "targets", targets)
  if logits.ndim ~= 2 or targets.ndim ~= 1 then
    error(("%s: expected logits [N, C] and targets [N], got %s and %s (flatten first: " ..
           "logits:reshape(-1, C), targets:reshape(-1))"):format(f, shape_str(logits), shape_str(targets)), 2)
  end
  local n = logits.shape[1]
  if targets.shape[1] ~= n then
    error(("%s: logits have %d rows but targets have %d entries"):format(f, n, targets.shape[1]), 2)
  end
  return core.cross_entropy(logits, targets)
end

local ATTN_OPTS = { causal = true, is_causal = true, scale = true }

--- Fused attention on q, k, v [B, H, T, D]: softmax(q k^T * scale [+ causal mask]) v.
--- opts.causal (alias is_causal) defaults to false like PyTorch; opts.scale to 1/sqrt(D).
function F.scaled_dot_product_attention(q, k, v, opts)
  local f = "F.scaled_dot_product_attention"
  need_float(f, "q", q)
  need_float(f, "k", k)
  need_float(f, "v", v)
  need_ndim(f, "q", q, 4)
  opts = check_options(f, opts, ATTN_OPTS)
  local qs, ks, vs = q.shape, k.shape, v.shape
  for i = 1, 4 do
    if ks[i] ~= qs[i] or vs[i] ~= qs[i] then
      error(("%s: q, k and v must have the same shape [B, H, T, D], got %s, %s and %s"):format(
            f, shape_str(q), shape_str(k), shape_str(v)), 2)
    end
  end
  local causal = opts.causal
  if causal == nil then causal = opts.is_causal end
  if causal == nil then causal = false end
  if type(causal) ~= "boolean" then
    error(f .. ": causal must be a boolean, got " .. type(causal), 2)
  end
  local scale = opts.scale
  if scale ~= nil and (type(scale) ~= "number" or not (scale > 0) or scale == huge) then
    error(f .. ": scale must be a positive finite number, got " .. tostring(scale), 2)
  end
  return core.attention(q, k, v, causal, scale)
end

--- x [..., in] @ weight[out, in]^T + bias[out].
function F.linear(x, weight, bias)
  local f = "F.linear"
  need_float(f, "input", x)
  need_float(f, "weight", weight)
  need_ndim(f, "weight", weight, 2)
  if bias ~= nil then
    need_float(f, "bias", bias)
    need_ndim(f, "bias", bias, 1)
  end
  if x.ndim < 1 then
    error(f .. ": input must have at least 1 dimension, got a scalar tensor", 2)
  end
  return core.linear(x, weight, bias)
end

--- Rows of weight [n, dim] selected by integer ids of any shape -> [..., dim].
function F.embedding(ids, weight)
  local f = "F.embedding"
  need_index(f, "ids", ids)
  need_float(f, "weight", weight)
  need_ndim(f, "weight", weight, 2)
  return core.embedding(weight, ids)
end

--- x / sqrt(mean(x^2, last dim) + eps) * weight; weight [dim] or nil.
function F.rms_norm(x, weight, eps)
  local f = "F.rms_norm"
  need_float(f, "input", x)
  if weight ~= nil then
    need_float(f, "weight", weight)
    need_ndim(f, "weight", weight, 1)
  end
  if eps == nil then eps = 1e-6 end
  need_number(f, "eps", eps, 0)
  return core.rms_norm(x, weight, eps)
end

--- (x - mean) / sqrt(var + eps) * weight + bias over the last dim; weight and bias may be nil.
function F.layer_norm(x, weight, bias, eps)
  local f = "F.layer_norm"
  need_float(f, "input", x)
  if weight ~= nil then
    need_float(f, "weight", weight)
    need_ndim(f, "weight", weight, 1)
  end
  if bias ~= nil then
    need_float(f, "bias", bias)
    need_ndim(f, "bias", bias, 1)
  end
  if eps == nil then eps = 1e-5 end
  need_number(f, "eps", eps, 0)
  return core.layer_norm(x, weight, bias, eps)
end

function F.relu(x)
  need_float("F.relu", "input", x)
  return x:relu()
end

--- GELU, exact erf form (PyTorch's default).
function F.gelu(x)
  need_float("F.gelu", "input", x)
  return x:gelu()
end

function F.silu(x)
  need_float("F.silu", "input", x)
  return x:silu()
end

function F.tanh(x)
  need_float("F.tanh", "input", x)
  return x:tanh()
end

function F.sigmoid(x)
  need_float("F.sigmoid", "input", x)
  return x:sigmoid()
end

function F.softmax(x, dim)
  need_float("F.softmax", "input", x)
  need_dim("F.softmax", x, dim)
  return x:softmax(dim)
end

function F.log_softmax(x, dim)
  need_float("F.log_softmax", "input", x)
  need_dim("F.log_softmax", x, dim)
  return x:log_softmax(dim)
end

--- Zeroes each element with probability p and scales the rest by 1/(1-p) when training;
--- identity otherwise. Masks come from the runtime's dropout stream.
function F.dropout(x, p, training)
  local f = "F.dropout"
  need_float(f, "input", x)
  if p == nil then p = 0.5 end
  need_number(f, "p", p, 0, 1)
  if training == nil then training = true end
  if type(training) ~= "boolean" then
    error(f .. ": training must be a boolean, got " .. type(training), 2)
  end
  return core.dropout(x, p, training)
end

return F

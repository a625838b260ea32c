-- lua/tools/selftest.lua — `prism selftest`: what a validator runs to check a machine before
-- scoring. Two parts:
--  (a) gradcheck of every differentiable op: the analytic gradient (the tape's backward) of
--      L = Σ out·W, W a fixed random tensor, against central differences of the same L computed
--      in double from the float32 outputs. Inputs are quantized to a 2^-16 grid and the step h
--      is a power of two, so x ± h is exact in float32 and the only error left is the op's own
--      rounding plus the O(h²) truncation term. Inputs come in broadcast shapes and as
--      non-contiguous views (transposed, narrowed, expanded leaves), and avoid the kinks of
--      relu/abs/clamp/max where the derivative is not defined.
--  (b) determinism: one training step of the tiny decoder (examples/tiny-1m) at 1 thread and at
--      all threads must give bitwise-identical losses, gradients and parameters (SPEC §4).
-- One row per check, a final "N passed, M failed" line; exit code 0 only if everything passed.

local prism = require("prism")
local F = require("prism.nn.functional")
local optim = require("prism.optim")
local core = require("prism.core")

local unpack = unpack or table.unpack

-- ---------------------------------------------------------------------------------------------
-- A small deterministic generator of our own (Park–Miller, exact in doubles), so the checks do
-- not depend on, or disturb, the runtime's Philox streams.
local function new_rng(seed)
  local state = seed % 2147483647
  if state <= 0 then state = state + 2147483646 end
  local r = {}
  function r.uniform()                    -- (0, 1)
    state = (state * 48271) % 2147483647
    return state / 2147483647
  end
  function r.normal()
    local u1, u2 = r.uniform(), r.uniform()
    return math.sqrt(-2 * math.log(u1)) * math.cos(2 * math.pi * u2)
  end
  return r
end

local GRID = 65536                          -- inputs live on a 2^-16 grid: exact in float32
local function quant(x) return math.floor(x * GRID + 0.5) / GRID end

-- Value generators: gen(rng, n) -> flat array of n quantized values.
local function per_value(f) return function(rng, n) local t = {} for i = 1, n do t[i] = quant(f(rng)) end return t end end
local function clipped_normal(rng) local x = rng.normal() return math.max(-2.5, math.min(2.5, x)) end
local function avoiding(points, margin)     -- normal values kept `margin` away from each kink
  return per_value(function(rng)
    while true do
      local x, ok = clipped_normal(rng), true
      for _, p in ipairs(points) do if math.abs(x - p) < margin then ok = false end end
      if ok then return x end
    end
  end)
end
local GEN = {
  normal = per_value(clipped_normal),
  unit = per_value(function(rng) return 2 * rng.uniform() - 1 end),             -- (-1, 1)
  pos = per_value(function(rng) return 0.5 + 1.5 * rng.uniform() end),          -- [0.5, 2]
  small = per_value(function(rng) return rng.uniform() - 0.5 end),              -- (-0.5, 0.5)
  big = per_value(function(rng) local s = rng.uniform() < 0.5 and -1 or 1 return s * (1 + rng.uniform()) end), -- ±[1, 2]
  away0 = avoiding({ 0 }, 0.1),
  -- distinct values 0.125 apart in random order: max/argmax is never near a tie
  distinct = function(rng, n)
    local t = {}
    for i = 1, n do t[i] = (i - 1 - n / 2) * 0.125 end
    for i = n, 2, -1 do local j = 1 + math.floor(rng.uniform() * i) t[i], t[j] = t[j], t[i] end
    return t
  end,
}

-- ---------------------------------------------------------------------------------------------
-- Tensors from flat Lua arrays and back.
local function numel_of(shape) local n = 1 for _, s in ipairs(shape) do n = n * s end return n end
local function copy_shape(s) local c = {} for i, v in ipairs(s) do c[i] = v end return c end

local function nest(flat, shape, dim, offset)
  local t, step = {}, numel_of({ unpack(shape, dim + 1) })
  for i = 1, shape[dim] do
    if dim == #shape then t[i] = flat[offset + i]
    else t[i] = nest(flat, shape, dim + 1, offset + (i - 1) * step) end
  end
  return t
end

local function make_tensor(flat, shape, dtype)
  local opts = dtype and { dtype = dtype } or nil
  if #shape == 0 then return prism.tensor(flat[1], opts) end
  return prism.tensor(nest(flat, shape, 1, 0), opts)
end

local function flatten(v, out)
  out = out or {}
  if type(v) == "number" then out[#out + 1] = v
  else for i = 1, #v do flatten(v[i], out) end end
  return out
end

local function shape_str(s) return "[" .. table.concat(s, ", ") .. "]" end

-- Non-contiguous layouts: the leaf that owns the values has another shape, and the op sees a
-- view of it. Gradients are checked on the leaf, so view backward is exercised too.
local LAYOUTS = {
  t = {        -- the op sees leafᵀ (last two dims swapped): row stride 1
    leaf = function(s) local l = copy_shape(s) l[#l - 1], l[#l] = s[#s], s[#s - 1] return l end,
    view = function(x) return x:transpose(-2, -1) end,
  },
  narrow = {   -- the op sees columns 2..n+1 of a wider leaf: rows not adjacent
    leaf = function(s) local l = copy_shape(s) l[#l] = s[#s] + 3 return l end,
    view = function(x, s) return x:narrow(-1, 2, s[#s]) end,
  },
  expand = {   -- the op sees a leaf of size 1 in dim 1 broadcast: stride 0
    leaf = function(s) local l = copy_shape(s) l[1] = 1 return l end,
    view = function(x, s) return x:expand(s) end,
  },
}

-- ---------------------------------------------------------------------------------------------
-- The generic checker.
--
-- An input spec: { shape = {...}, layout = nil|"t"|"narrow"|"expand", gen = name|function,
-- values = explicit flat array, dtype = "int64" (index input, not differentiated),
-- const = true (float input that is not differentiated, e.g. a mask) }.
local H = 1 / 128                           -- base step, scaled up for larger |x|
local ATOL, RTOL = 2e-3, 1e-2               -- float32 forward/backward, h = 2^-7

local function step_for(x)
  local h = H
  while math.abs(x) >= 256 * h do h = h * 2 end       -- doubles per octave of |x| from 2 up
  return h
end

local function prepare_inputs(specs, rng)
  local prepared = {}
  for i, s in ipairs(specs) do
    local layout = s.layout and LAYOUTS[s.layout]
    if s.layout and not layout then error("selftest: unknown layout " .. tostring(s.layout)) end
    local leaf_shape = layout and layout.leaf(s.shape) or copy_shape(s.shape)
    local n = numel_of(leaf_shape)
    local values = s.values
    if not values then
      local gen = s.gen or "normal"
      gen = type(gen) == "function" and gen or GEN[gen]
      if not gen then error("selftest: unknown generator " .. tostring(s.gen)) end
      values = gen(rng, n)
    end
    if #values ~= n then error(("selftest: input %d needs %d values, got %d"):format(i, n, #values)) end
    prepared[i] = { spec = s, layout = layout, leaf_shape = leaf_shape, values = values,
                    diff = not s.dtype and not s.const }
  end
  return prepared
end

-- Builds every input (leaves, then the views the op sees). requires_grad on differentiable leaves.
local function build(prepared, with_grad)
  local leaves, views = {}, {}
  for i, p in ipairs(prepared) do
    local leaf = make_tensor(p.values, p.leaf_shape, p.spec.dtype)
    if with_grad and p.diff then leaf:requires_grad_(true) end
    leaves[i] = leaf
    views[i] = p.layout and p.layout.view(leaf, p.spec.shape) or leaf
  end
  return leaves, views
end

local function as_list(r)
  if prism.is_tensor(r) then return { r } end
  if type(r) ~= "table" then error("selftest: the op returned a " .. type(r) .. ", not a tensor") end
  return r
end

-- L = Σ_k Σ_j out_k[j] · W_k[j] in double, from the float32 outputs.
local function loss_f64(outs, weights)
  local L = 0
  for k, o in ipairs(outs) do
    local flat, w = flatten(o:tolist()), weights[k]
    if #flat ~= #w then error("selftest: output " .. k .. " changed size between evaluations") end
    for j = 1, #flat do L = L + flat[j] * w[j] end
  end
  return L
end

-- Every element of a small input; for a large one (check.sample = k) the first, the last and
-- k-2 others drawn at random: the analytic gradient is still computed for all of them.
local function elements_to_check(n, sample, rng)
  local list = {}
  if not sample or sample >= n then
    for j = 1, n do list[j] = j end
    return list
  end
  local chosen = { [1] = true, [n] = true }
  list[1], list[2] = 1, n
  while #list < sample do
    local j = 1 + math.floor(rng.uniform() * n)
    if not chosen[j] then chosen[j] = true list[#list + 1] = j end
  end
  table.sort(list)
  return list
end

local function check_gradients(check, rng)
  local prepared = prepare_inputs(check.inputs, rng)
  local fn = check.fn

  -- analytic: backward of Σ out·W through the tape
  local leaves, views = build(prepared, true)
  local outs = as_list(fn(unpack(views)))
  local weights, L = {}, nil
  for k, o in ipairs(outs) do
    local shape = o:size()
    local w = GEN.normal(rng, numel_of(shape))
    weights[k] = w
    local term
    if #shape == 0 then term = o * w[1]
    else term = (o * make_tensor(w, shape)):sum() end
    L = L and L + term or term
  end
  L:backward()

  local max_abs, max_rel, worst, notes = 0, 0, 0, {}
  for i, p in ipairs(prepared) do
    if p.diff then
      local g = leaves[i].grad
      local ga
      if g == nil then
        ga = {}
        for j = 1, #p.values do ga[j] = 0 end
        notes[#notes + 1] = "input " .. i .. " got no .grad"
      else
        local gs = g:size()
        if shape_str(gs) ~= shape_str(p.leaf_shape) then
          error(("input %d: grad shape %s, expected %s"):format(i, shape_str(gs), shape_str(p.leaf_shape)))
        end
        ga = flatten(g:tolist())
      end
      -- numeric: central differences, one leaf element at a time
      local vals = p.values
      for _, j in ipairs(elements_to_check(#vals, check.sample, rng)) do
        local x0 = vals[j]
        local h = check.h or step_for(x0)
        vals[j] = x0 + h
        local lp = prism.no_grad(function() local _, v = build(prepared, false) return loss_f64(as_list(fn(unpack(v))), weights) end)
        vals[j] = x0 - h
        local lm = prism.no_grad(function() local _, v = build(prepared, false) return loss_f64(as_list(fn(unpack(v))), weights) end)
        vals[j] = x0
        local gn = (lp - lm) / (2 * h)
        local a, n = ga[j], gn
        local atol, rtol = check.atol or ATOL, check.rtol or RTOL
        if a ~= a or n ~= n or math.abs(a) == math.huge or math.abs(n) == math.huge then
          max_abs, max_rel, worst = math.huge, math.huge, math.huge   -- NaN/Inf fails (math.max skips NaN)
        else
          local err = math.abs(a - n)
          max_abs = math.max(max_abs, err)
          max_rel = math.max(max_rel, err / math.max(math.abs(a), math.abs(n), atol))
          worst = math.max(worst, err / (atol + rtol * math.abs(n)))
        end
      end
    end
  end
  return max_abs, max_rel, worst <= 1 and #notes == 0, table.concat(notes, "; ")
end

-- ---------------------------------------------------------------------------------------------
-- The op table: one entry per check { name, inputs, fn [, h =, atol =, rtol =, sample =] }.
local function I(shape, t) t = t or {} t.shape = shape return t end          -- input spec
local function idx(values, shape) return { shape = shape or { #values }, values = values, dtype = "int64" } end
local function mask(values, shape) return { shape = shape, values = values, const = true } end
local CLAMP_SAFE = avoiding({ -0.5, 0.5 }, 0.05)
local MIN_SAFE = avoiding({ -0.3 }, 0.05)
local MAX_SAFE = avoiding({ 0.4 }, 0.05)

local CHECKS = {
  -- elementwise arithmetic, broadcasting, scalars on either side
  { "add (bcast [3,4]t + [4])", { I({ 3, 4 }, { layout = "t" }), I({ 4 }) }, function(a, b) return a + b end },
  { "add (method, expanded)", { I({ 3, 4 }, { layout = "expand" }), I({ 2, 3, 4 }) }, function(a, b) return a:add(b) end },
  { "add scalar", { I({ 2, 3 }) }, function(a) return a + 1.5 end },
  { "add scalar (left)", { I({ 2, 3 }) }, function(a) return 1.5 + a end },
  { "sub (bcast [2,3,4] - [3,1]n)", { I({ 2, 3, 4 }), I({ 3, 1 }, { layout = "narrow" }) }, function(a, b) return a - b end },
  { "sub (method)", { I({ 3, 4 }), I({ 3, 4 }, { layout = "t" }) }, function(a, b) return a:sub(b) end },
  { "sub scalar (left)", { I({ 2, 3 }) }, function(a) return 2 - a end },
  { "mul (bcast [3,1] * [2,1,4]n)", { I({ 3, 1 }), I({ 2, 1, 4 }, { layout = "narrow" }) }, function(a, b) return a * b end },
  { "mul (same input twice)", { I({ 3, 4 }) }, function(a) return a:mul(a) end },
  { "mul scalar", { I({ 2, 3 }, { layout = "t" }) }, function(a) return a * -0.75 end },
  { "div (bcast [3,4]t / [2,1,4])", { I({ 3, 4 }, { layout = "t" }), I({ 2, 1, 4 }, { gen = "pos" }) }, function(a, b) return a / b end },
  { "div scalar", { I({ 2, 3 }) }, function(a) return a / 3 end },
  { "div scalar (left)", { I({ 2, 3 }, { gen = "pos" }) }, function(a) return 2 / a end },
  { "pow tensor ^ tensor", { I({ 3, 4 }, { gen = "pos" }), I({ 4 }, { gen = "unit" }) }, function(a, b) return a ^ b end },
  { "pow tensor ^ 2.5", { I({ 3, 4 }, { gen = "pos", layout = "t" }) }, function(a) return a:pow(2.5) end },
  { "pow tensor ^ 3 (signed)", { I({ 3, 4 }) }, function(a) return a ^ 3 end },
  { "pow tensor ^ -1.5", { I({ 3, 4 }, { gen = "pos" }) }, function(a) return a:pow(-1.5) end },
  { "pow scalar ^ tensor", { I({ 3, 4 }, { gen = "unit" }) }, function(a) return 2 ^ a end },
  { "neg", { I({ 3, 4 }, { layout = "narrow" }) }, function(a) return a:neg() end },
  { "unary minus", { I({ 3, 4 }) }, function(a) return -a end },
  { "maximum (bcast)", { I({ 3, 4 }, { gen = "big", layout = "t" }), I({ 4 }, { gen = "small" }) }, function(a, b) return a:maximum(b) end },
  { "minimum (bcast)", { I({ 4 }, { gen = "small" }), I({ 2, 3, 4 }, { gen = "big" }) }, function(a, b) return prism.minimum(a, b) end },
  { "masked_fill (bcast mask)", { I({ 3, 4 }, { layout = "t" }), mask({ 1, 0, 0, 1 }, { 1, 4 }) }, function(x, m) return x:masked_fill(m, -2.5) end },
  -- pointwise functions
  { "exp", { I({ 3, 5 }, { gen = "unit", layout = "t" }) }, function(a) return a:exp() end },
  { "log", { I({ 3, 5 }, { gen = "pos", layout = "narrow" }) }, function(a) return a:log() end },
  { "sqrt", { I({ 3, 5 }, { gen = "pos" }) }, function(a) return prism.sqrt(a) end },
  { "rsqrt", { I({ 3, 5 }, { gen = "pos", layout = "t" }) }, function(a) return a:rsqrt() end },
  { "tanh", { I({ 3, 5 }, { layout = "expand" }) }, function(a) return a:tanh() end },
  { "sigmoid", { I({ 3, 5 }, { layout = "t" }) }, function(a) return a:sigmoid() end },
  { "relu", { I({ 3, 5 }, { gen = "away0", layout = "t" }) }, function(a) return a:relu() end },
  { "gelu (erf)", { I({ 3, 5 }, { layout = "narrow" }) }, function(a) return a:gelu() end },
  { "silu", { I({ 3, 5 }, { layout = "t" }) }, function(a) return a:silu() end },
  { "abs", { I({ 3, 5 }, { gen = "away0" }) }, function(a) return a:abs() end },
  { "clamp(-0.5, 0.5)", { I({ 4, 5 }, { gen = CLAMP_SAFE, layout = "t" }) }, function(a) return a:clamp(-0.5, 0.5) end },
  { "clamp(min only)", { I({ 4, 5 }, { gen = MIN_SAFE }) }, function(a) return a:clamp(-0.3, nil) end },
  { "clamp(max only)", { I({ 4, 5 }, { gen = MAX_SAFE }) }, function(a) return prism.clamp(a, nil, 0.4) end },
  { "F.relu / F.gelu / F.silu", { I({ 3, 4 }, { gen = "away0" }) }, function(a) return { F.relu(a), F.gelu(a), F.silu(a) } end },
  -- shapes and views
  { "view (contiguous)", { I({ 2, 3, 4 }) }, function(a) return a:view(6, 4) end },
  { "view (-1)", { I({ 2, 3, 4 }) }, function(a) return a:view(-1) end },
  { "reshape (non-contiguous)", { I({ 3, 4 }, { layout = "t" }) }, function(a) return a:reshape({ 2, 6 }) end },
  { "transpose", { I({ 2, 3, 4 }) }, function(a) return a:transpose(1, 3) end },
  { "t", { I({ 3, 4 }, { layout = "narrow" }) }, function(a) return a:t() end },
  { "permute", { I({ 2, 3, 4 }) }, function(a) return a:permute(3, 1, 2) end },
  { "contiguous", { I({ 3, 4 }, { layout = "t" }) }, function(a) return a:contiguous() end },
  { "narrow", { I({ 3, 5 }) }, function(a) return a:narrow(2, 2, 3) end },
  { "narrow (negative dim)", { I({ 4, 3 }, { layout = "t" }) }, function(a) return a:narrow(-2, 1, 2) end },
  { "expand", { I({ 3, 1 }) }, function(a) return a:expand(2, 3, 4) end },
  { "expand (-1 keeps)", { I({ 1, 4 }, { layout = "narrow" }) }, function(a) return a:expand(3, -1) end },
  { "unsqueeze", { I({ 3, 4 }, { layout = "t" }) }, function(a) return a:unsqueeze(2) end },
  { "squeeze (all)", { I({ 3, 1, 4, 1 }) }, function(a) return a:squeeze() end },
  { "squeeze (dim)", { I({ 3, 1, 4 }) }, function(a) return a:squeeze(2) end },
  { "cat", { I({ 2, 3 }), I({ 2, 1 }, { layout = "narrow" }), I({ 2, 4 }, { layout = "t" }) },
    function(a, b, c) return prism.cat({ a, b, c }, 2) end },
  { "cat (dim 1)", { I({ 2, 3 }), I({ 1, 3 }) }, function(a, b) return prism.cat({ a, b }, 1) end },
  { "stack", { I({ 2, 3 }), I({ 2, 3 }, { layout = "t" }) }, function(a, b) return prism.stack({ a, b }, 1) end },
  { "stack (last dim)", { I({ 2, 3 }), I({ 2, 3 }) }, function(a, b) return prism.stack({ a, b }, -1) end },
  { "chunk", { I({ 3, 6 }, { layout = "t" }) }, function(a) return a:chunk(3, 1) end },
  { "split (uneven)", { I({ 2, 7 }) }, function(a) return a:split(3, 2) end },
  { "clone", { I({ 3, 4 }, { layout = "t" }) }, function(a) return a:clone() end },
  { "to(\"float32\") / float()", { I({ 3, 4 }, { layout = "narrow" }) }, function(a) return a:to("float32"):float() * 2 end },
  -- reductions
  { "sum (all)", { I({ 3, 4 }, { layout = "t" }) }, function(a) return a:sum() end },
  { "sum (dim)", { I({ 2, 3, 4 }) }, function(a) return a:sum(2) end },
  { "sum (dim, keepdim)", { I({ 3, 4 }, { layout = "narrow" }) }, function(a) return a:sum(-1, true) end },
  { "mean (all)", { I({ 3, 4 }) }, function(a) return prism.mean(a) end },
  { "mean (dim)", { I({ 2, 3, 4 }, { layout = "t" }) }, function(a) return a:mean(1) end },
  { "mean (dim, keepdim)", { I({ 3, 4 }) }, function(a) return a:mean(2, true) end },
  { "max (all)", { I({ 3, 4 }, { gen = "distinct", layout = "t" }) }, function(a) return a:max() end },
  { "max (dim)", { I({ 2, 3, 4 }, { gen = "distinct" }) }, function(a) return (a:max(2)) end },
  { "max (dim, keepdim)", { I({ 3, 5 }, { gen = "distinct", layout = "t" }) }, function(a) return (a:max(-1, true)) end },
  -- matmul family
  { "matmul 2-D (transposed)", { I({ 3, 4 }, { layout = "t" }), I({ 4, 5 }) }, function(a, b) return a:matmul(b) end },
  { "matmul 2-D (narrowed)", { I({ 3, 4 }, { layout = "narrow" }), I({ 4, 2 }, { layout = "t" }) }, function(a, b) return prism.matmul(a, b) end },
  { "matmul batched", { I({ 2, 3, 4 }), I({ 2, 4, 5 }, { layout = "t" }) }, function(a, b) return a:matmul(b) end },
  { "matmul broadcast batch", { I({ 2, 1, 3, 4 }), I({ 3, 4, 2 }) }, function(a, b) return a:matmul(b) end },
  { "matmul 3-D @ 2-D", { I({ 2, 3, 4 }), I({ 4, 5 }, { layout = "t" }) }, function(a, b) return a:matmul(b) end },
  { "matmul 1-D @ 2-D", { I({ 4 }), I({ 4, 5 }) }, function(a, b) return a:matmul(b) end },
  { "matmul 2-D @ 1-D", { I({ 3, 4 }, { layout = "t" }), I({ 4 }) }, function(a, b) return a:matmul(b) end },
  { "matmul 1-D @ 1-D", { I({ 5 }), I({ 5 }) }, function(a, b) return a:matmul(b) end },
  { "linear (bias)", { I({ 2, 3, 4 }), I({ 5, 4 }), I({ 5 }) }, function(x, w, b) return F.linear(x, w, b) end },
  { "linear (no bias, transposed x)", { I({ 3, 4 }, { layout = "t" }), I({ 5, 4 }) }, function(x, w) return F.linear(x, w) end },
  -- softmax family and the loss
  { "softmax (last dim)", { I({ 3, 5 }, { layout = "t" }) }, function(a) return a:softmax(-1) end },
  { "softmax (dim 1)", { I({ 4, 3 }) }, function(a) return F.softmax(a, 1) end },
  { "log_softmax (last dim)", { I({ 3, 5 }, { layout = "narrow" }) }, function(a) return a:log_softmax(-1) end },
  { "log_softmax (dim 2 of 3)", { I({ 2, 4, 3 }) }, function(a) return F.log_softmax(a, 2) end },
  { "cross_entropy", { I({ 6, 7 }, { layout = "t" }), idx({ 0, 3, 6, 2, 2, 5 }) }, function(x, t) return F.cross_entropy(x, t) end },
  -- attention, norms
  { "sdpa causal", { I({ 2, 2, 5, 3 }), I({ 2, 2, 5, 3 }), I({ 2, 2, 5, 3 }) },
    function(q, k, v) return F.scaled_dot_product_attention(q, k, v, { causal = true }) end },
  { "sdpa non-causal", { I({ 1, 2, 4, 3 }), I({ 1, 2, 4, 3 }), I({ 1, 2, 4, 3 }) },
    function(q, k, v) return F.scaled_dot_product_attention(q, k, v, { causal = false }) end },
  { "sdpa causal ([B,T,H,D] views, scale)", { I({ 1, 5, 2, 3 }), I({ 1, 5, 2, 3 }), I({ 1, 5, 2, 3 }) },
    function(q, k, v)
      return F.scaled_dot_product_attention(q:transpose(2, 3), k:transpose(2, 3), v:transpose(2, 3),
                                            { causal = true, scale = 0.4 })
    end },
  { "rms_norm", { I({ 3, 6 }, { layout = "narrow" }), I({ 6 }) }, function(x, w) return F.rms_norm(x, w, 1e-6) end },
  { "rms_norm (no weight)", { I({ 2, 3, 5 }) }, function(x) return F.rms_norm(x, nil, 1e-6) end },
  { "layer_norm", { I({ 3, 6 }, { layout = "t" }), I({ 6 }), I({ 6 }) }, function(x, w, b) return F.layer_norm(x, w, b, 1e-5) end },
  { "layer_norm (no affine)", { I({ 2, 3, 5 }) }, function(x) return F.layer_norm(x, nil, nil, 1e-5) end },
  -- indexing
  { "index_select (dim 1, repeats)", { I({ 5, 3 }, { layout = "t" }), idx({ 0, 2, 2, 4 }) }, function(x, i) return x:index_select(1, i) end },
  { "index_select (dim 2)", { I({ 2, 5 }), idx({ 4, 0, 4 }) }, function(x, i) return prism.index_select(x, 2, i) end },
  { "embedding (repeated ids)", { idx({ 1, 5, 1, 0, 5, 3 }, { 2, 3 }), I({ 6, 4 }) }, function(ids, w) return F.embedding(ids, w) end },
  { "gather (dim 2)", { I({ 3, 4 }, { layout = "t" }), idx({ 0, 3, 3, 1, 2, 2, 2, 0, 1, 1, 0, 3, 3, 0, 2 }, { 3, 5 }) },
    function(x, i) return x:gather(2, i) end },
  { "gather (dim 1)", { I({ 3, 4 }), idx({ 2, 0, 1, 1, 0, 0, 2, 2 }, { 2, 4 }) }, function(x, i) return prism.gather(x, 1, i) end },
  { "triu", { I({ 4, 5 }, { layout = "narrow" }) }, function(a) return a:triu() end },
  { "triu (k=1, batched)", { I({ 2, 4, 4 }) }, function(a) return a:triu(1) end },
  { "tril", { I({ 4, 5 }, { layout = "t" }) }, function(a) return prism.tril(a) end },
  { "tril (k=-1, batched)", { I({ 2, 4, 4 }) }, function(a) return a:tril(-1) end },
  -- large shapes, numeric check on a sample of elements: the kernels' multi-chunk (16,384
  -- elements), multi-tile (GEMM 64x256, attention 64 rows, 64-column index units) and
  -- multi-thread paths, which the small shapes above never reach
  { "add (bcast, 3 x 17000: chunked)", { I({ 3, 17000 }), I({ 17000 }) }, function(a, b) return a + b end, sample = 8 },
  { "exp (2 x 20000: chunked)", { I({ 2, 20000 }, { gen = "unit", layout = "narrow" }) }, function(a) return a:exp() end, sample = 8 },
  -- Here one element moves a whole row (or all) of a large output, whose float32 rounding then
  -- dominates the difference quotient at h = 2^-7: wider steps (exact on the 2^-16 grid) trade
  -- it for truncation error, none at all for the linear ops (sum, matmul), little for smooth
  -- row-normalizations whose curvature per element shrinks with the row length.
  { "sum (all, 40000: chunked)", { I({ 2, 20000 }) }, function(a) return a:sum() end, sample = 8, h = 0.25 },
  { "sum (dim 2, 3 x 20000)", { I({ 3, 20000 }) }, function(a) return a:sum(2) end, sample = 8, h = 0.25 },
  { "max (dim 2, 3 x 20000)", { I({ 3, 20000 }, { gen = "distinct" }) }, function(a) return (a:max(2)) end, sample = 8 },
  { "matmul 70x40 @ 40x300 (tiled)", { I({ 70, 40 }, { layout = "t" }), I({ 40, 300 }) }, function(a, b) return a:matmul(b) end, sample = 12, h = 0.25 },
  { "matmul batched 3x70x30 @ 30x270", { I({ 3, 70, 30 }), I({ 30, 270 }, { layout = "t" }) }, function(a, b) return a:matmul(b) end, sample = 12, h = 0.25 },
  { "softmax (rows of 3000)", { I({ 3, 3000 }) }, function(a) return a:softmax(-1) end, sample = 8, h = 1 / 16 },
  { "log_softmax (rows of 3000)", { I({ 3, 3000 }, { layout = "narrow" }) }, function(a) return a:log_softmax(-1) end, sample = 8, h = 1 / 16 },
  { "cross_entropy (4 x 5000 classes)", { I({ 4, 5000 }), idx({ 1, 4999, 2500, 0 }) }, function(x, t) return F.cross_entropy(x, t) end, sample = 12 },
  { "sdpa causal (T=150: 3 query tiles)", { I({ 1, 2, 150, 8 }), I({ 1, 2, 150, 8 }), I({ 1, 2, 150, 8 }) },
    function(q, k, v) return F.scaled_dot_product_attention(q, k, v, { causal = true }) end, sample = 12 },
  { "sdpa non-causal (T=150)", { I({ 2, 1, 150, 8 }), I({ 2, 1, 150, 8 }), I({ 2, 1, 150, 8 }) },
    function(q, k, v) return F.scaled_dot_product_attention(q, k, v, { causal = false }) end, sample = 12 },
  { "rms_norm (rows of 1000)", { I({ 3, 1000 }), I({ 1000 }) }, function(x, w) return F.rms_norm(x, w, 1e-6) end, sample = 8, h = 1 / 16 },
  { "layer_norm (rows of 1000)", { I({ 3, 1000 }), I({ 1000 }), I({ 1000 }) }, function(x, w, b) return F.layer_norm(x, w, b, 1e-5) end, sample = 8, h = 1 / 16 },
  { "embedding (dim 300 > 64-column units)", { idx({ 3, 0, 3, 9, 3, 1 }, { 2, 3 }), I({ 10, 300 }) }, function(ids, w) return F.embedding(ids, w) end, sample = 16 },
  { "tied embedding + head (grad accumulates)", { idx({ 3, 0, 3, 5 }, { 1, 4 }), I({ 6, 5 }) },
    function(ids, w) return F.linear(F.embedding(ids, w), w) end },
  -- dropout with a fixed mask: the same seed before every evaluation
  { "dropout (p=0.3, fixed seed)", { I({ 4, 6 }, { layout = "t" }) },
    function(a) core.manual_seed(4242) return F.dropout(a, 0.3, true) end },
  { "dropout (eval: identity)", { I({ 3, 4 }) }, function(a) return F.dropout(a, 0.5, false) end },
}

-- ---------------------------------------------------------------------------------------------
-- Checks of the checks. A gradcheck that passes everything proves nothing unless it is seen to
-- fail: feed it an op whose tape gradient is wrong on purpose (one factor detached, so backward
-- sees d(c·a)/da = c where the numeric derivative of a·a is 2a) and require a FAIL verdict.
local function checker_catches_wrong_gradient(rng)
  local check = { inputs = { I({ 3, 4 }, { gen = "big" }) }, fn = function(a) return a:detach() * a end }
  local abs, rel, ok = check_gradients(check, rng)
  return abs, rel, (not ok) and abs > 0.5
end

-- Same for NaN: log of negative inputs must be a FAIL, not a silent pass of NaN comparisons.
local function checker_catches_nan(rng)
  local check = { inputs = { I({ 2, 3 }, { gen = "big" }) }, fn = function(a) return (a - 3):log() end }
  local abs, rel, ok = check_gradients(check, rng)
  return abs, rel, not ok
end

-- Dropout's mask is what the dropout gradcheck holds fixed; check the mask itself: the same seed
-- gives the same mask, another seed another one, the drop rate is p (10,000 draws: ±6σ), and
-- survivors are scaled by exactly 1/(1-p) in float32.
local function dropout_mask_is_sound()
  local p, n = 0.3, 10000
  local x = prism.ones(100, 100)
  local function draw(seed) core.manual_seed(seed) return flatten(F.dropout(x, p, true):tolist()) end
  local a, b, c = draw(99), draw(99), draw(100)
  local zeros, same, differs, survivor = 0, true, false, nil
  local scale_ok = true
  for i = 1, n do
    if a[i] ~= b[i] then same = false end
    if a[i] ~= c[i] then differs = true end
    if a[i] == 0 then zeros = zeros + 1
    else
      survivor = survivor or a[i]
      if a[i] ~= survivor or math.abs(a[i] - 1 / (1 - p)) > 1e-6 then scale_ok = false end
    end
  end
  local rate = zeros / n
  local notes = {}
  if not same then notes[#notes + 1] = "same seed gave another mask" end
  if not differs then notes[#notes + 1] = "another seed gave the same mask" end
  if not scale_ok then notes[#notes + 1] = "survivors not scaled by 1/(1-p)" end
  if math.abs(rate - p) > 0.03 then notes[#notes + 1] = ("drop rate %.4f, expected %.2f"):format(rate, p) end
  return math.abs(rate - p), 0, #notes == 0, ("drop rate %.4f"):format(rate) .. (#notes > 0 and ("; " .. table.concat(notes, "; ")) or "")
end

-- ---------------------------------------------------------------------------------------------
-- Determinism: one training step of the tiny decoder, compared bit for bit across thread counts.
local function train_step_fingerprint(threads)
  core.set_num_threads(threads)
  core.manual_seed(1337)
  local arch = require("examples.tiny-1m.architecture")
  local model = arch.build_model({ vocab_size = 4096, max_seq_len = 128 })
  local rng = new_rng(20240611)
  local B, T, ids = 4, 128, {}
  for i = 1, B * T do ids[i] = math.floor(rng.uniform() * 4096) end
  local tokens = make_tensor(ids, { B, T }, "int64")
  local params = model:parameters()
  local opt = optim.AdamW(params, { lr = 5e-3 })

  local fp = {}
  local predict = prism.no_grad(function() return model:loss(tokens):item() end)  -- the instrument's forward
  fp[#fp + 1] = ("predict loss %a"):format(predict)
  opt:zero_grad()
  local loss = model:loss(tokens)
  loss:backward()
  fp[#fp + 1] = ("train loss %a"):format(loss:item())
  for i, p in ipairs(params) do fp[#fp + 1] = ("grad %d %s"):format(i, tostring(core.tensor_digest(p.grad))) end
  fp[#fp + 1] = ("grad norm %a"):format(optim.clip_grad_norm(params, 1.0))
  opt:step()
  for i, p in ipairs(params) do fp[#fp + 1] = ("param %d %s"):format(i, tostring(core.tensor_digest(p))) end
  return fp, predict
end

-- ---------------------------------------------------------------------------------------------
local USAGE = [[
usage: prism selftest [--threads N] [--device cpu] [--only SUBSTRING]
  Gradcheck of every differentiable op and a determinism check (one training step of the tiny
  decoder at 1 thread vs N threads, bitwise). Exit code 0 when every check passes, 1 otherwise.
  --threads N      thread count to compare with 1 (default: all cores; at least 2)
  --device cpu     the device to check (only cpu in this build)
  --only SUBSTR    run only the checks whose name contains SUBSTR (plain text)]]

local function parse_args(args)
  local opts = {}
  local i = 1
  while i <= #args do
    local a = args[i]
    if a == "--help" or a == "-h" then opts.help = true
    elseif a == "--threads" or a == "--device" or a == "--only" then
      local v = args[i + 1]
      if v == nil then return nil, a .. " needs a value" end
      if a == "--threads" then
        local n = tonumber(v)
        if not n or n < 1 or n ~= math.floor(n) then return nil, "--threads needs a positive integer, got " .. v end
        opts.threads = n
      elseif a == "--device" then
        if v ~= "cpu" then return nil, "--device " .. v .. ": only cpu is available in this build" end
      else opts.only = v end
      i = i + 1
    else return nil, "unknown argument " .. tostring(a) end
    i = i + 1
  end
  return opts
end

local function main(args)
  local opts, err = parse_args(args or {})
  if not opts then
    io.stderr:write("prism: usage: selftest: ", err, "\n", USAGE, "\n")
    return 2
  end
  if opts.help then print(USAGE) return 0 end

  local initial_threads = core.get_num_threads()
  local all_threads = opts.threads or initial_threads
  -- 1 vs 1 would prove nothing: on a one-core machine compare with 2 (oversubscribed threads
  -- still exercise the partitioning, which is what must not change the bits).
  local cmp_threads = math.max(all_threads, 2)
  core.set_num_threads(all_threads)          -- the gradchecks run at the requested count
  local passed, failed = 0, 0
  local fmt = "%-40s %11s %11s  %s"
  local function row(name, abs, rel, ok, note)
    if ok then passed = passed + 1 else failed = failed + 1 end
    local a = type(abs) == "number" and ("%.3e"):format(abs) or abs
    local r = type(rel) == "number" and ("%.3e"):format(rel) or rel
    print((fmt):format(name, a, r, ok and "pass" or "FAIL") .. (note and note ~= "" and ("  " .. note) or ""))
  end
  local function selected(name) return not opts.only or name:find(opts.only, 1, true) ~= nil end

  print(("prism selftest: device cpu, %d thread(s); gradcheck tolerance |analytic - numeric| <= %g + %g*|numeric|, h = 2^-7 (x2 per octave of |x| >= 2)")
        :format(all_threads, ATOL, RTOL))
  print((fmt):format("check", "max abs err", "max rel err", "result"))
  print(string.rep("-", 74))

  for index, c in ipairs(CHECKS) do
    local name = c[1]
    local rng = new_rng(12345 + 7919 * index)   -- per check: --only reproduces the full run's inputs
    if selected(name) then
      local check = { inputs = c[2], fn = c[3], h = c.h, atol = c.atol, rtol = c.rtol, sample = c.sample }
      local ok_call, abs, rel, ok, note = pcall(check_gradients, check, rng)
      if ok_call then row(name, abs, rel, ok, note)
      else row(name, "-", "-", false, "error: " .. tostring(abs)) end
    end
  end

  local extra = {
    { "checker catches a wrong gradient", function() return checker_catches_wrong_gradient(new_rng(777)) end,
      "detached factor must FAIL" },
    { "checker catches a NaN gradient", function() return checker_catches_nan(new_rng(778)) end,
      "log of negatives must FAIL" },
    { "dropout mask (seeded, rate, scale)", dropout_mask_is_sound },
  }
  for _, e in ipairs(extra) do
    if selected(e[1]) then
      local ok_call, abs, rel, ok, note = pcall(e[2])
      if ok_call then row(e[1], abs, rel, ok, note or e[3])
      else row(e[1], "-", "-", false, "error: " .. tostring(abs)) end
    end
  end

  local det_name = ("determinism (tiny-1m step, 1 vs %d thr)"):format(cmp_threads)
  if selected(det_name) or selected("determinism") then
    local ok_call, res = pcall(function()
      local fp1, loss1 = train_step_fingerprint(1)
      local fpn, lossn = train_step_fingerprint(cmp_threads)
      local mismatches = {}
      for i = 1, math.max(#fp1, #fpn) do
        if fp1[i] ~= fpn[i] then mismatches[#mismatches + 1] = (fp1[i] or "?"):match("^(%a+ ?%d*)") end
      end
      return { abs = math.abs(loss1 - lossn), n = #fp1, mismatches = mismatches }
    end)
    core.set_num_threads(initial_threads)
    if ok_call then
      local ok = #res.mismatches == 0
      local note = ok and ("%d fingerprints (losses, grads, params) bitwise equal"):format(res.n)
                   or ("%d of %d differ: %s"):format(#res.mismatches, res.n, table.concat(res.mismatches, ", ", 1, math.min(6, #res.mismatches)))
      row(det_name, res.abs, 0, ok, note)
    else
      row(det_name, "-", "-", false, "error: " .. tostring(res))
    end
  end

  core.set_num_threads(initial_threads)
  print(string.rep("-", 74))
  print(("%d passed, %d failed"):format(passed, failed))
  return failed == 0 and 0 or 1
end

return { main = main }

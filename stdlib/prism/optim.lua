-- prism.optim — optimizers (SGD, AdamW), gradient clipping and learning-rate schedules, with
-- PyTorch's update rules and defaults so a training recipe ports unchanged. The arithmetic is in
-- the core's fused in-place kernels (core.sgd_step / core.adamw_step, float32, fixed order);
-- this file owns the bookkeeping. Per-parameter state lives in an ARRAY aligned with the
-- parameter list fixed at construction — never in a table keyed by tensors and walked with
-- pairs, whose order LuaJIT randomizes between processes.

-- Globals are captured once, at load: later changes to the global table cannot reach in here.
local error, ipairs, pairs, rawequal, rawget, rawset = error, ipairs, pairs, rawequal, rawget, rawset
local setmetatable, tostring, type = setmetatable, tostring, type
local floor, huge, cos, pi = math.floor, math.huge, math.cos, math.pi
local core = require("prism.core")
local util = require("prism.util")

local is_tensor = core.is_tensor

local optim = {}

local function describe(x)
  if is_tensor(x) then return "a tensor" end
  return "a " .. type(x)
end

local function is_finite(v)
  return type(v) == "number" and v == v and v ~= huge and v ~= -huge
end

-- Error levels: a helper's `level` argument is the level its caller would pass to error() to
-- blame the miner's line; the helper itself raises at level + 1.
local check_keys = util.reject_unknown

local function need_number(fname, name, v, lo, hi_excl, level)
  if not is_finite(v) then
    error(("%s: %s must be a finite number, got %s"):format(fname, name,
          type(v) == "number" and tostring(v) or type(v)), level + 1)
  end
  if v < lo or (hi_excl and v >= hi_excl) then
    error(("%s: %s must be in [%s, %s), got %s"):format(fname, name, tostring(lo),
          hi_excl and tostring(hi_excl) or "inf", tostring(v)), level + 1)
  end
end

local function zeros_like(p)
  return core.zeros(p.shape, { dtype = p.dtype, device = p.device })
end

---------------------------------------------------------------------------------------------
-- parameter groups

-- params: an array of tensors, or an array of groups {params = {…}, <option> = value, …}.
-- Returns the groups (defaults filled in) and the flat parameter list the state aligns with.
local function make_groups(fname, params, opts, defaults, validate)
  if type(params) ~= "table" or is_tensor(params) then
    error(("%s: expected an array of parameters (model:parameters()), got %s"):format(
          fname, describe(params)), 3)
  end
  if type(params.parameters) == "function" then
    error(fname .. ": got a Module; pass model:parameters()", 3)
  end
  if opts == nil then opts = {} end
  if type(opts) ~= "table" or is_tensor(opts) then
    error(("%s: options must be a table, got %s"):format(fname, describe(opts)), 3)
  end
  check_keys(fname, opts, defaults, "option", 3)
  if #params == 0 then
    error(fname .. ": got an empty parameter list", 3)
  end
  local raw_groups = params
  if is_tensor(params[1]) then raw_groups = { { params = params } } end

  local group_keys = { params = true }
  for k in pairs(defaults) do group_keys[k] = true end
  local groups, flat, seen = {}, {}, {}
  for gi, rg in ipairs(raw_groups) do
    if type(rg) ~= "table" or is_tensor(rg) or type(rg.params) ~= "table" then
      error(("%s: parameter group %d must be a table {params = {…}, …}, got %s"):format(
            fname, gi, describe(rg)), 3)
    end
    check_keys(fname .. " (parameter group " .. gi .. ")", rg, group_keys, "key", 3)
    local g = { params = {} }
    for k, v in pairs(defaults) do
      local value = rg[k]
      if value == nil then value = opts[k] end
      if value == nil then value = v end
      g[k] = value
    end
    for i, p in ipairs(rg.params) do
      if not is_tensor(p) then
        error(("%s: parameter %d of group %d is %s, not a tensor"):format(fname, i, gi, describe(p)), 3)
      end
      -- Like PyTorch, a leaf that does not require grad is accepted (it never gets a .grad, so
      -- step skips it: frozen parameters can stay in model:parameters()); a non-leaf is not.
      if p.dtype ~= "float32" or not p.is_leaf then
        error(("%s: parameter %d of group %d must be a float32 leaf tensor, got a %s %s " ..
               "(optimize the parameters themselves, not results computed from them)"):format(
               fname, i, gi, tostring(p.dtype), p.is_leaf and "leaf" or "non-leaf"), 3)
      end
      if seen[p] then
        error(("%s: parameter %d of group %d appears more than once"):format(fname, i, gi), 3)
      end
      seen[p] = true
      g.params[i] = p
      flat[#flat + 1] = p
    end
    validate(fname, g, 3)
    groups[gi] = g
  end
  if #flat == 0 then error(fname .. ": got an empty parameter list", 3) end
  return groups, flat
end

-- Optimizer instances keep their fields in the raw table except `lr`, a property: reading
-- gives param_groups[1].lr, writing sets every group's lr (what a schedule wants).
local function optimizer_class(name)
  local methods = { __name = name }
  local mt = { __metatable = "prism.optim." .. name }
  mt.__index = function(self, k)
    if k == "lr" then return rawget(self, "param_groups")[1].lr end
    return methods[k]
  end
  mt.__newindex = function(self, k, v)
    if k == "lr" then
      need_number(name, "lr", v, 0, nil, 2)
      for _, g in ipairs(rawget(self, "param_groups")) do g.lr = v end
      return
    end
    rawset(self, k, v)
  end
  mt.__tostring = function(self)
    return ("%s(%d parameter group%s, lr=%g)"):format(name, #self.param_groups,
            #self.param_groups == 1 and "" or "s", self.lr)
  end
  function methods:zero_grad()
    for _, p in ipairs(rawget(self, "_params")) do p.grad = nil end
  end
  -- Calls fn(group, index_in_flat_list, param, grad) for each parameter that has a gradient,
  -- in construction order, after checking the groups still hold the parameters they started with.
  function methods:_each(fn)
    local flat = rawget(self, "_params")
    local idx = 0
    for gi, g in ipairs(self.param_groups) do
      need_number(name, "lr of parameter group " .. gi, g.lr, 0, nil, 3)
      for _, p in ipairs(g.params) do
        idx = idx + 1
        if not rawequal(p, flat[idx]) then
          error(name .. ": param_groups[" .. gi .. "].params changed after the optimizer was made", 3)
        end
        local grad = p.grad
        if grad ~= nil then fn(g, idx, p, grad) end
      end
    end
    if idx ~= #flat then
      error(name .. ": param_groups changed after the optimizer was made", 3)
    end
  end
  return methods, mt
end

---------------------------------------------------------------------------------------------
-- SGD

local SGD_DEFAULTS = { lr = 1e-3, momentum = 0, dampening = 0, nesterov = false, weight_decay = 0 }

local function sgd_validate(fname, g, level)
  need_number(fname, "lr", g.lr, 0, nil, level + 1)
  need_number(fname, "momentum", g.momentum, 0, nil, level + 1)
  need_number(fname, "dampening", g.dampening, 0, nil, level + 1)
  need_number(fname, "weight_decay", g.weight_decay, 0, nil, level + 1)
  if type(g.nesterov) ~= "boolean" then
    error(fname .. ": nesterov must be a boolean, got " .. type(g.nesterov), level + 1)
  end
  if g.nesterov and (g.momentum <= 0 or g.dampening ~= 0) then
    error(fname .. ": nesterov momentum requires a momentum > 0 and zero dampening", level + 1)
  end
end

local SGD, SGD_MT = optimizer_class("SGD")

--- optim.SGD(params, {lr = 1e-3, momentum = 0, dampening = 0, nesterov = false, weight_decay = 0})
function optim.SGD(params, opts)
  local groups, flat = make_groups("SGD", params, opts, SGD_DEFAULTS, sgd_validate)
  return setmetatable({ param_groups = groups, state = {}, _params = flat }, SGD_MT)
end

--- PyTorch's SGD: g += wd·p; buf = g on the first step, else momentum·buf + (1 − dampening)·g;
--- g = nesterov and g + momentum·buf or buf; p −= lr·g.
function SGD:step()
  local state = self.state
  self:_each(function(g, idx, p, grad)
    local buf, first = nil, false
    if g.momentum ~= 0 then
      local st = state[idx]
      if st == nil then
        st = { momentum_buffer = zeros_like(p) }
        state[idx] = st
        first = true
      end
      buf = st.momentum_buffer
    end
    core.sgd_step(p, grad, buf, g.lr, g.momentum, g.dampening, g.nesterov, g.weight_decay, first)
  end)
end

---------------------------------------------------------------------------------------------
-- AdamW

local ADAMW_DEFAULTS = { lr = 1e-3, betas = { 0.9, 0.999 }, eps = 1e-8, weight_decay = 0.01 }

local function adamw_validate(fname, g, level)
  need_number(fname, "lr", g.lr, 0, nil, level + 1)
  if type(g.betas) ~= "table" or #g.betas ~= 2 then
    error(fname .. ": betas must be an array of two numbers {beta1, beta2}", level + 1)
  end
  need_number(fname, "betas[1]", g.betas[1], 0, 1, level + 1)
  need_number(fname, "betas[2]", g.betas[2], 0, 1, level + 1)
  g.betas = { g.betas[1], g.betas[2] }  -- a private copy: the defaults table is shared
  need_number(fname, "eps", g.eps, 0, nil, level + 1)
  need_number(fname, "weight_decay", g.weight_decay, 0, nil, level + 1)
end

local AdamW, ADAMW_MT = optimizer_class("AdamW")

--- optim.AdamW(params, {lr = 1e-3, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = 0.01})
function optim.AdamW(params, opts)
  local groups, flat = make_groups("AdamW", params, opts, ADAMW_DEFAULTS, adamw_validate)
  return setmetatable({ param_groups = groups, state = {}, _params = flat }, ADAMW_MT)
end

--- PyTorch's AdamW: p *= 1 − lr·wd; m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²;
--- p −= lr · (m / (1−β1^t)) / (sqrt(v / (1−β2^t)) + eps), t counted per parameter.
function AdamW:step()
  local state = self.state
  self:_each(function(g, idx, p, grad)
    local st = state[idx]
    if st == nil then
      st = { step = 0, exp_avg = zeros_like(p), exp_avg_sq = zeros_like(p) }
      state[idx] = st
    end
    st.step = st.step + 1
    core.adamw_step(p, grad, st.exp_avg, st.exp_avg_sq, g.lr, g.betas[1], g.betas[2], g.eps,
                    g.weight_decay, st.step)
  end)
end

---------------------------------------------------------------------------------------------
-- gradient clipping

--- optim.clip_grad_norm(params, max_norm): the 2-norm of all gradients together (parameters
--- without a gradient are skipped), returned as a number; when max_norm / (norm + 1e-6) < 1
--- every gradient is multiplied by that coefficient (torch.nn.utils.clip_grad_norm_).
function optim.clip_grad_norm(params, max_norm)
  local f = "clip_grad_norm"
  if is_tensor(params) then params = { params } end
  if type(params) ~= "table" then
    error(f .. ": expected an array of parameters (model:parameters()), got " .. describe(params), 2)
  end
  if type(params.parameters) == "function" then
    error(f .. ": got a Module; pass model:parameters()", 2)
  end
  if type(max_norm) ~= "number" or not (max_norm >= 0) then
    error(f .. ": max_norm must be a number >= 0, got " .. tostring(max_norm), 2)
  end
  local grads = {}
  for i, p in ipairs(params) do
    if not is_tensor(p) then
      error(("%s: parameter %d is %s, not a tensor"):format(f, i, describe(p)), 2)
    end
    local g = p.grad
    if g ~= nil then grads[#grads + 1] = g end
  end
  if #grads == 0 then return 0 end
  local norm = core.global_norm(grads)
  local coef = max_norm / (norm + 1e-6)
  if coef < 1 then
    for i = 1, #grads do core.scale_(grads[i], coef) end
  end
  return norm
end
optim.clip_grad_norm_ = optim.clip_grad_norm

---------------------------------------------------------------------------------------------
-- learning-rate schedules: functions of the 1-based step number

local function schedule_args(fname, args, known)
  if type(args) ~= "table" then
    error(fname .. ": expected one table of options, e.g. " .. fname .. "{base_lr = 1e-3, …}", 3)
  end
  check_keys(fname, args, known, "option", 3)
  return args
end

local function need_step_count(fname, name, v, min)
  if type(v) ~= "number" or v ~= floor(v) or v < min then
    error(("%s: %s must be an integer >= %d, got %s"):format(fname, name, min,
          type(v) == "number" and tostring(v) or type(v)), 3)
  end
end

local function need_step(fname, step)
  if type(step) ~= "number" or step ~= step or step < 1 then
    error(("%s: step must be a number >= 1 (steps are 1-based), got %s"):format(fname,
          type(step) == "number" and tostring(step) or type(step)), 3)
  end
end

--- optim.linear_warmup{base_lr, warmup_steps}: step ↦ base_lr · min(1, step / warmup_steps).
function optim.linear_warmup(args)
  local f = "linear_warmup"
  schedule_args(f, args, { base_lr = true, warmup_steps = true })
  local base, warmup = args.base_lr, args.warmup_steps
  need_number(f, "base_lr", base, 0, nil, 2)
  need_step_count(f, "warmup_steps", warmup, 0)
  return function(step)
    need_step(f, step)
    if step < warmup then return base * step / warmup end
    return base
  end
end

--- optim.cosine_schedule{base_lr, total_steps, warmup_steps = 0, min_lr = 0}:
---   step ≤ warmup_steps: base_lr · step / warmup_steps (linear warmup, reaching base_lr);
---   after: min_lr + (base_lr − min_lr) · ½ (1 + cos(π · p)), p = (step − warmup_steps) /
---   (total_steps − warmup_steps) clamped to [0, 1], so step total_steps (and later) gives min_lr.
function optim.cosine_schedule(args)
  local f = "cosine_schedule"
  schedule_args(f, args, { base_lr = true, total_steps = true, warmup_steps = true, min_lr = true })
  local base, total = args.base_lr, args.total_steps
  local warmup, min_lr = args.warmup_steps or 0, args.min_lr or 0
  need_number(f, "base_lr", base, 0, nil, 2)
  need_number(f, "min_lr", min_lr, 0, nil, 2)
  need_step_count(f, "total_steps", total, 1)
  need_step_count(f, "warmup_steps", warmup, 0)
  if warmup >= total then
    error(("%s: warmup_steps (%d) must be smaller than total_steps (%d)"):format(f, warmup, total), 2)
  end
  local span = total - warmup
  return function(step)
    need_step(f, step)
    if step <= warmup then return base * step / warmup end
    local p = (step - warmup) / span
    if p > 1 then p = 1 end
    return min_lr + (base - min_lr) * 0.5 * (1 + cos(pi * p))
  end
end

return optim

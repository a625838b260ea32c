-- test_optim.lua — prism.optim against PyTorch's update rules written out in Lua doubles: SGD
-- (plain, momentum, dampening, nesterov, weight decay), AdamW (defaults and custom), skipped
-- parameters, settable lr and parameter groups, clip_grad_norm, the schedules, and a small
-- regression that must actually learn. Gradients are assigned directly (p.grad = …) so every
-- step's input is known exactly; values are compared within 1e-6 relative (absolute below 1).
-- Run: prism exec tests/lua/test_optim.lua

---------------------------------------------------------------------------------------------
-- assertion helpers (tests/lua/harness.lua)
local harness = require("harness")
local check, test, raises, finish = harness.check, harness.test, harness.raises, harness.finish
local TOL = 1e-6
local function close(a, e, tol)
  return math.abs(a - e) <= (tol or TOL) * math.max(1, math.abs(e))
end
-- ok, detail for two equal-length number arrays
local function all_close(actual, expected, tol)
  if #actual ~= #expected then return false, ("length %d vs %d"):format(#actual, #expected) end
  for i = 1, #expected do
    if not close(actual[i], expected[i], tol) then
      return false, ("element %d: got %.9g, expected %.9g"):format(i, actual[i], expected[i])
    end
  end
  return true
end
---------------------------------------------------------------------------------------------

local prism = require("prism")
local nn = require("prism.nn")
local optim = require("prism.optim")
local F = require("prism.nn.functional")

local function copy(a)
  local out = {}
  for i = 1, #a do out[i] = a[i] end
  return out
end

-- PyTorch's SGD, one parameter, in doubles. grads[s] == false means "no gradient at step s".
local function sgd_ref(p0, grads, o)
  local p, buf = copy(p0), nil
  local lr, mom, damp, wd = o.lr, o.momentum or 0, o.dampening or 0, o.weight_decay or 0
  for s, g in ipairs(grads) do
    if g then
      local lr_s = type(lr) == "table" and lr[s] or lr
      local d = {}
      for i = 1, #p do d[i] = g[i] + wd * p[i] end
      if mom ~= 0 then
        if buf == nil then
          buf = copy(d)
        else
          for i = 1, #p do buf[i] = mom * buf[i] + (1 - damp) * d[i] end
        end
        for i = 1, #p do d[i] = o.nesterov and d[i] + mom * buf[i] or buf[i] end
      end
      for i = 1, #p do p[i] = p[i] - lr_s * d[i] end
    end
  end
  return p
end

-- PyTorch's AdamW (torch/optim/adamw.py, single tensor), one parameter, in doubles.
local function adamw_ref(p0, grads, o)
  local lr, b1, b2 = o.lr or 1e-3, (o.betas or { 0.9, 0.999 })[1], (o.betas or { 0.9, 0.999 })[2]
  local eps, wd = o.eps or 1e-8, o.weight_decay or 0.01
  local p, m, v, t = copy(p0), {}, {}, 0
  for i = 1, #p do m[i], v[i] = 0, 0 end
  for _, g in ipairs(grads) do
    if g then
      t = t + 1
      local bc1, bc2 = 1 - b1 ^ t, 1 - b2 ^ t
      for i = 1, #p do
        p[i] = p[i] * (1 - lr * wd)
        m[i] = b1 * m[i] + (1 - b1) * g[i]
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i]
        p[i] = p[i] - (lr / bc1) * m[i] / (math.sqrt(v[i]) / math.sqrt(bc2) + eps)
      end
    end
  end
  return p
end

local P0 = { 1, -2, 3, 0.5 }
local GRADS = { { 0.5, -1, 2, 0 }, { -0.25, 0.75, 1.5, 0.125 }, { 1, 1, -1, -0.5 } }

-- Runs `make(params)` on fresh parameters and steps through grads (false = leave .grad nil).
local function run(make, p0s, grads_per_param, steps)
  local params = {}
  for i, p0 in ipairs(p0s) do params[i] = nn.Parameter(prism.tensor(p0)) end
  local opt = make(params)
  for s = 1, steps do
    for i, p in ipairs(params) do
      local g = grads_per_param[i][s]
      p.grad = g and prism.tensor(g) or nil
    end
    opt:step()
  end
  local out = {}
  for i, p in ipairs(params) do out[i] = p:tolist() end
  return out, opt, params
end

test("SGD", function()
  local out = run(function(ps) return optim.SGD(ps, { lr = 0.1 }) end, { P0 }, { GRADS }, 1)
  local ok, d = all_close(out[1], { 0.95, -1.9, 2.8, 0.5 })
  check("plain SGD, one step by hand: p - lr g", ok, d)
  local cases = {
    { "plain", { lr = 0.1 } },
    { "momentum", { lr = 0.1, momentum = 0.9 } },
    { "momentum + dampening + weight decay", { lr = 0.1, momentum = 0.9, dampening = 0.1, weight_decay = 0.01 } },
    { "nesterov + weight decay", { lr = 0.05, momentum = 0.9, nesterov = true, weight_decay = 0.05 } },
  }
  for _, c in ipairs(cases) do
    out = run(function(ps) return optim.SGD(ps, c[2]) end, { P0 }, { GRADS }, 3)
    ok, d = all_close(out[1], sgd_ref(P0, GRADS, c[2]))
    check("SGD " .. c[1] .. ", 3 steps", ok, d)
  end
  -- momentum by hand for two steps: buf1 = g1, buf2 = 0.9 g1 + g2
  out = run(function(ps) return optim.SGD(ps, { lr = 0.1, momentum = 0.9 }) end, { P0 }, { GRADS }, 2)
  local hand = {}
  for i = 1, 4 do hand[i] = P0[i] - 0.1 * GRADS[1][i] - 0.1 * (0.9 * GRADS[1][i] + GRADS[2][i]) end
  ok, d = all_close(out[1], hand)
  check("SGD momentum, two steps by hand", ok, d)
  -- a parameter without a gradient is skipped; its momentum buffer starts at its first gradient
  local skip = { false, GRADS[2], GRADS[3] }
  local opts = { lr = 0.1, momentum = 0.9 }
  local res, opt = run(function(ps) return optim.SGD(ps, opts) end, { P0, P0 }, { GRADS, skip }, 3)
  ok, d = all_close(res[2], sgd_ref(P0, skip, opts))
  check("SGD skips a parameter whose grad is nil", ok, d)
  check("SGD momentum state is an array aligned with the parameters", #opt.state == 2 and opt.state[1].momentum_buffer ~= nil)
  res = run(function(ps) return optim.SGD(ps, opts) end, { P0 }, { { false } }, 1)
  ok, d = all_close(res[1], P0, 0)
  check("step with no gradient at all leaves the parameter alone", ok, d)
end)

test("AdamW", function()
  local out, opt = run(function(ps) return optim.AdamW(ps, { lr = 0.1 }) end, { P0 }, { GRADS }, 1)
  -- step 1: m^ = g, v^ = g^2, so p1 = p0 (1 - lr wd) - lr g / (|g| + eps)
  local hand = {}
  for i = 1, 4 do
    local g = GRADS[1][i]
    hand[i] = P0[i] * (1 - 0.1 * 0.01) - 0.1 * g / (math.abs(g) + 1e-8)
  end
  local ok, d = all_close(out[1], hand)
  check("AdamW step 1 by hand (defaults betas/eps/weight_decay)", ok, d)
  check("AdamW defaults are PyTorch's", opt.param_groups[1].betas[1] == 0.9 and opt.param_groups[1].betas[2] == 0.999
        and opt.param_groups[1].eps == 1e-8 and opt.param_groups[1].weight_decay == 0.01)
  check("AdamW default lr 1e-3", optim.AdamW({ nn.Parameter(prism.zeros(1)) }).lr == 1e-3)
  local cases = {
    { "defaults, lr 0.1", { lr = 0.1 } },
    { "custom betas/eps/weight_decay", { lr = 0.05, betas = { 0.8, 0.99 }, eps = 1e-6, weight_decay = 0.1 } },
    { "no weight decay", { lr = 0.1, weight_decay = 0 } },
  }
  for _, c in ipairs(cases) do
    out = run(function(ps) return optim.AdamW(ps, c[2]) end, { P0 }, { GRADS }, 3)
    ok, d = all_close(out[1], adamw_ref(P0, GRADS, c[2]))
    check("AdamW " .. c[1] .. ", 3 steps", ok, d)
  end
  local skip = { false, GRADS[2], GRADS[3] }
  local res
  res, opt = run(function(ps) return optim.AdamW(ps, { lr = 0.1 }) end, { P0, P0 }, { GRADS, skip }, 3)
  ok, d = all_close(res[2], adamw_ref(P0, skip, { lr = 0.1 }))
  check("AdamW counts steps per parameter (bias correction of a late starter)", ok, d)
  ok, d = all_close(res[1], adamw_ref(P0, GRADS, { lr = 0.1 }))
  check("AdamW other parameter unaffected", ok, d)
  check("AdamW state aligned with the parameter list", #opt.state == 2 and opt.state[1].step == 3 and opt.state[2].step == 2)
end)

test("lr property, parameter groups, zero_grad", function()
  local p = nn.Parameter(prism.tensor(P0))
  local opt = optim.SGD({ p }, { lr = 0.1 })
  p.grad = prism.tensor(GRADS[1]); opt:step()
  opt.lr = 0.05
  check("opt.lr mirrors param_groups[1].lr", opt.param_groups[1].lr == 0.05 and opt.lr == 0.05)
  p.grad = prism.tensor(GRADS[2]); opt:step()
  opt.param_groups[1].lr = 0.2
  check("param_groups[1].lr shows through opt.lr", opt.lr == 0.2)
  p.grad = prism.tensor(GRADS[3]); opt:step()
  local ok, d = all_close(p:tolist(), sgd_ref(P0, GRADS, { lr = { 0.1, 0.05, 0.2 } }))
  check("steps use the current lr", ok, d)
  opt:zero_grad()
  check("zero_grad sets .grad to nil", p.grad == nil)

  local a, b = nn.Parameter(prism.tensor(P0)), nn.Parameter(prism.tensor(P0))
  local groups = optim.AdamW({ { params = { a }, weight_decay = 0 }, { params = { b }, lr = 0.05 } }, { lr = 0.1 })
  check("groups fill in options and defaults", groups.param_groups[1].lr == 0.1 and groups.param_groups[1].weight_decay == 0
        and groups.param_groups[2].lr == 0.05 and groups.param_groups[2].weight_decay == 0.01)
  for s = 1, 3 do
    a.grad, b.grad = prism.tensor(GRADS[s]), prism.tensor(GRADS[s])
    groups:step()
  end
  ok, d = all_close(a:tolist(), adamw_ref(P0, GRADS, { lr = 0.1, weight_decay = 0 }))
  check("group 1 uses its own weight_decay", ok, d)
  ok, d = all_close(b:tolist(), adamw_ref(P0, GRADS, { lr = 0.05 }))
  check("group 2 uses its own lr", ok, d)
  groups.lr = 0.01
  check("setting opt.lr sets every group", groups.param_groups[1].lr == 0.01 and groups.param_groups[2].lr == 0.01)
  check("tostring(opt)", tostring(groups):find("AdamW(2 parameter groups, lr=0.01)", 1, true) ~= nil, tostring(groups))
end)

test("optimizer argument errors", function()
  local p = nn.Parameter(prism.zeros(2))
  local cases = {
    { function() optim.SGD(nn.Linear(2, 2), { lr = 0.1 }) end, "got a Module; pass model:parameters()" },
    { function() optim.SGD({}, { lr = 0.1 }) end, "empty parameter list" },
    { function() optim.SGD({ p, p }) end, "appears more than once" },
    { function() optim.SGD({ p * 2 }) end, "must be a float32 leaf tensor, got a float32 non-leaf" },
    { function() optim.SGD({ prism.zeros(2, { dtype = "int64" }) }) end, "float32 leaf tensor, got a int64" },
    { function() optim.SGD({ p }, { lr = -1 }) end, "lr must be in [0, inf)" },
    { function() optim.SGD({ p }, { lr = 0.1, nesterov = true }) end, "nesterov momentum requires a momentum > 0" },
    { function() optim.SGD({ p }, { lr = 0.1, momentun = 0.9 }) end, "unknown option momentun" },
    { function() optim.AdamW({ p }, { betas = { 1.0, 0.9 } }) end, "betas[1] must be in [0, 1)" },
    { function() optim.AdamW({ p }, { betas = 0.9 }) end, "betas must be an array of two numbers" },
    { function() optim.AdamW({ p }, { eps = "small" }) end, "eps must be a finite number" },
    { function() optim.AdamW({ { params = { p }, lr = 0.1, wd = 0 } }) end, "(parameter group 1): unknown key wd" },
    { function() optim.AdamW({ { params = { p }, lr = 0.1, wd = 0, foo = 1 } }) end, "(parameter group 1): unknown keys foo, wd" },
    { function() optim.AdamW({ p }).lr = 0 / 0 end, "lr must be a finite number" },
  }
  for i, c in ipairs(cases) do
    local ok, err = raises(c[1], c[2])
    check("error case " .. i .. ": " .. c[2], ok, err)
  end
  local function where(err) return tostring(err):match("^(.-:%d+):") end
  local _, e1 = pcall(function() local _ = optim.SGD({ p }, { lr = -1 }) end); local _, r1 = pcall(function() error("") end)
  local _, e2 = pcall(function() local _ = optim.AdamW({ p }, { betas = 1 }) end); local _, r2 = pcall(function() error("") end)
  local _, e3 = pcall(function() local _ = optim.cosine_schedule({}) end); local _, r3 = pcall(function() error("") end)
  check("errors point at the caller's line", where(e1) ~= nil and where(e1) == where(r1) and where(e2) == where(r2)
        and where(e3) == where(r3), tostring(e1) .. " | " .. tostring(e2) .. " | " .. tostring(e3))
  local frozen = nn.Parameter(prism.tensor({ 1, 2 }), false)
  local live = nn.Parameter(prism.tensor({ 1, 2 }))
  local opt = optim.AdamW({ frozen, live }, { lr = 0.1 })
  live.grad = prism.tensor({ 1, 1 })
  opt:step()
  local f, l = frozen:tolist(), live:tolist()
  check("a frozen parameter (requires_grad false) is accepted and left alone", f[1] == 1 and f[2] == 2 and l[1] < 1)
end)

test("clip_grad_norm", function()
  local a, b, c = nn.Parameter(prism.zeros(2)), nn.Parameter(prism.zeros(1)), nn.Parameter(prism.zeros(3))
  a.grad, b.grad = prism.tensor({ 3, 4 }), prism.tensor({ 12 })   -- c has no gradient
  local norm = optim.clip_grad_norm({ a, b, c }, 100)
  check("returns the total 2-norm (a number)", type(norm) == "number" and close(norm, 13), norm)
  local ok, d = all_close(a.grad:tolist(), { 3, 4 }, 0)
  check("no scaling when the norm is below max_norm", ok and b.grad:item() == 12, d)
  norm = optim.clip_grad_norm({ a, b, c }, 1)
  check("returns the norm before clipping", close(norm, 13), norm)
  local coef = 1 / (13 + 1e-6)
  ok, d = all_close(a.grad:tolist(), { 3 * coef, 4 * coef })
  check("scales every gradient by max_norm / (norm + 1e-6)", ok and close(b.grad:item(), 12 * coef), d)
  check("a parameter without a gradient stays without one", c.grad == nil)
  local after = optim.clip_grad_norm({ a, b }, 1)
  check("clipped gradients have norm ≈ max_norm", close(after, 13 * coef), after)
  check("no gradients at all: norm 0", optim.clip_grad_norm({ c }, 1) == 0)
  check("clip_grad_norm_ is the same function", optim.clip_grad_norm_ == optim.clip_grad_norm)
  local ok2, err = raises(function() optim.clip_grad_norm({ a }, -1) end, "max_norm must be a number >= 0")
  check("max_norm validated", ok2, err)
end)

test("schedules", function()
  local cos = optim.cosine_schedule({ base_lr = 1, total_steps = 10, warmup_steps = 2, min_lr = 0.1 })
  check("cosine warmup step 1 = base/warmup", close(cos(1), 0.5), cos(1))
  check("cosine reaches base_lr at the end of warmup", close(cos(2), 1), cos(2))
  local expect3 = 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 1 / 8))
  check("cosine step 3", close(cos(3), expect3), cos(3))
  check("cosine midpoint (step 6) = (base + min) / 2", close(cos(6), 0.55), cos(6))
  check("cosine at total_steps = min_lr", close(cos(10), 0.1), cos(10))
  check("cosine after total_steps stays at min_lr", close(cos(25), 0.1), cos(25))
  local plain = optim.cosine_schedule({ base_lr = 0.01, total_steps = 4 })
  check("cosine without warmup", close(plain(1), 0.01 * 0.5 * (1 + math.cos(math.pi / 4))) and close(plain(4), 0)
        and close(plain(2), 0.005), plain(1))
  local warm = optim.linear_warmup({ base_lr = 0.01, warmup_steps = 4 })
  check("linear_warmup ramps", close(warm(1), 0.0025) and close(warm(3), 0.0075), warm(1))
  check("linear_warmup holds base_lr after warmup", close(warm(4), 0.01) and close(warm(1000), 0.01))
  check("linear_warmup with 0 steps is constant", optim.linear_warmup({ base_lr = 0.3, warmup_steps = 0 })(1) == 0.3)
  local ok, err = raises(function() cos(0) end, "steps are 1-based")
  check("step 0 is an error", ok, err)
  ok, err = raises(function() optim.cosine_schedule({ base_lr = 1, total_steps = 5, warmup_steps = 5 }) end,
                   "must be smaller than total_steps")
  check("warmup must fit in total_steps", ok, err)
  ok, err = raises(function() optim.cosine_schedule({ base_lr = 1 }) end, "total_steps must be an integer >= 1")
  check("total_steps is required", ok, err)
  ok, err = raises(function() optim.linear_warmup(0.1, 10) end, "expected one table of options")
  check("schedules take one table", ok, err)
  -- a schedule drives opt.lr
  local p = nn.Parameter(prism.tensor(P0))
  local opt = optim.SGD({ p }, { lr = 0 })
  local lrs = {}
  for s = 1, 3 do
    opt.lr = warm(s)
    lrs[s] = opt.lr
    p.grad = prism.tensor(GRADS[s])
    opt:step()
  end
  local ok3, d = all_close(p:tolist(), sgd_ref(P0, GRADS, { lr = lrs }))
  check("schedule assigned to opt.lr each step", ok3, d)
end)

test("a small model learns", function()
  -- y = 2 x1 - 3 x2 + 0.5 x3 + 1 on fixed inputs
  local X = prism.randn(64, 3)
  local w_true = prism.tensor({ { 2 }, { -3 }, { 0.5 } })
  local Y = X:matmul(w_true) + 1
  local model = nn.Linear(3, 1)
  local opt = optim.AdamW(model:parameters(), { lr = 0.05, weight_decay = 0 })
  local first, last
  for step = 1, 200 do
    opt:zero_grad()
    local loss = ((model(X) - Y) ^ 2):mean()
    loss:backward()
    optim.clip_grad_norm(model:parameters(), 10)
    opt:step()
    if step == 1 then first = loss:item() end
    last = loss:item()
  end
  check("regression loss falls by 100x", last < first / 100, ("%g -> %g"):format(first, last))
  local w = model.weight:tolist()[1]
  check("recovers the weights", math.abs(w[1] - 2) < 0.05 and math.abs(w[2] + 3) < 0.05 and math.abs(w[3] - 0.5) < 0.05,
        table.concat(w, ", "))
  local ce_model = nn.Sequential(nn.Embedding(8, 16), nn.Linear(16, 8))
  local ids = prism.tensor({ 0, 1, 2, 3, 4, 5, 6, 7 }, { dtype = "int64" })
  local nxt = prism.tensor({ 1, 2, 3, 4, 5, 6, 7, 0 }, { dtype = "int64" })
  local sgd = optim.SGD(ce_model:parameters(), { lr = 0.5, momentum = 0.9 })
  local l0, l1
  for step = 1, 50 do
    sgd:zero_grad()
    local loss = F.cross_entropy(ce_model(ids), nxt)
    loss:backward()
    sgd:step()
    if step == 1 then l0 = loss:item() end
    l1 = loss:item()
  end
  check("SGD with momentum learns a next-token table", l1 < 0.1 * l0, ("%g -> %g"):format(l0, l1))
end)

finish()

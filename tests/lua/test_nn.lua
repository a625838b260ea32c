-- test_nn.lua — prism.nn and prism.nn.functional through the public API: module registration
-- order (assignment order, nesting, reassignment, tying, unregistering), parameter counts,
-- PyTorch-default initialization bounds, train/eval propagation, Dropout, containers, and the
-- functional ops checked against compositions of elementary tensor ops.
-- Run: prism exec tests/lua/test_nn.lua

---------------------------------------------------------------------------------------------
-- assertion helpers (tests/lua/harness.lua)
local harness = require("harness")
local check, test, raises, finish = harness.check, harness.test, harness.raises, harness.finish
---------------------------------------------------------------------------------------------

local prism = require("prism")
local nn = require("prism.nn")
local F = require("prism.nn.functional")

local function names_of(model)
  local out = {}
  for i, pair in ipairs(model:named_parameters()) do out[i] = pair[1] end
  return table.concat(out, ",")
end
local function max_diff(a, b)
  return (a - b):abs():max():item()
end
local function shape_of(t)
  return table.concat(t.shape, "x")
end
local function flat(t)
  local out = {}
  local function rec(v)
    if type(v) == "table" then for _, x in ipairs(v) do rec(x) end else out[#out + 1] = v end
  end
  rec(t:tolist())
  return out
end

test("registration order", function()
  local Net = nn.Module:extend("Net")
  function Net:init()
    self.zeta = nn.Linear(2, 3)        -- deliberately not alphabetical
    self.alpha = nn.Linear(3, 4, { bias = false })
    self.scale = nn.Parameter(prism.ones(4))
    self.note = "plain"                 -- plain values are not registered
    self.k = 7
    self.mask = prism.zeros(4)          -- a plain tensor is not a parameter
  end
  local m = Net()
  check("parameters follow assignment order, depth-first",
        names_of(m) == "scale,zeta.weight,zeta.bias,alpha.weight", names_of(m))
  check("plain fields readable", m.note == "plain" and m.k == 7 and prism.is_tensor(m.mask))
  check("parameters() count", #m:parameters() == 4)
  check("parameters() are the registered tensors", rawequal(m:parameters()[2], m.zeta.weight))
  check("num_parameters", m:num_parameters() == 4 + 2 * 3 + 3 + 3 * 4, m:num_parameters())

  local ch = m:named_children()
  check("named_children order", #ch == 2 and ch[1][1] == "zeta" and ch[2][1] == "alpha")
  check("children()", #m:children() == 2 and rawequal(m:children()[2], m.alpha))
  local mods = m:modules()
  check("modules(): self first, then children in order",
        #mods == 3 and rawequal(mods[1], m) and rawequal(mods[2], m.zeta) and rawequal(mods[3], m.alpha))
end)

test("nested modules", function()
  local Inner = nn.Module:extend("Inner")
  function Inner:init() self.proj = nn.Linear(4, 4); self.norm = nn.RMSNorm(4) end
  local Outer = nn.Module:extend("Outer")
  function Outer:init()
    self.emb = nn.Embedding(10, 4)
    self.blocks = nn.ModuleList({ Inner(), Inner() })
    self.head = nn.Linear(4, 10)
  end
  local m = Outer()
  check("dotted names, 1-based list indices", names_of(m) ==
        "emb.weight,blocks.1.proj.weight,blocks.1.proj.bias,blocks.1.norm.weight," ..
        "blocks.2.proj.weight,blocks.2.proj.bias,blocks.2.norm.weight,head.weight,head.bias", names_of(m))
  local nm = m:named_modules()
  check("named_modules", #nm == 10 and nm[1][1] == "" and nm[3][1] == "blocks" and
        nm[5][1] == "blocks.1.proj" and nm[10][1] == "head", #nm)
  local visited = {}
  m:apply(function(mod) visited[#visited + 1] = mod end)
  check("apply visits children before parents", #visited == 10 and rawequal(visited[10], m))
end)

test("reassignment keeps position; nil unregisters", function()
  local Net = nn.Module:extend("Net")
  function Net:init()
    self.a = nn.Linear(2, 2)
    self.b = nn.Linear(2, 2)
    self.c = nn.Parameter(prism.zeros(3))
  end
  local m = Net()
  local new_a = nn.Linear(2, 2, { bias = false })
  m.a = new_a
  check("reassigned module keeps its slot", names_of(m) == "c,a.weight,b.weight,b.bias", names_of(m))
  check("reassigned value is the new one", rawequal(m.a, new_a))
  local c2 = nn.Parameter(prism.ones(3))
  m.c = c2
  check("reassigned parameter keeps its slot", names_of(m) == "c,a.weight,b.weight,b.bias" and rawequal(m.c, c2))
  m.a = nil
  check("nil unregisters a module", names_of(m) == "c,b.weight,b.bias" and m.a == nil, names_of(m))
  m.a = nn.Linear(2, 2)
  check("re-adding after removal appends", names_of(m) == "c,b.weight,b.bias,a.weight,a.bias", names_of(m))
  m.c = nil
  check("nil unregisters a parameter", names_of(m) == "b.weight,b.bias,a.weight,a.bias")
  m.x = 5
  m.x = nn.Linear(1, 1)   -- a plain field becoming a module must register
  check("plain field replaced by a module registers", names_of(m) == "b.weight,b.bias,a.weight,a.bias,x.weight,x.bias",
        names_of(m))
  local ok, err = raises(function() m.b = prism.zeros(2) end, "cannot assign a tensor to child module 'b'")
  check("plain value onto a registered module is an error", ok, err)
  ok, err = raises(function() m.b.weight = m.b.weight * 2 end, "cannot assign a tensor to parameter 'weight'")
  check("plain tensor onto a registered parameter is an error", ok, err)
  ok, err = raises(function() m["a.b"] = nn.Linear(1, 1) end, "contain no '.'")
  check("dotted names rejected", ok, err)
  m.b = nn.Parameter(prism.zeros(1))  -- a module slot taking a parameter changes kind: re-registered last
  check("kind change re-registers (own parameters come first)", names_of(m) == "b,a.weight,a.bias,x.weight,x.bias",
        names_of(m))
end)

test("weight tying", function()
  local Tied = nn.Module:extend("Tied")
  function Tied:init(vocab, dim)
    self.emb = nn.Embedding(vocab, dim)
    self.head = nn.Linear(dim, vocab, { bias = false })
    self.head.weight = self.emb.weight
  end
  local m = Tied(11, 4)
  check("tied weight is the same tensor", rawequal(m.head.weight, m.emb.weight))
  check("tied weight counted once", #m:parameters() == 1 and m:num_parameters() == 44, m:num_parameters())
  check("tied weight keeps its first name", names_of(m) == "emb.weight", names_of(m))
  local ids = prism.tensor({ { 1, 2, 3 } }, { dtype = "int64" })
  local logits = m.head(m.emb(ids))
  check("tied forward shape", shape_of(logits) == "1x3x11", shape_of(logits))
  local loss = F.cross_entropy(logits:reshape(-1, 11), ids:reshape(-1))
  loss:backward()
  check("tied weight receives one gradient", m.emb.weight.grad ~= nil and shape_of(m.emb.weight.grad) == "11x4")
  m:zero_grad()
  check("zero_grad clears .grad", m.emb.weight.grad == nil)
  local shared = nn.Linear(3, 3)
  local Twice = nn.Module:extend("Twice")
  function Twice:init() self.a = shared; self.b = shared end
  local t = Twice()
  check("a shared module counts once", t:num_parameters() == 12 and names_of(t) == "a.weight,a.bias", names_of(t))
end)

test("Parameter", function()
  local base = prism.zeros(3)
  local p = nn.Parameter(base)
  check("Parameter requires grad and is a leaf", p.requires_grad and p.is_leaf)
  check("is_parameter tells parameters from tensors", nn.is_parameter(p) and not nn.is_parameter(base))
  prism.no_grad(function() base:fill_(2) end)
  check("Parameter shares the data of its source", p:sum():item() == 6)
  local y = (prism.ones(2) * 3):detach():requires_grad_(true) * 2   -- a non-leaf
  local q = nn.Parameter(y)
  check("Parameter of a non-leaf is a leaf", q.is_leaf and q.requires_grad)
  local frozen = nn.Parameter(prism.ones(2), false)
  check("Parameter(t, false) does not require grad", not frozen.requires_grad and nn.is_parameter(frozen))
  local ok, err = raises(function() nn.Parameter(prism.zeros(2, { dtype = "int64" })) end, "float32")
  check("Parameter of an int tensor is an error", ok, err)
  ok, err = raises(function() nn.Parameter({ 1, 2 }) end, "expected a tensor")
  check("Parameter of a table is an error", ok, err)
end)

test("parameter counts of the layers", function()
  check("Linear(3, 5)", nn.Linear(3, 5):num_parameters() == 20)
  check("Linear(3, 5, no bias)", nn.Linear(3, 5, { bias = false }):num_parameters() == 15)
  check("Embedding(7, 4)", nn.Embedding(7, 4):num_parameters() == 28)
  check("LayerNorm(6)", nn.LayerNorm(6):num_parameters() == 12)
  check("LayerNorm(6, no bias)", nn.LayerNorm(6, { bias = false }):num_parameters() == 6)
  check("RMSNorm(6)", nn.RMSNorm(6):num_parameters() == 6)
  check("Linear shapes [out, in] and [out]", shape_of(nn.Linear(3, 5).weight) == "5x3" and shape_of(nn.Linear(3, 5).bias) == "5")
  check("activations and Dropout have none", nn.ReLU():num_parameters() == 0 and nn.Dropout(0.1):num_parameters() == 0)
end)

test("initialization", function()
  local lin = nn.Linear(64, 48)
  local bound = 1 / math.sqrt(64)
  local w, b = flat(lin.weight), flat(lin.bias)
  local wmax, bmax, wsum = 0, 0, 0
  for _, v in ipairs(w) do wmax = math.max(wmax, math.abs(v)); wsum = wsum + v end
  for _, v in ipairs(b) do bmax = math.max(bmax, math.abs(v)) end
  check("Linear weight within ±1/sqrt(in)", wmax <= bound, wmax)
  check("Linear weight spans the range (not a narrower init)", wmax > 0.95 * bound, wmax)
  check("Linear weight mean near 0", math.abs(wsum / #w) < 0.01, wsum / #w)
  check("Linear bias within ±1/sqrt(in), not zero", bmax <= bound and bmax > 0.5 * bound, bmax)
  local var = 0
  for _, v in ipairs(w) do var = var + v * v end
  var = var / #w
  check("Linear weight variance ≈ bound²/3", math.abs(var / (bound * bound / 3) - 1) < 0.1, var)

  local emb = nn.Embedding(100, 100)
  local e = flat(emb.weight)
  local sum, sq = 0, 0
  for _, v in ipairs(e) do sum = sum + v; sq = sq + v * v end
  local mean = sum / #e
  local std = math.sqrt(sq / #e - mean * mean)
  check("Embedding mean ≈ 0", math.abs(mean) < 0.05, mean)
  check("Embedding std ≈ 1", math.abs(std - 1) < 0.05, std)

  local ln = nn.LayerNorm(5)
  check("LayerNorm weight 1, bias 0, eps 1e-5",
        ln.weight:sum():item() == 5 and ln.bias:abs():sum():item() == 0 and ln.eps == 1e-5)
  local rms = nn.RMSNorm(5)
  check("RMSNorm weight 1, eps 1e-6", rms.weight:sum():item() == 5 and rms.eps == 1e-6)
  check("RMSNorm {eps=}", nn.RMSNorm(5, { eps = 1e-3 }).eps == 1e-3)
  check("two Linear layers differ (the stream advances)", max_diff(nn.Linear(4, 4).weight, nn.Linear(4, 4).weight) > 0)
end)

test("train/eval propagation", function()
  local model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5), nn.Sequential(nn.Dropout(0.2)))
  check("training by default", model.training and model[2].training and model[3][1].training)
  local r = model:eval()
  check("eval returns self", rawequal(r, model))
  check("eval reaches every module", not model.training and not model[1].training and not model[3][1].training)
  model:train()
  check("train() reaches every module", model.training and model[3][1].training)
  model[3]:train(false)
  check("train(false) on a subtree only", model.training and not model[3].training and not model[3][1].training)
  local ok, err = raises(function() model:train("yes") end, "boolean")
  check("train(mode) rejects non-booleans", ok, err)
end)

test("Dropout", function()
  local x = prism.randn(64, 64)
  local d = nn.Dropout(0.5)
  d:eval()
  check("Dropout is the identity in eval", max_diff(d(x), x) == 0)
  d:train()
  local ones = prism.ones(100, 100)
  local y = d(ones)
  local zeros = y:eq(0):sum():item()
  local twos = y:eq(2):sum():item()
  check("Dropout(0.5) drops about half", zeros > 4500 and zeros < 5500, zeros)
  check("Dropout scales kept values by 1/(1-p)", zeros + twos == 10000, twos)
  check("F.dropout(x, p, false) is the identity", max_diff(F.dropout(x, 0.3, false), x) == 0)
  check("Dropout(0) keeps everything", max_diff(nn.Dropout(0)(x), x) == 0)
  local ok, err = raises(function() nn.Dropout(1.5) end, "p must be a number in [0, 1]")
  check("Dropout validates p", ok, err)
end)

test("Sequential", function()
  local seq = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
  check("#seq", #seq == 3)
  check("seq[i] indexing", nn.Linear:is_instance(seq[1]) and nn.ReLU:is_instance(seq[2]) and not nn.Linear:is_instance(seq[2]))
  check("Sequential names", names_of(seq) == "1.weight,1.bias,3.weight,3.bias", names_of(seq))
  local x = prism.randn(5, 4)
  local y = seq(x)
  check("Sequential output shape", shape_of(y) == "5x2")
  check("Sequential chains its modules", max_diff(y, seq[3](seq[2](seq[1](x)))) == 0)
  seq[2] = nn.Tanh()
  check("seq[i] = m replaces in place", nn.Tanh:is_instance(seq[2]) and max_diff(seq(x), seq[3](seq[1](x):tanh())) == 0)
  seq:append(nn.Linear(2, 1))
  check("append", #seq == 4 and shape_of(seq(x)) == "5x1" and names_of(seq):find("4.weight", 1, true) ~= nil)
  local from_array = nn.Sequential({ nn.Linear(1, 1), nn.Linear(1, 1) })
  check("Sequential from an array", #from_array == 2)
  local ok, err = raises(function() seq[9] = nn.ReLU() end, "use append")
  check("setting past the end is an error", ok, err)
  ok, err = raises(function() nn.Sequential(nn.Linear(1, 1), 3) end, "element 2 must be a Module")
  check("non-module elements are rejected", ok, err)
  check("tostring shows the tree", tostring(seq):find("(1): Linear(in_features=4, out_features=8, bias=true)", 1, true) ~= nil,
        tostring(seq))
end)

test("ModuleList", function()
  local list = nn.ModuleList({ nn.Linear(2, 2), nn.Linear(2, 3) })
  check("#list", #list == 2)
  list:append(nn.Linear(3, 4))
  check("append and index", #list == 3 and list[3].out_features == 4)
  local seen = {}
  for i, m in list:iter() do seen[#seen + 1] = i .. ":" .. m.out_features end
  check("iter in order", table.concat(seen, ",") == "1:2,2:3,3:4", table.concat(seen, ","))
  seen = {}
  for i, m in ipairs(list) do seen[#seen + 1] = i .. ":" .. m.out_features end
  check("ipairs works too", table.concat(seen, ",") == "1:2,2:3,3:4")
  list:extend({ nn.ReLU() })
  check("extend", #list == 4)
  check("ModuleList names", names_of(list) == "1.weight,1.bias,2.weight,2.bias,3.weight,3.bias", names_of(list))
  local holed = nn.ModuleList({ nn.Linear(1, 1), nn.Linear(1, 1), nn.Linear(1, 1) })
  holed[2] = nil
  local ok, err = raises(function() holed:parameters() end, "element 2 is nil but later elements exist")
  check("a hole in a container is an error, not silently skipped parameters", ok, err)
  ok, err = raises(function() list(prism.zeros(2)) end, "forward is not implemented")
  check("ModuleList has no forward", ok, err)
  local MyList = nn.ModuleList:extend("MyList")
  check("ModuleList:extend(name) on the class still subclasses", #MyList({ nn.ReLU() }) == 1)
end)

test("subclassing", function()
  local Base = nn.Module:extend("Base")
  function Base:init(dim)
    self.saw_training = self.training
    self.proj = nn.Linear(dim, dim)
  end
  function Base:forward(x) return self.proj(x) end
  local Child = Base:extend("Child")
  function Child:init(dim)
    Base.init(self, dim)
    self.extra = nn.Parameter(prism.ones(dim))
  end
  function Child:forward(x) return Base.forward(self, x) * self.extra end
  local c = Child(3)
  check("base set-up runs before init", c.saw_training == true)
  check("inherited init and added parameter (own parameters first)", names_of(c) == "extra,proj.weight,proj.bias", names_of(c))
  check("is_instance follows the class chain", Base:is_instance(c) and Child:is_instance(c) and nn.Module:is_instance(c)
        and not Child:is_instance(Base(3)))
  check("__call runs forward", shape_of(c(prism.ones(2, 3))) == "2x3")
  local Bare = nn.Module:extend("Bare")
  local ok, err = raises(function() Bare()(1) end, "Bare: forward is not implemented")
  check("missing forward names the class", ok, err)
  ok, err = raises(function() c:extend("X") end, "call it on a class")
  check("extend on an instance is an error", ok, err)
  ok, err = raises(function() nn.Module.parameters({}) end, "expected a Module instance")
  check("methods called with '.' on a plain table are errors", ok, err)
  ok, err = raises(function() nn.Linear(0, 3) end, "in_features must be a positive integer")
  check("Linear validates sizes", ok, err)
  ok, err = raises(function() nn.Linear(2, 3, { biass = false }) end, "unknown option biass")
  check("unknown layer options are errors", ok, err)
  ok, err = raises(function() nn.ReLU(3) end, "takes no arguments")
  check("activation modules take no arguments", ok, err)
end)

test("errors point at the caller's line", function()
  local function where(err) return tostring(err):match("^(.-:%d+):") end
  -- each pair of errors is raised on one line, so their "file:line" must agree
  local _, e1 = pcall(function() local _ = nn.Linear(0, 2) end); local _, r1 = pcall(function() error("here") end)
  local _, e2 = pcall(function() local _ = F.linear(prism.ones(2), {}) end); local _, r2 = pcall(function() error("here") end)
  local m = nn.Linear(2, 2)
  local _, e3 = pcall(function() m.weight = prism.ones(2, 2) end); local _, r3 = pcall(function() error("here") end)
  local _, e4 = pcall(function() local _ = nn.Sequential(1) end); local _, r4 = pcall(function() error("here") end)
  check("constructor argument error", where(e1) ~= nil and where(e1) == where(r1), tostring(e1) .. " | " .. tostring(r1))
  check("functional argument error", where(e2) ~= nil and where(e2) == where(r2), e2)
  check("registration error", where(e3) ~= nil and where(e3) == where(r3), e3)
  check("container element error", where(e4) ~= nil and where(e4) == where(r4), e4)
end)

test("layer forwards match elementary ops", function()
  local lin = nn.Linear(4, 3)
  local x = prism.randn(2, 5, 4)
  local ref = x:matmul(lin.weight:t()) + lin.bias
  check("Linear = x W^T + b (3-D input)", max_diff(lin(x), ref) < 1e-5, max_diff(lin(x), ref))
  local nb = nn.Linear(4, 3, { bias = false })
  check("Linear without bias", max_diff(nb(x), x:matmul(nb.weight:t())) < 1e-5)

  local emb = nn.Embedding(6, 3)
  local ids = prism.tensor({ { 0, 5 }, { 2, 2 } }, { dtype = "int64" })
  local e = emb(ids)
  check("Embedding shape [..., dim]", shape_of(e) == "2x2x3")
  check("Embedding picks rows (0-based ids)", max_diff(e:narrow(1, 1, 1):narrow(2, 2, 1):reshape(3),
        emb.weight:narrow(1, 6, 1):reshape(3)) == 0)

  local h = prism.randn(3, 8)
  local ln = nn.LayerNorm(8)
  prism.no_grad(function() ln.weight:uniform_(0.5, 1.5); ln.bias:uniform_(-1, 1) end)
  local mu = h:mean(-1, true)
  local var = ((h - mu) ^ 2):mean(-1, true)
  local ln_ref = (h - mu) / (var + 1e-5):sqrt() * ln.weight + ln.bias
  check("LayerNorm matches its formula", max_diff(ln(h), ln_ref) < 1e-5, max_diff(ln(h), ln_ref))
  local rms = nn.RMSNorm(8)
  prism.no_grad(function() rms.weight:uniform_(0.5, 1.5) end)
  local rms_ref = h * ((h * h):mean(-1, true) + 1e-6):rsqrt() * rms.weight
  check("RMSNorm matches its formula", max_diff(rms(h), rms_ref) < 1e-5, max_diff(rms(h), rms_ref))
  check("activation modules", max_diff(nn.SiLU()(h), h * h:sigmoid()) < 1e-5 and max_diff(nn.ReLU()(h), h:relu()) == 0
        and max_diff(nn.GELU()(h), h:gelu()) == 0 and max_diff(nn.Tanh()(h), h:tanh()) == 0)
end)

test("functional", function()
  local logits = prism.randn(5, 7)
  local targets = prism.tensor({ 0, 6, 3, 3, 1 }, { dtype = "int64" })
  local ce = F.cross_entropy(logits, targets)
  local ref = -logits:log_softmax(-1):gather(2, targets:reshape(5, 1)):mean()
  check("cross_entropy = mean of -log_softmax at the targets", math.abs(ce:item() - ref:item()) < 1e-5,
        ce:item() .. " vs " .. ref:item())
  local ok, err = raises(function() F.cross_entropy(prism.randn(2, 3, 4), targets) end, "flatten first")
  check("cross_entropy wants 2-D logits", ok, err)
  ok, err = raises(function() F.cross_entropy(logits, prism.tensor({ 1, 2 }, { dtype = "int64" })) end,
                   "logits have 5 rows but targets have 2")
  check("cross_entropy checks row counts", ok, err)
  ok, err = raises(function() F.cross_entropy(logits, prism.zeros(5)) end, "integer ids")
  check("cross_entropy wants integer targets", ok, err)

  local B, H, T, D = 2, 3, 5, 4
  local q, k, v = prism.randn(B, H, T, D), prism.randn(B, H, T, D), prism.randn(B, H, T, D)
  local scores = q:matmul(k:transpose(-2, -1)) * (1 / math.sqrt(D))
  local full = F.scaled_dot_product_attention(q, k, v)
  check("attention (non-causal default) = softmax(q k^T / sqrt(D)) v",
        max_diff(full, scores:softmax(-1):matmul(v)) < 1e-5, max_diff(full, scores:softmax(-1):matmul(v)))
  local mask = prism.ones(T, T):triu(1)
  local causal_ref = scores:masked_fill(mask, -math.huge):softmax(-1):matmul(v)
  local causal = F.scaled_dot_product_attention(q, k, v, { causal = true })
  check("causal attention masks the future", max_diff(causal, causal_ref) < 1e-5, max_diff(causal, causal_ref))
  local scaled = F.scaled_dot_product_attention(q, k, v, { is_causal = true, scale = 0.3 })
  local scaled_ref = (q:matmul(k:transpose(-2, -1)) * 0.3):masked_fill(mask, -math.huge):softmax(-1):matmul(v)
  check("explicit scale (and the is_causal alias)", max_diff(scaled, scaled_ref) < 1e-5)
  ok, err = raises(function() F.scaled_dot_product_attention(q, k, v, { casual = true }) end, "unknown option casual")
  check("misspelt attention option is an error", ok, err)
  ok, err = raises(function() F.scaled_dot_product_attention(q:reshape(B * H, T, D), k, v) end, "q must be 4-D")
  check("attention wants [B, H, T, D]", ok, err)
  ok, err = raises(function() F.scaled_dot_product_attention(q, k:narrow(3, 1, 2), v) end, "same shape")
  check("attention wants matching shapes", ok, err)

  local x = prism.randn(3, 4)
  check("F.softmax / F.log_softmax", max_diff(F.softmax(x, -1), x:softmax(-1)) == 0 and
        max_diff(F.log_softmax(x, 1), x:log_softmax(1)) == 0)
  ok, err = raises(function() F.softmax(x) end, "dim must be an integer")
  check("F.softmax needs a dim", ok, err)
  check("F.relu / F.gelu / F.silu", max_diff(F.relu(x), x:relu()) == 0 and max_diff(F.gelu(x), x:gelu()) == 0 and
        max_diff(F.silu(x), x:silu()) == 0)
  local w, b = prism.randn(2, 4), prism.randn(2)
  check("F.linear", max_diff(F.linear(x, w, b), x:matmul(w:t()) + b) < 1e-5)
  ok, err = raises(function() F.linear(x, { 1, 2 }) end, "F.linear: weight must be a tensor, got a table")
  check("F.linear names a non-tensor argument", ok, err)
  ok, err = raises(function() F.linear(x, prism.randn(4)) end, "weight must be 2-D")
  check("F.linear checks the weight rank", ok, err)
  check("F.rms_norm without weight", max_diff(F.rms_norm(x), x * ((x * x):mean(-1, true) + 1e-6):rsqrt()) < 1e-5)
  local ln_ref = (x - x:mean(-1, true)) / (((x - x:mean(-1, true)) ^ 2):mean(-1, true) + 1e-5):sqrt()
  check("F.layer_norm without affine", max_diff(F.layer_norm(x), ln_ref) < 1e-5)
  local ids = prism.tensor({ 1, 0 }, { dtype = "int64" })
  check("F.embedding(ids, weight)", max_diff(F.embedding(ids, w), prism.stack({ w:narrow(1, 2, 1):reshape(4),
        w:narrow(1, 1, 1):reshape(4) }, 1)) == 0)
end)

test("gradients flow through a model", function()
  local Net = nn.Module:extend("Net")
  function Net:init()
    self.emb = nn.Embedding(10, 8)
    self.norm = nn.RMSNorm(8)
    self.head = nn.Linear(8, 10)
  end
  function Net:forward(ids) return self.head(self.norm(self.emb(ids))) end
  local net = Net()
  local ids = prism.tensor({ 1, 2, 3, 4 }, { dtype = "int64" })
  local loss = F.cross_entropy(net(ids), ids)
  loss:backward()
  local all = true
  for _, pair in ipairs(net:named_parameters()) do
    local g = pair[2].grad
    if g == nil or shape_of(g) ~= shape_of(pair[2]) then all = false end
  end
  check("every parameter gets a gradient of its own shape", all)
end)

finish()

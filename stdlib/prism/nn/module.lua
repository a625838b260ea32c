-- prism.nn.module — the Module class system and nn.Parameter.
--
-- Why it looks like this: LuaJIT randomizes `pairs` order between processes, so everything that
-- decides numbers (parameter order for the optimizer, forced init, saved state names) comes from
-- ORDERED arrays filled at assignment time. An instance is an empty proxy table: its fields live
-- in a private state record (a weak-keyed table local to this file), so every assignment goes
-- through __newindex — a Module or Parameter assigned to a field is registered, reassigning a
-- registered name keeps its position (weight tying), assigning nil unregisters. Keeping the
-- registries out of the instance also means a submission cannot edit them behind the API.
-- Containers (Sequential, ModuleList) are the one exception: their children are the raw array
-- part of the instance, because LuaJIT (Lua 5.1) ignores __len on tables, so `#seq` and
-- `ipairs(list)` only work on a real array; the array itself is then the ordered registry.

-- Globals are captured once, at load: later changes to the global table cannot reach in here.
local error, getmetatable, ipairs, next, rawget, rawset = error, getmetatable, ipairs, next, rawget, rawset
local setmetatable, tostring, type = setmetatable, tostring, type
local floor = math.floor
local concat, remove = table.concat, table.remove
local core = require("prism.core")

local is_tensor = core.is_tensor

local M = {}

-- instance -> { class, values = {name -> value}, kinds = {name -> "param"|"module"},
--               params = {names…}, modules = {names…}, container = bool }
local STATE = setmetatable({}, { __mode = "k" })
-- tensor -> true for tensors made by nn.Parameter
local PARAMS = setmetatable({}, { __mode = "k" })
-- class table -> true
local CLASSES = setmetatable({}, { __mode = "k" })

local function is_module(x)
  return STATE[x] ~= nil
end

local function is_parameter(x)
  return PARAMS[x] == true
end

local function describe(x)
  local st = STATE[x]
  if st then return "Module " .. tostring(st.class.__name) end
  if PARAMS[x] then return "Parameter" end
  if is_tensor(x) then return "tensor" end
  if CLASSES[x] then return "class " .. tostring(x.__name) .. " (call it to make an instance)" end
  return type(x)
end
M.describe = describe

local function state_of(m, fname)
  local st = STATE[m]
  if not st then
    error(fname .. ": expected a Module instance, got " .. describe(m) ..
          " (called with '.' instead of ':'?)", 3)
  end
  return st
end

local function index_of(list, name)
  for i = 1, #list do
    if list[i] == name then return i end
  end
  return nil
end

local function remove_name(list, name)
  local i = index_of(list, name)
  if i then remove(list, i) end
end

-- Returns nil when k can name a registered value, else the reason it cannot.
local function bad_name(st, k)
  local tk = type(k)
  if tk == "string" then
    if k == "" or k:find(".", 1, true) then
      return st.class.__name .. ": cannot register under the name '" .. k ..
             "' (names must be non-empty and contain no '.')"
    end
  elseif tk == "number" then
    if k < 1 or k ~= floor(k) then
      return st.class.__name .. ": cannot register under the key " .. tostring(k) ..
             " (numeric keys must be positive integers)"
    end
  else
    return st.class.__name .. ": cannot register under a key of type " .. tk
  end
  return nil
end

-- The one place where fields change. `kind` of the new value decides: a Module or Parameter is
-- (re)registered, nil unregisters, anything else is a plain field — except that a registered
-- name only accepts its own kind or nil, like PyTorch, so `self.weight = self.weight * 2`
-- cannot silently turn a parameter into an unregistered tensor.
local function set_field(st, k, v)
  local kind = STATE[v] and "module" or (PARAMS[v] and "param") or nil
  local old = st.kinds[k]
  if kind == nil then
    if v ~= nil and old ~= nil then
      error(("%s: cannot assign a %s to %s '%s' (expected a %s, or nil to remove it)"):format(
        st.class.__name, describe(v), old == "param" and "parameter" or "child module",
        tostring(k), old == "param" and "Parameter" or "Module"), 3)
    end
    if old then
      remove_name(old == "param" and st.params or st.modules, k)
      st.kinds[k] = nil
    end
    st.values[k] = v
    return
  end
  if old ~= kind then
    local why = bad_name(st, k)
    if why then error(why, 3) end
    if old then remove_name(old == "param" and st.params or st.modules, k) end
    local list = kind == "param" and st.params or st.modules
    list[#list + 1] = k
    st.kinds[k] = kind
  end
  st.values[k] = v
end

local INSTANCE_MT = { __metatable = "prism.nn.Module" }

function INSTANCE_MT.__index(self, k)
  local st = STATE[self]
  local v = st.values[k]
  if v ~= nil then return v end
  return st.class[k]
end

function INSTANCE_MT.__newindex(self, k, v)
  local st = STATE[self]
  if st.container and type(k) == "number" then
    -- Only reached for keys absent from the raw array (present ones are replaced in place).
    local n = #self
    if k ~= n + 1 then
      error(("%s: cannot set index %s of a container holding %d modules (use append)"):format(
        st.class.__name, tostring(k), n), 2)
    end
    if not STATE[v] then
      error(("%s: element %d must be a Module, got %s"):format(st.class.__name, k, describe(v)), 2)
    end
    rawset(self, k, v)
    return
  end
  set_field(st, k, v)
end

function INSTANCE_MT.__call(self, ...)
  return self:forward(...)
end

function INSTANCE_MT.__tostring(self)
  return self:__repr("")
end

-- Direct children of m, in order: a container's array part first, then registered names.
local function children_of(m, st)
  local names, mods = {}, {}
  if st.container then
    local i = 1
    while true do
      local c = rawget(m, i)
      if c == nil then break end
      if not STATE[c] then
        error(("%s: element %d is a %s, not a Module"):format(st.class.__name, i, describe(c)), 0)
      end
      names[i], mods[i] = tostring(i), c
      i = i + 1
    end
    -- `c[k] = nil` on the array leaves a hole that would silently hide the modules after it.
    -- Counting the raw keys finds it whatever order next() visits them in.
    local n = 0
    for _ in next, m do n = n + 1 end
    if n ~= i - 1 then
      error(("%s: element %d is nil but later elements exist (rebuild the container instead " ..
             "of assigning nil)"):format(st.class.__name, i), 0)
    end
  end
  for _, name in ipairs(st.modules) do
    names[#names + 1], mods[#mods + 1] = tostring(name), st.values[name]
  end
  return names, mods
end

-- Depth-first pre-order walk, each module once (shared modules and cycles are visited once).
local function walk(m, prefix, out_mods, out_prefixes, seen)
  if seen[m] then return end
  seen[m] = true
  out_mods[#out_mods + 1] = m
  out_prefixes[#out_prefixes + 1] = prefix
  local names, mods = children_of(m, STATE[m])
  for i = 1, #mods do
    walk(mods[i], prefix == "" and names[i] or (prefix .. "." .. names[i]), out_mods, out_prefixes, seen)
  end
end

local function all_modules(m)
  local mods, prefixes = {}, {}
  walk(m, "", mods, prefixes, {})
  return mods, prefixes
end

-- Parameters in registration order, depth-first, each tensor once (tied weights keep the name
-- of their first occurrence, as PyTorch's named_parameters does).
local function collect_parameters(m, with_names)
  local mods, prefixes = all_modules(m)
  local out, seen = {}, {}
  for i = 1, #mods do
    local st = STATE[mods[i]]
    for _, name in ipairs(st.params) do
      local p = st.values[name]
      if not seen[p] then
        seen[p] = true
        if with_names then
          local full = prefixes[i] == "" and tostring(name) or (prefixes[i] .. "." .. tostring(name))
          out[#out + 1] = { full, p }
        else
          out[#out + 1] = p
        end
      end
    end
  end
  return out
end

---------------------------------------------------------------------------------------------
-- classes

local Module = { __name = "Module" }
CLASSES[Module] = true

local function instantiate(class, ...)
  local obj = {}
  STATE[obj] = {
    class = class, values = { training = true }, kinds = {}, params = {}, modules = {},
    container = class.__container == true,
  }
  setmetatable(obj, INSTANCE_MT)
  local init = class.init
  if init then init(obj, ...) end
  return obj
end

local function class_tostring(c)
  return "class " .. tostring(rawget(c, "__name"))
end

setmetatable(Module, { __call = instantiate, __tostring = class_tostring })

--- Makes a subclass: `local Net = nn.Module:extend("Net")`; `Net(...)` makes an instance.
function Module:extend(name)
  if not CLASSES[self] then
    error("extend: call it on a class (nn.Module:extend(\"Name\")), not on " .. describe(self), 2)
  end
  if name ~= nil and type(name) ~= "string" then
    error("extend: the class name must be a string, got " .. type(name), 2)
  end
  local cls = { __name = name or self.__name }
  CLASSES[cls] = true
  return setmetatable(cls, { __index = self, __call = instantiate, __tostring = class_tostring })
end

--- True when obj is an instance of this class or of one of its subclasses.
function Module:is_instance(obj)
  local st = STATE[obj]
  if not st then return false end
  local c = st.class
  while c do
    if c == self then return true end
    local mt = getmetatable(c)
    c = mt and mt.__index
  end
  return false
end

function Module:init() end

function Module:forward()
  error(tostring(state_of(self, "forward").class.__name) .. ": forward is not implemented", 2)
end

function Module:register_parameter(name, p)
  local st = state_of(self, "register_parameter")
  if p ~= nil and not PARAMS[p] then
    error("register_parameter: expected a Parameter (nn.Parameter(t)) or nil, got " .. describe(p), 2)
  end
  if p ~= nil and bad_name(st, name) then error(bad_name(st, name), 2) end
  set_field(st, name, p)
  return p
end

function Module:register_module(name, m)
  local st = state_of(self, "register_module")
  if m ~= nil and not STATE[m] then
    error("register_module: expected a Module or nil, got " .. describe(m), 2)
  end
  if m ~= nil and bad_name(st, name) then error(bad_name(st, name), 2) end
  set_field(st, name, m)
  return m
end

function Module:parameters()
  state_of(self, "parameters")
  return collect_parameters(self, false)
end

function Module:named_parameters()
  state_of(self, "named_parameters")
  return collect_parameters(self, true)
end

function Module:num_parameters()
  state_of(self, "num_parameters")
  local n = 0
  for _, p in ipairs(collect_parameters(self, false)) do n = n + p:numel() end
  return n
end

function Module:named_children()
  local st = state_of(self, "named_children")
  local names, mods = children_of(self, st)
  local out, seen = {}, {}
  for i = 1, #mods do
    if not seen[mods[i]] then
      seen[mods[i]] = true
      out[#out + 1] = { names[i], mods[i] }
    end
  end
  return out
end

function Module:children()
  local out = {}
  for i, pair in ipairs(self:named_children()) do out[i] = pair[2] end
  return out
end

--- Every module of the tree, self first, depth-first in registration order, each once.
function Module:modules()
  state_of(self, "modules")
  return (all_modules(self))
end

function Module:named_modules()
  state_of(self, "named_modules")
  local mods, prefixes = all_modules(self)
  local out = {}
  for i = 1, #mods do out[i] = { prefixes[i], mods[i] } end
  return out
end

--- Calls fn(m) on every module, children before their parent (PyTorch's order); returns self.
function Module:apply(fn)
  state_of(self, "apply")
  if type(fn) ~= "function" then error("apply: expected a function, got " .. type(fn), 2) end
  local mods = all_modules(self)
  for i = #mods, 1, -1 do fn(mods[i]) end
  return self
end

function Module:train(mode)
  state_of(self, "train")
  if mode == nil then mode = true end
  if type(mode) ~= "boolean" then error("train: mode must be a boolean, got " .. type(mode), 2) end
  for _, m in ipairs((all_modules(self))) do STATE[m].values.training = mode end
  return self
end

function Module:eval()
  state_of(self, "eval")
  return self:train(false)
end

--- Clears .grad of every parameter (PyTorch's set_to_none behaviour).
function Module:zero_grad()
  state_of(self, "zero_grad")
  for _, p in ipairs(collect_parameters(self, false)) do p.grad = nil end
end

--- One-line summary of the layer's configuration for tostring(m); subclasses override it.
function Module:extra_repr()
  return ""
end

function Module:__repr(indent)
  local st = state_of(self, "__repr")
  local head = tostring(st.class.__name) .. "(" .. tostring(self:extra_repr())
  local names, mods = children_of(self, st)
  if #mods == 0 then return head .. ")" end
  local inner = indent .. "  "
  local lines = { head }
  for i = 1, #mods do
    lines[#lines + 1] = inner .. "(" .. names[i] .. "): " .. mods[i]:__repr(inner)
  end
  lines[#lines + 1] = indent .. ")"
  return concat(lines, "\n")
end

M.Module = Module

---------------------------------------------------------------------------------------------
-- parameters

--- nn.Parameter(t[, requires_grad]): a new leaf tensor sharing t's data, requiring grad (unless
--- requires_grad == false), that modules register when it is assigned to a field.
function M.Parameter(t, requires_grad)
  if not is_tensor(t) then
    error("Parameter: expected a tensor, got " .. describe(t), 2)
  end
  if t.dtype ~= "float32" then
    error("Parameter: expected a float32 tensor, got " .. tostring(t.dtype), 2)
  end
  if requires_grad ~= nil and type(requires_grad) ~= "boolean" then
    error("Parameter: requires_grad must be a boolean, got " .. type(requires_grad), 2)
  end
  local p = t:detach()
  p:requires_grad_(requires_grad ~= false)
  PARAMS[p] = true
  return p
end

M.is_module = is_module
M.is_parameter = is_parameter
M.is_class = function(x) return CLASSES[x] == true end

return M

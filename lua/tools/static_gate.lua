-- tools.static_gate — the bytecode static gate (SPEC §9/§10, issue 5), trusted code run by the
-- parent in a throwaway plain state (sandbox/static_gate.c). Each bundle .lua file is compiled
-- in text mode (never run) and every prototype, nested functions included, is walked with
-- jit.util: global reads (GGET) and writes (GSET) of forbidden names, field reads of them
-- through _G (_G.io, _G["io"]) and on forbidden libraries (os.execute, string.dump), and
-- require("literal") of a module that is neither stdlib nor a bundle file. Every hit is
-- returned at once, sorted by file then line.
--
-- Rules: io, dofile, loadfile, os.remove/rename/tmpname, package → prism:sandbox-no-filesystem;
-- os.execute/exit/getenv/setlocale → -no-process (os itself is allowed: the sandbox's os has
-- only clock); ffi, jit, package.loadlib → -no-ffi (jit exposes the VM's machine-code and
-- introspection machinery, the same reach as ffi); load, loadstring, setfenv, getfenv,
-- string.dump → -no-dynamic-code; debug → -no-debug; socket, http, https → -no-network; any
-- other require literal → -forbidden-module (ffi, io, os, debug, jit*, socket* and friends get
-- the specific rule). A file that does not compile gives prism:syntax.
local M = {}

local jutil = require("jit.util")
local bit = require("bit")
local funcbc, funck, funcinfo = jutil.funcbc, jutil.funck, jutil.funcinfo
local band, shr = bit.band, bit.rshift

local GLOBAL_RULES = {
  io = {"prism:sandbox-no-filesystem", "file access is not available in the sandbox"},
  dofile = {"prism:sandbox-no-filesystem", "files cannot be loaded from disk; require a bundle module instead"},
  loadfile = {"prism:sandbox-no-filesystem", "files cannot be loaded from disk; require a bundle module instead"},
  package = {"prism:sandbox-no-filesystem", "the package library (search paths, C loaders) is not available"},
  ffi = {"prism:sandbox-no-ffi", "the FFI is not available in the sandbox"},
  jit = {"prism:sandbox-no-ffi", "the jit library is not available in the sandbox"},
  load = {"prism:sandbox-no-dynamic-code", "code cannot be compiled at run time; write it as a bundle module"},
  loadstring = {"prism:sandbox-no-dynamic-code", "code cannot be compiled at run time; write it as a bundle module"},
  setfenv = {"prism:sandbox-no-dynamic-code", "function environments cannot be changed in the sandbox"},
  getfenv = {"prism:sandbox-no-dynamic-code", "function environments cannot be read in the sandbox"},
  debug = {"prism:sandbox-no-debug", "the debug library is not available in the sandbox"},
  socket = {"prism:sandbox-no-network", "there is no network access in the sandbox"},
  http = {"prism:sandbox-no-network", "there is no network access in the sandbox"},
  https = {"prism:sandbox-no-network", "there is no network access in the sandbox"},
}

-- Fields of otherwise allowed (or partly allowed) globals.
local FIELD_RULES = {
  os = {
    execute = {"prism:sandbox-no-process", "processes cannot be started from the sandbox"},
    exit = {"prism:sandbox-no-process", "a submission cannot exit the process; return or error() instead"},
    getenv = {"prism:sandbox-no-process", "the process environment is not readable from the sandbox"},
    setlocale = {"prism:sandbox-no-process", "the process locale cannot be changed from the sandbox"},
    remove = {"prism:sandbox-no-filesystem", "file access is not available in the sandbox"},
    rename = {"prism:sandbox-no-filesystem", "file access is not available in the sandbox"},
    tmpname = {"prism:sandbox-no-filesystem", "file access is not available in the sandbox"},
  },
  string = {
    dump = {"prism:sandbox-no-dynamic-code", "functions cannot be dumped to bytecode in the sandbox"},
  },
  package = {
    loadlib = {"prism:sandbox-no-ffi", "native libraries cannot be loaded in the sandbox"},
  },
}

local function module_rule(name)
  local root = name:match("^([^.]+)") or name
  if root == "ffi" or root == "jit" then return "prism:sandbox-no-ffi", "the FFI is not available in the sandbox" end
  if root == "debug" then return "prism:sandbox-no-debug", "the debug library is not available in the sandbox" end
  if root == "io" or root == "lfs" or root == "package" then
    return "prism:sandbox-no-filesystem", "file access is not available in the sandbox"
  end
  if root == "os" or root == "posix" then return "prism:sandbox-no-process", "processes cannot be started from the sandbox" end
  if root == "socket" or root == "http" or root == "https" or root == "ssl" or root == "ltn12" or root == "mime"
      or root == "curl" or root == "cURL" or root == "websocket" then
    return "prism:sandbox-no-network", "there is no network access in the sandbox"
  end
  return "prism:forbidden-module",
    "only the prism standard library (prism, prism.nn, prism.optim, ...) and the bundle's own .lua files can be required"
end

-- Opcode numbers of this LuaJIT, learned by compiling probes (no dependency on jit.vmdef).
local OP
local function probe(src, pc)
  local f = assert(loadstring(src, "=probe"))
  return band(funcbc(f, pc), 0xff)
end
local function opcodes()
  if OP then return OP end
  OP = {
    GGET = probe("return g", 1),
    GSET = probe("g = 1", 2),
    TGETS = probe("return g.x", 2),
    KSTR = probe("local s = 'x'", 1),
    CALL = probe("g('s')", 3),
    CALLT = probe("return g('s')", 3),
    MOV = probe("local a = ... local b = a", 2),
  }
  OP.TGETV = probe("local k = 'x' return g[k]", 3)
  -- the first argument's slot relative to the callee's (2 in LuaJIT's two-slot-frame builds)
  OP.ARG1 = band(shr(funcbc(assert(loadstring("g('s')")), 2), 8), 0xff)
  return OP
end

local function jump_targets(fn)
  local target = {}
  for pc = 1, 1e9 do
    local ins, m = funcbc(fn, pc)
    if not ins then break end
    if band(m, 15 * 128) == 13 * 128 then target[pc + shr(ins, 16) - 0x7fff] = true end
  end
  return target
end

local function scan_proto(fn, path, ctx)
  local op = opcodes()
  local function hit(pc, rule, msg)
    local info = funcinfo(fn, pc)
    ctx.hits[#ctx.hits + 1] = {file = path, line = info and info.currentline or 0, rule = rule, message = msg}
  end
  local function global_access(pc, name, write)
    local r = GLOBAL_RULES[name]
    if r then hit(pc, r[1], string.format("%s global '%s': %s", write and "writes" or "reads", name, r[2])) end
  end
  local reg = {}
  local targets = jump_targets(fn)
  for pc = 1, 1e9 do
    local ins, m = funcbc(fn, pc)
    if not ins then break end
    if targets[pc] then reg = {} end
    local o = band(ins, 0xff)
    local a = band(shr(ins, 8), 0xff)
    local d = shr(ins, 16)
    local c, b = band(d, 0xff), shr(ins, 24)
    local set
    if o == op.GGET then
      local name = funck(fn, -d - 1)
      global_access(pc, name, false)
      set = {g = name}
    elseif o == op.GSET then
      global_access(pc, funck(fn, -d - 1), true)
    elseif o == op.KSTR then
      set = {s = funck(fn, -d - 1)}
    elseif o == op.MOV then
      set = reg[d]
    elseif o == op.TGETS or o == op.TGETV then
      local key
      if o == op.TGETS then key = funck(fn, -c - 1) else key = reg[c] and reg[c].s end
      local base = reg[b] and reg[b].g
      if key and base == "_G" then
        global_access(pc, key, false)
        set = {g = key}
      elseif key and base and FIELD_RULES[base] and FIELD_RULES[base][key] then
        local r = FIELD_RULES[base][key]
        hit(pc, r[1], string.format("uses %s.%s: %s", base, key, r[2]))
      end
    elseif o == op.CALL or o == op.CALLT then
      local f, arg = reg[a], reg[a + op.ARG1]
      if f and f.g == "require" and arg and arg.s and not ctx.allowed(arg.s) then
        local rule, why = module_rule(arg.s)
        hit(pc, rule, string.format("require('%s'): %s", arg.s, why))
      end
    end
    if band(m, 7) == 1 then reg[a] = set end -- BCMdst: A is written
    if o == op.CALL then for i = a, 255 do reg[i] = nil end end
  end
  for n = -1, -1e9, -1 do
    local k = funck(fn, n)
    if k == nil then break end
    if type(k) == "proto" then scan_proto(k, path, ctx) end
  end
end

-- files: array of {path = "a/b.lua", source = "..."}; stdlib: set of module names.
-- Returns the hits, sorted by file, line, rule: {file, line, rule, message}.
function M.scan(files, stdlib)
  local bundle = {}
  for _, f in ipairs(files) do bundle[f.path] = true end
  local function allowed(name)
    if stdlib[name] then return true end
    if not name:match("^[%w_%-]+[%w_%-.]*$") or name:find("..", 1, true) then return false end
    local base = name:gsub("%.", "/")
    return bundle[base .. ".lua"] or bundle[base .. "/init.lua"] or false
  end
  local ctx = {hits = {}, allowed = allowed}
  for _, f in ipairs(files) do
    if f.path:match("%.lua$") then
      if f.source:byte(1) == 27 then
        ctx.hits[#ctx.hits + 1] = {file = f.path, line = 1, rule = "prism:syntax",
          message = f.path .. ":1: precompiled (binary) Lua chunks are not accepted; submit Lua source"}
      else
        local fn, err = loadstring(f.source, "@" .. f.path)
        if fn then
          scan_proto(fn, f.path, ctx)
        else
          ctx.hits[#ctx.hits + 1] = {file = f.path, line = tonumber(tostring(err):match(":(%d+):")) or 0,
            rule = "prism:syntax", message = tostring(err)}
        end
      end
    end
  end
  table.sort(ctx.hits, function(x, y)
    if x.file ~= y.file then return x.file < y.file end
    if x.line ~= y.line then return x.line < y.line end
    if x.rule ~= y.rule then return x.rule < y.rule end
    return x.message < y.message
  end)
  local out, last = {}, nil
  for _, h in ipairs(ctx.hits) do
    local key = h.file .. "\0" .. h.line .. "\0" .. h.rule .. "\0" .. h.message
    if key ~= last then out[#out + 1] = h end
    last = key
  end
  return out
end

return M

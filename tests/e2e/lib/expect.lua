-- tests/e2e/lib/expect.lua — assertions on JSON files for the end-to-end shell tests.
--   prism exec tests/e2e/lib/expect.lua FILE [FILE...] -- 'EXPR' ['EXPR'...]
-- The files are decoded and bound to m, m2, m3, ... (a file that is not JSON fails the check);
-- each EXPR is a Lua expression that must be true. Helpers: null (JSON null), finite(x),
-- len(t), last(t), all(t, f), same(a, b) (deep equality; doubles compared exactly).
-- Prints one line per expression ("ok" / "FAIL ... got ...") and exits 1 if any failed.

local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
local json = dofile(here .. "/json.lua")

local files, exprs, seen_sep = {}, {}, false
for i = 1, #arg do
  if arg[i] == "--" and not seen_sep then seen_sep = true
  elseif seen_sep then exprs[#exprs + 1] = arg[i]
  else files[#files + 1] = arg[i] end
end
if #files == 0 or #exprs == 0 then
  io.stderr:write("usage: prism exec expect.lua FILE [FILE...] -- EXPR [EXPR...]\n")
  os.exit(2)
end

local function same(a, b)
  if type(a) ~= type(b) then return false end
  if type(a) ~= "table" then return a == b end
  for k, v in pairs(a) do if not same(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

local env = {
  null = json.null, math = math, string = string, table = table, type = type, tostring = tostring,
  tonumber = tonumber, ipairs = ipairs, pairs = pairs, same = same,
  finite = function(x) return type(x) == "number" and x == x and x ~= math.huge and x ~= -math.huge end,
  len = function(t) return type(t) == "table" and #t or -1 end,
  last = function(t) return type(t) == "table" and t[#t] or nil end,
  all = function(t, f)
    if type(t) ~= "table" then return false end
    for _, v in ipairs(t) do if not f(v) then return false end end
    return true
  end,
}

local failed = 0
for i, path in ipairs(files) do
  local ok, v = pcall(json.read, path)
  if not ok then
    print("FAIL " .. path .. " is not readable JSON: " .. tostring(v))
    failed = failed + 1
  end
  env[i == 1 and "m" or ("m" .. i)] = ok and v or nil
end

for _, e in ipairs(exprs) do
  local fn, err = loadstring("return " .. e, "=expect")
  local ok, v
  if fn then
    setfenv(fn, env)
    ok, v = pcall(fn)
  else
    ok, v = false, err
  end
  if ok and v == true then
    print("ok   " .. e)
  else
    failed = failed + 1
    print("FAIL " .. e .. "   (got " .. tostring(v) .. ")")
  end
end
os.exit(failed == 0 and 0 or 1)

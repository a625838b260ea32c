-- tests/e2e/lib/json.lua — a small strict JSON decoder for the end-to-end tests, which read the
-- manifests and --json summaries prism writes (run by `prism exec`, i.e. trusted LuaJIT: no
-- third-party JSON module is assumed). JSON null decodes to the sentinel `json.null`, so a test
-- can tell "present and null" from "absent". Numbers go through tonumber (strtod): exact doubles.
-- tests/lua/test_tiny_decoder.lua reads the sample dataset's JSONL records with it too.

local json = {}
json.null = setmetatable({}, { __tostring = function() return "null" end })

local function fail(s, i, what)
  error(("json: %s at byte %d near %q"):format(what, i, s:sub(i, i + 20)), 0)
end

local function skip_ws(s, i)
  return (s:find("[^ \t\r\n]", i)) or #s + 1
end

local function utf8_char(cp)
  if cp < 0x80 then return string.char(cp) end
  if cp < 0x800 then return string.char(0xC0 + math.floor(cp / 0x40), 0x80 + cp % 0x40) end
  if cp < 0x10000 then
    return string.char(0xE0 + math.floor(cp / 0x1000), 0x80 + math.floor(cp / 0x40) % 0x40, 0x80 + cp % 0x40)
  end
  return string.char(0xF0 + math.floor(cp / 0x40000), 0x80 + math.floor(cp / 0x1000) % 0x40,
                     0x80 + math.floor(cp / 0x40) % 0x40, 0x80 + cp % 0x40)
end

local ESC = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }

local value

local function str(s, i) -- s:sub(i, i) == '"'
  local out, j = {}, i + 1
  while true do
    local k = s:find('["\\]', j)
    if not k then fail(s, i, "unterminated string") end
    out[#out + 1] = s:sub(j, k - 1)
    if s:sub(k, k) == '"' then return table.concat(out), k + 1 end
    local e = s:sub(k + 1, k + 1)
    if e == "u" then
      local cp = tonumber(s:sub(k + 2, k + 5), 16)
      if not cp then fail(s, k, "bad \\u escape") end
      j = k + 6
      if cp >= 0xD800 and cp < 0xDC00 then
        local lo = s:match("^\\u(%x%x%x%x)", j)
        lo = lo and tonumber(lo, 16)
        if not (lo and lo >= 0xDC00 and lo < 0xE000) then fail(s, k, "lone surrogate") end
        cp, j = 0x10000 + (cp - 0xD800) * 0x400 + (lo - 0xDC00), j + 6
      end
      out[#out + 1] = utf8_char(cp)
    elseif ESC[e] then
      out[#out + 1], j = ESC[e], k + 2
    else
      fail(s, k, "bad escape")
    end
  end
end

value = function(s, i)
  i = skip_ws(s, i)
  local c = s:sub(i, i)
  if c == "{" then
    local obj = {}
    i = skip_ws(s, i + 1)
    if s:sub(i, i) == "}" then return obj, i + 1 end
    while true do
      if s:sub(i, i) ~= '"' then fail(s, i, "expected a key") end
      local k
      k, i = str(s, i)
      i = skip_ws(s, i)
      if s:sub(i, i) ~= ":" then fail(s, i, "expected ':'") end
      obj[k], i = value(s, i + 1)
      i = skip_ws(s, i)
      local d = s:sub(i, i)
      if d == "}" then return obj, i + 1 end
      if d ~= "," then fail(s, i, "expected ',' or '}'") end
      i = skip_ws(s, i + 1)
    end
  elseif c == "[" then
    local arr, n = {}, 0
    i = skip_ws(s, i + 1)
    if s:sub(i, i) == "]" then return arr, i + 1 end
    while true do
      n = n + 1
      arr[n], i = value(s, i)
      i = skip_ws(s, i)
      local d = s:sub(i, i)
      if d == "]" then return arr, i + 1 end
      if d ~= "," then fail(s, i, "expected ',' or ']'") end
      i = i + 1
    end
  elseif c == '"' then
    return str(s, i)
  elseif s:sub(i, i + 3) == "true" then
    return true, i + 4
  elseif s:sub(i, i + 4) == "false" then
    return false, i + 5
  elseif s:sub(i, i + 3) == "null" then
    return json.null, i + 4
  else
    local num = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", i)
    if not num or num == "" or not tonumber(num) then fail(s, i, "unexpected character") end
    return tonumber(num), i + #num
  end
end

function json.decode(s)
  local v, i = value(s, 1)
  i = skip_ws(s, i)
  if i <= #s then fail(s, i, "trailing characters") end
  return v
end

function json.read(path)
  local f, err = io.open(path, "rb")
  if not f then error("json: cannot open " .. tostring(path) .. ": " .. tostring(err), 0) end
  local s = f:read("*a")
  f:close()
  return json.decode(s)
end

return json

-- tests/e2e/lib/mkdata.lua — writes a JSONL shard for the end-to-end tests.
--   prism exec tests/e2e/lib/mkdata.lua OUT.jsonl SOURCE OFFSET BYTES DOC_BYTES [ID_PREFIX]
-- SOURCE is a text file (its bytes from OFFSET, about BYTES of them) or "lit:TEXT" (TEXT repeated
-- to BYTES). The text becomes documents of about DOC_BYTES, cut at spaces so no UTF-8 character
-- is split, one {"id": ..., "text": ...} object per line. Deterministic: same arguments, same bytes.

local out_path, source, offset, bytes, doc_bytes, prefix =
  arg[1], arg[2], tonumber(arg[3]), tonumber(arg[4]), tonumber(arg[5]), arg[6] or "doc"
if not (out_path and source and offset and bytes and doc_bytes) then
  io.stderr:write("usage: mkdata.lua OUT.jsonl SOURCE OFFSET BYTES DOC_BYTES [ID_PREFIX]\n")
  os.exit(2)
end

local text
if source:sub(1, 4) == "lit:" then
  local unit = source:sub(5)
  text = unit:rep(math.ceil(bytes / #unit)):sub(1, bytes)
else
  local f = assert(io.open(source, "rb"))
  local all = f:read("*a")
  f:close()
  all = all:gsub("[\r\n]+", " ")
  if offset + bytes > #all then error(("mkdata: %s has %d bytes, asked for %d..%d"):format(source, #all, offset, offset + bytes)) end
  -- start and end on a space so no multi-byte character is cut
  local s = offset == 0 and 1 or (all:find(" ", offset + 1, true) or offset + 1) + 1
  local e = all:find(" ", s + bytes, true) or #all + 1
  text = all:sub(s, e - 1)
end

local function escape(s)
  return (s:gsub('[%c"\\]', function(c)
    if c == '"' then return '\\"' elseif c == "\\" then return "\\\\" end
    return ("\\u%04x"):format(c:byte())
  end))
end

local f = assert(io.open(out_path, "wb"))
local i, n = 1, 0
while i <= #text do
  local j = i + doc_bytes - 1
  if j < #text then
    local sp = text:find(" ", j, true)
    j = sp or #text
  else
    j = #text
  end
  local doc = text:sub(i, j)
  if #doc > 0 then
    n = n + 1
    f:write(('{"id": "%s-%d", "text": "%s"}\n'):format(prefix, n, escape(doc)))
  end
  i = j + 1
end
f:close()

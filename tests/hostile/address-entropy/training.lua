-- hostile/address-entropy: look for per-process entropy in addresses — tostring of a table, a
-- function and a coroutine, string.format("%p") (directly and through the string metatable),
-- "%s" of a table, and print — to make the run irreproducible or learn the memory layout. The
-- sandbox numbers such values in first-use order ("table: #3") and refuses %p, so nothing here
-- varies between processes, and training is unchanged.
local honest = require("honest")

local M = {}

local function leaks(s) return s:find("0x", 1, true) ~= nil end

function M.train(ctx)
  local probes = { tostring({}), tostring(print), tostring(coroutine.create(print)), string.format("%s", {}),
                   ("%s"):format(M.train) }
  for _, s in ipairs(probes) do
    if leaks(s) then error("HOSTILE-ESCAPED: an address reached Lua: " .. s) end
  end
  for _, fmt in ipairs({ "%p", "%10p", "%-p" }) do
    local ok, s = pcall(string.format, fmt, probes)
    if ok then error("HOSTILE-ESCAPED: string.format(" .. fmt .. ") gave " .. s) end
    ok, s = pcall(function() return fmt:format(probes) end)
    if ok then error("HOSTILE-ESCAPED: (" .. fmt .. "):format gave " .. s) end
  end
  print("address probes:", probes[1], probes[2], probes[3])
  honest.train(ctx)
end

return M

-- hostile/unpack-huge: unpack with ranges whose size overflows or exceeds the stack (the
-- CVE-2025-46817 class in Redis's Lua): every one is refused with a clean error; the last one,
-- unguarded, fails the run. (An end past 2^32 wraps to an empty range in LuaJIT: no values, harmless.)
local prism = require("prism")
local optim = require("prism.optim")

local M = {}

function M.train(ctx)
  local ranges = { { -2147483648, 2147483647 }, { 1, 2147483647 }, { -1, 2147483646 } }
  for _, r in ipairs(ranges) do
    if pcall(unpack, {}, r[1], r[2]) then error("HOSTILE-ESCAPED: unpack-huge: unpack({}, " .. r[1] .. ", " .. r[2] .. ") returned") end
  end
  unpack({}, 1, 1e8)
  error("HOSTILE-ESCAPED: unpack-huge: the trick above did not raise")
end

return M

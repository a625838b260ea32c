-- hostile/gc-resurrection: tables with a __gc that would resurrect themselves and sabotage the
-- run at collection time. Lua 5.1 (LuaJIT) ignores __gc on tables, so nothing runs: after enough
-- garbage to force many collection cycles the hook has never fired, and training is unchanged.
local honest = require("honest")

local M = {}
local fired = 0
local saved = {}

function M.train(ctx)
  local mt = { __gc = function(o)
    fired = fired + 1
    saved[#saved + 1] = o -- resurrect
    error("HOSTILE-ESCAPED: gc-resurrection: a table finalizer ran")
  end }
  for i = 1, 20000 do setmetatable({ i }, mt) end
  -- About 13 MiB of garbage; a drop in collectgarbage("count") shows a cycle really ran.
  local collected, last = false, collectgarbage("count")
  for i = 1, 200 do
    local _ = string.rep("g", 65536) .. i
    local now = collectgarbage("count")
    collected = collected or now < last
    last = now
  end
  if not collected then error("gc-resurrection: no collection cycle ran, so the check below would prove nothing") end
  if fired > 0 or #saved > 0 then error("HOSTILE-ESCAPED: gc-resurrection: __gc ran " .. fired .. " times") end
  honest.train(ctx)
end

return M

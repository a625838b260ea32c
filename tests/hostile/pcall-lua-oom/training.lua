-- hostile/pcall-lua-oom: hit the Lua-heap cap inside pcall, swallow "not enough memory", and go
-- on training as if nothing happened. The cap is sticky (anchors §C.1): the allocator's refusal
-- fails the run with prism:resource-oom whatever the submission did with the error.
local honest = require("honest")

local M = {}

function M.train(ctx)
  local ok = pcall(function()
    local hoard = {}
    for i = 1, 1e9 do hoard[i] = string.rep("x", 1024 * 1024) .. i end
  end)
  if ok then error("HOSTILE-ESCAPED: pcall-lua-oom: a billion MiB strings fit in the Lua heap") end
  honest.train(ctx)
end

return M

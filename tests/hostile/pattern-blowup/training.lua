-- hostile/pattern-blowup: burn CPU inside one C call: a pattern of ".-" repeats against a long
-- string backtracks O(n^k) inside string.find, where no hook can interrupt it. Only the
-- parent's watchdog can stop it (run with the short budget of the hang cases).
local prism = require("prism")
local optim = require("prism.optim")

local M = {}

function M.train(ctx)
  local s = string.rep("a", 20000)
  string.find(s, string.rep(".-", 12) .. "b")
  error("HOSTILE-ESCAPED: pattern-blowup: the trick above did not raise")
end

return M

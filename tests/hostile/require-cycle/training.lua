-- hostile/require-cycle: two bundle modules that require each other (hostile/cyc_a.lua ->
-- cyc_b.lua -> cyc_a.lua): a named cyclic-require error, not a stack overflow or a hang.
local M = {}

function M.train(ctx)
  require("cyc_a")
  error("HOSTILE-ESCAPED: require-cycle: the cycle was not reported")
end

return M

-- hostile/require-bytecode: the bundle ships evil.lua holding a LuaJIT bytecode chunk ("\27LJ"
-- header): bytecode skips the parser and can corrupt the VM, so it must be refused, never run.
local M = {}

function M.train(ctx)
  require("evil")
  error("HOSTILE-ESCAPED: require-bytecode: a bytecode chunk was loaded")
end

return M

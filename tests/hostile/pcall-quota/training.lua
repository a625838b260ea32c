-- hostile/pcall-quota: swallow the artifacts-quota error with pcall and keep training.
local honest = require("honest")

local M = {}

function M.train(ctx)
  local ok, err = pcall(function() ctx:save("big.txt", string.rep("x", 256 * 1024)) end)
  if ok then error("HOSTILE-ESCAPED: pcall-quota: a 256 KiB save passed a 64 KiB quota") end
  honest.train(ctx)
end

return M

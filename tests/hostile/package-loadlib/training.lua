-- hostile/package-loadlib: package.loadlib(lib, "luaopen_os") loads native code (CVE-2022-0543,
-- Debian's redis). There is no package table in the submission's globals.
local prism = require("prism")
local optim = require("prism.optim")

local M = {}

function M.train(ctx)
  local package = _G[table.concat({ "pack", "age" })]
  local loadlib = package.loadlib
  loadlib("/usr/lib/x86_64-linux-gnu/liblua5.1.so.0", "luaopen_os")
  error("HOSTILE-ESCAPED: package-loadlib: the trick above did not raise")
end

return M

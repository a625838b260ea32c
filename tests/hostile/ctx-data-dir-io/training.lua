-- hostile/ctx-data-dir-io: read the train files through ctx.data_dir: the path is only a string, io is absent.
local prism = require("prism")
local optim = require("prism.optim")

local M = {}

function M.train(ctx)
  -- the name is built at run time, so this exercises the sandbox itself, not a static scan
  local function hidden(...) return table.concat({ ... }) end
  local dir = ctx.data_dir
  local lib = _G[hidden("i", "o")]
  lib.open(dir .. "/train-00000.jsonl", "rb")
  error("HOSTILE-ESCAPED: ctx-data-dir-io: the trick above did not raise")
end

return M

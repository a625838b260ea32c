-- hostile/ctx-bad-args: every ctx method (build_model, iter_train_batches, reference_tokenizer,
-- save, log, report) called with a wrong self, wrong argument types and missing arguments, each
-- inside pcall: every call must raise (a call that succeeds is an escape), none may crash, and none
-- may leave state behind: a rejected first iter_train_batches call does not stick its options,
-- so the honest learner after the checks trains exactly like the baseline (a scored case).
-- Not in the list: option values the runtime clamps by design (batch_size < 1 -> 1, seq_len < 2 -> 2).
local honest = require("honest")

local M = {}

function M.train(ctx)
  local model = ctx:build_model()
  local fake = setmetatable({}, { __index = function() return 1 end })
  local bad = {
    { "build_model", nil }, { "build_model", 42 }, { "build_model", "ctx" }, { "build_model", fake }, { "build_model", model },
    { "iter_train_batches", nil }, { "iter_train_batches", 42 }, { "iter_train_batches", fake, model },
    { "iter_train_batches", ctx }, { "iter_train_batches", ctx, 42 }, { "iter_train_batches", ctx, {} },
    { "iter_train_batches", ctx, model, "opts" }, { "iter_train_batches", ctx, model, { batch_size = "4" } },
    { "iter_train_batches", ctx, model, { batch_size = 4.5 } }, { "iter_train_batches", ctx, model, { batch_size = 1e18 } },
    { "iter_train_batches", ctx, model, { seq_len = 1e12 } }, { "iter_train_batches", ctx, model, { seq_len = true } },
    { "iter_train_batches", ctx, model, { tokenizer = 42 } }, { "iter_train_batches", ctx, model, { tokenizer = {} } },
    { "iter_train_batches", ctx, model, { batchsize = 4 } }, { "iter_train_batches", ctx, model, { [1] = 4 } },
    { "reference_tokenizer", nil, "bytes" }, { "reference_tokenizer", fake, "bytes" }, { "reference_tokenizer", ctx },
    { "reference_tokenizer", ctx, 42 }, { "reference_tokenizer", ctx, {} }, { "reference_tokenizer", ctx, "../../etc/passwd" },
    { "save", nil, "a.txt", "x" }, { "save", fake, "a.txt", "x" }, { "save", ctx }, { "save", ctx, nil, "x" },
    { "save", ctx, 42, "x" }, { "save", ctx, {}, "x" }, { "save", ctx, "a.txt" }, { "save", ctx, "a.txt", 42 },
    { "save", ctx, "a.txt", print }, { "save", ctx, "a.txt", coroutine.create(print) }, { "save", ctx, "a.txt", {} },
    { "save", ctx, "a.safetensors", { 1, 2 } }, { "save", ctx, "a.safetensors", "text" }, { "save", ctx, "a.json", "text" },
    { "save", ctx, "", "x" }, { "save", ctx, "a.exe", "x" }, { "save", ctx, "a.txt\0.json", "x" },
    { "log", nil, "x" }, { "log", 42, "x" }, { "log", fake, "x" },
    { "report", nil, {} }, { "report", fake, {} }, { "report", ctx }, { "report", ctx, 42 }, { "report", ctx, "x" },
  }
  local methods = {}
  for i, c in ipairs(bad) do
    methods[c[1]] = true
    local ok, err = pcall(ctx[c[1]], unpack(c, 2, 5))
    if ok then error("HOSTILE-ESCAPED: ctx-bad-args: call " .. i .. " (ctx:" .. c[1] .. ") did not raise") end
    if type(err) ~= "string" or err == "" then error("ctx-bad-args: call " .. i .. " raised a non-message " .. tostring(err)) end
  end
  local n = 0
  for _, name in ipairs({ "build_model", "iter_train_batches", "reference_tokenizer", "save", "log", "report" }) do
    if not methods[name] then error("ctx-bad-args: ctx:" .. name .. " was never called with bad arguments") end
    n = n + 1
  end
  assert(n == 6 and #bad == 52, "ctx-bad-args: the call list changed: " .. #bad)
  honest.train(ctx) -- a fresh model: build_model re-applies the forced seed, so it is the baseline's
end

return M

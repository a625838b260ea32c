-- tests/lua/test_tiny_decoder.lua — the reference's tiny decoder (examples/tiny-1m) learns from
-- real text. Builds it, pins its parameter count (1,049,216) and tensor list (the tied head adds
-- no parameter), then trains 30 steps like the example submission (batch 4, seq 128, AdamW
-- lr 5e-3, clip 1.0, forced seed 1337) on UTF-8 byte tokens of real prose, and asserts that
--  * the step-1 loss is near the uniform baseline ln(4096) (an untrained model knows nothing),
--  * the mean loss of the last 5 steps is clearly below the step-1 loss,
--  * the tape is released every step (live autograd nodes equal after step 5 and step 30) and
--    peak tensor memory does not grow after the first steps.
-- Run by ctest as `prism exec tests/lua/test_tiny_decoder.lua` from the repository root.

local prism = require("prism")
local optim = require("prism.optim")
local core = require("prism.core")
local arch = require("examples.tiny-1m.architecture")

local VOCAB, B, T, STEPS = 4096, 4, 128, 30

local failures = 0
local function check(cond, msg)
  print((cond and "ok   " or "FAIL ") .. msg)
  if not cond then failures = failures + 1 end
end

-- ---- text: the sample locked dataset's train split if present, else the committed fixture ----

-- JSONL records ({"id": ..., "text": "..."}) are decoded by the end-to-end tests' JSON reader.
local json = require("tests.e2e.lib.json")

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

local function jsonl_text(dir)
  local p = io.popen and io.popen('ls -1 "' .. dir .. '"/*.jsonl 2>/dev/null')
  if not p then return nil end
  local files = {}
  for line in p:lines() do files[#files + 1] = line end
  p:close()
  table.sort(files)
  local parts = {}
  for _, path in ipairs(files) do
    for line in (read_file(path) or ""):gmatch("[^\n]+") do
      local ok, obj = pcall(json.decode, line)
      if ok and type(obj) == "table" and type(obj.text) == "string" and obj.text ~= "" then
        parts[#parts + 1] = obj.text
      end
    end
  end
  if #parts == 0 then return nil end
  return table.concat(parts), dir
end

local function training_text()
  for _, dir in ipairs({ "examples/data/sample/train", "examples/data/train" }) do
    local text, src = jsonl_text(dir)
    if text then return text, src end
  end
  local text = read_file("tests/fixtures/sample.txt")
  if not text then error("test_tiny_decoder: no text (run from the repository root)") end
  return text, "tests/fixtures/sample.txt"
end

local text, source = training_text()
print(("text: %d bytes from %s"):format(#text, source))
assert(#text >= STEPS * B * T, "test_tiny_decoder: not enough text for " .. STEPS .. " batches")

local function batch(step)                 -- [B, T] int64 byte ids, consecutive windows of the text
  local base, rows = (step - 1) * B * T, {}
  for b = 1, B do
    local row = {}
    for t = 1, T do row[t] = text:byte(base + (b - 1) * T + t) end
    rows[b] = row
  end
  return prism.tensor(rows, { dtype = "int64" })
end

-- ---- the model ----
core.manual_seed(1337)
local model = arch.build_model({ vocab_size = VOCAB, max_seq_len = T })
local params = model:parameters()
local count = 0
for _, p in ipairs(params) do count = count + p:numel() end
check(count == 1049216, ("parameter count %d == 1,049,216"):format(count))
check(model:num_parameters() == 1049216, ("num_parameters() %d == 1,049,216"):format(model:num_parameters()))
-- emb + 2 blocks x (2 norms, qkv, proj, w1, w3, w2) + final norm; the tied head adds none
check(#params == 16, ("%d parameter tensors == 16 (head tied to the embedding)"):format(#params))
local named = model:named_parameters()
check(named[1] and named[1][1] == "emb.weight", "first parameter is emb.weight, got " .. tostring(named[1] and named[1][1]))

-- ---- 30 training steps ----
local opt = optim.AdamW(params, { lr = 5e-3 })
local losses = {}
local nodes_at, peak_at, nodes_recorded = {}, {}, nil
for step = 1, STEPS do
  local tokens = batch(step)
  opt:zero_grad()
  local loss = model:loss(tokens)
  nodes_recorded = nodes_recorded or core.live_nodes()   -- the step-1 tape, before backward frees it
  loss:backward()
  optim.clip_grad_norm(params, 1.0)
  opt:step()
  losses[step] = loss:item()
  loss, tokens = nil, nil
  collectgarbage("collect")                -- free this step's tensors before measuring
  nodes_at[step], peak_at[step] = core.live_nodes(), core.mem_peak_bytes()
  if step == 1 or step % 5 == 0 then
    print(("step %2d  loss %.4f  live nodes %d  peak tensor bytes %d"):format(step, losses[step], nodes_at[step], peak_at[step]))
  end
end

local ln_v = math.log(VOCAB)
for step = 1, STEPS do
  if losses[step] ~= losses[step] or losses[step] == math.huge then check(false, "loss at step " .. step .. " is finite") end
end
-- An untrained model sits a little above the uniform baseline: the tied head gives logits of
-- std ~ 0.13·sqrt(128) ~ 1.5 (the final RMSNorm makes |h| = sqrt(128)), which adds ~ std²/2 ~ 1.1
-- nats; the run measured 9.78 here (PyTorch's twin in bench/ starts at ~9.5).
check(losses[1] > ln_v and losses[1] < ln_v + 2,
      ("step-1 loss %.4f is in (ln 4096, ln 4096 + 2) = (%.4f, %.4f)"):format(losses[1], ln_v, ln_v + 2))
-- Measured: 9.78 -> 2.51 (ratio 0.26); 0.5 leaves room for kernel-level float differences
-- while still demanding real learning (a byte-unigram model alone sits near 3 nats).
local last5 = 0
for step = STEPS - 4, STEPS do last5 = last5 + losses[step] / 5 end
check(last5 < 0.5 * losses[1], ("mean of the last 5 losses %.4f < 0.5 x step-1 loss %.4f"):format(last5, losses[1]))
-- Without a tape to count, "no growth" below would hold trivially.
check(nodes_recorded > 0, ("the forward recorded a tape (%d live nodes before backward)"):format(nodes_recorded))
check(nodes_at[5] == nodes_at[STEPS], ("live autograd nodes after step 5 (%d) == after step 30 (%d)"):format(nodes_at[5], nodes_at[STEPS]))
check(peak_at[STEPS] <= peak_at[5] * 1.05,
      ("peak tensor memory after step 30 (%d) <= 1.05 x after step 5 (%d)"):format(peak_at[STEPS], peak_at[5]))

if failures > 0 then error(("test_tiny_decoder: %d check(s) failed"):format(failures)) end
print("test_tiny_decoder: all checks passed")

-- bench/tiny_decoder.lua — our side of bench/run: times the training step of the tiny decoder
-- (examples/tiny-1m, 1,049,216 parameters) exactly as a scored run performs it: the
-- instrument's no-grad predict forward, then forward / backward / clip_grad_norm 1.0 / AdamW.
-- bench/torch_tiny_decoder.py does the same work in PyTorch. Both read the same byte tokens from
-- the same text. Prints one machine-readable "RESULT key=value ..." line that bench/run parses.
--
-- usage: prism exec bench/tiny_decoder.lua [--steps N] [--warmup N] [--threads N] [--batch B]
--                                          [--seq T] [--text FILE] [--save-init PREFIX]
-- --save-init writes the initial parameters (PREFIX.txt: "name d1,d2,..." per line, in
-- named_parameters order; PREFIX.bin: their float32 bytes, concatenated) so the PyTorch side
-- can start from the very same weights and both loss curves can be compared.

local prism = require("prism")
local optim = require("prism.optim")
local core = require("prism.core")
local arch = require("examples.tiny-1m.architecture")

local VOCAB, EXPECTED_PARAMS = 4096, 1049216

local argv = { ... }
if #argv == 0 and type(arg) == "table" then for i = 1, #arg do argv[i] = arg[i] end end

local opts = { steps = 20, warmup = 3, threads = nil, batch = 4, seq = 128, text = "tests/fixtures/sample.txt",
               ["save-init"] = false }
local i = 1
while i <= #argv do
  local key = argv[i]:match("^%-%-([%a%-]+)$")
  if not key or opts[key] == nil and key ~= "threads" then error("tiny_decoder.lua: unknown argument " .. argv[i]) end
  local v = argv[i + 1]
  if v == nil then error("tiny_decoder.lua: --" .. key .. " needs a value") end
  if key == "text" or key == "save-init" then opts[key] = v
  else
    local n = tonumber(v)
    if not n or n ~= math.floor(n) or n < (key == "warmup" and 0 or 1) then
      error("tiny_decoder.lua: --" .. key .. " needs a positive integer, got " .. v)
    end
    opts[key] = n
  end
  i = i + 2
end
if opts.seq < 2 then error("tiny_decoder.lua: --seq must be at least 2") end
if opts.threads then core.set_num_threads(opts.threads) end

-- Wall-clock time: os.clock() is CPU time summed over threads, which would flatter nothing and
-- mislead everything. LuaJIT's ffi reaches clock_gettime in this trusted script.
local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } prism_bench_timespec;
  int clock_gettime(int clk_id, prism_bench_timespec *tp);
]]
local ts = ffi.new("prism_bench_timespec")
local function now()
  ffi.C.clock_gettime(1, ts)                -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

local function peak_rss_kb()
  local f = io.open("/proc/self/status", "r")
  if not f then return -1 end
  local s = f:read("*a")
  f:close()
  return tonumber(s:match("VmHWM:%s*(%d+)")) or -1
end

local f = assert(io.open(opts.text, "rb"))
local text = f:read("*a")
f:close()
local B, T = opts.batch, opts.seq
local n_batches = math.floor(#text / (B * T))
if n_batches < 1 then error("tiny_decoder.lua: " .. opts.text .. " is shorter than one batch") end

-- batch k (0-based, cycling through the text): [B, T] byte ids of consecutive windows
local function batch(k)
  local base, rows = (k % n_batches) * B * T, {}
  for b = 1, B do
    local row = {}
    for t = 1, T do row[t] = text:byte(base + (b - 1) * T + t) end
    rows[b] = row
  end
  return prism.tensor(rows, { dtype = "int64" })
end

core.manual_seed(1337)
local model = arch.build_model({ vocab_size = VOCAB, max_seq_len = T })
local params = model:parameters()
local count = 0
for _, p in ipairs(params) do count = count + p:numel() end
if count ~= EXPECTED_PARAMS then error(("tiny_decoder.lua: %d parameters, expected %d"):format(count, EXPECTED_PARAMS)) end
local opt = optim.AdamW(params, { lr = 5e-3 })

if opts["save-init"] then
  local names = assert(io.open(opts["save-init"] .. ".txt", "w"))
  local data = assert(io.open(opts["save-init"] .. ".bin", "wb"))
  for _, np in ipairs(model:named_parameters()) do
    names:write(np[1], " ", table.concat(np[2].shape, ","), "\n")
    data:write(core.data_bytes(np[2]))
  end
  names:close()
  data:close()
end

local first_loss, last_loss
local function step(k)
  local tokens = batch(k)
  prism.no_grad(function() return model:loss(tokens):item() end)   -- the instrument's predict
  opt:zero_grad()
  local loss = model:loss(tokens)
  loss:backward()
  optim.clip_grad_norm(params, 1.0)
  opt:step()
  last_loss = loss:item()
  first_loss = first_loss or last_loss
end

for k = 0, opts.warmup - 1 do step(k) end
local t0 = now()
for k = opts.warmup, opts.warmup + opts.steps - 1 do step(k) end
local elapsed = now() - t0

-- peak_tensor_kb: the runtime's own high-water mark of live tensor bytes (garbage included until
-- the Lua GC frees it), to tell tensor memory apart from the rest of the RSS.
print(("RESULT side=prism params=%d threads=%d batch=%d seq=%d steps=%d seconds=%.6f tokens_per_s=%.1f peak_rss_kb=%d peak_tensor_kb=%d first_loss=%.6f last_loss=%.6f")
      :format(count, core.get_num_threads(), B, T, opts.steps, elapsed, opts.steps * B * T / elapsed, peak_rss_kb(),
              math.floor(core.mem_peak_bytes() / 1024), first_loss, last_loss))

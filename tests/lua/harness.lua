-- harness.lua — the assertion helpers shared by tests/lua/test_nn.lua, test_optim.lua and
-- test_prism.lua. Not a test itself (ctest runs only test_*.lua); `prism exec` puts the
-- script's directory on package.path, so a test loads it with require("harness").
--   check(name, ok, detail)  count one check, print "ok    name" or "FAIL  name  -- detail"
--   test(name, fn)           run fn; an error it raises counts as a failed check "name (raised)"
--   raises(fn, needle)       ok, detail: fn raised an error whose text contains needle (plain)
--   finish()                 print "N passed, M failed"; raise if any check failed

local M = {}

local passed, failed = 0, 0

function M.check(name, ok, detail)
  if ok then
    passed = passed + 1
    print("ok    " .. name)
  else
    failed = failed + 1
    print("FAIL  " .. name .. (detail ~= nil and ("  -- " .. tostring(detail)) or ""))
  end
end

function M.test(name, fn)
  local ok, err = pcall(fn)
  if not ok then M.check(name .. " (raised)", false, err) end
end

function M.raises(fn, needle)
  local ok, err = pcall(fn)
  if ok then return false, "no error raised" end
  err = tostring(err)
  return err:find(needle, 1, true) ~= nil, err
end

function M.finish()
  print(("%d passed, %d failed"):format(passed, failed))
  if failed > 0 then error(("%d of %d checks failed"):format(failed, passed + failed), 0) end
end

return M

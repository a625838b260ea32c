-- hostile/zero-size-tensors: tensors with a 0 dimension through the kernels: zeros({0, 4}), views
-- to 0 elements, matmul with a 0 inner or outer dimension, reductions over nothing, backward
-- through an empty tensor. Each gives torch's defined result or a clean error (checked here), none
-- crashes or reads out of bounds; then the honest loop trains exactly like the baseline (scored).
local prism = require("prism")
local honest = require("honest")

local M = {}

local function shape(t) return table.concat(t:size(), ",") end
local function want(what, got, expected)
  if got ~= expected then error("zero-size-tensors: " .. what .. " gave " .. tostring(got) .. ", expected " .. tostring(expected)) end
end
local function refuses(what, f, pattern)
  local ok, err = pcall(f)
  if ok then error("zero-size-tensors: " .. what .. " did not raise") end
  if not tostring(err):find(pattern, 1, true) then error("zero-size-tensors: " .. what .. " raised " .. tostring(err)) end
end

function M.train(ctx)
  local z = prism.zeros({ 0, 4 })
  want("zeros({0, 4}) shape", shape(z), "0,4")
  want("numel", z:numel(), 0)
  want("view(0)", shape(z:view(0)), "0")
  want("view(-1, 4)", shape(z:view(-1, 4)), "0,4")
  want("view(2, 0, 3)", shape(z:view(2, 0, 3)), "2,0,3")
  local mm = prism.zeros(3, 0):matmul(prism.zeros(0, 4)) -- an empty inner dimension sums nothing
  want("[3,0] x [0,4] shape", shape(mm), "3,4")
  want("[3,0] x [0,4] sum", mm:sum():item(), 0)
  want("[0,4] x [4,5] shape", shape(z:matmul(prism.ones(4, 5))), "0,5")
  want("sum over empty", z:sum():item(), 0)
  want("sum(1) over empty", shape(z:sum(1)), "4")
  local mean = z:mean():item()
  want("mean over empty is nan", mean ~= mean, true)
  want("softmax over empty", shape(z:softmax(2)), "0,4")
  want("tolist", #z:tolist(), 0)
  want("cat with empty", shape(prism.cat({ z, prism.ones(2, 4) }, 1)), "2,4")
  want("arange(0)", prism.arange(0):numel(), 0)
  want("randn(0)", prism.randn(0):numel(), 0)
  local p = prism.zeros(0, 4, { requires_grad = true })
  ;(p * p):sum():backward()
  want("grad of empty", shape(p.grad), "0,4")
  refuses("view(0, -1)", function() return z:view(0, -1) end, "view: shape [0, -1] is invalid")
  refuses("max over empty", function() return z:max() end, "cannot take the maximum over an empty dimension")
  refuses("item of empty", function() return z:item() end, "expected a one-element tensor")
  honest.train(ctx)
end

return M

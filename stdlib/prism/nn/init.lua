-- prism.nn — the miner-facing neural-network module: the Module class system and Parameter
-- (prism.nn.module), the built-in layers (prism.nn.layers) and, as nn.functional, the stateless
-- functions (prism.nn.functional). This file only assembles them into one table.

local module = require("prism.nn.module")
local layers = require("prism.nn.layers")

local nn = {
  Module = module.Module,
  Parameter = module.Parameter,
  is_module = module.is_module,
  is_parameter = module.is_parameter,
  functional = require("prism.nn.functional"),
}

for _, name in ipairs({ "Linear", "Embedding", "LayerNorm", "RMSNorm", "Dropout", "Sequential",
                        "ModuleList", "ReLU", "GELU", "SiLU", "Tanh", "Sigmoid", "Identity" }) do
  nn[name] = layers[name]
end

return nn

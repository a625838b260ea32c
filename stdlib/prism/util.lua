-- prism.util — helpers shared by the stdlib modules (internal: not part of docs/lua-api.md).

local concat, sort = table.concat, table.sort

local M = {}

-- Unknown option names are errors (a misspelt option must not be ignored silently). Raises
-- "<fname>: unknown <what>[s] <keys> (known: <names>)" when t holds a key that known lacks;
-- both lists sorted so the message does not depend on pairs order, "none" when known is empty.
-- level is the level the caller would pass to error() to blame the miner's line; this helper
-- raises at level + 1 (call it as a statement, not in a tail call).
function M.reject_unknown(fname, t, known, what, level)
  local bad = {}
  for k in pairs(t) do
    if known[k] == nil then bad[#bad + 1] = tostring(k) end
  end
  if #bad > 0 then
    sort(bad)
    local names = {}
    for k in pairs(known) do names[#names + 1] = k end
    sort(names)
    error(("%s: unknown %s%s %s (known: %s)"):format(fname, what, #bad > 1 and "s" or "",
          concat(bad, ", "), #names > 0 and concat(names, ", ") or "none"), level + 1)
  end
end

return M

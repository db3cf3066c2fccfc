-- Shared by every script (prepended to it).

-- Message ids are decimal strings without leading zeros: compared by length,
-- then by text, they compare exactly at any size (Lua numbers are doubles and
-- lose precision beyond 2^53).
local function id_less(a, b)
  if #a ~= #b then return #a < #b end
  return a < b
end

-- The id at the start of a cached entry: the service writes the JSON with
-- "id" first and "sender_id" second.
local function entry_id(entry)
  return string.match(entry, '^{"id":(%d+),')
end

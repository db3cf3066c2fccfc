-- One round of after-commit writes for committed messages, in one call:
-- each conversation's cached list gets its new messages, each person's
-- cached conversation set their activity, and each message's event goes to
-- the receiver's and the sender's channels, in id order.
--
-- KEYS: per segment (one conversation's part of one committed batch) its
--       list and the list's fill ticket; then per person their set and the
--       set's fill ticket.
-- ARGV: TTL, list cap,
--       S, then per segment: the conversation's id before the batch (0:
--         none), n, n entries (oldest first);
--       P, then per person: n, n (score, member) pairs;
--       E, then per event: channel, prev_id, index of its entry (1-based,
--         over all entries in order), traceparent ('' when not traced).
local ttl, cap = ARGV[1], tonumber(ARGV[2])
local at = 3
local function take()
  local value = ARGV[at]
  at = at + 1
  return value
end

-- Runs `command key head... items[first..last]...` in chunks (Lua's unpack
-- has a limit on how many values it spreads).
local function spread(command, key, head, items, first, last)
  for from = first, last, 1000 do
    local to = math.min(from + 999, last)
    if head then
      redis.call(command, key, head, unpack(items, from, to))
    else
      redis.call(command, key, unpack(items, from, to))
    end
  end
end

-- A segment is appended only where the list ends exactly where it begins;
-- a list that missed something is dropped, never answered from.
local entries = {}
local segments = tonumber(take())
for s = 1, segments do
  local list, ticket = KEYS[2 * s - 1], KEYS[2 * s]
  local before, n = take(), tonumber(take())
  local first = #entries + 1
  for _ = 1, n do entries[#entries + 1] = take() end
  redis.call('DEL', ticket) -- a fill in progress may have read before this batch
  local tail = redis.call('LINDEX', list, -1)
  if tail then -- (not cached: the next reader fills it)
    local tail_id = entry_id(tail)
    if tail_id == before then
      spread('RPUSH', list, nil, entries, first, #entries)
      redis.call('LTRIM', list, -cap, -1)
      redis.call('EXPIRE', list, ttl)
    elseif tail_id and not id_less(tail_id, entry_id(entries[#entries])) then
      -- Filled after the batch committed: it holds the batch already.
    else
      redis.call('DEL', list)
    end
  end
end

local people = tonumber(take())
for p = 1, people do
  local set, ticket = KEYS[2 * segments + 2 * p - 1], KEYS[2 * segments + 2 * p]
  local n = tonumber(take())
  redis.call('DEL', ticket) -- a fill in progress may have read before this
  if redis.call('EXISTS', set) == 1 then
    local pairs = {}
    for i = 1, 2 * n do pairs[i] = ARGV[at + i - 1] end
    spread('ZADD', set, 'GT', pairs, 1, 2 * n)
    redis.call('EXPIRE', set, ttl)
  end
  at = at + 2 * n
end

-- The JSON of totilove_common::events::Event::Message, byte for byte as serde
-- writes it (tests/api/events.rs holds it to that): the entry is serde's
-- already, so the text goes to Redis once, not once more per event. The
-- traceparent is the service's own (hex digits and dashes), safe inside a
-- JSON string as is.
local events = tonumber(take())
for _ = 1, events do
  local channel, prev_id, index, trace = take(), take(), tonumber(take()), take()
  local traced = ''
  if trace ~= '' then traced = ',"traceparent":"' .. trace .. '"' end
  redis.call('PUBLISH', channel,
    '{"type":"message","prev_id":' .. prev_id .. ',"message":' .. entries[index] .. traced .. '}')
end
return events

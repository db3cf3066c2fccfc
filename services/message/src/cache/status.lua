-- Raises the status of a conversation's cached messages after a committed
-- delivered/read mark.
-- KEYS[1] the list, KEYS[2] its fill ticket
-- ARGV[1] the sender whose messages changed
-- ARGV[2] the mark's bound: every message of that sender up to it has the status now
-- ARGV[3] the new status, 'delivered' or 'read'
redis.call('DEL', KEYS[2]) -- a fill in progress may have read before the mark
local entries = redis.call('LRANGE', KEYS[1], 0, -1)
if #entries == 0 then return 0 end
if id_less(entry_id(entries[#entries]), ARGV[2]) then
  -- The list lags behind the mark: messages it has yet to append would come
  -- with their older status. Drop it; the next reader fills it afresh.
  redis.call('DEL', KEYS[1])
  return 2
end
local older = {'"status":"sent"'}
if ARGV[3] == 'read' then older[2] = '"status":"delivered"' end
local newer = '"status":"' .. ARGV[3] .. '"'
for i, entry in ipairs(entries) do
  local id, sender = string.match(entry, '^{"id":(%d+),"sender_id":(%d+),')
  if sender == ARGV[1] and not id_less(ARGV[2], id) then
    -- Inside the JSON of a string every quote is escaped, so these exact
    -- texts can only be the status field itself.
    for _, old in ipairs(older) do
      local from, to = string.find(entry, old, 1, true)
      if from then
        redis.call('LSET', KEYS[1], i - 1, string.sub(entry, 1, from - 1) .. newer .. string.sub(entry, to + 1))
        break
      end
    end
  end
end
return 1

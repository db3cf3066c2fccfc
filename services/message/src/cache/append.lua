-- Appends a committed batch of one conversation's messages to its cached
-- list, only where the list ends exactly where the batch begins; a list that
-- missed something is dropped, never answered from.
-- KEYS[1] the list, KEYS[2] its fill ticket
-- ARGV[1] the id of the conversation's message before the batch (0: none)
-- ARGV[2] how many entries the list keeps, ARGV[3] its TTL in seconds
-- ARGV[4..] the batch's entries, oldest first
redis.call('DEL', KEYS[2]) -- a fill in progress may have read before this batch
local tail = redis.call('LINDEX', KEYS[1], -1)
if not tail then return 0 end -- not cached: the next reader fills it
local tail_id = entry_id(tail)
if tail_id == ARGV[1] then
  redis.call('RPUSH', KEYS[1], unpack(ARGV, 4))
  redis.call('LTRIM', KEYS[1], -tonumber(ARGV[2]), -1)
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  return 1
end
if tail_id and not id_less(tail_id, entry_id(ARGV[#ARGV])) then
  return 2 -- filled after the batch committed: it holds the batch already
end
redis.call('DEL', KEYS[1])
return 3

-- Reads a cached key, and the fill ticket a reader who finds it missing must
-- present to fill it (creating one when there is none).
-- KEYS[1] the cached list or sorted set, KEYS[2] its fill ticket
-- ARGV[1] a fresh random ticket, ARGV[2] the ticket's TTL in seconds,
-- ARGV[3] 'list' or 'set'
redis.call('SET', KEYS[2], ARGV[1], 'NX', 'EX', ARGV[2])
local items
if ARGV[3] == 'set' then
  items = redis.call('ZRANGE', KEYS[1], 0, -1)
else
  items = redis.call('LRANGE', KEYS[1], 0, -1)
end
return {redis.call('GET', KEYS[2]), items}

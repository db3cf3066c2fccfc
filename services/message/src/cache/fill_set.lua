-- Fills a person's cached conversation set from a PostgreSQL reading, unless
-- a change happened since the reader took its ticket (see fill_list.lua).
-- Member "0" (no one) marks the set as filled, so a person with no
-- conversation yet still has a set.
-- KEYS[1] the sorted set, KEYS[2] its fill ticket
-- ARGV[1] the reader's ticket, ARGV[2] the set's TTL, ARGV[3..] score, member pairs
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('ZADD', KEYS[1], 0, '0', unpack(ARGV, 3))
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1

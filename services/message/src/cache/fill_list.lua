-- Fills a conversation's cached list from a PostgreSQL reading, unless a
-- change happened since the reader took its ticket: the reading may predate
-- that change, and the change found no list to apply itself to.
-- KEYS[1] the list, KEYS[2] its fill ticket
-- ARGV[1] the reader's ticket, ARGV[2] the list's TTL, ARGV[3..] entries, oldest first
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('RPUSH', KEYS[1], unpack(ARGV, 3))
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1

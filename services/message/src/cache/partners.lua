-- Records conversation activity in a person's cached conversation set, if it
-- is cached (a missing set is filled whole by the next reader).
-- KEYS[1] the sorted set, KEYS[2] its fill ticket
-- ARGV[1] the set's TTL, ARGV[2..] score (last activity, ms), member (the other person) pairs
redis.call('DEL', KEYS[2]) -- a fill in progress may have read before this
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('ZADD', KEYS[1], 'GT', unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1

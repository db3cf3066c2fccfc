-- A socket opened: records it with its expiry, cancels a pending offline
-- transition (a reload inside the grace), and answers 1 when its person came
-- online now, 0 when they were online already (or only inside the grace), -1
-- when it is refused: its person already has `max` other sockets (max 0: no
-- cap), counted across every gateway instance.
-- KEYS: presence:connections, user:{id}:online, online_users, presence:offline_due
-- ARGV: user id, member ({gateway}|{connection}), expiry (ms since the epoch), max
local max = tonumber(ARGV[4]) or 0
if max > 0 and redis.call('SISMEMBER', KEYS[2], ARGV[2]) == 0
    and redis.call('SCARD', KEYS[2]) >= max then
  return -1
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1] .. '|' .. ARGV[2])
redis.call('SADD', KEYS[2], ARGV[2])
redis.call('ZREM', KEYS[4], ARGV[1])
return redis.call('SADD', KEYS[3], ARGV[1])

-- A socket closed: forgets it; when it was its person's last one, records
-- last_seen and schedules the offline transition after the grace (the
-- sweeper performs it unless a socket opens meanwhile). Answers 1 then, else 0.
-- KEYS: presence:connections, user:{id}:online, presence:offline_due, user:{id}:last_seen
-- ARGV: user id, member ({gateway}|{connection}), now (ms), offline deadline (ms)
redis.call('ZREM', KEYS[1], ARGV[1] .. '|' .. ARGV[2])
if redis.call('SREM', KEYS[2], ARGV[2]) == 1 and redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('SET', KEYS[4], ARGV[3])
  redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
  return 1
end
return 0

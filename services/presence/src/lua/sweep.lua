-- One pass of the sweeper, atomic, so several presence instances may sweep
-- at once and each transition happens (and is announced) exactly once:
-- 1. sockets whose heartbeat lapsed are forgotten; a person losing their last
--    socket that way gets last_seen (the last beat) and goes offline in this
--    very pass: after TTL without a beat there is no reload left to wait for
--    (a client that reconnected elsewhere has a live socket already);
-- 2. due offline transitions of people still without a socket are performed.
-- Builds the keys user:{id}:online and user:{id}:last_seen itself (the people
-- are only known here), so it needs a single Redis, not a cluster.
-- KEYS: presence:connections, online_users, presence:offline_due
-- ARGV: now (ms), socket TTL (ms), batch limit
-- Answers { lapsed sockets, due transitions, { user, last_seen, user, last_seen, ... } }
-- with the people who went offline; a full batch means more may be waiting.
local now = ARGV[1]
local ttl = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])

local lapsed = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'WITHSCORES', 'LIMIT', 0, limit)
for i = 1, #lapsed, 2 do
  local member = lapsed[i]
  redis.call('ZREM', KEYS[1], member)
  local sep = string.find(member, '|', 1, true)
  if sep then
    local user = string.sub(member, 1, sep - 1)
    local conns = 'user:' .. user .. ':online'
    if redis.call('SREM', conns, string.sub(member, sep + 1)) == 1
        and redis.call('EXISTS', conns) == 0 then
      local last_beat = tonumber(lapsed[i + 1]) - ttl
      redis.call('SET', 'user:' .. user .. ':last_seen', string.format('%d', last_beat))
      redis.call('ZADD', KEYS[3], now, user)
    end
  end
end

local due = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, limit)
local offline = {}
for _, user in ipairs(due) do
  redis.call('ZREM', KEYS[3], user)
  if redis.call('EXISTS', 'user:' .. user .. ':online') == 0
      and redis.call('SREM', KEYS[2], user) == 1 then
    offline[#offline + 1] = user
    offline[#offline + 1] = redis.call('GET', 'user:' .. user .. ':last_seen') or now
  end
end
return { #lapsed / 2, #due, offline }

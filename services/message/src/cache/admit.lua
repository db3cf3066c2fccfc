-- Admits one send: the sender's token bucket, then the block generations of
-- both people (so the caller knows whether its remembered block answer for
-- the pair still holds), in one round trip.
-- KEYS: bucket, sender's block generation, receiver's block generation.
-- ARGV: tokens per second, burst.
-- Returns {wait_ms (0 = admitted), sender generation, receiver generation}.
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local bucket = redis.call('HMGET', KEYS[1], 't', 'at')
local tokens = tonumber(bucket[1]) or burst
local at = tonumber(bucket[2]) or now_ms
tokens = math.min(burst, tokens + math.max(0, now_ms - at) * rate / 1000)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
  redis.call('HSET', KEYS[1], 't', tostring(tokens), 'at', now_ms)
  -- A bucket left alone until it is full again is the same as none.
  redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) * 1000 / rate) + 1000)
else
  wait = math.ceil((1 - tokens) * 1000 / rate)
end
return {wait, redis.call('GET', KEYS[2]) or '0', redis.call('GET', KEYS[3]) or '0'}

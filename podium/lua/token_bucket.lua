-- Token bucket: refills ARGV[1] tokens per second up to ARGV[2]; takes ARGV[4] tokens at time
-- ARGV[3] (ms, from the caller's clock). Returns {1, 0} when allowed, else {0, retry_after_ms}.
local rate, burst, now, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local state = redis.call("HMGET", KEYS[1], "t", "at")
local tokens, at = tonumber(state[1]), tonumber(state[2])
if not tokens then tokens, at = burst, now end
if now > at then tokens = math.min(burst, tokens + (now - at) * rate / 1000) end
local allowed, retry = 1, 0
if tokens >= cost then
  tokens = tokens - cost
else
  allowed, retry = 0, math.ceil((cost - tokens) * 1000 / rate)
end
redis.call("HSET", KEYS[1], "t", tostring(tokens), "at", tostring(math.max(now, at)))
redis.call("PEXPIRE", KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return {allowed, retry}

-- Charges tokens another process already let through (podium.rate_limit_local): refills ARGV[1]
-- tokens per second up to ARGV[2], then takes ARGV[4] tokens at time ARGV[3] (ms, the caller's
-- clock) even when fewer are left: the bucket goes into debt (down to -burst), so every process
-- that reads it back refuses the client until the whole overshoot is paid for. Returns the tokens
-- left, as a string (a Lua number would be truncated to an integer).
local rate, burst, now, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local state = redis.call("HMGET", KEYS[1], "t", "at")
local tokens, at = tonumber(state[1]), tonumber(state[2])
if not tokens then tokens, at = burst, now end
if now > at then tokens = math.min(burst, tokens + (now - at) * rate / 1000) end
tokens = math.max(-burst, tokens - cost)
redis.call("HSET", KEYS[1], "t", tostring(tokens), "at", tostring(math.max(now, at)))
-- kept until a bucket in full debt has refilled, plus a second
redis.call("PEXPIRE", KEYS[1], math.ceil(2 * burst * 1000 / rate) + 1000)
return tostring(tokens)

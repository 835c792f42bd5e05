-- A player's neighbourhood: up to ARGV[2] entries above and ARGV[3] below, clamped at both ends
-- (a negative ZRANGE start would wrap around to the bottom of the board).
-- KEYS: 1 zset  2 player index state (index.lua).  ARGV: 1 player  2 above  3 below.
-- Returns {} when the player is not ranked, else {first_rank, member1, zscore1, member2, ...}.
local z = KEYS[1]
local member = ix_member(ix_open(KEYS[2]), z, ARGV[1])
if not member then return {} end
local rank = redis.call("ZRANK", z, member)
local start = rank - tonumber(ARGV[2])
if start < 0 then start = 0 end
local stop = rank + tonumber(ARGV[3])
local rows = redis.call("ZRANGE", z, start, stop, "WITHSCORES")
local out = {start + 1}
for i = 1, #rows do out[#out + 1] = rows[i] end
return out

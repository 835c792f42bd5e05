-- A player's neighbourhood: up to ARGV[2] entries above and ARGV[3] below, clamped at both ends
-- (a negative ZRANGE start would wrap around to the bottom of the board).
-- KEYS: 1 zset  2 player index state (index_read.lua).  ARGV: 1 player  2 above  3 below.
-- Returns {} when the player is not ranked, else {first_rank, member1, zscore1, member2, ...}.
local z = KEYS[1]
local l, p, k, fast = ixr_open(KEYS[2])
local member = ixr_member(z, l, p, k, fast, ARGV[1])
if not member then return {} end
local rank = redis.call("ZRANK", z, member)
local start = rank - tonumber(ARGV[2])
if start < 0 then start = 0 end
local rows = redis.call("ZRANGE", z, start, rank + tonumber(ARGV[3]), "WITHSCORES")
table.insert(rows, 1, start + 1)
return rows

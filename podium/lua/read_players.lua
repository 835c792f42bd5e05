-- Rank, score and achievement time of each named player on one board, in one round trip.
-- KEYS: 1 zset   2 player index state (index.lua).  ARGV: player ids.
-- Returns 3 items per player: rank (0 = not on the board), zscore string, achievement time in ms.
local z = KEYS[1]
local ix = ix_open(KEYS[2])
local out = {}
for i = 1, #ARGV do
  local member, _, key, zs = ix_member(ix, z, ARGV[i])
  if member then
    out[#out + 1] = redis.call("ZRANK", z, member) + 1
    out[#out + 1] = zs
    out[#out + 1] = ts_num(key)
  else
    out[#out + 1] = 0; out[#out + 1] = ""; out[#out + 1] = 0
  end
end
return out
